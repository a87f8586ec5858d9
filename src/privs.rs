//! Process identity: who the mail user is, who counts as privileged
//! (cli.md §4.2), the permanent drop of privileges, and the temporary
//! switch to a recipient's identity for opening a mailbox.
//!
//! Guarantees: [`drop_permanently`] returns `Ok` only after reading the
//! credentials back and finding exactly the wanted ids (and failing to
//! regain root); [`EffectiveIdentity`] restores the previous identity when
//! dropped, or aborts the process if it cannot.
//!
//! # Security
//! A failed drop is an error the caller must treat as fatal (RELIABILITY
//! R24, masqmail CVE-2011-3350: an unchecked `seteuid`). The temporary
//! switch changes only the *calling thread's* credentials (raw Linux
//! syscalls through rustix): a process-wide `seteuid` in a multi-threaded
//! program would change the identity under every other thread's feet.

use std::marker::PhantomData;

use nix::unistd::{self, Gid, Group, Uid, User};

/// The mail user's name, fixed at build time (`MASQMAIL_USER`).
pub const MAIL_USER: &str = match option_env!("MASQMAIL_USER") {
    Some(u) => u,
    None => "mail",
};

/// The mail group's name, fixed at build time (`MASQMAIL_GROUP`).
pub const MAIL_GROUP: &str = match option_env!("MASQMAIL_GROUP") {
    Some(g) => g,
    None => "mail",
};

/// Identity errors. Each names the call or lookup that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivError {
    #[error("user {0} not found")]
    NoUser(String),
    #[error("group {0} not found")]
    NoGroup(String),
    #[error("looking up {what} {name}: {source}")]
    Lookup {
        what: &'static str,
        name: String,
        source: nix::Error,
    },
    #[error("{call}: {source}")]
    Call {
        call: &'static str,
        source: std::io::Error,
    },
    #[error("identity check failed after {what}: wanted uid {uid} gid {gid}, have {have}")]
    NotDropped {
        what: &'static str,
        uid: u32,
        gid: u32,
        have: String,
    },
    #[error("privileges could be regained after dropping to uid {0}")]
    Regained(u32),
    #[error("cannot switch identity: not running as root")]
    NotRoot,
}

impl PrivError {
    /// A failed identity call, for callers outside this module.
    pub fn from_nix(what: &'static str, e: nix::Error) -> PrivError {
        call(what)(e)
    }
}

fn call(call: &'static str) -> impl FnOnce(nix::Error) -> PrivError {
    move |e| PrivError::Call {
        call,
        source: std::io::Error::from(e),
    }
}

fn rcall(call: &'static str) -> impl FnOnce(rustix::io::Errno) -> PrivError {
    move |e| PrivError::Call {
        call,
        source: std::io::Error::from(e),
    }
}

/// The passwd entry of `name`, if there is one.
pub fn lookup_user(name: &str) -> Option<User> {
    // Names with NUL cannot be looked up; treat them as unknown.
    User::from_name(name).ok().flatten()
}

/// The real uid and its login name (the uid in digits when it has no
/// passwd entry): who submitted a message, for the spool's `ID:`.
pub fn current_login() -> (u32, String) {
    let uid = unistd::getuid();
    let name = User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.as_raw().to_string(), |u| u.name);
    (uid.as_raw(), name)
}

/// The uid of [`MAIL_USER`] and the gid of [`MAIL_GROUP`].
pub fn mail_user() -> Result<(Uid, Gid), PrivError> {
    let user = User::from_name(MAIL_USER)
        .map_err(|source| PrivError::Lookup {
            what: "user",
            name: MAIL_USER.into(),
            source,
        })?
        .ok_or_else(|| PrivError::NoUser(MAIL_USER.into()))?;
    let group = Group::from_name(MAIL_GROUP)
        .map_err(|source| PrivError::Lookup {
            what: "group",
            name: MAIL_GROUP.into(),
            source,
        })?
        .ok_or_else(|| PrivError::NoGroup(MAIL_GROUP.into()))?;
    Ok((user.uid, group.gid))
}

