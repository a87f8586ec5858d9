//! Load and crash safety of the SMTP server (issue 3 "done when"):
//! 50 concurrent clients × 20 messages, each delivered exactly once; and
//! kill -9 of the daemon under load: every message that got its 250 is
//! delivered after a restart.

mod support;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use support::smtp::Client;
use support::*;

const CLIENTS: usize = 50;
const PER_CLIENT: usize = 20;

/// Subject → how often it is found in all mailboxes of `users`.
fn delivered(env: &Env, users: &[String]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for u in users {
        for m in mbox_messages(&env.mbox(u)) {
            if let Some(line) = m.lines().find(|l| l.starts_with("Subject: ")) {
                *seen
                    .entry(line["Subject: ".len()..].to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    seen
}

fn send_batch(addr: std::net::SocketAddr, client: usize, acked: &Mutex<Vec<String>>) {
    let Ok(mut c) = Client::connect(addr) else {
        return;
    };
    if c.read_reply().ok().map(|r| r.code) != Some(220) {
        return;
    }
    if c.cmd("EHLO load.example").ok().map(|r| r.code) != Some(250) {
        return;
    }
    for i in 0..PER_CLIENT {
        let subject = format!("c{client}-m{i}");
        let body = format!("Subject: {subject}\r\n\r\n{}\r\n", "load ".repeat(400));
        let rcpt = format!("user{}@host.example.org", client % 10);
        match c.send_message("load@remote.example", &[&rcpt], body.as_bytes()) {
            Ok(r) if r.code == 250 => acked.lock().unwrap().push(subject),
            _ => return,
        }
    }
    let _ = c.cmd("QUIT");
}

/// R39: concurrent pipelined clients: every message spooled exactly once (count and content).
#[test]
fn fifty_clients_twenty_messages_each_delivered_once() {
    let env = Env::new("max_connections = 100\nmax_connections_per_host = 0");
    let d = env.daemon(&[]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let acked = Arc::clone(&acked);
            let addr = d.addr;
            std::thread::spawn(move || send_batch(addr, n, &acked))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        CLIENTS * PER_CLIENT,
        "every message got its 250"
    );
    let users: Vec<String> = (0..10).map(|u| format!("user{u}")).collect();
    env.wait_for("all deliveries", || {
        delivered(&env, &users).values().sum::<usize>() >= acked.len() && env.queued().is_empty()
    });
    let seen = delivered(&env, &users);
    for s in &acked {
        assert_eq!(
            seen.get(s),
            Some(&1),
            "{s} delivered {:?} times",
            seen.get(s)
        );
    }
    assert_eq!(seen.len(), acked.len());
    assert!(d.stop().success());
}

/// R32: kill -9 under load: every acknowledged message is spooled (the randomised rounds are on the crash branch).
#[test]
fn kill_9_under_load_then_restart_delivers_every_acknowledged_message() {
    let env = Env::new("do_queue = true\nmax_connections = 100\nmax_connections_per_host = 0");
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\"\n"));
    let d = env.start_daemon(&[], port);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..10)
        .map(|n| {
            let acked = Arc::clone(&acked);
            let addr = d.addr;
            std::thread::spawn(move || send_batch(addr, n, &acked))
        })
        .collect();
    env.wait_for("some acknowledged messages", || {
        acked.lock().unwrap().len() >= 30
    });
    d.signal(libc::SIGKILL);
    for t in threads {
        t.join().unwrap();
    }
    drop(d);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() < 10 * PER_CLIENT,
        "the kill came too late to test anything"
    );
    // every -H has its -D; a restart (with its sweep) and a queue run deliver
    for id in env.queued() {
        assert!(env.path("spool").join(format!("{id}-D")).exists(), "{id}");
    }
    let d = env.start_daemon(&[], port);
    env.ok(&["-q"], b"");
    let users: Vec<String> = (0..10).map(|u| format!("user{u}")).collect();
    let seen = delivered(&env, &users);
    for s in &acked {
        assert!(
            seen.get(s).is_some_and(|&n| n >= 1),
            "acknowledged {s} lost"
        );
    }
    assert!(d.stop().success());
}
