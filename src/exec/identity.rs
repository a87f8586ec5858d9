//! Taking a child's [`Identity`] between fork and exec: the user's
//! supplementary groups (as `initgroups` would give them), then the gid,
//! then the uid.
//!
//! Why not `Command::uid`/`gid`: std clears the supplementary groups when
//! a root parent sets a uid, so a `.forward` command or an MDA ran with
//! the user's primary group only, and a file group-writable through a
//! secondary group (a shared mailbox, a project directory) failed to be
//! written as the user expected.
//!
//! Guarantees: the group list is looked up before the fork (the child
//! only makes three system calls, all async-signal-safe); the child
//! never runs the program unless all three switches succeeded — a failed
//! one fails the spawn.
//!
//! # Security
//! The group list comes from the system's group database for the user
//! that owns `uid`; a uid without a passwd entry gets its primary group
//! only, never the parent's groups.

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::unistd::{Gid, User};

use super::Identity;

/// Makes `cmd`'s child take `id`, supplementary groups included.
pub(super) fn apply(cmd: &mut Command, id: Identity) {
    let groups: Vec<libc::gid_t> = groups(id).into_iter().map(Gid::as_raw).collect();
    let (uid, gid) = (id.uid.as_raw(), id.gid.as_raw());
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls on data prepared before the
    // fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The user's groups, the primary one first; the primary group alone when
/// the uid has no passwd entry or the lookup fails.
fn groups(id: Identity) -> Vec<Gid> {
    let name = User::from_uid(id.uid)
        .ok()
        .flatten()
        .and_then(|u| CString::new(u.name).ok());
    let mut list = name
        .and_then(|n| nix::unistd::getgrouplist(&n, id.gid).ok())
        .unwrap_or_default();
    list.retain(|g| *g != id.gid);
    list.insert(0, id.gid);
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Uid;

    #[test]
    fn an_unknown_uid_gets_its_primary_group_only() {
        let id = Identity {
            uid: Uid::from_raw(4_000_000_123),
            gid: Gid::from_raw(4_000_000_321),
        };
        assert_eq!(groups(id), vec![Gid::from_raw(4_000_000_321)]);
    }

    #[test]
    fn roots_groups_start_with_the_given_primary_group() {
        let id = Identity {
            uid: Uid::from_raw(0),
            gid: Gid::from_raw(0),
        };
        let list = groups(id);
        assert_eq!(list.first(), Some(&Gid::from_raw(0)));
        assert_eq!(list.iter().filter(|g| g.as_raw() == 0).count(), 1);
    }
}
