//! The users of SMTP AUTH (`smtp_auth_file`): a file in the format of
//! Dovecot's passwd-file, `user:{SCHEME}hash`, one user a line (further
//! `:`-separated fields are ignored, `#` starts a comment line), so that
//! `doveadm pw -s SHA512-CRYPT` or `openssl passwd -6` make entries.
//!
//! Schemes: `SHA512-CRYPT` and `SHA256-CRYPT` (`$6$`, `$5$`), `BLF-CRYPT`
//! (bcrypt, `$2y$`), `ARGON2ID` (`$argon2id$`), `CRYPT` or no scheme for
//! any of these recognized by its prefix, and `PLAIN` (the password in
//! clear: accepted with a warning in the log). Anything else refuses the
//! whole file with `file:line:`; so does a user given twice.
//!
//! Guarantees: [`AuthTable::verify`] takes as long for an unknown user
//! as for a known one with a wrong password (it verifies against a real
//! hash of the file, the first entry's, and throws the result away), and
//! answers only "yes" or "no"; it is slow on purpose, so callers run it
//! on a blocking thread.
//!
//! # Security
//! The file holds password hashes: it is refused when group or others may
//! read or write it, or when its owner is neither root nor the user we
//! run as (checked on the open file, no race with a rename). Nothing of
//! it is ever logged but user names and line numbers; passwords given by
//! clients are compared, never stored or logged.

use std::collections::HashMap;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use argon2::PasswordVerifier as _;

/// The largest file we read.
const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("smtp_auth_file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "smtp_auth_file {}: group or others may read or write it (mode {mode:03o}): chmod 600 it",
        path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error(
        "smtp_auth_file {}: owned by uid {uid}, neither root nor the mail user",
        path.display()
    )]
    Owner { path: PathBuf, uid: u32 },
    #[error("smtp_auth_file {}: larger than {MAX_FILE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}:{line}: {why}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

/// A stored password.
#[derive(Clone)]
enum Hash {
    Plain(Vec<u8>),
    /// `$6$…` or `$5$…`.
    ShaCrypt(String),
    /// `$2y$…` (also `$2a$`, `$2b$`).
    Bcrypt(String),
    /// `$argon2id$…`.
    Argon2id(String),
}

impl Hash {
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Plain(p) => same(p, password),
            Hash::ShaCrypt(h) => sha_crypt::ShaCrypt::default()
                .verify_password(password, h.as_str())
                .is_ok(),
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Argon2id(h) => argon2::Argon2::default()
                .verify_password(password, h.as_str())
                .is_ok(),
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

/// The users and their stored passwords.
pub struct AuthTable {
    users: HashMap<String, Hash>,
    /// Verified instead when the user is unknown (see the module doc).
    dummy: Option<Hash>,
}

impl std::fmt::Debug for AuthTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthTable({} users)", self.users.len())
    }
}

impl AuthTable {
    /// Reads and checks the file (mode, owner, every line).
    pub fn load(path: &Path) -> Result<AuthTable, AuthFileError> {
        let io = |source| AuthFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let mode = meta.mode() & 0o777;
        if mode & 0o066 != 0 {
            return Err(AuthFileError::Mode {
                path: path.to_path_buf(),
                mode,
            });
        }
        let uid = meta.uid();
        if uid != 0 && uid != rustix::process::geteuid().as_raw() {
            return Err(AuthFileError::Owner {
                path: path.to_path_buf(),
                uid,
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(AuthFileError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        AuthTable::parse(&bytes, path)
    }

    /// Parses the file's text; `path` names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<AuthTable, AuthFileError> {
        let mut users = HashMap::new();
        let mut dummy = None;
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let err = |why: String| AuthFileError::Line {
                path: path.to_path_buf(),
                line,
                why,
            };
            let Ok(raw) = std::str::from_utf8(raw) else {
                return Err(err("not UTF-8".into()));
            };
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
                continue;
            }
            let mut fields = raw.split(':');
            let user = fields.next().unwrap_or_default();
            let Some(password) = fields.next() else {
                return Err(err("not `user:{SCHEME}password`".into()));
            };
            check_user(user).map_err(|why| err(why.into()))?;
            let hash = parse_password(password).map_err(err)?;
            if let Hash::Plain(_) = hash {
                tracing::warn!(
                    "{}:{line}: the password of {user} is stored in clear ({{PLAIN}}); \
                     make a hash with `doveadm pw -s SHA512-CRYPT`",
                    path.display()
                );
            }
            if users.contains_key(user) {
                return Err(err(format!("user {user} given again")));
            }
            dummy.get_or_insert_with(|| hash.clone());
            users.insert(user.to_string(), hash);
        }
        Ok(AuthTable { users, dummy })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `user`'s. Slow: run it on a blocking thread.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h, true),
            None => match &self.dummy {
                Some(d) => (d, false),
                None => return false,
            },
        };
        // Verified whether the user is known or not: the same work.
        let matches = hash.verify(password);
        matches && known
    }
}

