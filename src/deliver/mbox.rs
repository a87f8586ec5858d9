//! mbox delivery (delivery.md §7.2; RELIABILITY R13, R18–R20): append one
//! message to `<mail_dir>/<local part>`.
//!
//! Guarantees:
//! * `Delivered` only after the appended bytes were `fdatasync`ed and, for
//!   a mailbox that was empty (usually: just created), its directory was
//!   fsynced too, so the mailbox's name survives a power loss (R34).
//! * Any failure after the append started truncates the file back to its
//!   old length; a partial tail left by a crash is closed with empty lines
//!   before the next message, so messages never merge.
//! * Two deliveries never interleave: both an OFD `fcntl` write lock (it
//!   conflicts with MUAs' classic `fcntl` locks, and unlike those also
//!   between threads) and a `<mailbox>.lock` dotlock are held while writing.
//! * A busy lock, an unsafe mailbox or an I/O error defers; only an invalid
//!   local part or an unknown user fails.
//!
//! # Security
//! The local part is checked before it becomes a file name (no `/`, `.`,
//! `..`, control characters; at most 64 bytes). As root the mailbox is
//! opened with the recipient's effective uid, so the kernel's permission
//! checks are the user's. An existing mailbox must be a regular file with
//! one link, owned by the recipient; it is opened with `O_NOFOLLOW` and
//! compared by device and inode with what `lstat` saw, so a symlink, hard
//! link, FIFO or swapped file is refused and left untouched.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::unistd::{self, Uid};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::config::Config;
use crate::deliver::Outcome;
use crate::deliver::content::Content;
use crate::fs::durable::{self, Dir};
use crate::privs::{self, EffectiveIdentity};

pub use crate::address::check_local_part;

/// How long and how often to wait for locks.
#[derive(Debug, Clone, Copy)]
pub struct LockPolicy {
    /// Give up (and defer) after this long.
    pub timeout: Duration,
    pub retry: Duration,
    /// A dotlock older than this is considered abandoned and removed.
    pub stale_after: Duration,
}

impl Default for LockPolicy {
    fn default() -> Self {
        LockPolicy {
            timeout: Duration::from_secs(10),
            retry: Duration::from_millis(50),
            stale_after: Duration::from_secs(300),
        }
    }
}

/// Why a delivery did not happen. All of these defer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MboxError {
    #[error("mailbox {path}: refused: {check}")]
    Unsafe { path: PathBuf, check: String },
    #[error("mailbox {path}: {what} lock busy for {secs}s")]
    Locked {
        path: PathBuf,
        what: &'static str,
        secs: u64,
    },
    #[error("mailbox {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
}

impl MboxError {
    fn io(path: &Path, op: &'static str) -> impl FnOnce(Errno) -> MboxError {
        move |e| MboxError::Io {
            path: path.to_path_buf(),
            op,
            source: e.into(),
        }
    }

    fn unsafe_(path: &Path, check: impl Into<String>) -> MboxError {
        MboxError::Unsafe {
            path: path.to_path_buf(),
            check: check.into(),
        }
    }

    /// The deferral with an enhanced status code.
    pub fn outcome(&self) -> Outcome {
        let code = match self {
            MboxError::Io { source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EFBIG) => "4.3.1",
                Some(libc::EDQUOT) => "4.2.2",
                _ => "4.3.0",
            },
            MboxError::Unsafe { .. } | MboxError::Locked { .. } => "4.2.0",
        };
        Outcome::Deferred(format!("{code} {self}"))
    }
}

/// Delivers `content` to the mbox of `local_part`.
pub fn deliver(cfg: &Config, content: &Content, local_part: &str) -> Outcome {
    deliver_with(cfg, content, local_part, &LockPolicy::default())
}

