//! `masqmail -g NAME` against the test POP3 server (issue 8): pipelined
//! and not, APOP, STLS with a test CA, UIDL and `do_keep`, `max_size`,
//! hostile servers (an oversized list, drops after RETR, after DELE,
//! before QUIT), and the round trips of a pipelined fetch counted exactly.

mod support;

use support::pop3::{Fault, Pop3Config, Pop3Server};
use support::{Env, ca, mbox_messages};

fn message(i: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{i}@far.example>\nFrom: Sender <sender{i}@far.example>\n\
         Subject: message {i}\n\n.leading dot line\nbody of message {i}\n"
    )
    .into_bytes()
}

fn server(n: usize, pipelining: bool) -> Pop3Config {
    Pop3Config {
        users: vec![("joe".into(), "secret".into())],
        messages: (1..=n).map(message).collect(),
        pipelining,
        ..Default::default()
    }
}

/// An env with `get.isp` pointing at `srv`; `extra` goes into the get file.
fn env_for(srv: &Pop3Server, extra: &str) -> Env {
    let env = Env::new("");
    let get = env.path("isp.get");
    std::fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = joe\npass = secret\naddress = joe\n{extra}\n",
            srv.port()
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    env
}

#[test]
fn pipelined_fetch_takes_six_turns_and_delivers_each_message_once() {
    let srv = Pop3Server::start(server(100, true));
    let env = env_for(&srv, "tls = none\ndo_uidl = true");
    env.ok(&["-g", "isp"], b"");
    assert_eq!(
        srv.turns(),
        6,
        "{:?}",
        srv.lines().iter().take(8).collect::<Vec<_>>()
    );
    assert_eq!(srv.remaining(), 0);
    let msgs = mbox_messages(&env.mbox("joe"));
    assert_eq!(msgs.len(), 100);
    for i in 1..=100 {
        let n = msgs
            .iter()
            .filter(|m| m.contains(&format!("body of message {i}\n")))
            .count();
        assert_eq!(n, 1, "message {i}");
    }
    let first = &msgs[0];
    assert!(
        first.contains("\n.leading dot line\n"),
        "dot-unstuffed once: {first}"
    );
    assert!(first.contains("Received: from 127.0.0.1"), "{first}");
    assert!(first.contains("with pop3"), "{first}");
    // A second run finds nothing and fetches nothing.
    env.ok(&["-g", "isp"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 100);
}

#[test]
fn without_pipelining_one_turn_per_command() {
    let srv = Pop3Server::start(server(3, false));
    let env = env_for(&srv, "tls = none");
    env.ok(&["-g", "isp"], b"");
    // greeting, CAPA, USER, PASS, LIST, 3 × RETR, 3 × DELE, QUIT.
    assert_eq!(srv.turns(), 12);
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 3);
    assert_eq!(srv.remaining(), 0);
}

/// R30: UIDs dropped only after the server deleted them (do_uidl_dele).
#[test]
fn keep_and_uidl_fetch_each_message_once_over_runs() {
    let srv = Pop3Server::start(server(2, true));
    let env = env_for(&srv, "tls = none\ndo_keep = true\ndo_uidl = true");
    env.ok(&["-g", "isp"], b"");
    env.ok(&["-g", "isp"], b"");
    assert_eq!(srv.remaining(), 2, "kept on the server");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2, "fetched once");
    let uidl = std::fs::read_to_string(env.path("spool/popuidl/joe@127.0.0.1")).unwrap();
    assert_eq!(uidl.lines().count(), 2);
    // do_uidl_dele: the known ones are deleted at the next session.
    let get = env.path("isp.get");
    let text = std::fs::read_to_string(&get)
        .unwrap()
        .replace("do_keep = true", "do_uidl_dele = true");
    std::fs::write(&get, text).unwrap();
    env.ok(&["-g", "isp"], b"");
    assert_eq!(srv.remaining(), 0);
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2);
}

/// R31: max_size and max_count respected.
#[test]
fn max_size_and_max_count() {
    let mut cfg = server(3, true);
    cfg.messages[1] = [message(2), vec![b'x'; 5000], b"\n".to_vec()].concat();
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "tls = none\nmax_size = 1000\nmax_count = 1");
    env.ok(&["-g", "isp"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 1);
    assert!(env.log().contains("> max_size (1000)"), "{}", env.log());
    assert_eq!(srv.remaining(), 2);
}

#[test]
fn apop_and_stls_with_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca::make(dir.path());
    let mut cfg = server(1, true);
    cfg.apop = true;
    cfg.tls = Some((ca.cert_pem.clone(), ca.key_pem.clone()));
    let srv = Pop3Server::start(cfg);
    let env = env_for(
        &srv,
        &format!("protocol = apop\ntls_ca_file = \"{}\"", ca.ca_pem.display()),
    );
    env.ok(&["-g", "isp"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 1);
    let cmds = srv.commands();
    assert!(cmds.iter().any(|c| c.line == "STLS"));
    assert!(
        cmds.iter().all(|c| !c.line.starts_with("APOP") || c.tls),
        "APOP over TLS"
    );
    assert!(
        cmds.iter().all(|c| !c.line.starts_with("PASS")),
        "no password sent"
    );
}

#[test]
fn no_password_in_clear_without_tls_none() {
    let srv = Pop3Server::start(server(1, true));
    let env = env_for(&srv, "");
    env.ok(&["-g", "isp"], b"");
    assert!(
        srv.lines()
            .iter()
            .all(|l| !l.starts_with("PASS") && !l.starts_with("USER"))
    );
    assert_eq!(srv.remaining(), 1);
    assert!(env.log().contains("unencrypted"), "{}", env.log());
}

