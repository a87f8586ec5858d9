//! A real full disk (issue 9 point 5; RELIABILITY R20, R21, R35, R36): a
//! tmpfs of a few MiB mounted over the mail directory, the Maildir base or
//! the spool, filled with a file of the right size. Each test first shows
//! the fault (the write fails with ENOSPC, nothing is lost or half
//! written), then frees the space and shows that the next run finishes
//! the job exactly once.
//!
//! Needs root for `mount` (CI runs as root); elsewhere each test prints
//! SKIPPED and returns.

mod support;
use std::fs;
use support::smtp::Client;
use support::tmpfs::Tmpfs;
use support::*;

const MIB: u64 = 1024 * 1024;

/// A body bigger than any slack in a file's last page, so that an append
/// starts and then hits ENOSPC part-way.
fn big_body(subject: &str) -> Vec<u8> {
    let mut m = format!("Subject: {subject}\n\n").into_bytes();
    for i in 0..2000 {
        m.extend_from_slice(format!("line {i:05} of a message that will not fit\n").as_bytes());
    }
    m
}

/// Message files in the spool (the filler and directories aside).
fn message_files(env: &Env) -> Vec<String> {
    env.spool_files()
        .into_iter()
        .filter(|n| n.ends_with("-H") || n.ends_with("-D") || n.ends_with(".tmp"))
        .collect()
}

/// R20: ENOSPC in the middle of an mbox append — the mbox is truncated to
/// its original length (byte for byte), the message is deferred with
/// 4.3.1 and stays queued; once space is back the next run delivers it,
/// and the mbox parses into both messages, whole.
#[test]
fn r20_enospc_mid_mbox_append_truncates_and_defers() {
    let env = Env::new("");
    let Some(fs_) = Tmpfs::mount(&env.path("mail"), MIB) else {
        return;
    };
    env.ok(&["alice"], b"Subject: first\n\nfits\n");
    let before = env.mbox_bytes("alice");
    assert!(!before.is_empty());
    fs_.fill(0);
    let body = big_body("second");
    env.ok(&["alice"], &body);
    assert!(
        env.mbox_bytes("alice") == before,
        "mbox not truncated back: {} bytes, was {}",
        env.mbox_bytes("alice").len(),
        before.len()
    );
    assert_eq!(env.queued().len(), 1, "deferred, still queued");
    let log = env.log();
    assert!(
        log.contains("4.3.1") && log.contains("No space left on device"),
        "{log}"
    );
    fs_.unfill();
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let msgs = mbox_messages(&env.mbox("alice"));
    assert_eq!(msgs.len(), 2, "{}", env.log());
    assert!(msgs[0].contains("Subject: first"));
    assert!(msgs[1].contains("Subject: second"));
    assert!(msgs[1].contains("line 01999 of a message that will not fit\n"));
}

/// R21: ENOSPC while the message is written into `tmp/` — `new/` gets no
/// file at all (partial or not), the message is deferred with 4.3.1; once
/// space is back it is delivered whole.
#[test]
fn r21_enospc_during_maildir_write_leaves_nothing_in_new() {
    let env = Env::new("");
    let base = env.path("maildirs");
    let Some(fs_) = Tmpfs::mount(&base, MIB) else {
        return;
    };
    env.add_conf(&format!(
        "maildir_users = \"mdu\"\nmaildir_dir = \"{}\"\n",
        base.display()
    ));
    env.ok(&["mdu"], b"Subject: first\n\nfits\n");
    let new = base.join("mdu/new");
    let listing = || -> Vec<_> { fs::read_dir(&new).unwrap().map(|e| e.unwrap()).collect() };
    assert_eq!(listing().len(), 1);
    fs_.fill(0);
    env.ok(&["mdu"], &big_body("second"));
    assert_eq!(listing().len(), 1, "nothing new in new/");
    assert_eq!(env.queued().len(), 1, "deferred, still queued");
    assert!(env.log().contains("4.3.1"), "{}", env.log());
    fs_.unfill();
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let files = listing();
    assert_eq!(files.len(), 2);
    let second = files
        .iter()
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .find(|t| t.contains("Subject: second"))
        .expect("second message in new/");
    assert!(
        second.contains("line 01999 of a message that will not fit\n"),
        "{}",
        &second[second.len().saturating_sub(200)..]
    );
}