/// True for real uid 0, the mail user, or a member (primary or
/// supplementary) of the mail group; everybody when `run_as_user`.
pub fn is_privileged(run_as_user: bool) -> bool {
    let groups = unistd::getgroups().unwrap_or_default();
    privileged(
        run_as_user,
        unistd::getuid(),
        unistd::getgid(),
        &groups,
        mail_user().ok(),
    )
}

/// The decision of [`is_privileged`], on given ids.
fn privileged(
    run_as_user: bool,
    ruid: Uid,
    rgid: Gid,
    groups: &[Gid],
    mail: Option<(Uid, Gid)>,
) -> bool {
    if run_as_user || ruid.is_root() {
        return true;
    }
    match mail {
        Some((muid, mgid)) => ruid == muid || rgid == mgid || groups.contains(&mgid),
        None => false,
    }
}

/// Sets real, effective and saved uid/gid to `uid`/`gid` and the
/// supplementary groups to `[gid]`, for the whole process, then checks.
pub fn drop_permanently(uid: Uid, gid: Gid) -> Result<(), PrivError> {
    let already = unistd::getresuid().map_err(call("getresuid"))?;
    let already_g = unistd::getresgid().map_err(call("getresgid"))?;
    let done = [already.real, already.effective, already.saved]
        .iter()
        .all(|&u| u == uid)
        && [already_g.real, already_g.effective, already_g.saved]
            .iter()
            .all(|&g| g == gid);
    if !done {
        // Order matters: groups and gids need privilege, so they go first.
        unistd::setgroups(&[gid]).map_err(call("setgroups"))?;
        unistd::setresgid(gid, gid, gid).map_err(call("setresgid"))?;
        unistd::setresuid(uid, uid, uid).map_err(call("setresuid"))?;
    }
    let u = unistd::getresuid().map_err(call("getresuid"))?;
    let g = unistd::getresgid().map_err(call("getresgid"))?;
    let groups = unistd::getgroups().map_err(call("getgroups"))?;
    let ok = [u.real, u.effective, u.saved].iter().all(|&x| x == uid)
        && [g.real, g.effective, g.saved].iter().all(|&x| x == gid)
        && groups.iter().all(|&x| x == gid);
    if !ok {
        let have = format!(
            "uids {}/{}/{} gids {}/{}/{} groups {:?}",
            u.real, u.effective, u.saved, g.real, g.effective, g.saved, groups
        );
        return Err(PrivError::NotDropped {
            what: "drop",
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            have,
        });
    }
    // The drop must be one way: getting root back would mean it did not happen.
    if !uid.is_root() && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivError::Regained(uid.as_raw()));
    }
    Ok(())
}

/// The identity of every mode run by root without `run_as_user`
/// (cli.md §4.2): gid and groups the mail group, effective uid the mail
/// user; the real uid stays the caller's (privilege checks, `from userid`)
/// and the saved uid root, so the process can take a recipient's identity
/// for a mailbox and be root again briefly ([`as_root`]). Spool, lock and
/// log files are then the mail user's, as with 1.0. Call it while the
/// process has a single thread.
pub fn lower_to_mail_user() -> Result<(), PrivError> {
    let (uid, gid) = mail_user()?;
    let ids = unistd::getresuid().map_err(call("getresuid"))?;
    unistd::setgroups(&[gid]).map_err(call("setgroups"))?;
    unistd::setresgid(gid, gid, gid).map_err(call("setresgid"))?;
    unistd::setresuid(ids.real, uid, Uid::from_raw(0)).map_err(call("setresuid"))?;
    if unistd::geteuid() != uid || unistd::getegid() != gid {
        return Err(PrivError::NotDropped {
            what: "switch",
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            have: format!("euid {} egid {}", unistd::geteuid(), unistd::getegid()),
        });
    }
    Ok(())
}