/// A server that breaks at each point loses nothing: what was not
/// acknowledged stays on the server, what was spooled is not deleted
/// twice or fetched twice (UIDL), and every message arrives exactly once.
/// R30: (d) server drops mid-RETR, after DELE, before QUIT: no loss, no duplicate.
#[test]
fn drops_at_every_point_lose_nothing_and_duplicate_nothing() {
    for fault in [
        Fault::DropAfterRetr(1),
        Fault::DropAfterRetr(2),
        Fault::DropAfterDele,
        Fault::DropBeforeQuit,
    ] {
        let mut cfg = server(3, true);
        cfg.fault = fault;
        let srv = Pop3Server::start(cfg);
        let env = env_for(&srv, "tls = none\ndo_uidl = true");
        env.ok(&["-g", "isp"], b"");
        // The server is repaired: a normal server over the same mailbox.
        let good = Pop3Server::start(server(3, true));
        let get = env.path("isp.get");
        let text = std::fs::read_to_string(&get).unwrap().replace(
            &format!("port = {}", srv.port()),
            &format!("port = {}", good.port()),
        );
        std::fs::write(&get, text).unwrap();
        env.ok(&["-g", "isp"], b"");
        let msgs = mbox_messages(&env.mbox("joe"));
        for i in 1..=3 {
            let n = msgs
                .iter()
                .filter(|m| m.contains(&format!("body of message {i}\n")))
                .count();
            assert_eq!(n, 1, "{fault:?}: message {i} delivered {n} times");
        }
        assert_eq!(good.remaining(), 0, "{fault:?}");
    }
}

/// R31: LIST claiming 2 GB fails cleanly, nothing deleted.
#[test]
fn oversized_list_fails_cleanly_and_deletes_nothing() {
    let mut cfg = server(1, true);
    cfg.fault = Fault::OversizedList;
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "tls = none");
    env.ok(&["-g", "isp"], b"");
    assert!(env.log().contains("line longer than"), "{}", env.log());
    assert!(env.queued().is_empty());
    assert!(srv.lines().iter().all(|l| !l.starts_with("DELE")));
}

#[test]
fn go_uses_online_gets_of_the_connection() {
    let srv = Pop3Server::start(server(1, true));
    let env = env_for(&srv, "tls = none");
    env.add_conf("online_gets.home = \"isp\"");
    env.ok(&["-go", "office"], b"");
    assert_eq!(srv.connections(), 0);
    env.ok(&["-go", "home"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 1);
    // An unknown get name is a clear error.
    let out = env.run(&["-g", "nosuch"], b"");
    assert!(!out.status.success());
    assert!(support::stderr(&out).contains("no get file named nosuch"));
}

/// `-bD -go1s home`: one process listens and fetches, at once and then
/// every interval; what comes is delivered at once.
#[test]
fn daemon_fetches_at_once_and_every_interval() {
    let cfg = server(1, true);
    let first = cfg.messages.clone();
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "tls = none\ndo_uidl = true");
    env.add_conf("online_gets.home = \"isp\"");
    let mut daemon = env.daemon(&["-go1s", "home"]);
    env.wait_for("the first fetch", || {
        mbox_messages(&env.mbox("joe")).len() == 1
    });
    srv.add_message(&first, message(2));
    env.wait_for("the next fetch", || {
        mbox_messages(&env.mbox("joe")).len() == 2
    });
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGTERM) };
    assert!(daemon.child.wait().unwrap().success());
    assert_eq!(srv.remaining(), 0);
}

/// `-go 1s home` alone: a detached fetch daemon with its own pid file.
#[test]
fn fetch_daemon_alone_has_its_own_pid_file() {
    let srv = Pop3Server::start(server(1, true));
    let env = env_for(&srv, "tls = none");
    env.add_conf("online_gets.home = \"isp\"");
    let out = env.run(&["-go", "1s", "home"], b"");
    assert!(out.status.success(), "{}", support::stderr(&out));
    let pid: i32 = std::fs::read_to_string(env.path("run/masqmail-get.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!env.path("run/masqmail.pid").exists());
    env.wait_for("the fetch", || mbox_messages(&env.mbox("joe")).len() == 1);
    unsafe { libc::kill(pid, libc::SIGTERM) };
    env.wait_for("the pid file to go", || {
        !env.path("run/masqmail-get.pid").exists()
    });
}

/// A kill between the spool commit and the UIDL file's update: the
/// message is in the spool with its origin (`UI:`), so the next fetch
/// knows it and does not fetch it again.
/// R30: (b) kill -9 after the spool commit before DELE: no duplicate.
#[test]
fn kill_between_commit_and_uidl_write_fetches_nothing_twice() {
    let srv = Pop3Server::start(server(3, true));
    let env = env_for(&srv, "tls = none\ndo_uidl = true");
    env.add_conf("do_queue = true");
    let mut c = env.cmd();
    c.args(["-g", "isp"])
        .env("MASQMAIL_CRASHPOINT", "fetch-spooled:2");
    let out = c.output().unwrap();
    assert!(!out.status.success(), "killed at the crash point");
    assert_eq!(env.queued().len(), 2);
    let with_origin = env
        .queued()
        .iter()
        .filter(|id| env.header_file(id).contains("\nUI:joe@127.0.0.1 uid"))
        .count();
    assert_eq!(with_origin, 2, "each fetched message records its origin");
    env.ok(&["-g", "isp"], b"");
    assert_eq!(env.queued().len(), 3, "message 2 was not fetched again");
    assert_eq!(srv.remaining(), 0);
    env.ok(&["-q"], b"");
    let msgs = mbox_messages(&env.mbox("joe"));
    for i in 1..=3 {
        let n = msgs
            .iter()
            .filter(|m| m.contains(&format!("body of message {i}\n")))
            .count();
        assert_eq!(n, 1, "message {i}");
    }
}
