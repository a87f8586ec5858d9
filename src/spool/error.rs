//! The one error type at the spool's edge.
//!
//! # Security
//! Messages carry paths and fixed texts only, never file contents, so a
//! hostile spool file cannot inject text into logs through an error.

use std::io;
use std::path::PathBuf;

/// Why a spool operation failed. Every variant is a temporary failure for
/// the message concerned (SMTP `451 4.3.0`, sendmail exit 75): none is the
/// sender's fault, except `Unencodable`, which callers should have refused
/// at the door (RELIABILITY.md R09).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// A system call on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A spool file does not follow the format. `line` is 1-based; 0 means
    /// the file as a whole (e.g. a body size that contradicts `DS:`).
    #[error("{}:{line}: {what}", path.display())]
    Corrupt {
        path: PathBuf,
        line: u32,
        what: &'static str,
    },
    /// A value cannot be written without changing its meaning when read
    /// back (a line break, a NUL, or text the address parser would read
    /// differently).
    #[error("cannot write {field} to the spool: {why}")]
    Unencodable {
        field: &'static str,
        why: &'static str,
    },
    /// All 3844 transfer numbers of this (second, pid) are taken.
    #[error("no free message id for this second and process")]
    IdsExhausted,
    /// A caller broke a precondition (e.g. committed a message whose id
    /// is not the reservation's).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl SpoolError {
    pub(crate) fn io(path: PathBuf, source: io::Error) -> SpoolError {
        SpoolError::Io { path, source }
    }

    /// True when the error says the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SpoolError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}