/// A user name: printable, no blanks, at most 255 bytes (it goes into
/// `Received:` and the spool's `ID:` line).
fn check_user(user: &str) -> Result<(), &'static str> {
    if user.is_empty() {
        return Err("empty user name");
    }
    if user.len() > 255 {
        return Err("user name longer than 255 bytes");
    }
    if user.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("blank or control character in the user name");
    }
    if user.contains(['(', ')', '\\']) {
        return Err("parenthesis or backslash in the user name");
    }
    Ok(())
}

/// `{SCHEME}hash`, or a crypt hash known by its prefix.
fn parse_password(field: &str) -> Result<Hash, String> {
    let (scheme, hash) = match field.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((scheme, hash)) => (Some(scheme.to_ascii_uppercase()), hash),
        None => (None, field),
    };
    let by_prefix = |what: &str| {
        crypt_hash(hash).ok_or_else(|| format!("not a {what} hash (like `doveadm pw` makes)"))
    };
    let hash = match scheme.as_deref() {
        Some("PLAIN" | "CLEAR" | "CLEARTEXT") => {
            if hash.is_empty() {
                return Err("empty password".into());
            }
            return Ok(Hash::Plain(hash.as_bytes().to_vec()));
        }
        Some("SHA512-CRYPT") if hash.starts_with("$6$") => by_prefix("SHA512-CRYPT")?,
        Some("SHA256-CRYPT") if hash.starts_with("$5$") => by_prefix("SHA256-CRYPT")?,
        Some("BLF-CRYPT") if is_bcrypt(hash) => by_prefix("BLF-CRYPT")?,
        Some("ARGON2ID") if hash.starts_with("$argon2id$") => by_prefix("ARGON2ID")?,
        Some("CRYPT") | None => by_prefix("crypt (`$6$`, `$2y$`, `$argon2id$`)")?,
        Some(s @ ("SHA512-CRYPT" | "SHA256-CRYPT" | "BLF-CRYPT" | "ARGON2ID")) => {
            return Err(format!("not a {s} hash (like `doveadm pw -s {s}` makes)"));
        }
        Some(other) => {
            return Err(format!(
                "unsupported scheme {{{other}}} (use SHA512-CRYPT, BLF-CRYPT, ARGON2ID or PLAIN)"
            ));
        }
    };
    Ok(hash)
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p))
}

/// A hash in Modular Crypt Format we can verify, checked for its shape.
fn crypt_hash(hash: &str) -> Option<Hash> {
    if hash.starts_with("$6$") || hash.starts_with("$5$") {
        sha_crypt::PasswordHashRef::new(hash).ok()?;
        return Some(Hash::ShaCrypt(hash.to_string()));
    }
    if is_bcrypt(hash) {
        hash.parse::<bcrypt::HashParts>().ok()?;
        return Some(Hash::Bcrypt(hash.to_string()));
    }
    if hash.starts_with("$argon2id$") {
        argon2::PasswordHash::new(hash).ok()?;
        return Some(Hash::Argon2id(hash.to_string()));
    }
    None
}

#[cfg(test)]
#[path = "auth_file_tests.rs"]
mod tests;
