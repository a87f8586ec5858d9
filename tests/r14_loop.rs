//! RELIABILITY R14, mail loops: a message with 100 `Received:` headers,
//! and two masqmail daemons that relay a domain to each other. The loop
//! ends at the hop limit (`MAX_HOPS`, 50 `Received:` headers) with a
//! 5.4.6 failure, the sender gets one failure notice, and neither queue
//! keeps the message.
//!
//! The alias loop `a→b→a` of R14 is tested in tests/aliases.rs
//! (`loop_bounces_and_delivers_nothing`).

mod support;
use std::fs;
use std::time::{Duration, Instant};

use support::daemon::free_port;
use support::smtp::Client;
use support::*;

/// The hop limit of src/deliver/step.rs.
const MAX_HOPS: usize = 50;

fn received(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Received: from relay{i}.example by relay{}.example; Fri, 27 Nov 2026 10:00:00 +0000\n",
                i + 1
            )
        })
        .collect()
}

/// R14: a message that already carries 100 `Received:` headers is not
/// delivered, neither locally nor remotely: each recipient fails with
/// 5.4.6, the sender gets one notice and the spool is empty afterwards.
#[test]
fn r14_a_message_with_100_received_headers_fails_as_a_loop() {
    let sink = support::sink::Sink::start(support::sink::SinkConfig::default());
    let env = Env::new("");
    let route = env.path("out.route");
    fs::write(
        &route,
        format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!("permanent_routes = \"{}\"", route.display()));
    let msg = format!("{}Subject: looping\n\nround and round\n", received(100));
    env.ok(
        &["-odq", "-f", "jo", "alice", "far@remote.example"],
        msg.as_bytes(),
    );
    env.ok(&["-q"], b"");
    let log = env.log();
    assert!(
        log.contains("<alice@host.example.org> too many Received: headers (101), mail loop?"),
        "{log}"
    );
    assert!(
        log.contains("<far@remote.example> too many Received: headers (101)"),
        "{log}"
    );
    assert!(env.mbox("alice").is_empty(), "{}", env.mbox("alice"));
    assert!(sink.messages().is_empty(), "nothing relayed");
    let notice = env.mbox("jo");
    assert_eq!(
        notice.matches("Subject: Undeliverable").count(),
        1,
        "{notice}"
    );
    assert!(
        notice.contains("\t<alice@host.example.org>") && notice.contains("\t<far@remote.example>"),
        "{notice}"
    );
    assert!(env.queued().is_empty(), "{:?}", env.queued());
    // Another queue run finds nothing left to do.
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty());
    assert_eq!(env.mbox("jo").matches("Subject: Undeliverable").count(), 1);
}

/// Lines of `log` that record a relay of a message to `rcpt`.
fn relays(log: &str, rcpt: &str) -> usize {
    let tag = format!("=> <{rcpt}> host=127.0.0.1");
    log.lines().filter(|l| l.contains(&tag)).count()
}

/// R14 with two daemons: A (`host.example.org`) and B (`b.example.org`)
/// each send every non-local message to the other, so a message for
/// `x@loop.example` goes round. Both deliver at once (`do_queue = false`).
/// The loop must end within MAX_HOPS + 5 relays, with one failure notice in
/// the sender's mailbox on A and both queues empty.
#[test]
fn r14_two_daemons_relaying_to_each_other_end_the_loop() {
    let a = Env::new("do_queue = false");
    let b = Env::new("do_queue = false");
    let conf = fs::read_to_string(&b.conf).unwrap().replace(
        &format!("host_name = \"{HOST}\""),
        "host_name = \"b.example.org\"",
    );
    fs::write(&b.conf, conf).unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    for (env, own, other) in [(&a, port_a, port_b), (&b, port_b, port_a)] {
        let route = env.path("other.route");
        fs::write(&route, format!("mail_host = \"127.0.0.1:{other}\"\n")).unwrap();
        env.add_conf(&format!(
            "listen_addresses = \"127.0.0.1:{own}\"\npermanent_routes = \"{}\"",
            route.display()
        ));
    }
    let da = a.start_daemon(&[], port_a);
    let db = b.start_daemon(&[], port_b);

    let mut c = Client::connect(da.addr).expect("connect");
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    let r = c
        .send_message(
            &format!("jo@{HOST}"),
            &["x@loop.example"],
            b"Subject: ping-pong\r\n\r\nround and round\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250, "{r}");
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);

    a.wait_for("the failure notice to jo on A", || {
        a.mbox("jo").contains("Subject: Undeliverable")
    });
    // Whatever is still in flight must stop: wait until both queues are
    // empty and the relay count has stayed the same for a second.
    let count = || relays(&a.log(), "x@loop.example") + relays(&b.log(), "x@loop.example");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut since) = (count(), Instant::now());
    while since.elapsed() < Duration::from_secs(1)
        || !a.queued().is_empty()
        || !b.queued().is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the loop does not stop: {last} relays"
        );
        std::thread::sleep(Duration::from_millis(50));
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    let (la, lb) = (a.log(), b.log());
    let total = relays(&la, "x@loop.example") + relays(&lb, "x@loop.example");
    assert!(
        (MAX_HOPS - 5..=MAX_HOPS + 5).contains(&total),
        "{total} relays\nA: {la}\nB: {lb}"
    );
    eprintln!("the loop ended after {total} relays");
    assert!(
        la.contains("too many Received: headers") || lb.contains("too many Received: headers"),
        "A: {la}\nB: {lb}"
    );
    let notice = a.mbox("jo");
    assert_eq!(
        notice.matches("Subject: Undeliverable").count(),
        1,
        "{notice}"
    );
    assert!(notice.contains("\t<x@loop.example>"), "{notice}");
    assert!(a.queued().is_empty(), "A: {:?}\n{la}", a.queued());
    assert!(b.queued().is_empty(), "B: {:?}\n{lb}", b.queued());
    drop(db);
    drop(da);
}
