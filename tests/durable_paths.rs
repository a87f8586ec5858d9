//! RELIABILITY R34 (fsync ordering audit) for the paths durable.rs does
//! not cover: the accept (sendmail and SMTP), an append to an existing
//! mbox, the Maildir file itself, a spool delete and the UIDL list. The
//! real binary runs under `strace -f`; each test names the exact fd that
//! must be synced (the one `open` returned, or the directory fd the
//! rename/unlink went through) and the event it must precede (exit, the
//! `250` on the socket, the "completed." log line, the DELE). Skips with a
//! message when strace is missing (.ci/run installs it).

mod support;
use std::path::Path;
use support::pop3::{Pop3Config, Pop3Server};
use support::strace::{self as st, Call};
use support::*;

const TRACE: &str = "trace=open,openat,close,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,write,writev,sendto,exit_group";

fn traced(env: &Env, args: &[&str], input: &[u8]) -> Vec<Call> {
    let trace = env.path("trace");
    let mut c = st::command(&trace, &["-s", "256", "-e", TRACE]);
    c.arg(BIN).arg("-C").arg(&env.conf).args(args);
    let out = run_with_input(c, input);
    assert!(out.status.success(), "{}\n{}", stderr(&out), env.log());
    st::parse(&std::fs::read_to_string(&trace).unwrap())
}

/// The first call after `after` that `pred` chooses.
fn find<'a>(calls: &'a [Call], after: usize, what: &str, pred: impl Fn(&Call) -> bool) -> &'a Call {
    calls
        .iter()
        .find(|c| c.line > after && pred(c))
        .unwrap_or_else(|| panic!("no {what} after line {after}:\n{calls:#?}"))
}

/// A successful fsync/fdatasync of `fd` after `after`, before the fd is
/// closed or reused.
fn synced(calls: &[Call], fd: i64, after: usize, what: &str) -> usize {
    for c in calls.iter().filter(|c| c.line > after) {
        if (c.name == "close" && c.fd_arg() == Some(fd))
            || (c.name.starts_with("open") && c.ret == Some(fd))
        {
            break;
        }
        if c.is_sync() && c.fd_arg() == Some(fd) && c.ret == Some(0) {
            return c.line;
        }
    }
    panic!("{what} (fd {fd}) not synced after line {after}:\n{calls:#?}")
}

/// Checks the accept order in `calls` and returns the line of the
/// spool directory's fsync: data and header files synced (in either
/// order: they are synced at the same time), then the data file renamed,
/// then the header file; then the directory fd of those renames synced.
fn accept_order(calls: &[Call]) -> usize {
    let created = |suffix: &'static str| {
        move |c: &Call| {
            c.name == "openat"
                && c.args.contains(&format!("{suffix}.tmp\""))
                && c.args.contains("O_EXCL")
        }
    };
    let renamed = |suffix: &'static str| {
        move |c: &Call| {
            c.name.starts_with("rename")
                && c.args.contains(&format!("{suffix}.tmp\""))
                && c.ret == Some(0)
        }
    };
    let d = find(calls, 0, "-D.tmp create", created("-D"));
    let d_sync = synced(calls, d.ret.unwrap(), d.line, "the data file");
    let h = find(calls, d.line, "-H.tmp create", created("-H"));
    let h_sync = synced(calls, h.ret.unwrap(), h.line, "the header file");
    let d_ren = find(calls, d.line, "-D rename", renamed("-D"));
    let h_ren = find(calls, d.line, "-H rename", renamed("-H"));
    assert!(d_sync < d_ren.line, "data renamed before its sync");
    assert!(h_sync < d_ren.line, "data renamed before the header's sync");
    assert!(d_ren.line < h_ren.line, "header renamed before the data");
    let dir = h_ren.fd_arg().expect("dir fd of the rename");
    synced(calls, dir, h_ren.line, "the spool directory")
}

/// R34: sendmail's accept — data and header syncs, data rename, header
/// rename, spool directory fsync, all before exit 0.
#[test]
fn r34_sendmail_accept_syncs_spool_dir_before_exit() {
    if !st::available() {
        return;
    }
    let env = Env::new("");
    env.ok(&["-odq", "warm-up"], b"x\n");
    let calls = traced(&env, &["-odq", "alice"], b"Subject: audit\n\nx\n");
    let dir_sync = accept_order(&calls);
    let exit = find(&calls, 0, "exit", |c| c.name == "exit_group");
    assert!(dir_sync < exit.line);
}

