//! Unit tests for the TLS configuration: file errors, key matching, and
//! real handshakes over a socket pair with certificates made by rcgen.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, Stream};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A leaf for `names` signed by `ca`: (certificate PEM, key).
fn leaf(ca: &Ca, names: &[&str]) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "masqmail test");
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key)
}

/// A directory with `ca.pem`, `cert.pem`, `key.pem` (leaf for localhost
/// and 127.0.0.1 signed by the CA).
struct Files {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("masqmail test CA");
        let (cert, key) = leaf(&ca, &["localhost", "127.0.0.1"]);
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Files { dir, ca }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }
    fn server(&self) -> Arc<ServerConfig> {
        server_config(&self.path("cert.pem"), &self.path("key.pem")).unwrap()
    }
    fn client(&self) -> Arc<ClientConfig> {
        client_config(Some(&self.path("ca.pem")), true, None).unwrap()
    }
}

const GARBAGE_CERT: &str = "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n";
const GARBAGE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nAAECAwQF\n-----END PRIVATE KEY-----\n";
/// Encrypted keys are not supported (no one can type a passphrase for a
/// daemon): they count as no key.
const ENCRYPTED_KEY: &str =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAECAwQF\n-----END ENCRYPTED PRIVATE KEY-----\n";
const BROKEN_PEM: &str =
    "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";