/// Runs `f` as root on this thread when the process keeps root as its
/// saved uid (reading root-only route and key files, binding low ports);
/// otherwise just runs it.
pub fn as_root<T>(f: impl FnOnce() -> T) -> T {
    let regain = !unistd::geteuid().is_root()
        && unistd::getresuid().is_ok_and(|ids| ids.saved.is_root() || ids.real.is_root());
    let _guard = if regain {
        EffectiveIdentity::switch_to(Uid::from_raw(0), Gid::from_raw(0)).ok()
    } else {
        None
    };
    f()
}

/// The daemon's identity after binding (cli.md §4.2): real and effective
/// uid/gid become the mail user's, groups `[mail gid]`; the saved uid stays
/// root so that local delivery can still take a recipient's identity for
/// one thread ([`EffectiveIdentity`]), as 1.0 does. Checked by reading the
/// credentials back; any difference is an error the caller treats as fatal.
///
/// Call it while the process has a single thread (libc broadcasts the
/// change to all threads, but nothing should run in between).
pub fn become_mail_user() -> Result<(), PrivError> {
    let (uid, gid) = mail_user()?;
    // After `lower_to_mail_user` the euid is the mail user's: be root
    // again first, or setgroups would be refused.
    if !unistd::geteuid().is_root() {
        unistd::seteuid(Uid::from_raw(0)).map_err(call("seteuid(0)"))?;
    }
    unistd::setgroups(&[gid]).map_err(call("setgroups"))?;
    unistd::setresgid(gid, gid, gid).map_err(call("setresgid"))?;
    unistd::setresuid(uid, uid, Uid::from_raw(0)).map_err(call("setresuid"))?;
    let u = unistd::getresuid().map_err(call("getresuid"))?;
    let g = unistd::getresgid().map_err(call("getresgid"))?;
    if u.real != uid || u.effective != uid || g.real != gid || g.effective != gid {
        return Err(PrivError::NotDropped {
            what: "drop",
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            have: format!(
                "uids {}/{}/{} gids {}/{}/{}",
                u.real, u.effective, u.saved, g.real, g.effective, g.saved
            ),
        });
    }
    Ok(())
}

/// A temporary effective identity of the calling thread; the previous one
/// comes back on drop. Not `Send`: credentials belong to one thread.
#[must_use = "the identity is restored when the guard is dropped"]
pub struct EffectiveIdentity {
    euid: Uid,
    egid: Gid,
    groups: Vec<Gid>,
    _thread_bound: PhantomData<*const ()>,
}

fn ru(uid: Uid) -> rustix::process::Uid {
    rustix::process::Uid::from_raw(uid.as_raw())
}

fn rg(gid: Gid) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(gid.as_raw())
}

impl EffectiveIdentity {
    /// Sets this thread's groups to `[gid]`, egid to `gid`, euid to `uid`.
    /// Needs root as real, effective or saved uid.
    pub fn switch_to(uid: Uid, gid: Gid) -> Result<EffectiveIdentity, PrivError> {
        let ids = unistd::getresuid().map_err(call("getresuid"))?;
        if !(ids.real.is_root() || ids.effective.is_root() || ids.saved.is_root()) {
            return Err(PrivError::NotRoot);
        }
        let egid = unistd::getegid();
        let groups = unistd::getgroups().map_err(call("getgroups"))?;
        let guard = EffectiveIdentity {
            euid: ids.effective,
            egid,
            groups,
            _thread_bound: PhantomData,
        };
        // From here on `guard` restores whatever we changed, even on error.
        if !ids.effective.is_root() {
            rustix::thread::set_thread_res_uid(None, Some(ru(Uid::from_raw(0))), None)
                .map_err(rcall("seteuid(0)"))?;
        }
        rustix::thread::set_thread_groups(&[rg(gid)]).map_err(rcall("setgroups"))?;
        rustix::thread::set_thread_res_gid(None, Some(rg(gid)), None).map_err(rcall("setegid"))?;
        rustix::thread::set_thread_res_uid(None, Some(ru(uid)), None).map_err(rcall("seteuid"))?;
        if unistd::geteuid() != uid || unistd::getegid() != gid {
            let have = format!("euid {} egid {}", unistd::geteuid(), unistd::getegid());
            return Err(PrivError::NotDropped {
                what: "switch",
                uid: uid.as_raw(),
                gid: gid.as_raw(),
                have,
            });
        }
        Ok(guard)
    }
}

