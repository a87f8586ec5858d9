//! Per-message locks: `<lock_dir>/<ID>.lock` held with `flock`.
//!
//! masqmail 1.0 uses the "hitching post" technique (spool.md §6): create
//! `<ID>-<pid>.lock`, hard-link it to `<ID>.lock`, and treat a lock older
//! than 300 s as stale. After `kill -9` that leaves a lock behind which
//! blocks the message for five minutes, and a run that legitimately takes
//! longer than five minutes can have its lock stolen. We use `flock(2)`
//! instead (RELIABILITY.md R38): the kernel releases it the moment the
//! holder dies, and it never times out while the holder lives.
//!
//! It is still exclusive between our processes: `flock` locks belong to
//! the open file description, so two opens conflict even within one
//! process (and two threads or two `Spool` handles exclude each other).
//! The lock file is unlinked on unlock, so whoever locks re-checks that the
//! path still names the inode it locked; if not, it raced with an unlock
//! and tries again.
//!
//! Limits: `flock` is not reliable on old NFS (1.0's link trick was), and a
//! 1.0 process running concurrently does not see our locks nor we its
//! hitching posts. Do not run both on one spool.
//!
//! # Security
//! Lock files are opened with `O_NOFOLLOW|O_NONBLOCK` in the lock directory
//! fd, created mode 0600, and must be regular files: a symlink or FIFO
//! planted in the lock directory cannot redirect or hang us.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::fs::durable::Dir;
use crate::message::QueueId;

use super::{Spool, SpoolError};

/// Attempts before concluding that others keep unlocking under us.
const TRIES: usize = 16;

/// A held message lock. Dropping it unlinks the lock file, then closes the
/// fd (which releases the lock).
#[derive(Debug)]
pub struct MessageLock {
    /// Held, never read: closing it releases the lock. `Drop::drop` runs
    /// before the fields are dropped, so the unlink happens while the lock
    /// is still ours.
    _fd: OwnedFd,
    dir: Arc<Dir>,
    name: String,
}

impl Drop for MessageLock {
    fn drop(&mut self) {
        let _ = self.dir.remove(&self.name);
    }
}

impl MessageLock {
    /// The lock file's name in the lock directory.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Spool {
    /// Locks message `id` without blocking. `Ok(None)`: another process (or
    /// another handle in this one) holds it.
    pub fn lock(&self, id: &QueueId) -> Result<Option<MessageLock>, SpoolError> {
        self.lock_named(format!("{id}.lock"))
    }

    /// Locks `<lock_dir>/<name>` the same way (the fetch lock of spool.md
    /// §9.2). `name` must be one path component.
    pub fn lock_named(&self, name: String) -> Result<Option<MessageLock>, SpoolError> {
        let err = |e: Errno| SpoolError::io(self.locks.join(&name), e.into());
        for _ in 0..TRIES {
            let flags = OFlags::RDWR
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::CLOEXEC;
            let fd = rfs::openat(
                self.locks.fd(),
                name.as_str(),
                flags,
                Mode::from_raw_mode(0o600),
            )
            .map_err(err)?;
            let held = rfs::fstat(&fd).map_err(err)?;
            if FileType::from_raw_mode(held.st_mode) != FileType::RegularFile {
                return Err(SpoolError::Corrupt {
                    path: self.locks.join(&name),
                    line: 0,
                    what: "lock is not a regular file",
                });
            }
            match rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(err(e)),
            }
            // The holder we waited for may have unlinked the file (and a
            // third process created a new one) between our open and flock.
            match rfs::statat(self.locks.fd(), name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if now.st_dev == held.st_dev && now.st_ino == held.st_ino => {
                    return Ok(Some(MessageLock {
                        _fd: fd,
                        dir: Arc::clone(&self.locks),
                        name,
                    }));
                }
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(err(e)),
            }
        }
        tracing::warn!(lock = %name, "lock file keeps changing; treating it as locked");
        Ok(None)
    }
}
