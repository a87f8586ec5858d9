//! The spool and lock directories' owner and mode are checked at start
//! (issue 9 point 3; RELIABILITY rule 5): a directory that the wrong user
//! can write is refused with one line and exit 78 (EX_CONFIG).

mod support;
use std::fs;
use support::*;

/// A group-writable spool directory: exit 78, nothing spooled.
/// R25: a spool directory writable by its group is refused (exit 78).
#[test]
fn group_writable_spool_dir_is_refused() {
    let env = Env::new("");
    fs::create_dir(env.path("spool")).unwrap();
    set_mode(&env.path("spool"), 0o775);
    let out = env.run(&["alice"], b"Subject: x\n\nx\n");
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let spool = env.path("spool");
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "spool directory {} is writable by its group (mode 0775): chmod go-w {}",
            spool.display(),
            spool.display()
        )
    );
    assert!(env.spool_files().is_empty());
    assert!(env.mbox("alice").is_empty());
}

/// A world-writable lock directory (sticky or not): refused as well; the
/// queue listing does not start either.
/// R25: a world-writable lock directory is refused.
#[test]
fn world_writable_lock_dir_is_refused() {
    let env = Env::new("");
    fs::create_dir(env.path("lock")).unwrap();
    set_mode(&env.path("lock"), 0o1777);
    let out = env.run(&["-bp"], b"");
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("lock directory ")
            && err.contains("is writable by its group and others (mode 1777)"),
        "{err}"
    );
    // Put right, the same installation works.
    set_mode(&env.path("lock"), 0o755);
    env.ok(&["alice"], b"Subject: fixed\n\nx\n");
    assert!(env.mbox("alice").contains("Subject: fixed"));
}

/// A spool directory owned by another user is refused. Needs root to
/// give the directory away; skipped otherwise.
/// R25: a spool directory owned by another user is refused.
#[test]
fn spool_dir_of_another_user_is_refused() {
    if !is_root() {
        eprintln!("not root: cannot chown the spool directory to nobody; skipping");
        return;
    }
    let env = Env::new("");
    let spool = env.path("spool");
    fs::create_dir(&spool).unwrap();
    set_mode(&spool, 0o755);
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    nix::unistd::chown(&spool, Some(nobody.uid), None).unwrap();
    let out = env.run(&["alice"], b"Subject: x\n\nx\n");
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "spool directory {} is owned by nobody, not by root",
            spool.display()
        )),
        "{err}"
    );
    assert!(env.spool_files().is_empty());
}

/// The directories masqmail creates itself pass the check.
#[test]
fn directories_created_by_masqmail_pass() {
    let env = Env::new("");
    env.ok(&["alice"], b"Subject: ok\n\nx\n");
    assert!(env.mbox("alice").contains("Subject: ok"));
}