/// R36: a real, nearly full spool file system below `queue_minfree` —
/// `sendmail` exits 75 with a clear message, SMTP `MAIL` gets `452 4.3.1`,
/// and no spool file is left, half written or not.
#[test]
fn r36_queue_minfree_on_a_nearly_full_spool() {
    let env = Env::new("queue_minfree = 1048576");
    let Some(fs_) = Tmpfs::mount(&env.path("spool"), 4 * MIB) else {
        return;
    };
    fs_.fill(MIB / 2);
    let out = env.run(&["alice"], b"Subject: refused\n\nx\n");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not enough free space"),
        "{}",
        stderr(&out)
    );
    let d = env.daemon(&[]);
    let mut c = Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    let r = c.cmd("MAIL FROM:<s@remote.example>").unwrap();
    assert_eq!((r.code, r.enhanced()), (452, Some("4.3.1")), "{}", r.text());
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(d.stop().success());
    assert_eq!(message_files(&env), Vec::<String>::new());
    assert!(env.mbox("alice").is_empty());
}

/// R35 with a real ENOSPC (`queue_minfree = 0`, so only the write can
/// tell): the spool fills up while the message is written — `sendmail`
/// exits 75, SMTP answers the end of data with 451/452 and never 250, and
/// no spool file remains.
#[test]
fn r35_enospc_while_spooling_is_a_temporary_failure() {
    let env = Env::new("queue_minfree = 0");
    let Some(fs_) = Tmpfs::mount(&env.path("spool"), MIB) else {
        return;
    };
    fs_.fill(0);
    let out = env.run(&["alice"], &big_body("no room"));
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert_eq!(message_files(&env), Vec::<String>::new());
    let d = env.daemon(&[]);
    let mut c = Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    let r = c
        .send_message(
            "s@remote.example",
            &[&format!("alice@{HOST}")],
            &big_body("no room either"),
        )
        .unwrap();
    assert!(
        matches!(r.code, 451 | 452) && r.enhanced().is_some_and(|e| e.starts_with("4.3.")),
        "{}",
        r.text()
    );
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(d.stop().success());
    assert_eq!(message_files(&env), Vec::<String>::new());
    // Space back: the same installation accepts again.
    fs_.unfill();
    env.ok(&["alice"], b"Subject: room again\n\nx\n");
    assert!(env.mbox("alice").contains("Subject: room again"));
}

/// Issue 9: a recipient fails permanently while the spool is full, so its
/// failure notice cannot be spooled. The failure does not stand without
/// its notice: the message stays queued with the recipient pending, no
/// notice, nothing lost. Space back, the next run bounces it exactly once.
#[test]
fn failure_notice_on_a_full_spool_waits_and_is_sent_once() {
    let env = Env::new("queue_minfree = 0");
    let Some(fs_) = Tmpfs::mount(&env.path("spool"), MIB) else {
        return;
    };
    let mda = env.script("fail", "#!/bin/sh\ncat >/dev/null\nexit 67\n");
    env.add_conf(&format!(
        "mda_users = \"carol\"\nmda = \"{}\"\n",
        mda.display()
    ));
    env.ok(
        &["-odq", "-f", "sender", "carol"],
        b"Subject: doomed\n\nbody\n",
    );
    let queued = env.queued();
    assert_eq!(queued.len(), 1);
    let header = env.header_file(&queued[0]);
    fs_.fill(0);
    env.ok(&["-q"], b"");
    assert_eq!(env.mbox("sender"), "", "no notice could be spooled");
    assert_eq!(env.queued(), queued, "{}", env.log());
    assert_eq!(env.header_file(&queued[0]), header, "record unchanged");
    assert!(
        message_files(&env).iter().all(|n| !n.ends_with(".tmp")),
        "{:?}",
        message_files(&env)
    );
    assert!(
        env.log().contains("left as it was and retried later"),
        "{}",
        env.log()
    );
    // A second run on the still full disk changes nothing either.
    env.ok(&["-q"], b"");
    assert_eq!(env.queued(), queued);
    fs_.unfill();
    env.ok(&["-q"], b"");
    let notices = mbox_messages(&env.mbox("sender"));
    assert_eq!(notices.len(), 1, "{}", env.log());
    assert!(notices[0].contains(&format!("\t<carol@{HOST}>")));
    assert!(env.queued().is_empty(), "{}", env.log());
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("sender")).len(), 1, "exactly once");
}
