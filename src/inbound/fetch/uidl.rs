//! The UIDL file (spool.md §9.1): which messages of an account were
//! already fetched. `<spool_dir>/popuidl/<user>@<server>`, one UID per
//! line; a last line without its LF is corrupt and ignored.
//!
//! Guarantees: [`UidlStore::record`] returns only after the file with the
//! new UID is durable (temp file, fsync, rename, directory fsync), so a
//! crash after it never fetches that message again. The file keeps the
//! UIDs of messages still on the server; [`UidlStore::prune`] drops the
//! others at the end of a session.
//!
//! # Security
//! The directory is opened once and files are reached through its fd
//! (no symlinks followed, `O_EXCL` temp files, mode 0600). A UID is at
//! most 70 printable characters (the session checked), so no line can be
//! injected; the file is read with a size cap.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::fs::durable::Dir;

/// A UIDL file larger than this is not read (about 100 000 UIDs).
const MAX_FILE: u64 = 8 << 20;

pub struct UidlStore {
    dir: Dir,
    name: String,
    uids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct UidlError {
    path: String,
    #[source]
    source: std::io::Error,
}

impl UidlStore {
    /// Opens (creating `popuidl/` if needed) the store of `user@server`
    /// and reads what it knows; a missing file knows nothing.
    pub fn open(spool_dir: &Path, user: &str, server: &str) -> Result<UidlStore, UidlError> {
        let path = spool_dir.join("popuidl");
        let err = |source| UidlError {
            path: path.display().to_string(),
            source,
        };
        match std::fs::create_dir(&path) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                    .map_err(err)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(e)),
        }
        let dir = Dir::open(&path).map_err(err)?;
        let name = file_name(user, server);
        let mut store = UidlStore {
            dir,
            name,
            uids: Vec::new(),
        };
        store.uids = store.read()?;
        Ok(store)
    }

    fn error(&self, source: std::io::Error) -> UidlError {
        UidlError {
            path: self.dir.join(&self.name).display().to_string(),
            source,
        }
    }

    fn read(&self) -> Result<Vec<String>, UidlError> {
        let file = match self.dir.open_regular(&self.name) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE)
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(e))?;
        Ok(parse(&bytes))
    }

    pub fn known(&self) -> HashSet<String> {
        self.uids.iter().cloned().collect()
    }

    /// Adds `uid` and makes the file durable before returning.
    pub fn record(&mut self, uid: &str) -> Result<(), UidlError> {
        if !self.uids.iter().any(|u| u == uid) {
            self.uids.push(uid.to_string());
        }
        self.write()
    }

    /// Keeps only the UIDs still on the server (`on_server`).
    pub fn prune(&mut self, on_server: &HashSet<&str>) -> Result<(), UidlError> {
        let before = self.uids.len();
        self.uids.retain(|u| on_server.contains(u.as_str()));
        if self.uids.len() == before {
            return Ok(());
        }
        self.write()
    }

    fn write(&self) -> Result<(), UidlError> {
        let mut text = String::new();
        for u in &self.uids {
            text.push_str(u);
            text.push('\n');
        }
        self.dir
            .write_durably(&self.name, text.as_bytes(), 0o600)
            .map_err(|e| self.error(e))
    }
}

/// `user@server`, made one safe path component.
fn file_name(user: &str, server: &str) -> String {
    format!("{user}@{server}")
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect()
}

/// One UID per LF-ended line; reading stops at a line without its LF.
fn parse(bytes: &[u8]) -> Vec<String> {
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last) => &bytes[..=last],
        None => &[][..],
    };
    complete
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| std::str::from_utf8(l).ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_line_without_lf_is_ignored() {
        assert_eq!(parse(b"a\nb\nc"), ["a", "b"]);
        assert_eq!(parse(b""), Vec::<String>::new());
        assert_eq!(parse(b"only"), Vec::<String>::new());
    }

    #[test]
    fn record_prune_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = UidlStore::open(tmp.path(), "joe", "pop.example").unwrap();
        assert!(s.known().is_empty());
        s.record("u1").unwrap();
        s.record("u2").unwrap();
        s.record("u1").unwrap();
        let again = UidlStore::open(tmp.path(), "joe", "pop.example").unwrap();
        assert_eq!(again.uids, ["u1", "u2"]);
        let mut s = again;
        s.prune(&["u2", "u3"].into_iter().collect()).unwrap();
        let text = std::fs::read_to_string(tmp.path().join("popuidl/joe@pop.example")).unwrap();
        assert_eq!(text, "u2\n");
        // Slashes never make a path.
        assert_eq!(file_name("a/b", "c"), "a_b@c");
    }
}
