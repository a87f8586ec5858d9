//! TLS configuration for every connection masqmail makes or accepts: the
//! SMTP server's STARTTLS, and (later) the SMTP client and POP3.
//!
//! Guarantees:
//! * One crypto provider everywhere, [`provider`] (rustls with *ring*),
//!   passed explicitly to every builder; the process-wide default provider
//!   is never installed or consulted, so no other backend can slip in.
//! * [`server_config`] refuses to start with a certificate file without a
//!   certificate, a key file without a key, or a key that does not belong
//!   to the certificate, and says which file is wrong.
//! * [`client_config`] with a CA file trusts ONLY the certificates in that
//!   file; without one it trusts the system roots. `verify = false` is the
//!   one way to skip certificate checks, and still checks the handshake
//!   signatures (the peer must hold the key of the certificate it shows).
//!
//! # Security
//! Trusts the certificate and key files named in the configuration (they
//! are the administrator's); their contents are parsed strictly and never
//! logged. TLS 1.2 and 1.3 only, rustls' default cipher suites (no
//! CBC, no RC4, no export grades). The server asks for no client
//! certificate. `verify = false` gives encryption without authentication:
//! an active attacker can read the session; it exists for routes whose
//! configuration says `tls_verify = false` explicitly, never as a fallback.

mod noverify;
mod pem;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Configuration option names used in error messages, so that the
/// administrator sees which setting points at the bad file.
pub const OPT_CERT: &str = "tls_cert_file";
pub const OPT_KEY: &str = "tls_key_file";
pub const OPT_CA: &str = "tls_ca_file";
pub const OPT_CLIENT_CERT: &str = "tls_client_cert_file";
pub const OPT_CLIENT_KEY: &str = "tls_client_key_file";

/// Why a TLS configuration could not be built. Each variant names the
/// option and the file it points at.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read (missing, unreadable, a directory...).
    #[error("{option} {}: {source}", path.display())]
    Read {
        option: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PEM section is damaged (bad base64, missing END line).
    #[error("{option} {}: not valid PEM: {source}", path.display())]
    Pem {
        option: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{option} {}: no certificate found", path.display())]
    NoCertificate { option: &'static str, path: PathBuf },
    #[error("{option} {}: no private key found", path.display())]
    NoKey { option: &'static str, path: PathBuf },
    /// A certificate is PEM-wrapped but its content is not usable X.509.
    #[error("{option} {}: unusable certificate: {reason}", path.display())]
    BadCertificate {
        option: &'static str,
        path: PathBuf,
        reason: rustls::Error,
    },
    /// The key is PEM-wrapped but not a key the provider can sign with.
    #[error("{option} {}: unusable private key: {reason}", path.display())]
    BadKey {
        option: &'static str,
        path: PathBuf,
        reason: rustls::Error,
    },
    #[error("{option} {}: does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        option: &'static str,
        key: PathBuf,
        cert: PathBuf,
    },
    /// No CA file was given and the system has no usable root certificates.
    #[error("system root certificates: none usable{detail}")]
    NoSystemRoots { detail: String },
    /// rustls refused the assembled configuration (not expected with the
    /// fixed protocol versions we ask for; kept rather than panicking).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The rustls provider we use everywhere (ring); never the process default.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Server side (STARTTLS for LAN clients): loads a PEM chain (leaf first)
/// and a PEM key (PKCS#8, PKCS#1 or SEC1); TLS 1.2 and 1.3; no client auth.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let key = certified_key((OPT_CERT, cert_file), (OPT_KEY, key_file))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    Ok(Arc::new(config))
}

/// Client side (SMTP client, POP3): verifies the server against ONLY the
/// certificates in `ca_file` when given, otherwise against the system
/// roots; `verify = false` accepts any certificate (only for a route that
/// says `tls_verify = false`). `client_cert` is `(cert_file, key_file)`.
pub fn client_config(
    ca_file: Option<&Path>,
    verify: bool,
    client_cert: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let builder = if verify {
        let roots = match ca_file {
            Some(path) => ca_roots(path)?,
            None => system_roots()?,
        };
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(noverify::AcceptAnyServerCert::new(
                provider(),
            )))
    };
    let config = match client_cert {
        Some((cert, key)) => {
            let key = certified_key((OPT_CLIENT_CERT, cert), (OPT_CLIENT_KEY, key))?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key)))
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Loads a chain and its key and checks that they belong together.
fn certified_key(
    (cert_opt, cert_file): (&'static str, &Path),
    (key_opt, key_file): (&'static str, &Path),
) -> Result<CertifiedKey, TlsError> {
    let chain = pem::load_certs(cert_opt, cert_file)?;
    let key = pem::load_key(key_opt, key_file)?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|reason| TlsError::BadKey {
            option: key_opt,
            path: key_file.to_path_buf(),
            reason,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // Unknown: the key type cannot report its public half; rustls
        // itself accepts that, and the handshake would fail visibly.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
            option: key_opt,
            key: key_file.to_path_buf(),
            cert: cert_file.to_path_buf(),
        }),
        Err(reason) => Err(TlsError::BadCertificate {
            option: cert_opt,
            path: cert_file.to_path_buf(),
            reason,
        }),
    }
}

/// Roots from a CA file: every certificate in it must be a usable trust
/// anchor, so that a typo in the file is not silently a smaller trust set.
fn ca_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in pem::load_certs(OPT_CA, path)? {
        roots.add(cert).map_err(|reason| TlsError::BadCertificate {
            option: OPT_CA,
            path: path.to_path_buf(),
            reason,
        })?;
    }
    Ok(roots)
}

/// The system roots, loaded once per process (the store can be ~300 KB of
/// PEM); a failure is not cached, so a later call may succeed.
fn system_roots() -> Result<RootCertStore, TlsError> {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let found = rustls_native_certs::load_native_certs();
    let errors = found.errors.iter().map(|e| e.to_string()).collect();
    let roots = roots_from(found.certs, errors)?;
    Ok(ROOTS.get_or_init(|| roots).clone())
}

/// Keeps the parsable certificates; an error only when none is usable.
/// Individual bad system certificates are tolerated: distributions ship
/// odd ones, and refusing all TLS over one of them helps nobody.
fn roots_from(
    certs: Vec<CertificateDer<'static>>,
    errors: Vec<String>,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        let detail = if errors.is_empty() {
            String::new()
        } else {
            format!(": {}", errors.join("; "))
        };
        return Err(TlsError::NoSystemRoots { detail });
    }
    Ok(roots)
}