#[test]
fn server_config_file_errors_name_option_file_and_problem() {
    let f = Files::new();
    let other = leaf(&f.ca, &["localhost"]).1.serialize_pem();
    let key_pem = std::fs::read(f.path("key.pem")).unwrap();
    let cert_pem = std::fs::read(f.path("cert.pem")).unwrap();
    // (cert file content or None = missing, key file content or None, expected text)
    type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a str);
    let cases: &[Case] = &[
        (None, Some(&key_pem), "tls_cert_file {c}: No such file"),
        (Some(&cert_pem), None, "tls_key_file {k}: No such file"),
        (
            Some(b""),
            Some(&key_pem),
            "tls_cert_file {c}: no certificate found",
        ),
        (
            Some(&key_pem),
            Some(&key_pem),
            "tls_cert_file {c}: no certificate found",
        ),
        (
            Some(b"just text\n"),
            Some(&key_pem),
            "tls_cert_file {c}: no certificate found",
        ),
        (
            Some(&cert_pem),
            Some(b""),
            "tls_key_file {k}: no private key found",
        ),
        (
            Some(&cert_pem),
            Some(&cert_pem),
            "tls_key_file {k}: no private key found",
        ),
        (
            Some(&cert_pem),
            Some(ENCRYPTED_KEY.as_bytes()),
            "tls_key_file {k}: no private key found",
        ),
        (
            Some(&cert_pem),
            Some(other.as_bytes()),
            "tls_key_file {k}: does not match the certificate in {c}",
        ),
        (
            Some(BROKEN_PEM.as_bytes()),
            Some(&key_pem),
            "tls_cert_file {c}: not valid PEM",
        ),
        (
            Some(GARBAGE_CERT.as_bytes()),
            Some(&key_pem),
            "tls_cert_file {c}: unusable certificate",
        ),
        (
            Some(&cert_pem),
            Some(GARBAGE_KEY.as_bytes()),
            "tls_key_file {k}: unusable private key",
        ),
    ];
    for (i, (cert, key, want)) in cases.iter().enumerate() {
        let c = f.path(&format!("c{i}.pem"));
        let k = f.path(&format!("k{i}.pem"));
        if let Some(data) = cert {
            std::fs::write(&c, data).unwrap();
        }
        if let Some(data) = key {
            std::fs::write(&k, data).unwrap();
        }
        let want = want
            .replace("{c}", &c.display().to_string())
            .replace("{k}", &k.display().to_string());
        let got = server_config(&c, &k).map(|_| ()).unwrap_err().to_string();
        assert!(
            got.starts_with(&want),
            "case {i}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn a_directory_is_a_read_error() {
    let f = Files::new();
    let err = server_config(f.dir.path(), &f.path("key.pem")).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                option: OPT_CERT,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn chain_with_ca_loads_and_pkcs1_sec1_labels_are_read() {
    let f = Files::new();
    let mut chain = std::fs::read_to_string(f.path("cert.pem")).unwrap();
    chain.push_str(&f.ca.cert.pem());
    let c = f.write("chain.pem", chain.as_bytes());
    server_config(&c, &f.path("key.pem")).unwrap();
    for (label, variant) in [
        ("RSA PRIVATE KEY", "Pkcs1"),
        ("EC PRIVATE KEY", "Sec1"),
        ("PRIVATE KEY", "Pkcs8"),
    ] {
        let p = f.write(
            "k.pem",
            format!("-----BEGIN {label}-----\nAAECAwQF\n-----END {label}-----\n").as_bytes(),
        );
        let key = pem::load_key(OPT_KEY, &p).unwrap();
        assert!(format!("{key:?}").starts_with(variant), "{label}: {key:?}");
    }
}

#[test]
fn client_config_file_errors() {
    let f = Files::new();
    let empty = f.write("empty.pem", b"");
    let garbage = f.write("garbage.pem", GARBAGE_CERT.as_bytes());
    let missing = f.path("missing.pem");
    let cases: &[(&Path, &str)] = &[
        (&empty, "no certificate found"),
        (&garbage, "unusable certificate"),
        (&missing, "No such file"),
    ];
    for (path, want) in cases {
        let got = client_config(Some(path), true, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            got.split(": ").next(),
            Some(format!("tls_ca_file {}", path.display()).as_str())
        );
        assert!(got.contains(want), "{got}");
    }
    let other = f.write(
        "other.pem",
        leaf(&f.ca, &["x"]).1.serialize_pem().as_bytes(),
    );
    let got = client_config(None, false, Some((&f.path("cert.pem"), &other))).unwrap_err();
    assert!(
        matches!(
            got,
            TlsError::KeyMismatch {
                option: OPT_CLIENT_KEY,
                ..
            }
        ),
        "{got}"
    );
    let got = client_config(None, false, Some((&empty, &other))).unwrap_err();
    assert!(
        matches!(
            got,
            TlsError::NoCertificate {
                option: OPT_CLIENT_CERT,
                ..
            }
        ),
        "{got}"
    );
}

#[test]
fn provider_is_ring_and_shared() {
    assert!(Arc::ptr_eq(&provider(), &provider()));
    let ring = rustls::crypto::ring::default_provider();
    assert_eq!(provider().cipher_suites.len(), ring.cipher_suites.len());
    // We never install a process default.
    let _ = Files::new().server();
    assert!(CryptoProvider::get_default().is_none());
}

#[test]
fn system_roots_need_at_least_one_usable_certificate() {
    let err = roots_from(vec![], vec!["no such dir".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "system root certificates: none usable: no such dir"
    );
    let bad = CertificateDer::from(vec![1u8, 2, 3]);
    assert!(roots_from(vec![bad.clone()], vec![]).is_err());
    let f = Files::new();
    let good = f.ca.cert.der().clone();
    assert_eq!(roots_from(vec![bad, good], vec![]).unwrap().len(), 1);
}

/// Runs a handshake over a socket pair and exchanges "ping"/"pong".
/// Returns the client's error text on failure.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    name: &str,
) -> Result<(), String> {
    let (mut cs, mut ss) = UnixStream::pair().unwrap();
    for s in [&cs, &ss] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let srv = std::thread::spawn(move || -> std::io::Result<()> {
        let mut conn = ServerConnection::new(server).unwrap();
        let mut tls = Stream::new(&mut conn, &mut ss);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)?;
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong")?;
        tls.flush()
    });
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut conn = ClientConnection::new(client, name).unwrap();
    let res = (|| {
        let mut tls = Stream::new(&mut conn, &mut cs);
        tls.write_all(b"ping")?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf)?;
        assert_eq!(&buf, b"pong");
        Ok::<(), std::io::Error>(())
    })();
    drop(cs);
    let server_res = srv.join().unwrap();
    match res {
        Ok(()) => server_res.map_err(|e| format!("server: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn handshakes() {
    let f = Files::new();
    let other = new_ca("another CA");
    let (ocert, okey) = leaf(&other, &["localhost"]);
    let oc = f.write("ocert.pem", ocert.as_bytes());
    let ok = f.write("okey.pem", okey.serialize_pem().as_bytes());
    let foreign = server_config(&oc, &ok).unwrap();
    let insecure = client_config(None, false, None).unwrap();
    let tls12_only = {
        let mut c = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(ca_roots(&f.path("ca.pem")).unwrap())
            .with_no_client_auth();
        c.enable_sni = true;
        Arc::new(c)
    };
    let with_client_cert = client_config(
        Some(&f.path("ca.pem")),
        true,
        Some((&f.path("cert.pem"), &f.path("key.pem"))),
    )
    .unwrap();
    // (server, client, name, Ok or the client's error must contain this)
    type Case<'a> = (
        &'a str,
        Arc<ServerConfig>,
        Arc<ClientConfig>,
        &'a str,
        Result<(), &'a str>,
    );
    let cases: Vec<Case> = vec![
        ("ca ok", f.server(), f.client(), "localhost", Ok(())),
        ("ip name", f.server(), f.client(), "127.0.0.1", Ok(())),
        ("tls 1.2", f.server(), tls12_only, "localhost", Ok(())),
        (
            "client cert unused",
            f.server(),
            with_client_cert,
            "localhost",
            Ok(()),
        ),
        (
            "wrong name",
            f.server(),
            f.client(),
            "mail.example.org",
            Err("not valid for name"),
        ),
        (
            "other ca",
            foreign.clone(),
            f.client(),
            "localhost",
            Err("UnknownIssuer"),
        ),
        (
            "no verify, other ca",
            foreign,
            insecure.clone(),
            "localhost",
            Ok(()),
        ),
        (
            "no verify, wrong name",
            f.server(),
            insecure,
            "mail.example.org",
            Ok(()),
        ),
    ];
    for (what, server, client, name, want) in cases {
        let got = handshake(server, client, name);
        match (want, got) {
            (Ok(()), Ok(())) => {}
            (Err(part), Err(e)) => assert!(e.contains(part), "{what}: {e}"),
            (want, got) => panic!("{what}: want {want:?}, got {got:?}"),
        }
    }
}

/// A fixed RSA key (test fixture, not a secret): ring cannot generate RSA
/// keys, and PKCS#1 files only exist for RSA.
const RSA_PKCS8: &str = include_str!("testdata/rsa2048-pkcs8.pem");

/// The private key inside a PKCS#8 `PrivateKeyInfo`: its OCTET STRING is
/// the PKCS#1 `RSAPrivateKey` or the SEC1 `ECPrivateKey`.
fn pkcs8_inner(der: &[u8]) -> Vec<u8> {
    // Returns (tag, content, rest) of one DER element.
    fn tlv(d: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, hdr) = match d[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (d[2] as usize, 3),
            0x82 => (((d[2] as usize) << 8) | d[3] as usize, 4),
            other => panic!("length form {other:#x}"),
        };
        (d[0], &d[hdr..hdr + len], &d[hdr + len..])
    }
    let (tag, body, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = tlv(body); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

#[test]
fn pkcs1_and_sec1_keys_serve_real_handshakes() {
    let f = Files::new();
    let ec = KeyPair::generate().unwrap();
    let rsa = KeyPair::from_pem(RSA_PKCS8).unwrap();
    for (label, key) in [("EC PRIVATE KEY", ec), ("RSA PRIVATE KEY", rsa)] {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, label);
        let cert = params.signed_by(&key, &f.ca.cert, &f.ca.key).unwrap();
        let c = f.write("c.pem", cert.pem().as_bytes());
        let k = f.write(
            "k.pem",
            pem(label, &pkcs8_inner(key.serialized_der())).as_bytes(),
        );
        let server = server_config(&c, &k).unwrap_or_else(|e| panic!("{label}: {e}"));
        handshake(server, f.client(), "localhost").unwrap_or_else(|e| panic!("{label}: {e}"));
        // The same key under the wrong certificate is still caught.
        let err = server_config(&f.path("cert.pem"), &k)
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(err, TlsError::KeyMismatch { .. }),
            "{label}: {err}"
        );
    }
}

#[test]
#[ignore = "depends on the machine's CA store; run by hand"]
fn system_roots_load_here() {
    client_config(None, true, None).unwrap();
}
