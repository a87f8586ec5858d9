//! The queue (issue 2 points 5 and 8): -q, -bp/mailq, -Mrm, -odq, the C
//! masqmail spool format, locking between concurrent runs, crash safety.

mod support;
use std::fs;
use support::*;

#[test]
fn odq_queues_and_q_delivers() {
    let env = Env::new("");
    env.ok(&["-odq", "alice"], b"Subject: later\n\nx\n");
    assert_eq!(env.queued().len(), 1);
    assert!(env.mbox("alice").is_empty());
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1);
    let log = env.log();
    assert!(
        log.contains("Starting queue run.") && log.contains("Finished queue run."),
        "{log}"
    );
}

#[test]
fn listing_shows_pending_recipients() {
    let env = Env::new("do_queue = true");
    let out = env.ok(&["-bp"], b"");
    assert_eq!(out, "mail queue is empty.\n");
    env.ok(
        &["-f", "root", "alice", "bob@remote.example"],
        b"Subject: l\n\nabc\n",
    );
    let id = env.queued()[0].clone();
    let out = env.ok(&["-bp"], b"");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{id} <= <root@{HOST}> size=4 age=")),
        "{out}"
    );
    assert!(lines[0].contains(" ident="), "{out}");
    assert_eq!(lines[1], format!("              == <alice@{HOST}>"));
    assert_eq!(lines[2], "              == <bob@remote.example>");
    // the mailq name means -bp
    let mailq = env.alias_binary("mailq");
    let mut c = std::process::Command::new(mailq);
    c.arg("-C").arg(&env.conf);
    assert_eq!(stdout(&c.output().unwrap()), out);
}

#[test]
fn remove_messages() {
    let env = Env::new("do_queue = true");
    env.ok(&["alice"], b"x\n");
    env.ok(&["bob"], b"y\n");
    let ids = env.queued();
    let out = env.run(&["-Mrm", &ids[0]], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("message {} deleted", ids[0])));
    assert_eq!(env.queued(), vec![ids[1].clone()]);
    assert!(!env.spool_files().iter().any(|f| f.starts_with(&ids[0])));
    let out = env.run(&["-Mrm", "000000-000-00"], b"");
    assert_eq!(out.status.code(), Some(1), "removing nothing exits 1");
}

/// spool.md §3.3: a queue written by masqmail 1.0 is read and delivered,
/// and the header file is rewritten in the same format.
#[test]
fn c_masqmail_spool_is_delivered() {
    let env = Env::new("");
    fs::create_dir_all(env.path("spool")).unwrap();
    // Whatever the umask: the spool must not be group-writable (startup check).
    support::set_mode(&env.path("spool"), 0o755);
    let id = "1xVrXk-3tM-00";
    let header = "1xVrXk-3tM-00\nMF:<root@host.example.org>\nRT: <alice@remote.example>\nRT: <bob@host.example.org>\n\
RT: <carol@remote.example>\nRT: <dave@host.example.org>\nPR:local\nID:root\nDS: 30\nTR: 1795530648\n\n\
HD:Received: by host.example.org (MasqMail 1.0.0, from userid 0)\n\tid 1xVrXk-3tM-00; Tue, 24 Nov 2026 14:30:48 +0000\n\
HD:Subject: hello\nHD:To: bob, carol@remote.example\nHD:From: root@host.example.org\n\
HD:Date: Tue, 24 Nov 2026 14:30:48 +0000\nHD:Message-ID: <1xVrXk-3tM-00@host.example.org>\n";
    let body = "This body is exactly 30 bytes\n";
    assert_eq!(body.len(), 30);
    fs::write(env.path("spool").join(format!("{id}-H")), header).unwrap();
    fs::write(
        env.path("spool").join(format!("{id}-D")),
        format!("{id}\n{body}"),
    )
    .unwrap();
    env.ok(&["-q"], b"");
    for user in ["bob", "dave"] {
        let m = env.mbox(user);
        assert!(
            m.contains("Subject: hello\n") && m.ends_with(&format!("\n\n{body}\n")),
            "{user}: {m}\n{}",
            env.log()
        );
    }
    let after = env.header_file(id);
    let want_prefix = "1xVrXk-3tM-00\nMF:<root@host.example.org>\nRT: <alice@remote.example>\nRT:X<bob@host.example.org>\n\
RT: <carol@remote.example>\nRT:X<dave@host.example.org>\nRT:X<bob@host.example.org>\nRT:X<dave@host.example.org>\nPR:local\n";
    assert!(after.starts_with(want_prefix), "{after}");
    assert!(after.ends_with(&header["1xVrXk-3tM-00\nMF:<root@host.example.org>\nRT: <alice@remote.example>\nRT: <bob@host.example.org>\nRT: <carol@remote.example>\nRT: <dave@host.example.org>\nPR:local\n".len()..]));
    // a second run delivers nothing twice
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("bob")).len(), 1);
}

