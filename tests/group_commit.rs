//! Issue 12: group commit in the spool, end to end with the real daemon.
//!
//! Ten clients start each round together (a barrier), each over a new
//! connection. The debug-build hook `MASQMAIL_TEST_SYNC_BATCH=10` holds
//! the spool's directory sync until ten commits are waiting for it, so a
//! batch forms by construction, not by luck of timing, and the fsyncs can
//! be counted exactly under strace: two `fdatasync`s per message (its
//! data and header files) and one `fsync` of the spool directory per
//! round for all ten. The kill -9 test stops the daemon inside such a
//! batch: every client that got its 250 finds its message in the spool.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};

use support::daemon::{Daemon, free_port};
use support::smtp::Client;
use support::{Env, strace};

const CLIENTS: usize = 10;
const ROUNDS: usize = 3;

fn env() -> (Env, u16) {
    let env = Env::new("do_queue = true\nmax_connections_per_host = 0");
    let port = free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    (env, port)
}

fn daemon(env: &Env, port: u16, crashpoint: Option<&str>) -> Daemon {
    env.start_daemon_with(&[], port, |c| {
        c.env("MASQMAIL_TEST_SYNC_BATCH", CLIENTS.to_string());
        if let Some(point) = crashpoint {
            c.env("MASQMAIL_CRASHPOINT", point);
        }
    })
}

/// One message over a new connection; `Some(id)` when it was answered
/// 250 (the id from `250 2.0.0 OK id=<ID>`), `None` on anything else.
fn send_one(addr: SocketAddr, token: &str) -> Option<String> {
    let mut c = Client::connect(addr).ok()?;
    c.greeting().ok()?;
    c.cmd("EHLO client.example").ok()?;
    let body = format!("Subject: {token}\r\n\r\n{token}\r\n");
    let reply = c
        .send_message(
            "a@client.example",
            &["alice@host.example.org"],
            body.as_bytes(),
        )
        .ok()?;
    let _ = c.cmd("QUIT");
    let id = reply.text().split("id=").nth(1)?.trim().to_string();
    (reply.code == 250).then_some(id)
}

/// `CLIENTS` threads, `rounds` rounds each starting at a barrier; the
/// (token, id) of every message answered 250.
fn load(addr: SocketAddr, rounds: usize) -> Vec<(String, Option<String>)> {
    let start = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                for r in 0..rounds {
                    start.wait();
                    let token = format!("client-{c}-round-{r}");
                    let id = send_one(addr, &token);
                    sent.push((token, id));
                }
                sent
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect()
}

/// The data file of `id` holds `token` and its header file exists.
fn spooled(env: &Env, id: &str, token: &str) -> bool {
    let data = std::fs::read_to_string(env.path("spool").join(format!("{id}-D")));
    data.is_ok_and(|d| d.contains(token)) && env.path("spool").join(format!("{id}-H")).exists()
}

#[test]
fn ten_concurrent_clients_share_one_directory_sync_per_batch() {
    assert!(
        strace::available(),
        "this test counts fsyncs with strace: install strace (CI has it)"
    );
    let (env, port) = env();
    let d = daemon(&env, port, None);
    let trace = env.path("fsyncs.trace");
    let traced = strace::attach(d.pid(), &trace, &["-e", "trace=fsync,fdatasync"]);
    let sent = load(d.addr, ROUNDS);
    traced.detach();

    for (token, id) in &sent {
        let id = id
            .as_ref()
            .unwrap_or_else(|| panic!("{token}: no 250\n{}", env.log()));
        assert!(spooled(&env, id, token), "{token}: {id} not in the spool");
    }
    let text = std::fs::read_to_string(&trace).expect("trace");
    // Whole calls and the first halves of interrupted ones, once each.
    let count = |name: &str| {
        text.lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|c| c.starts_with(name))
            })
            .count()
    };
    let messages = CLIENTS * ROUNDS;
    assert_eq!(
        count("fdatasync("),
        2 * messages,
        "data and header file per message\n{text}"
    );
    assert_eq!(
        count("fsync("),
        ROUNDS,
        "one directory sync per batch of ten\n{text}"
    );
    let per_message = (count("fdatasync(") + count("fsync(")) as f64 / messages as f64;
    assert!(per_message <= 2.5, "{per_message} fsyncs per message");
}

/// Kill -9 inside the second batch (the first ten were answered 250),
/// at each place of the group sync: while the commits wait for it (the
/// fifth has renamed its header, nobody synced) and after it (one or six
/// committers returned, their 250s maybe written, maybe not).
#[test]
fn kill_inside_a_batch_loses_no_acknowledged_message() {
    for point in [
        "spool-header-renamed:15",
        "spool-dir-synced:11",
        "spool-dir-synced:16",
    ] {
        let (env, port) = env();
        let mut d = daemon(&env, port, Some(point));
        let sent = load(d.addr, 2);
        let status = d.child.wait().expect("wait for the daemon");
        assert!(
            !status.success(),
            "{point}: the daemon was not killed: {status}"
        );

        let acknowledged: Vec<_> = sent
            .iter()
            .filter_map(|(token, id)| Some((token, id.as_ref()?)))
            .collect();
        eprintln!(
            "{point}: {} of {} acknowledged",
            acknowledged.len(),
            sent.len()
        );
        // All of the first round; of the second, nothing before its
        // directory sync.
        assert!(acknowledged.len() >= CLIENTS, "{point}: first round");
        if point.starts_with("spool-header-renamed") {
            assert_eq!(
                acknowledged.len(),
                CLIENTS,
                "{point}: 250 before the directory sync"
            );
        }
        // After a restart (the startup sweep runs) every acknowledged
        // message is there, and no header is left without its data.
        let d = daemon(&env, port, None);
        for (token, id) in &acknowledged {
            assert!(spooled(&env, id, token), "{point}: acknowledged {id} lost");
        }
        for id in env.queued() {
            let data = env.path("spool").join(format!("{id}-D"));
            assert!(data.exists(), "{point}: {id}-H without -D");
        }
        drop(d);
    }
}