/// R34: the SMTP server's accept — the same order, and the spool
/// directory fsync comes before the `250` is written to the socket.
#[test]
fn r34_smtp_accept_syncs_spool_dir_before_250() {
    if !st::available() {
        return;
    }
    let env = Env::new("do_queue = true");
    let d = env.daemon(&[]);
    let trace = env.path("daemon-trace");
    let tracer = st::attach(d.pid(), &trace, &["-s", "256", "-e", TRACE]);
    let mut c = smtp::Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO audit.example").unwrap().code, 250);
    let r = c
        .send_message(
            "s@remote.example",
            &[&format!("alice@{HOST}")],
            b"Subject: a\r\n\r\nx\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250);
    tracer.detach();
    let calls = st::parse(&std::fs::read_to_string(&trace).unwrap());
    let dir_sync = accept_order(&calls);
    let reply = find(&calls, 0, "the 250 reply", |c| {
        (c.name == "write" || c.name == "sendto" || c.name == "writev")
            && c.args.contains("\"250 ")
            && c.args.contains("id=")
    });
    assert!(dir_sync < reply.line, "250 before the directory fsync");
    assert!(d.stop().success());
}

/// R34: a spool delete — `<id>-H` unlinked, then the fd of the spool
/// directory it was unlinked through synced, before "completed." is
/// logged; and an append to an existing mbox syncs the mbox fd before
/// the delete.
#[test]
fn r34_existing_mbox_and_spool_delete() {
    if !st::available() {
        return;
    }
    let env = Env::new("");
    env.ok(&["alice"], b"Subject: first\n\nx\n");
    env.ok(&["-odq", "alice"], b"Subject: second\n\nx\n");
    let calls = traced(&env, &["-q"], b"");
    let mbox = format!("\"{}\"", env.path("mail/alice").display());
    let open = find(&calls, 0, "mbox open", |c| {
        c.name.starts_with("open") && c.args.contains(&mbox)
    });
    let fd = open.ret.expect("mbox fd");
    let last_write = calls
        .iter()
        .filter(|c| c.name.starts_with("write") && c.fd_arg() == Some(fd))
        .map(|c| c.line)
        .max()
        .expect("writes to the mbox");
    let mbox_sync = synced(&calls, fd, last_write, "the mbox");
    let unlink = find(&calls, mbox_sync, "-H unlink", |c| {
        c.name.starts_with("unlink") && c.args.contains("-H\"") && c.ret == Some(0)
    });
    let dir = unlink.fd_arg().expect("dir fd");
    let dir_sync = synced(&calls, dir, unlink.line, "the spool directory");
    let done = find(&calls, 0, "the completed. log line", |c| {
        c.name.starts_with("write") && c.args.contains("completed.")
    });
    assert!(
        dir_sync < done.line,
        "reported done before the directory fsync"
    );
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 2);
}

/// R34/R21: Maildir — the file is created with O_EXCL in tmp/, written,
/// synced, then linked into new/ (durable.rs checks new/'s fsync).
#[test]
fn r34_maildir_file_synced_before_link() {
    if !st::available() {
        return;
    }
    let env = Env::new("");
    let base = env.path("maildirs");
    std::fs::create_dir(&base).unwrap();
    env.add_conf(&format!(
        "maildir_users = \"mdu\"\nmaildir_dir = \"{}\"\n",
        base.display()
    ));
    env.ok(&["mdu"], b"x\n");
    let calls = traced(&env, &["mdu"], b"Subject: audit\n\nx\n");
    let tmp = find(&calls, 0, "tmp/ create", |c| {
        c.name == "openat"
            && c.args.contains("O_EXCL")
            && c.args.contains("O_CREAT")
            && !c.args.contains("-D.tmp")
            && !c.args.contains("-H.tmp")
            && !c.args.contains(".lock")
            && c.ret.is_some_and(|r| r >= 0)
    });
    let file_sync = synced(&calls, tmp.ret.unwrap(), tmp.line, "the Maildir file");
    let link = find(&calls, tmp.line, "link into new/", |c| {
        (c.name.starts_with("link") || c.name.starts_with("rename")) && c.ret == Some(0)
    });
    assert!(file_sync < link.line, "linked before its sync");
}

/// R34/R30: a fetch — the message's spool commit (with its directory
/// fsync) comes before the UIDL list is renamed into place, the UIDL
/// directory is synced after that rename, and only then is DELE sent.
#[test]
fn r34_uidl_synced_after_commit_and_before_dele() {
    if !st::available() {
        return;
    }
    let srv = Pop3Server::start(Pop3Config {
        users: vec![("joe".into(), "secret".into())],
        messages: vec![b"From: a@far.example\nSubject: fetched\n\nbody\n".to_vec()],
        pipelining: true,
        ..Default::default()
    });
    let env = Env::new("");
    let get = env.path("isp.get");
    std::fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = joe\npass = secret\naddress = joe\ntls = none\ndo_uidl = true\n",
            srv.port()
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    env.ok(&["-odq", "warm-up"], b"x\n");
    let calls = traced(&env, &["-g", "isp"], b"");
    let commit_sync = accept_order(&calls);
    let uidl_name = "joe@127.0.0.1";
    let uidl = find(&calls, 0, "UIDL rename", |c| {
        c.name.starts_with("rename")
            && c.ret == Some(0)
            && c.args.contains(&format!("\"{uidl_name}\""))
    });
    assert!(
        commit_sync < uidl.line,
        "UIDL written before the spool commit"
    );
    let uidl_sync = synced(
        &calls,
        uidl.fd_arg().unwrap(),
        uidl.line,
        "the UIDL directory",
    );
    let dele = find(&calls, 0, "DELE", |c| {
        (c.name.starts_with("write") || c.name == "sendto") && c.args.contains("DELE ")
    });
    assert!(
        uidl_sync < dele.line,
        "DELE before the UIDL list was durable"
    );
    assert_eq!(srv.remaining(), 0);
    assert!(Path::new(&env.path("spool/popuidl").join(uidl_name)).exists());
}
