//! The daemon's pid file, `<pid_dir>/masqmail.pid`.
//!
//! [`PidFile::create`] writes the calling process's own pid durably
//! (`masqmail.pid.tmp` created with `O_CREAT|O_EXCL|O_NOFOLLOW`, written,
//! synced, renamed over `masqmail.pid`, directory synced) before any
//! listener is bound, so whoever can connect can also read the pid. The
//! file is removed when the [`PidFile`] is dropped: on an orderly stop and
//! on a failed start (a bind failure) alike; it is left only by a crash or
//! SIGKILL.
//!
//! # Security
//! Written while the daemon may still be root, into a directory that is
//! typically root's (`/var/run`). Everything below `pid_dir` is reached
//! through the directory fd ([`Dir`]), so a symlink planted as
//! `masqmail.pid` or `masqmail.pid.tmp` is replaced or unlinked, never
//! followed. Removal unlinks only a file that still holds our pid: a
//! second daemon that replaced it keeps its pid file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::fs::durable::Dir;

/// The pid file of this process; removed on drop.
#[derive(Debug)]
pub(crate) struct PidFile {
    dir: Dir,
    name: &'static str,
    pid: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write pid file {path}: {source}")]
pub struct PidFileError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl PidFile {
    /// Creates `pid_dir` (one level, like the spool directories, cli.md
    /// §4.3) when missing and writes our pid to `pid_dir/masqmail.pid`.
    pub(crate) fn create(pid_dir: &Path, name: &'static str) -> Result<PidFile, PidFileError> {
        let err = |source| PidFileError {
            path: pid_dir.join(name),
            source,
        };
        match std::fs::create_dir(pid_dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(err(e)),
            _ => {}
        }
        let dir = Dir::open(pid_dir).map_err(err)?;
        let pid = std::process::id();
        dir.write_durably(name, format!("{pid}\n").as_bytes(), 0o644)
            .map_err(err)?;
        Ok(PidFile { dir, name, pid })
    }

    /// Whether `masqmail.pid` still names this process.
    fn is_ours(&self) -> bool {
        let mut text = String::new();
        self.dir
            .open_regular(self.name)
            .and_then(|mut f| f.read_to_string(&mut text))
            .is_ok_and(|_| text.trim() == self.pid.to_string())
    }

    fn remove(&self) -> io::Result<()> {
        if !self.is_ours() {
            tracing::warn!(
                "{} no longer holds pid {}: left as it is",
                self.dir.join(self.name).display(),
                self.pid
            );
            return Ok(());
        }
        self.dir.remove(self.name)
    }
}

impl Drop for PidFile {
    /// The file was written while still root (`/var/run` is root's); the
    /// saved uid lets this thread be root again for removing it.
    fn drop(&mut self) {
        let removed = crate::privs::as_root(|| self.remove());
        if let Err(e) = removed {
            tracing::warn!("cannot remove {}: {e}", self.dir.join(self.name).display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_removed_and_symlinks_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let target = tmp.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, run.join("masqmail.pid")).unwrap();
        std::os::unix::fs::symlink(&target, run.join("masqmail.pid.tmp")).unwrap();
        let pid = PidFile::create(&run, "masqmail.pid").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep", "symlink followed");
        let text = std::fs::read_to_string(run.join("masqmail.pid")).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        assert!(!run.join("masqmail.pid.tmp").exists());
        drop(pid);
        assert!(!run.join("masqmail.pid").exists());
    }

    #[test]
    fn creates_one_level_and_leaves_a_foreign_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let pid = PidFile::create(&run, "masqmail.pid").unwrap();
        std::fs::write(run.join("masqmail.pid"), b"1\n").unwrap();
        drop(pid);
        assert_eq!(std::fs::read(run.join("masqmail.pid")).unwrap(), b"1\n");
        assert!(PidFile::create(&tmp.path().join("a/b"), "masqmail.pid").is_err());
    }
}