/// What we write is what the C reader expects (field by field).
#[test]
fn written_spool_matches_c_layout() {
    let env = Env::new("do_queue = true");
    env.ok(&["-f", "root", "alice"], b"Subject: layout\n\nbody\n");
    let id = env.queued()[0].clone();
    let h = env.header_file(&id);
    let mut lines = h.lines();
    assert_eq!(lines.next(), Some(id.as_str()));
    assert_eq!(lines.next(), Some(format!("MF:<root@{HOST}>").as_str()));
    assert_eq!(lines.next(), Some(format!("RT: <alice@{HOST}>").as_str()));
    assert_eq!(lines.next(), Some("PR:local"));
    assert!(lines.next().unwrap().starts_with("ID:"));
    assert_eq!(lines.next(), Some("DS: 5"));
    assert!(lines.next().unwrap().starts_with("TR: "));
    assert_eq!(lines.next(), Some(""));
    assert!(lines.next().unwrap().starts_with("HD:Received: by "));
}

/// R10: a corrupt -H is skipped with spool/<id>-H:<line>, the run goes on.
#[test]
fn corrupt_header_file_is_skipped_and_others_delivered() {
    let env = Env::new("do_queue = true");
    env.ok(&["alice"], b"Subject: good\n\nx\n");
    fs::write(
        env.path("spool/1xVrXk-3tM-01-H"),
        "1xVrXk-3tM-01\nMF:<a@b>\nRT:Q<evil@x>\n",
    )
    .unwrap();
    fs::write(env.path("spool/1xVrXk-3tM-01-D"), "1xVrXk-3tM-01\n").unwrap();
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1);
    assert!(env.log().contains("1xVrXk-3tM-01-H:3:"), "{}", env.log());
    assert!(!env.path("mail/evil").exists());
}

/// Two queue runs at once over 200 messages: every message delivered
/// exactly once (the per-message lock).
/// R38: concurrent queue runs deliver each message exactly once.
#[test]
fn concurrent_queue_runs_deliver_each_message_once() {
    let env = Env::new("");
    // One fast submission of 200 queued messages.
    for i in 0..200 {
        env.ok(
            &["-odq", "alice"],
            format!("Subject: m{i}\n\nx\n").as_bytes(),
        );
    }
    assert_eq!(env.queued().len(), 200);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut c = env.cmd();
            c.arg("-q");
            c.spawn().unwrap()
        })
        .collect();
    for mut r in runs {
        assert!(r.wait().unwrap().success());
    }
    env.ok(&["-q"], b""); // anything skipped as locked is delivered now
    let msgs = mbox_messages(&env.mbox("alice"));
    let mut subjects: Vec<String> = msgs
        .iter()
        .map(|m| {
            m.lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    let before = subjects.len();
    subjects.dedup();
    assert_eq!(before, 200, "duplicates or losses");
    assert_eq!(subjects.len(), 200);
    assert!(env.queued().is_empty());
}

/// Exit 0 only once durable: a crash before the header file is in place
/// leaves no visible message, and the next run sweeps nothing valid away.
/// R32: a crash during the commit leaves no message (only temp files the sweep removes).
#[test]
fn crash_during_commit_leaves_no_message() {
    for point in ["spool-data-synced", "spool-header-renamed"] {
        let env = Env::new("do_queue = true");
        let mut c = env.cmd();
        c.env("MASQMAIL_CRASHPOINT", point).arg("alice");
        let out = run_with_input(c, b"Subject: crash\n\nx\n");
        assert!(!out.status.success(), "{point}: must have been killed");
        let visible = env.queued().len();
        // before the rename nothing is visible; after it, the message is whole
        if point == "spool-data-synced" {
            assert_eq!(visible, 0, "{point}");
        } else {
            assert_eq!(visible, 1, "{point}");
            let id = &env.queued()[0];
            assert!(env.path("spool").join(format!("{id}-D")).exists());
        }
    }
}

/// Kill -9 mid-delivery: the message stays queued and is delivered by the
/// next run (at least once).
/// R20: kill -9 mid-append: still queued, delivered again, the mbox parses.
#[test]
fn crash_during_mbox_append_keeps_message() {
    let env = Env::new("do_queue = true");
    env.ok(&["alice"], b"Subject: once\n\nx\n");
    let mut c = env.cmd();
    c.env("MASQMAIL_CRASHPOINT", "mbox-written").arg("-q");
    let out = run_with_input(c, b"");
    assert!(!out.status.success());
    assert_eq!(env.queued().len(), 1);
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty());
    let n = mbox_messages(&env.mbox("alice"))
        .iter()
        .filter(|m| m.contains("Subject: once"))
        .count();
    assert!((1..=2).contains(&n), "delivered {n} times");
}

