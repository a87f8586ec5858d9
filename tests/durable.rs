//! RELIABILITY R34 (fsync ordering audit) for local delivery: the real
//! binary runs under `strace -f` and the trace is checked for a directory
//! fsync of the right fd between the new name and the spool update
//! (issue 9 point 3), and for the accept (sendmail and SMTP), an existing
//! mbox, a spool delete and the UIDL list. Skips with a message when strace
//! is missing (.ci/run installs it).

mod support;
use std::fs;
use support::*;

use support::strace::{self as st, Call};

fn strace_missing() -> bool {
    !st::available()
}

/// Runs `masqmail <rcpt>` (immediate local delivery) under strace.
fn traced_delivery(env: &Env, rcpt: &str) -> String {
    traced(env, &[rcpt], b"Subject: audit\n\nx\n")
}

const TRACE: &str = "trace=open,openat,close,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,write,writev,sendto,exit_group";

/// Runs `masqmail <args>` under strace; the raw trace.
fn traced(env: &Env, args: &[&str], input: &[u8]) -> String {
    let trace = env.path("trace");
    let mut c = st::command(&trace, &["-e", TRACE]);
    c.arg(BIN).arg("-C").arg(&env.conf).args(args);
    let out = run_with_input(c, input);
    assert!(out.status.success(), "{}\n{}", stderr(&out), env.log());
    fs::read_to_string(&trace).unwrap()
}

/// The line of the first `fsync` of the fd that `open` returned, while
/// that fd still names the same directory (no later open reused it).
fn fsync_of(calls: &[Call], open: &Call, after: usize) -> Option<usize> {
    let fd = open.ret?;
    let reused = calls
        .iter()
        .find(|c| c.line > open.line && c.name.starts_with("open") && c.ret == Some(fd))
        .map_or(usize::MAX, |c| c.line);
    calls
        .iter()
        .find(|c| {
            c.line > after && c.line < reused && c.name == "fsync" && c.args == fd.to_string()
        })
        .map(|c| c.line)
}

/// The first `unlinkat`/`renameat2` of the spool header file after line
/// `after`: the spool update that says "delivered".
fn spool_update(calls: &[Call], after: usize) -> usize {
    calls
        .iter()
        .find(|c| {
            c.line > after
                && (c.name.starts_with("unlink") || c.name.starts_with("rename"))
                && c.args.contains("-H\"")
        })
        .map(|c| c.line)
        .expect("no spool update after the delivery")
}

/// R34: a NEW mbox — after the file is created, the fd of the mail
/// directory is fsynced, before the spool's header file is removed.
/// R34: a new mbox: mail_dir fsynced before the spool update.
#[test]
fn new_mbox_syncs_mail_dir_before_spool_update() {
    if strace_missing() {
        return;
    }
    let env = Env::new("");
    env.ok(&["warm-up"], b"x\n"); // creates the spool directories
    let t = traced_delivery(&env, "alice");
    let calls = st::parse(&t);
    let mbox = format!("\"{}\"", env.path("mail/alice").display());
    let created = calls
        .iter()
        .find(|c| {
            c.name.starts_with("open") && c.args.contains(&mbox) && c.args.contains("O_CREAT")
        })
        .unwrap_or_else(|| panic!("mbox not created:\n{t}"));
    let mail_dir = format!("\"{}\"", env.path("mail").display());
    let dir = calls
        .iter()
        .find(|c| {
            c.line > created.line
                && c.name.starts_with("open")
                && c.args.contains(&format!("{mail_dir},"))
                && c.args.contains("O_DIRECTORY")
        })
        .unwrap_or_else(|| panic!("mail directory not opened after the create:\n{t}"));
    let synced = fsync_of(&calls, dir, dir.line)
        .unwrap_or_else(|| panic!("mail directory not fsynced:\n{t}"));
    assert!(
        synced < spool_update(&calls, created.line),
        "directory fsync after the spool update:\n{t}"
    );
    assert!(env.mbox("alice").contains("Subject: audit"));
}

/// R34: Maildir — after the link (or rename) into `new/`, the fd of
/// `new/` is fsynced, before the spool's header file is removed.
/// R21/R34: new/ fsynced after the link, before the spool update.
#[test]
fn maildir_syncs_new_before_spool_update() {
    if strace_missing() {
        return;
    }
    let env = Env::new("");
    env.add_conf(&format!(
        "maildir_users = \"mdu\"\nmaildir_dir = \"{}\"\n",
        env.path("maildirs").display()
    ));
    fs::create_dir(env.path("maildirs")).unwrap();
    // Once to create the Maildir, then the audited delivery into it.
    env.ok(&["mdu"], b"x\n");
    let t = traced_delivery(&env, "mdu");
    let calls = st::parse(&t);
    let new = calls
        .iter()
        .find(|c| {
            c.name == "openat" && c.args.contains("\"new\"") && c.args.contains("O_DIRECTORY")
        })
        .unwrap_or_else(|| panic!("new/ not opened:\n{t}"));
    let fd = new.ret.expect("fd");
    let into_new = calls
        .iter()
        .find(|c| {
            c.line > new.line
                && (c.name.starts_with("link") || c.name.starts_with("rename"))
                && c.args.contains(&format!(", {fd}, \""))
        })
        .unwrap_or_else(|| panic!("no link/rename into new/ (fd {fd}):\n{t}"));
    let synced = fsync_of(&calls, new, into_new.line)
        .unwrap_or_else(|| panic!("new/ (fd {fd}) not fsynced after the link:\n{t}"));
    assert!(
        synced < spool_update(&calls, into_new.line),
        "new/ fsync after the spool update:\n{t}"
    );
    assert_eq!(
        fs::read_dir(env.path("maildirs/mdu/new")).unwrap().count(),
        2
    );
}

/// R34: a Maildir created by the delivery — its directories' entries are
/// synced too (the base directory and the Maildir itself), before the
/// spool update.
/// R34: a new Maildir: its parents fsynced before the spool update.
#[test]
fn new_maildir_syncs_its_parents() {
    if strace_missing() {
        return;
    }
    let env = Env::new("");
    env.add_conf(&format!(
        "maildir_users = \"mdu\"\nmaildir_dir = \"{}\"\n",
        env.path("maildirs").display()
    ));
    fs::create_dir(env.path("maildirs")).unwrap();
    env.ok(&["warm-up"], b"x\n");
    let t = traced_delivery(&env, "mdu");
    let calls = st::parse(&t);
    let linked = calls
        .iter()
        .find(|c| c.name.starts_with("link"))
        .unwrap_or_else(|| panic!("no link into new/:\n{t}"));
    let update = spool_update(&calls, linked.line);
    let base = format!("\"{}\",", env.path("maildirs").display());
    let md = format!("\"{}\",", env.path("maildirs/mdu").display());
    for (what, needle) in [("maildir_dir", &base), ("the Maildir", &md)] {
        assert!(
            calls
                .iter()
                .filter(|c| c.name.starts_with("open") && c.args.contains(needle.as_str()))
                .filter_map(|c| fsync_of(&calls, c, c.line))
                .any(|line| line < update),
            "{what} not fsynced before the spool update:\n{t}"
        );
    }
}
