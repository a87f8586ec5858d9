//! Durable file operations relative to an open directory.
//!
//! [`Dir`] wraps a directory file descriptor; every operation names files
//! relative to it (`openat`, `renameat2`, `unlinkat`), so a directory
//! renamed or replaced under us cannot redirect a write elsewhere.
//!
//! Guarantees:
//! * [`Dir::write_durably`] returning `Ok` means a crash (or power loss, on
//!   a file system that honours `fsync`) cannot lose the new contents of
//!   `name`: temp file written, data synced, renamed over `name`, directory
//!   synced. On error the temp file is removed and `name` is unchanged.
//! * An fsync error is final. The failing fd is closed and the operation
//!   reports the error; nothing here ever syncs the same fd again and calls
//!   that success (after a failed fsync the kernel may have dropped the
//!   dirty pages, so a second fsync "succeeding" proves nothing —
//!   "fsyncgate", RELIABILITY.md R35).
//! * `fdatasync` failing with `EINVAL` (the file system does not support
//!   it) counts as success, as masqmail 1.0 does (spool.md §5); the same
//!   holds for `fsync` of a directory.
//! * Every sync is counted in a process-wide counter, [`fsync_count`], so
//!   benchmarks can print fsyncs per message exactly.
//! * Syncs of a [`Dir`] are group commits ([`super::group_sync`]):
//!   [`Dir::sync_since`] returns after a sync that started after the call,
//!   which concurrent callers share; a failed sync fails every caller
//!   whose changes it may have covered, never only the one that issued it.
//!
//! # Security
//! Names are single path components chosen by the caller (never `/`, `.`
//! or `..`; that is checked). New files are created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` and their mode is then set with `fchmod`,
//! so neither a planted symlink nor the process umask decides where or how
//! readable the data ends up. Files are opened for reading with
//! `O_NOFOLLOW|O_NONBLOCK` and must be regular files (no FIFO can hang a
//! reader, no symlink can point it at `/etc/shadow`).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

use super::group_sync::{GroupSync, Ticket};

static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// Number of `fsync`/`fdatasync` calls made by this process so far.
pub fn fsync_count() -> u64 {
    FSYNCS.load(Ordering::Relaxed)
}

/// Crash point names for the three durable steps of one write.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub synced: &'static str,
    pub renamed: &'static str,
    pub dir_synced: &'static str,
}

impl Steps {
    /// The names used by [`Dir::write_durably`].
    pub const GENERIC: Steps = Steps {
        synced: "durable-synced",
        renamed: "durable-renamed",
        dir_synced: "durable-dir-synced",
    };
}

