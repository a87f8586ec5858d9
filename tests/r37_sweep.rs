//! R37 end to end: a spool seeded with what crashes, admins and attackers
//! leave — orphaned temp files (old, and one young: a commit in
//! progress), `-D` without `-H`, `-H` without `-D`, zero-length files, a
//! file of another uid (root only: chowned to nobody), a symlink named
//! like a message pointing at a valid header file elsewhere — and one
//! valid message; then `masqmail -q`. Guarantees checked: old orphans are
//! removed with a log line each; everything else is left in place with a
//! log line; the young temp file is untouched; the symlink is not
//! followed (its target is neither delivered, changed nor removed); the
//! valid message is delivered once; the run exits 0.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use support::*;

/// Older than the sweep threshold (`queue::SWEEP_AGE`, one hour).
fn make_old(p: &Path) {
    let t = SystemTime::now() - Duration::from_secs(3 * 3600);
    fs::File::options()
        .write(true)
        .open(p)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Queues one message for `rcpt` and returns its id.
fn queue_one(env: &Env, rcpt: &str, subject: &str) -> String {
    let before = env.queued();
    env.ok(
        &["-odq", rcpt],
        format!("Subject: {subject}\n\nbody {subject}\n").as_bytes(),
    );
    let after = env.queued();
    let new: Vec<&String> = after.iter().filter(|i| !before.contains(i)).collect();
    assert_eq!(new.len(), 1);
    new[0].clone()
}

fn spool(env: &Env, name: &str) -> PathBuf {
    env.path("spool").join(name)
}

/// A line of the log that names `file` and says `what`.
fn logged(log: &str, file: &Path, what: &str) -> bool {
    let f = file.display().to_string();
    log.lines().any(|l| l.contains(&f) && l.contains(what))
}

/// What [`seed`] put in the spool.
struct Seeded {
    valid: String,
    orphan_data: String,
    orphan_header: String,
    empty: String,
    linked: String,
    target: PathBuf,
    target_before: Vec<u8>,
    old_tmp: PathBuf,
    old_data_tmp: PathBuf,
    young_tmp: PathBuf,
    foreign: Option<PathBuf>,
}

fn seed(env: &Env) -> Seeded {
    let valid = queue_one(env, "alice", "valid");
    // -D without -H (a crash between the two renames of a commit).
    let orphan_data = queue_one(env, "bob", "orphan-data");
    fs::remove_file(spool(env, &format!("{orphan_data}-H"))).unwrap();
    // -H without -D: undeliverable, must be kept for the administrator.
    let orphan_header = queue_one(env, "bob", "orphan-header");
    fs::remove_file(spool(env, &format!("{orphan_header}-D"))).unwrap();
    // Both files zero-length.
    let empty = queue_one(env, "bob", "empty");
    for s in ["-H", "-D"] {
        fs::write(spool(env, &format!("{empty}{s}")), b"").unwrap();
    }
    // A symlink named like a header file, pointing at a valid header file
    // outside the spool (with its data file in place): following it would
    // deliver "linked".
    let linked = queue_one(env, "bob", "linked");
    let target = env.path("target-H");
    fs::rename(spool(env, &format!("{linked}-H")), &target).unwrap();
    std::os::unix::fs::symlink(&target, spool(env, &format!("{linked}-H"))).unwrap();
    let target_before = fs::read(&target).unwrap();
    // Temp files: old ones are orphans, a young one is a commit in progress.
    let old_tmp = spool(env, &format!("{orphan_data}-H.tmp"));
    fs::write(&old_tmp, b"half a header").unwrap();
    let old_data_tmp = spool(env, &format!("{orphan_header}-D.tmp"));
    fs::write(&old_data_tmp, b"half a body").unwrap();
    let young_tmp = spool(env, &format!("{empty}-D.tmp"));
    fs::write(&young_tmp, b"being written").unwrap();
    // Another uid's orphaned data file (as root: chowned to nobody).
    let foreign = if is_root() {
        let id = queue_one(env, "bob", "foreign");
        fs::remove_file(spool(env, &format!("{id}-H"))).unwrap();
        let p = spool(env, &format!("{id}-D"));
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        std::os::unix::fs::chown(&p, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
        make_old(&p);
        Some(p)
    } else {
        eprintln!("SKIPPED the foreign-owner file: not root");
        None
    };
    for name in fs::read_dir(env.path("spool")).unwrap().flatten() {
        let p = name.path();
        let is_link = fs::symlink_metadata(&p).unwrap().file_type().is_symlink();
        if p != young_tmp && p.is_file() && !is_link {
            make_old(&p);
        }
    }

    Seeded {
        valid,
        orphan_data,
        orphan_header,
        empty,
        linked,
        target,
        target_before,
        old_tmp,
        old_data_tmp,
        young_tmp,
        foreign,
    }
}

/// The spool and mailboxes after one sweeping queue run over [`seed`].
fn check(env: &Env, s: &Seeded) {
    let Seeded {
        valid,
        orphan_data,
        orphan_header,
        empty,
        linked,
        target,
        target_before,
        old_tmp,
        old_data_tmp,
        young_tmp,
        foreign,
    } = s;
    let log = env.log();

    // The valid message: delivered once, gone from the spool.
    let alice = mbox_messages(&env.mbox("alice"));
    assert_eq!(alice.len(), 1, "{log}");
    assert!(alice[0].contains("body valid\n"));
    assert!(!spool(env, &format!("{valid}-H")).exists());
    // Old orphans: removed, each with a log line.
    for p in [
        spool(env, &format!("{orphan_data}-D")),
        old_tmp.clone(),
        old_data_tmp.clone(),
    ] {
        assert!(!p.exists(), "{} not swept", p.display());
        assert!(
            logged(&log, &p, "removed orphaned spool file"),
            "{}: {log}",
            p.display()
        );
    }
    // A commit in progress is not an orphan.
    assert_eq!(fs::read(young_tmp).unwrap(), b"being written");
    // Left in place, each with a log line saying why.
    let h = spool(env, &format!("{orphan_header}-H"));
    assert!(h.exists());
    assert!(logged(&log, &h, "HeaderWithoutData"), "{log}");
    for s in ["-H", "-D"] {
        let p = spool(env, &format!("{empty}{s}"));
        assert!(p.exists());
        assert!(logged(&log, &p, "Empty"), "{}: {log}", p.display());
    }
    if let Some(p) = &foreign {
        assert!(p.exists(), "another uid's file is not ours to remove");
        assert!(logged(&log, p, "ForeignOwner"), "{log}");
    }
    // The symlink: reported, not followed, target untouched.
    let link = spool(env, &format!("{linked}-H"));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(logged(&log, &link, "NotRegular"), "{log}");
    assert_eq!(fs::read(target).unwrap(), *target_before, "target changed");
    let bob = env.mbox("bob");
    assert!(
        !bob.contains("body linked"),
        "the symlink was followed: {bob}"
    );
    assert!(
        !bob.contains("body orphan"),
        "an orphan was delivered: {bob}"
    );
}

/// R37: seeded spool (orphan temp files, -D without -H, -H without -D, zero-length files, another uid's file, a symlink named like a message, one valid message) then -q: orphans removed with a log line, the rest reported and left, the symlink not followed, the valid message delivered once.
#[test]
fn r37_queue_run_sweeps_a_seeded_spool_and_delivers_the_valid_message() {
    let env = Env::new("");
    let s = seed(&env);
    env.ok(&["-q"], b"");
    check(&env, &s);
    // A second run changes nothing more and still does not crash.
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1);
    assert_eq!(fs::read(&s.target).unwrap(), s.target_before);
}

/// R37: the same seeded spool under the daemon: its first interval queue run sweeps and delivers just the same.
#[test]
fn r37_daemon_queue_run_sweeps_a_seeded_spool() {
    let env = Env::new("");
    let s = seed(&env);
    let d = env.daemon(&["-q1s"]);
    env.wait_for("the first interval queue run", || {
        env.log().contains("Finished queue run.")
    });
    check(&env, &s);
    assert!(d.stop().success());
}
