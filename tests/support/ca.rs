//! A throwaway certificate authority for TLS tests: a CA and a server
//! certificate for `localhost`, `127.0.0.1` and `::1` signed by it, written
//! as PEM files into a directory the test owns (a tempdir).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub struct TestCa {
    pub dir: PathBuf,
    /// The CA certificate: give it to a client as its only trust anchor.
    pub ca_pem: PathBuf,
    /// The server certificate (leaf only), for `tls_cert_file`.
    pub cert_pem: PathBuf,
    /// The server key (PKCS#8), for `tls_key_file`.
    pub key_pem: PathBuf,
}

/// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir` (created if
/// missing). Every call makes a new CA, so two calls give certificates
/// that do not trust each other.
pub fn make(dir: &Path) -> TestCa {
    std::fs::create_dir_all(dir).expect("mkdir ca dir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A unique name: verifiers find the issuer by name, so two test CAs
    // with one name would fail as "bad signature", not "unknown issuer".
    let name = format!("masqmail test CA {:016x}", fastrand::u64(..));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = params.self_signed(&ca_key).expect("CA cert");

    let key = KeyPair::generate().expect("server key");
    let names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let mut params = CertificateParams::new(names).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");

    let t = TestCa {
        dir: dir.to_path_buf(),
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
    };
    std::fs::write(&t.ca_pem, ca.pem()).expect("write ca.pem");
    std::fs::write(&t.cert_pem, cert.pem()).expect("write cert.pem");
    std::fs::write(&t.key_pem, key.serialize_pem()).expect("write key.pem");
    t
}