/// [`deliver`] with an explicit lock policy.
pub fn deliver_with(
    cfg: &Config,
    content: &Content,
    local_part: &str,
    policy: &LockPolicy,
) -> Outcome {
    if let Err(why) = check_local_part(local_part) {
        return Outcome::Failed(format!("5.1.3 invalid local part {local_part:?}: {why}"));
    }
    let path = cfg.mail_dir.join(local_part);
    let (owner, _identity) = if cfg.run_as_user {
        (unistd::geteuid(), None)
    } else {
        let Some(user) = privs::lookup_user(local_part) else {
            return Outcome::Failed(format!(
                "5.1.1 could not find password entry for user {local_part}"
            ));
        };
        let identity = privs::mail_user()
            .and_then(|(_, mail_gid)| EffectiveIdentity::switch_to(user.uid, mail_gid));
        match identity {
            Ok(id) => (user.uid, Some(id)),
            Err(e) => {
                return Outcome::Deferred(format!("4.3.0 cannot become user {local_part}: {e}"));
            }
        }
    };
    match append_to(&path, content, owner, policy) {
        Ok(()) => Outcome::Delivered,
        Err(e) => {
            tracing::warn!(mailbox = %path.display(), error = %e, "mbox delivery deferred");
            e.outcome()
        }
    }
}

/// Opens, locks, appends, syncs, unlocks. `owner` must own the mailbox.
pub fn append_to(
    path: &Path,
    content: &Content,
    owner: Uid,
    policy: &LockPolicy,
) -> Result<(), MboxError> {
    let file = open_mailbox(path, owner)?;
    let dotlock = lock(&file, path, policy)?;
    let r = append(&file, path, content);
    drop(dotlock);
    // Closing the file releases the fcntl lock (after the dotlock is gone).
    drop(file);
    r
}

fn check_stat(path: &Path, st: &Stat, owner: Uid) -> Result<(), MboxError> {
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind == FileType::Symlink {
        return Err(MboxError::unsafe_(path, "is a symbolic link"));
    }
    if kind != FileType::RegularFile {
        return Err(MboxError::unsafe_(
            path,
            format!("is not a regular file ({kind:?})"),
        ));
    }
    if st.st_nlink != 1 {
        return Err(MboxError::unsafe_(
            path,
            format!("has {} hard links", st.st_nlink),
        ));
    }
    if st.st_uid != owner.as_raw() {
        return Err(MboxError::unsafe_(
            path,
            format!("is owned by uid {}, not {owner}", st.st_uid),
        ));
    }
    Ok(())
}

