//! Reading users' `~/.forward` files from their home directories, with the
//! trust checks of sendmail and Postfix.
//!
//! Guarantees: a `.forward` is used only when it is a regular file (the
//! last component is opened with `O_NOFOLLOW`, so a symlink is refused),
//! owned by its user or root, not writable by group or others, at most
//! [`MAX_SIZE`] bytes, in a home directory that others cannot write. A
//! file that fails a check is ignored with a log line naming the check,
//! and the mail goes to the user's mailbox as if there were no `.forward`
//! (Postfix's behaviour): a refused file never drops mail. root's
//! `.forward` is never read (its mail is the alias file's business, and
//! nothing from it may run as root).
//!
//! # Security
//! When masqmail may take other identities (root, or root as saved uid,
//! and no `run_as_user`), the file is opened with the user's uid and
//! primary group on this thread only ([`EffectiveIdentity`]), so the kernel
//! checks the user's permissions along the whole path, and a file the user
//! cannot read is not read. Otherwise it is opened with our own identity.
//! Owner and mode come from the open descriptor (no stat/open race).
//! Trusts the passwd database for the home directory.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::forward::{ForwardItem, ForwardList, Forwards, MAX_SIZE, parse};
use crate::address::Address;
use crate::privs::{self, EffectiveIdentity};

/// `.forward` files in the home directories of passwd users.
#[derive(Debug, Clone, Copy)]
pub struct HomeForwards {
    /// Whether reads happen with the user's identity.
    switch: bool,
}

impl HomeForwards {
    /// `run_as_user` as configured: with it, nobody's identity is taken.
    pub fn new(run_as_user: bool) -> HomeForwards {
        HomeForwards {
            switch: may_switch(run_as_user),
        }
    }
}

/// Whether this process may take a user's identity: started by root (or a
/// daemon that kept root as its saved uid), without `run_as_user`.
pub fn may_switch(run_as_user: bool) -> bool {
    !run_as_user
        && (nix::unistd::getuid().is_root()
            || nix::unistd::getresuid().is_ok_and(|ids| ids.saved.is_root()))
}

impl Forwards for HomeForwards {
    fn lookup(&self, addr: &Address) -> Option<ForwardList> {
        let user = privs::lookup_user(&addr.local)?;
        // A name that cannot travel in a target (see forward.rs) is no
        // passwd name anyway; root's mail is the alias file's.
        if user.uid.is_root() || user.name.contains([':', '/']) || user.name.is_empty() {
            return None;
        }
        let path = user.dir.join(".forward");
        match read(&user, &path, self.switch) {
            Ok(None) => None,
            Ok(Some(items)) if items.is_empty() => {
                tracing::info!(
                    "{}: no items; delivering to the mailbox of {}",
                    path.display(),
                    user.name
                );
                None
            }
            Ok(Some(items)) => Some(ForwardList {
                user: user.name,
                origin: path,
                items,
            }),
            Err(why) => {
                tracing::warn!(
                    "{}: ignored ({why}); delivering to the mailbox of {}",
                    path.display(),
                    user.name
                );
                None
            }
        }
    }
}

/// The items of `path`, `Ok(None)` when there is no such file, `Err` with
/// the reason when it must not be used.
fn read(
    user: &nix::unistd::User,
    path: &Path,
    switch: bool,
) -> Result<Option<Vec<ForwardItem>>, String> {
    let _identity = if switch {
        let id = EffectiveIdentity::switch_to(user.uid, user.gid)
            .map_err(|e| format!("cannot become user {}: {e}", user.name))?;
        Some(id)
    } else {
        None
    };
    // O_NONBLOCK: a FIFO planted at the path must not hang delivery.
    let opened = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
                Some(libc::ELOOP) => Err("it is a symbolic link".into()),
                _ => Err(format!("cannot open it: {e}")),
            };
        }
    };
    let meta = file.metadata().map_err(|e| format!("fstat: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.uid() != user.uid.as_raw() && meta.uid() != 0 {
        return Err(format!(
            "it is owned by uid {}, not by {} or root",
            meta.uid(),
            user.name
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    check_home(&user.dir, user.uid.as_raw())?;
    let mut text = Vec::new();
    (&mut file)
        .take(MAX_SIZE + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    parse(&text).map(Some)
}

/// Whoever may write the home directory may replace the file.
fn check_home(home: &Path, uid: u32) -> Result<(), String> {
    let meta = std::fs::metadata(home).map_err(|e| format!("home directory: {e}"))?;
    if meta.mode() & 0o002 != 0 {
        return Err(format!(
            "home directory {} is writable by others",
            home.display()
        ));
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(format!(
            "home directory {} is owned by uid {}",
            home.display(),
            meta.uid()
        ));
    }
    Ok(())
}