/// `fdatasync(file)`, counted; `EINVAL` (not supported) is success.
/// On error the caller must give up on this fd (see the module doc).
pub fn sync_data(file: &File) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    match rfs::fdatasync(file) {
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `fsync` of a directory opened elsewhere (Maildir's `new/`), counted;
/// `EINVAL` (not supported) is success. Makes the names created, renamed
/// or removed in it durable.
pub fn sync_dir(dir: BorrowedFd<'_>) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    match rfs::fsync(dir) {
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    /// Every sync of `fd` goes through it (one fd, one error history).
    group: GroupSync,
}

impl Dir {
    /// Opens an existing directory. The path itself may be a symlink (an
    /// administrator's choice); everything below it is reached through the
    /// fd.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rfs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
            group: GroupSync::new(),
        })
    }

    /// Test hook: see [`GroupSync::holding`].
    pub fn hold_syncs_for(&mut self, batch: usize) {
        self.group = GroupSync::holding(batch);
    }

    /// The path the directory was opened with (for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/name`, for messages.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Creates `name` exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`)
    /// for writing, with exactly `mode` whatever the umask.
    pub fn create_new(&self, name: &str, mode: u32) -> io::Result<File> {
        check_name(name)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode))?;
        if let Err(e) = rfs::fchmod(&fd, Mode::from_raw_mode(mode)) {
            let _ = rfs::unlinkat(&self.fd, name, AtFlags::empty());
            return Err(e.into());
        }
        Ok(File::from(fd))
    }

    /// Opens `name` for reading; refuses symlinks and anything that is not
    /// a regular file.
    pub fn open_regular(&self, name: &str) -> io::Result<File> {
        check_name(name)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rfs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "is a symbolic link",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        Ok(File::from(fd))
    }

    /// `lstat` of `name`; `None` when it does not exist.
    pub fn stat(&self, name: &str) -> io::Result<Option<Stat>> {
        check_name(name)?;
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` to `to`, failing with `AlreadyExists` if `to` exists.
    pub fn rename_noreplace(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        match rfs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            // File systems without RENAME_NOREPLACE: link(2) never replaces
            // either, so link + unlink gives the same result.
            Err(Errno::INVAL) | Err(Errno::NOSYS) => {
                rfs::linkat(&self.fd, from, &self.fd, to, AtFlags::empty())?;
                rfs::unlinkat(&self.fd, from, AtFlags::empty())?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` over `to` atomically.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        Ok(rfs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Unlinks the file `name` (never follows a symlink; removes the link).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        Ok(rfs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// Makes renames and unlinks in this directory durable (counted;
    /// `EINVAL`, "not supported", is success). Prefer [`Dir::sync_ticket`]
    /// before the changes and [`Dir::sync_since`] after them: this takes
    /// the ticket now, so a concurrent failure that ended between the
    /// caller's changes and this call goes unnoticed.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_since(self.sync_ticket())
    }

    /// Taken before the changes that a later [`Dir::sync_since`] must make
    /// durable.
    pub fn sync_ticket(&self) -> Ticket {
        self.group.ticket()
    }

    /// Makes every change made in this directory before the call durable,
    /// sharing the `fsync` with concurrent callers; an error if any sync
    /// since `ticket` failed (see [`super::group_sync`]).
    pub fn sync_since(&self, ticket: Ticket) -> io::Result<()> {
        self.group.sync(ticket, || sync_dir(self.fd.as_fd()))
    }

    /// The names in the directory (not `.`/`..`; names that are not UTF-8
    /// are skipped: nothing we write has one).
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in rfs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().to_str()
                && name != "."
                && name != ".."
            {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// Replaces `name` with `bytes` durably (`name.tmp` → write → fdatasync
    /// → rename → fsync dir). The caller must own `name` exclusively (e.g.
    /// hold the message lock): a stale `name.tmp` left by a crash is removed.
    pub fn write_durably(&self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        self.write_durably_at(name, bytes, mode, &Steps::GENERIC)
    }

    /// [`Dir::write_durably`] with caller-chosen crash point names.
    pub fn write_durably_at(
        &self,
        name: &str,
        bytes: &[u8],
        mode: u32,
        steps: &Steps,
    ) -> io::Result<()> {
        let tmp = format!("{name}.tmp");
        let ticket = self.sync_ticket();
        let result = self
            .write_temp(&tmp, bytes, mode, steps.synced)
            .and_then(|()| {
                self.rename(&tmp, name)?;
                crate::crashpoint!(steps.renamed);
                self.sync_since(ticket)?;
                crate::crashpoint!(steps.dir_synced);
                Ok(())
            });
        if result.is_err() {
            // Best effort: after a successful rename there is no tmp left.
            let _ = self.remove(&tmp);
        }
        result
    }

    /// Creates `tmp` (replacing a stale one), writes and syncs it.
    pub(crate) fn write_temp(
        &self,
        tmp: &str,
        bytes: &[u8],
        mode: u32,
        synced: &'static str,
    ) -> io::Result<()> {
        let file = self.create_temp(tmp, bytes, mode)?;
        sync_data(&file)?;
        crate::crashpoint!(synced);
        Ok(())
    }

    /// Creates `tmp` (replacing a stale one) and writes `bytes`, not
    /// synced: the caller syncs the returned file before any rename.
    pub(crate) fn create_temp(&self, tmp: &str, bytes: &[u8], mode: u32) -> io::Result<File> {
        let mut file = match self.create_new(tmp, mode) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove(tmp)?;
                self.create_new(tmp, mode)?
            }
            other => other?,
        };
        file.write_all(bytes)?;
        Ok(file)
    }
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single file name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_durably_replaces_and_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let before = fsync_count();
        dir.write_durably("f", b"one", 0o640).unwrap();
        dir.write_durably("f", b"two", 0o640).unwrap();
        // Two per write: file data and directory. Other tests run in
        // parallel, hence at least.
        assert!(fsync_count() - before >= 4);
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"two");
        assert!(!tmp.path().join("f.tmp").exists());
        let mode = std::fs::metadata(tmp.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn stale_temp_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f.tmp"), b"stale").unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        dir.write_durably("f", b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"new");
    }

    #[test]
    fn create_new_is_exclusive_and_refuses_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        dir.create_new("a", 0o600).unwrap();
        assert_eq!(
            dir.create_new("a", 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::os::unix::fs::symlink(tmp.path().join("target"), tmp.path().join("link")).unwrap();
        assert!(dir.create_new("link", 0o600).is_err());
        assert!(!tmp.path().join("target").exists(), "symlink followed");
    }

    #[test]
    fn open_regular_refuses_links_fifos_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("plain"), b"x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("plain"), tmp.path().join("link")).unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        nix::unistd::mkfifo(&tmp.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(dir.open_regular("plain").is_ok());
        for bad in ["link", "sub", "fifo", "missing"] {
            assert!(dir.open_regular(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rename_noreplace_never_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("a"), b"a").unwrap();
        std::fs::write(tmp.path().join("b"), b"b").unwrap();
        assert_eq!(
            dir.rename_noreplace("a", "b").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"b");
        dir.rename_noreplace("a", "c").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("c")).unwrap(), b"a");
    }

    #[test]
    fn names_must_be_single_components() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        for bad in ["", ".", "..", "../x", "a/b"] {
            assert_eq!(
                dir.create_new(bad, 0o600).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        assert_eq!(dir.names().unwrap(), Vec::<String>::new());
    }
}