/// The safe open of R18: lstat, check, open without following, fstat, compare.
fn open_mailbox(path: &Path, owner: Uid) -> Result<File, MboxError> {
    let base = OFlags::RDWR
        | OFlags::APPEND
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC
        | OFlags::NOCTTY;
    // A few rounds, in case the file appears or vanishes between calls.
    for _ in 0..3 {
        let seen = match rustix::fs::lstat(path) {
            Ok(st) => {
                check_stat(path, &st, owner)?;
                Some(st)
            }
            Err(Errno::NOENT) => None,
            Err(e) => return Err(MboxError::io(path, "lstat")(e)),
        };
        let flags = if seen.is_some() {
            base
        } else {
            base | OFlags::CREATE | OFlags::EXCL
        };
        let fd = match rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            // O_CREAT|O_EXCL gives ENOENT only for a missing directory.
            Err(Errno::NOENT) if seen.is_none() => {
                return Err(MboxError::io(path, "create (does mail_dir exist?)")(
                    Errno::NOENT,
                ));
            }
            Err(Errno::NOENT) | Err(Errno::EXIST) => continue,
            Err(Errno::LOOP) => return Err(MboxError::unsafe_(path, "became a symbolic link")),
            Err(e) => return Err(MboxError::io(path, "open")(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(MboxError::io(path, "fstat"))?;
        if let Some(before) = seen
            && (before.st_dev, before.st_ino) != (st.st_dev, st.st_ino)
        {
            return Err(MboxError::unsafe_(
                path,
                "was replaced between lstat and open",
            ));
        }
        check_stat(path, &st, owner)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(MboxError::io(path, "fchmod"))?;
        return Ok(File::from(fd));
    }
    Err(MboxError::unsafe_(
        path,
        "keeps changing while being opened",
    ))
}

/// Takes the dotlock and the fcntl lock, retrying until `policy.timeout`.
/// Neither is held while waiting for the other, so a MUA taking them in
/// the other order cannot deadlock with us.
fn lock(file: &File, path: &Path, policy: &LockPolicy) -> Result<DotLock, MboxError> {
    let deadline = Instant::now() + policy.timeout;
    loop {
        let busy = match DotLock::try_acquire(path, policy.stale_after)? {
            Some(dot) => {
                if try_fcntl_lock(file, path)? {
                    return Ok(dot);
                }
                "fcntl"
            }
            None => "dotlock",
        };
        if Instant::now() >= deadline {
            return Err(MboxError::Locked {
                path: path.to_path_buf(),
                what: busy,
                secs: policy.timeout.as_secs(),
            });
        }
        std::thread::sleep(policy.retry);
    }
}

/// A non-blocking whole-file write lock; `Ok(false)` when someone holds one.
/// OFD locks belong to the open file, so they also exclude other threads
/// of this process, and they conflict with classic POSIX locks.
fn try_fcntl_lock(file: &File, path: &Path) -> Result<bool, MboxError> {
    let fl = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    match nix::fcntl::fcntl(file, nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        // Any conflict defers, whatever errno the OS picks (§18.12).
        Err(nix::Error::EAGAIN) | Err(nix::Error::EACCES) => Ok(false),
        Err(e) => Err(MboxError::Io {
            path: path.to_path_buf(),
            op: "fcntl lock",
            source: e.into(),
        }),
    }
}

/// `<mailbox>.lock`, removed on drop if it is still ours.
struct DotLock {
    /// `None` when the directory does not let us create one (logged).
    held: Option<(PathBuf, u64)>,
}

impl DotLock {
    /// `Ok(None)` when somebody else holds a fresh one.
    ///
    /// The lock appears with our pid already in it: the pid is written to
    /// `<mailbox>.lock.<pid>.<n>` first, which is then linked to the lock
    /// name (as liblockfile does). A lock created empty and filled after
    /// would, when its creator is killed in between, name nobody, and be
    /// waited for until it is stale (minutes of deferred mail).
    fn try_acquire(mailbox: &Path, stale_after: Duration) -> Result<Option<DotLock>, MboxError> {
        let mut name = mailbox.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        // Distinct per delivery of this process (threads share the pid).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".{}.{n}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let create = || rustix::fs::open(&tmp, flags, Mode::from_raw_mode(0o600));
        let created = match create() {
            // Left by a killed process that had our pid: it is no lock.
            Err(Errno::EXIST) => {
                let _ = std::fs::remove_file(&tmp);
                create()
            }
            other => other,
        };
        let fd = match created {
            Ok(fd) => fd,
            // No write permission on the directory: the fcntl lock alone
            // must do.
            Err(Errno::ACCESS) | Err(Errno::PERM) | Err(Errno::ROFS) => {
                tracing::warn!(lock = %path.display(), "cannot create dotlock; using the fcntl lock only");
                return Ok(Some(DotLock { held: None }));
            }
            Err(e) => return Err(MboxError::io(&tmp, "create dotlock")(e)),
        };
        let written = rustix::io::write(&fd, format!("{}\n", std::process::id()).as_bytes());
        let st = rustix::fs::fstat(&fd);
        drop(fd);
        crate::crashpoint!("mbox-dotlock-written");
        let linked = match (written, st) {
            (Ok(_), Ok(st)) => rustix::fs::link(&tmp, &path).map(|()| st.st_ino),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(ino) => Ok(Some(DotLock {
                held: Some((path, ino)),
            })),
            Err(Errno::EXIST) => {
                Self::break_if_stale(&path, stale_after);
                Ok(None)
            }
            Err(e) => Err(MboxError::io(&path, "create dotlock")(e)),
        }
    }

    fn break_if_stale(path: &Path, stale_after: Duration) {
        let Ok(st) = rustix::fs::lstat(path) else {
            return;
        };
        let mtime =
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0));
        let age = SystemTime::now().duration_since(mtime).unwrap_or_default();
        if age < stale_after && !holder_is_gone(path) {
            return;
        }
        // XXX: another breaker may have replaced it since the lstat; the
        // re-check narrows the window, and the fcntl lock still protects.
        if rustix::fs::lstat(path).is_ok_and(|again| again.st_ino == st.st_ino) {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    tracing::warn!(lock = %path.display(), age_secs = age.as_secs(), "removed stale dotlock")
                }
                Err(e) => {
                    tracing::warn!(lock = %path.display(), error = %e, "cannot remove stale dotlock")
                }
            }
        }
    }
}

