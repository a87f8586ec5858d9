//! Reading PEM certificate chains and private keys from files.
//!
//! Guarantees: a file that cannot be read, holds a damaged PEM section, or
//! holds nothing of the wanted kind is an error naming the option and the
//! path; an empty result is never returned.
//!
//! # Security
//! Reads only the files the administrator configured. Key material is
//! never put into an error message or a log line; only the path is.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

fn read(option: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        option,
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(option: &'static str, path: &Path, source: pem::Error) -> TlsError {
    TlsError::Pem {
        option,
        path: path.to_path_buf(),
        source,
    }
}

/// All `CERTIFICATE` sections of the file, in order (leaf first for a
/// chain). Other sections (keys, parameters) are skipped.
pub(super) fn load_certs(
    option: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(option, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(option, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            option,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key of the file: `PRIVATE KEY` (PKCS#8),
/// `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1). Encrypted keys
/// are not supported (there is nobody to type a passphrase for a daemon)
/// and count as "no private key found".
pub(super) fn load_key(
    option: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(option, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            option,
            path: path.to_path_buf(),
        }),
        Err(e) => Err(pem_error(option, path, e)),
    }
}