/// R34: before exit 0 the data file is synced, the header temp file is
/// synced and renamed, and the spool directory is synced — each sync on the
/// right file descriptor: the data temp file's, the header temp file's and
/// the spool directory's own.
/// R34: data, header, rename, directory fsync before exit 0.
#[test]
fn fsync_order_before_exit() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!("strace not installed: skipping the fsync audit (.ci/run installs it)");
        return;
    }
    let env = Env::new("do_queue = true");
    env.ok(&["alice"], b"warm up\n"); // creates directories
    let trace = env.path("trace");
    let mut c = std::process::Command::new("strace");
    c.args([
        "-f",
        "-qq",
        "-e",
        "trace=open,openat,fsync,fdatasync,rename,renameat,renameat2,exit_group",
        "-o",
    ])
    .arg(&trace)
    .arg(BIN)
    .arg("-C")
    .arg(&env.conf)
    .arg("alice");
    let out = run_with_input(c, b"Subject: audit\n\nx\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let t = fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    let pos = |needle: &dyn Fn(&str) -> bool| lines.iter().position(|l| needle(l));
    let rename_d =
        pos(&|l| l.contains("rename") && l.contains("-D\"") && l.contains(".tmp")).expect(&t);
    let rename_h =
        pos(&|l| l.contains("rename") && l.contains("-H\"") && l.contains(".tmp")).expect(&t);
    assert!(rename_d < rename_h, "data file first:\n{t}");
    // The fd an open of `name` returned, at the last such open before `before`.
    let fd_of = |name: &str, before: usize| -> String {
        lines[..before]
            .iter()
            .rev()
            .find(|l| l.contains("open") && l.contains(&format!("{name}\"")))
            .and_then(|l| l.rsplit("= ").next())
            .map(|fd| fd.trim().to_string())
            .unwrap_or_else(|| panic!("no open of {name}:\n{t}"))
    };
    // `fdatasync(7)`, or `fdatasync(7 <unfinished ...>` when another
    // thread's call interrupted the line (the two files sync at once).
    let synced = |fd: &str, from: usize, to: usize| {
        lines[from..to].iter().any(|l| {
            ["fsync", "fdatasync"].iter().any(|call| {
                l.contains(&format!("{call}({fd})"))
                    || l.contains(&format!("{call}({fd} <unfinished"))
            })
        })
    };
    let data_fd = fd_of("-D.tmp", rename_d);
    assert!(
        synced(&data_fd, 0, rename_d),
        "data temp file synced before its rename:\n{t}"
    );
    let head_fd = fd_of("-H.tmp", rename_h);
    assert!(
        synced(&head_fd, 0, rename_d),
        "header temp file synced before the first rename:\n{t}"
    );
    let spool = env.path("spool").display().to_string();
    let dir_fd = fd_of(&spool, rename_d);
    assert!(
        synced(&dir_fd, rename_h, lines.len()),
        "the spool directory's own fd synced after the header rename:\n{t}"
    );
}

/// R33: a message whose recipients are all local is concluded (its spool
/// entry removed) right after its own delivery, not after the whole chunk:
/// a kill after the first message's removal re-delivers nothing.
#[test]
fn local_messages_are_concluded_one_by_one() {
    let env = Env::new("");
    for i in 0..3 {
        env.ok(
            &["-odq", "alice"],
            format!("Subject: m{i}\n\nbody {i}\n").as_bytes(),
        );
    }
    let mut c = env.cmd();
    c.arg("-q")
        .env("MASQMAIL_CRASHPOINT", "spool-remove-dir-synced:1");
    let out = c.output().unwrap();
    assert!(!out.status.success(), "killed at the first removal");
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1, "one delivered");
    assert_eq!(env.queued().len(), 2, "and only that one concluded");
    env.ok(&["-q"], b"");
    let msgs = mbox_messages(&env.mbox("alice"));
    assert_eq!(msgs.len(), 3, "each exactly once: {msgs:?}");
}