/// True when the lock file names (as we and liblockfile write it) a
/// process id that no longer exists: its holder was killed, so waiting
/// `stale_after` would only delay mail. Unreadable or foreign contents
/// say nothing, and then only the age counts.
fn holder_is_gone(path: &Path) -> bool {
    let mut buf = [0u8; 32];
    let n = std::fs::File::open(path)
        .and_then(|mut f| io::Read::read(&mut f, &mut buf))
        .unwrap_or(0);
    let pid = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|&p| p > 1);
    match pid {
        Some(pid) => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        }
        None => false,
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        if let Some((path, ino)) = &self.held
            && rustix::fs::lstat(path).is_ok_and(|st| st.st_ino == *ino)
            && let Err(e) = std::fs::remove_file(path)
        {
            tracing::warn!(lock = %path.display(), error = %e, "cannot remove dotlock");
        }
    }
}

/// Appends under the locks; on any error truncates to the old length.
fn append(file: &File, path: &Path, content: &Content) -> Result<(), MboxError> {
    let len = rustix::fs::fstat(file)
        .map_err(MboxError::io(path, "fstat"))?
        .st_size as u64;
    let parent = if len == 0 { open_parent(path)? } else { None };
    let written = (|| -> io::Result<()> {
        let pad = separator_padding(file, len)?;
        let mut w = BufWriter::with_capacity(64 * 1024, file);
        w.write_all(pad)?;
        content.write_to(&mut w)?;
        w.flush()?;
        crate::crashpoint!("mbox-written");
        durable::sync_data(file)?;
        if let Some(dir) = &parent {
            dir.sync()?;
            crate::crashpoint!("mbox-dir-synced");
        }
        Ok(())
    })();
    if let Err(source) = written {
        if let Err(e) = rustix::fs::ftruncate(file, len).and_then(|()| rustix::fs::fdatasync(file))
        {
            tracing::error!(mailbox = %path.display(), error = %e, "cannot truncate mailbox after a failed append");
        }
        return Err(MboxError::Io {
            path: path.to_path_buf(),
            op: "append",
            source,
        });
    }
    Ok(())
}

/// The mailbox's directory, to be synced after the first message is
/// written to an empty (usually just created) mailbox, so that its name
/// survives a power loss (R34). Empty rather than created by us: another
/// delivery may have created the file and lost the race for the lock. A
/// directory the recipient may not read (mode 1733) cannot be synced;
/// that is logged, and the delivery goes on without the directory sync.
fn open_parent(path: &Path) -> Result<Option<Dir>, MboxError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match Dir::open(parent) {
        Ok(dir) => Ok(Some(dir)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!(dir = %parent.display(), error = %e, "cannot open the mail directory to sync it; a power loss may lose the new mailbox");
            Ok(None)
        }
        Err(source) => Err(MboxError::Io {
            path: parent.to_path_buf(),
            op: "open directory",
            source,
        }),
    }
}

/// What to write first so that the file ends in an empty line (R20).
fn separator_padding(file: &File, len: u64) -> io::Result<&'static [u8]> {
    use std::os::unix::fs::FileExt;
    if len == 0 {
        return Ok(b"");
    }
    let mut tail = [0u8; 2];
    let start = len.saturating_sub(2);
    let n = (len - start) as usize;
    file.read_exact_at(&mut tail[..n], start)?;
    Ok(match &tail[..n] {
        [b'\n', b'\n'] => b"",
        [.., b'\n'] => b"\n",
        _ => b"\n\n",
    })
}

#[cfg(test)]
#[path = "mbox_tests.rs"]
mod tests;