impl Drop for EffectiveIdentity {
    fn drop(&mut self) {
        let groups: Vec<_> = self.groups.iter().map(|&g| rg(g)).collect();
        let restored = rustix::thread::set_thread_res_uid(None, Some(ru(Uid::from_raw(0))), None)
            .and_then(|()| rustix::thread::set_thread_groups(&groups))
            .and_then(|()| rustix::thread::set_thread_res_gid(None, Some(rg(self.egid)), None))
            .and_then(|()| rustix::thread::set_thread_res_uid(None, Some(ru(self.euid)), None));
        if let Err(e) = restored {
            // Carrying on under a recipient's identity would write spool
            // and log files as the wrong user; there is no safe way on.
            tracing::error!(error = %e, "cannot restore identity after a user switch; aborting");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_users() {
        let mail = Some((Uid::from_raw(8), Gid::from_raw(8)));
        let u = Uid::from_raw;
        let g = Gid::from_raw;
        for (run_as_user, ruid, rgid, groups, mail, want) in [
            (false, u(0), g(0), vec![], mail, true),
            (false, u(8), g(100), vec![], mail, true),
            (false, u(1000), g(8), vec![], mail, true),
            (false, u(1000), g(100), vec![g(20), g(8)], mail, true),
            (false, u(1000), g(100), vec![g(20)], mail, false),
            (false, u(1000), g(100), vec![g(8)], None, false),
            (true, u(1000), g(100), vec![], None, true),
        ] {
            assert_eq!(
                privileged(run_as_user, ruid, rgid, &groups, mail),
                want,
                "{ruid} {rgid} {groups:?}"
            );
        }
        assert!(is_privileged(true));
    }

    #[test]
    fn lookups() {
        assert!(lookup_user("root").is_some_and(|u| u.uid.is_root()));
        assert!(lookup_user("no-such-user-xq7").is_none());
        assert!(lookup_user("a\0b").is_none());
    }

    #[test]
    fn switch_and_restore_in_one_thread() {
        // Runs in its own thread, so the switch cannot touch other tests.
        let r = std::thread::spawn(|| {
            let before = (unistd::geteuid(), unistd::getegid());
            if !unistd::getuid().is_root() {
                return matches!(
                    EffectiveIdentity::switch_to(Uid::from_raw(65534), Gid::from_raw(65534)),
                    Err(PrivError::NotRoot)
                );
            }
            {
                let guard =
                    EffectiveIdentity::switch_to(Uid::from_raw(65534), Gid::from_raw(65534));
                let Ok(_g) = guard else { return false };
                if unistd::geteuid().as_raw() != 65534 || unistd::getegid().as_raw() != 65534 {
                    return false;
                }
                // Root-only files are now out of reach.
                if std::fs::File::open("/etc/shadow").is_ok()
                    && std::path::Path::new("/etc/shadow").exists()
                {
                    return false;
                }
            }
            (unistd::geteuid(), unistd::getegid()) == before
        })
        .join();
        assert!(matches!(r, Ok(true)));
    }

    /// R24: a permanent drop is checked; a failed drop is an error.
    #[test]
    fn drop_in_a_child_process() {
        // A permanent drop can only be tried in a process of its own.
        if std::env::var_os("MASQMAIL_TEST_DROP").is_some() {
            let r = drop_permanently(Uid::from_raw(65534), Gid::from_raw(65534));
            std::process::exit(if r.is_ok() && unistd::getuid().as_raw() == 65534 {
                0
            } else {
                3
            });
        }
        if !unistd::getuid().is_root() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            panic!("no current exe")
        };
        let status = std::process::Command::new(exe)
            .args([
                "--exact",
                "privs::tests::drop_in_a_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MASQMAIL_TEST_DROP", "1")
            .status();
        assert!(matches!(status, Ok(s) if s.success()), "{status:?}");
    }
}
