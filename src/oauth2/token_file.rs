//! The token file: the refresh token, the cached access token and its
//! expiry, as one small JSON object.
//!
//! Guarantees: written atomically and durably (temp file, fsync, rename,
//! directory fsync: `fs::Dir::write_durably`) with mode 0600, under an
//! exclusive lock on a sibling `.NAME.lock` that [`lock`] takes, so a
//! reader sees the old or the new tokens, never a mix. Its directory is
//! created with mode 0700 when missing.
//!
//! # Security
//! The file is used only when it is a regular file (no symlink), owned by
//! the effective user (the mail user, or the caller with `run_as_user`)
//! and not accessible to group or others; anything else is refused with a
//! line that says what to fix. It is read with a size limit and parsed as
//! JSON; its tokens go into [`Secret`]s.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use serde_json::{Value, json};

use super::OAuthError;
use crate::config::{OAuth2Conf, Secret};
use crate::fs::durable::Dir;

/// Token files are tiny; anything bigger is not ours.
const MAX_SIZE: u64 = 64 * 1024;

/// What the token file holds.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub refresh_token: Secret,
    pub access_token: Option<Secret>,
    /// Seconds since the epoch; 0 when unknown (then refreshed at once).
    pub expires_at: u64,
}

fn err(conf: &OAuth2Conf, reason: impl Into<String>) -> OAuthError {
    OAuthError::TokenFile {
        path: conf.token_file.display().to_string(),
        reason: reason.into(),
    }
}

/// The token file's directory (created if missing) and its name.
fn dir(conf: &OAuth2Conf) -> Result<(Dir, String), OAuthError> {
    let path = &conf.token_file;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(conf, "not a file name"))?;
    let parent = path.parent().unwrap_or(Path::new("."));
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(parent)
            .map_err(|e| err(conf, format!("cannot create {}: {e}", parent.display())))?;
    }
    let dir = Dir::open(parent).map_err(|e| err(conf, e.to_string()))?;
    Ok((dir, name.to_string()))
}

/// The exclusive lock of this token file, held until the value drops.
pub fn lock(conf: &OAuth2Conf) -> Result<File, OAuthError> {
    let (dir, name) = dir(conf)?;
    let lock_name = format!(".{name}.lock");
    let path = dir.join(&lock_name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode_0600()
        .open(&path)
        .map_err(|e| err(conf, format!("lock {}: {e}", path.display())))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| err(conf, format!("lock {}: {e}", path.display())))?;
    Ok(file)
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// Reads the tokens; a missing file means "not authorized yet".
pub fn load(conf: &OAuth2Conf) -> Result<Tokens, OAuthError> {
    let (dir, name) = dir(conf)?;
    let file = match dir.open_regular(&name) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OAuthError::NotAuthorized {
                path: conf.token_file.display().to_string(),
                name: conf.name.clone(),
            });
        }
        Err(e) => return Err(err(conf, e.to_string())),
    };
    let meta = file.metadata().map_err(|e| err(conf, e.to_string()))?;
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(err(
            conf,
            format!("owned by uid {}, not by uid {euid}: refused", meta.uid()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(err(
            conf,
            format!(
                "mode {:04o} lets group or others in: refused (chmod 600)",
                meta.mode() & 0o7777
            ),
        ));
    }
    let mut text = String::new();
    file.take(MAX_SIZE)
        .read_to_string(&mut text)
        .map_err(|e| err(conf, e.to_string()))?;
    parse(&text).ok_or_else(|| err(conf, "not a masqmail token file"))
}

fn parse(text: &str) -> Option<Tokens> {
    let v: Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(Secret::new);
    Some(Tokens {
        refresh_token: s("refresh_token")?,
        access_token: s("access_token"),
        expires_at: v.get("expires_at").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// Replaces the token file with `tokens` (mode 0600). The caller holds
/// [`lock`].
pub fn store(conf: &OAuth2Conf, tokens: &Tokens) -> Result<(), OAuthError> {
    let (dir, name) = dir(conf)?;
    let text = json!({
        "refresh_token": tokens.refresh_token.expose(),
        "access_token": tokens.access_token.as_ref().map(Secret::expose),
        "expires_at": tokens.expires_at,
    })
    .to_string();
    dir.write_durably(&name, text.as_bytes(), 0o600)
        .map_err(|e| err(conf, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip_and_garbage() {
        let t = parse(r#"{"refresh_token":"r","access_token":"a","expires_at":5}"#).unwrap();
        assert_eq!(t.refresh_token.expose(), "r");
        assert_eq!(t.access_token.unwrap().expose(), "a");
        assert_eq!(t.expires_at, 5);
        let t = parse(r#"{"refresh_token":"r"}"#).unwrap();
        assert!(t.access_token.is_none());
        assert_eq!(t.expires_at, 0);
        for bad in ["", "{}", "[1]", r#"{"refresh_token":1}"#, "\u{0}"] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
