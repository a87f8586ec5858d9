//! Parallel flush (issue 12): queued messages for a PIPELINING-only
//! smarthost spread over up to `max_parallel_connections` connections;
//! one connection with CHUNKING or with the option at 1; a server's `421`
//! greeting or `452` to MAIL on the later connections stops the spreading
//! without losing or doubling a message; a temporary failure on one
//! connection leaves that message queued. Connections and round trips are
//! counted on the test server and in the client's debug log.

mod support;
use std::collections::BTreeMap;
use std::fs;

use support::sink::{Sink, SinkConfig};
use support::*;

/// An env whose route `isp` sends to `sink`, with the extra route lines.
fn env_for(sink: &Sink, route: &str) -> Env {
    let env = Env::new("debug_level = 1");
    fs::write(
        env.path("isp.route"),
        format!("mail_host = \"127.0.0.1:{}\"\n{route}\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    env
}

/// Queues `n` messages (Subject `m0`..) to `rcpt`.
fn queue(env: &Env, n: usize, rcpt: &str) {
    for i in 0..n {
        let body = format!("From: jo\nSubject: m{i}\n\n{}\n", "text ".repeat(400));
        env.ok(&["-odq", "-f", "jo", rcpt], body.as_bytes());
    }
}

/// How often the sink received each subject.
fn subjects(sink: &Sink) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for m in sink.messages() {
        let text = String::from_utf8_lossy(&m.text).into_owned();
        let subject = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("?")
            .to_string();
        *seen.entry(subject).or_insert(0) += 1;
    }
    seen
}

/// Every one of `m0..m{n}` exactly once.
fn assert_each_once(sink: &Sink, n: usize, env: &Env) {
    let seen = subjects(sink);
    let want: BTreeMap<String, usize> = (0..n).map(|i| (format!("m{i}"), 1)).collect();
    assert_eq!(seen, want, "{}", env.log());
}

/// The round trips of every session, from the debug log.
fn session_turns(env: &Env) -> Vec<u32> {
    let debug = fs::read_to_string(env.path("log/debug.log")).unwrap_or_default();
    debug
        .lines()
        .filter(|l| l.contains("session with"))
        .filter_map(|l| {
            let end = l.find(" round trip(s)")?;
            l[..end].rsplit(' ').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn pipelining_only_spreads_twenty_messages_over_four_connections() {
    let sink = Sink::start(SinkConfig {
        hold_data_until_connections: Some(4),
        ..SinkConfig::default()
    });
    let env = env_for(&sink, "tls = none\nmax_parallel_connections = 4");
    queue(&env, 20, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 20, &env);
    assert!(env.queued().is_empty(), "{}", env.log());
    assert_eq!(sink.connections(), 4, "{}", env.log());
    let turns = session_turns(&env);
    assert_eq!(turns.len(), 4, "one count per session: {turns:?}");
    // Greeting and EHLO on each; a connection that found work also pays
    // one turn per message and its final write.
    assert!(turns.iter().all(|&t| t >= 2), "{turns:?}");
    assert!(
        env.log().contains("20 messages over 4 connections"),
        "{}",
        env.log()
    );
}

#[test]
fn chunking_keeps_one_connection_and_three_turns() {
    let sink = Sink::start(SinkConfig {
        chunking: true,
        ..SinkConfig::default()
    });
    let env = env_for(&sink, "tls = none");
    queue(&env, 20, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 20, &env);
    assert_eq!(sink.connections(), 1);
    assert_eq!(session_turns(&env), [3]);
}

#[test]
fn one_connection_when_the_route_says_one() {
    let sink = Sink::start(SinkConfig::default());
    let env = env_for(&sink, "tls = none\nmax_parallel_connections = 1");
    queue(&env, 20, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 20, &env);
    assert_eq!(sink.connections(), 1);
    // greeting, EHLO, one per message, the final write
    assert_eq!(session_turns(&env), [23]);
}

#[test]
fn one_connection_without_pipelining() {
    let sink = Sink::start(SinkConfig::default());
    let env = env_for(&sink, "tls = none\ndo_pipelining = no");
    queue(&env, 6, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 6, &env);
    assert_eq!(sink.connections(), 1);
}

#[test]
fn greeting_421_on_the_second_connection_stops_the_spreading() {
    let sink = Sink::start(SinkConfig {
        greet_421_after: Some(1),
        ..SinkConfig::default()
    });
    let env = env_for(&sink, "tls = none");
    queue(&env, 20, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 20, &env);
    assert!(env.queued().is_empty(), "{}", env.log());
    // The refused one, and none after it.
    assert_eq!(sink.connections(), 2, "{}", env.log());
    assert!(env.log().contains("refused"), "{}", env.log());
}

#[test]
fn mail_452_on_later_connections_sends_everything_over_the_first() {
    let sink = Sink::start(SinkConfig {
        mail_452_after: Some(1),
        // The first connection waits until a later one was refused, so
        // the give-back happens while it still takes messages.
        hold_data_until_refusals: Some(1),
        ..SinkConfig::default()
    });
    let env = env_for(&sink, "tls = none");
    queue(&env, 20, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 20, &env);
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(sink.connections() >= 2, "{}", env.log());
    let log = env.log();
    assert!(log.contains("goes over another connection"), "{log}");
    assert!(!log.contains("deferred"), "{log}");
}

#[test]
fn a_temporary_failure_on_one_connection_stays_queued() {
    let sink = Sink::start(SinkConfig {
        defer_rcpts: vec!["later@remote.example".into()],
        hold_data_until_connections: Some(8),
        ..SinkConfig::default()
    });
    let env = env_for(&sink, "tls = none");
    queue(&env, 19, "bob@remote.example");
    env.ok(
        &["-odq", "-f", "jo", "later@remote.example"],
        b"From: jo\nSubject: later\n\nwait\n",
    );
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 19, &env);
    // The default: 8.
    assert_eq!(sink.connections(), 8, "{}", env.log());
    let ids = env.queued();
    assert_eq!(ids.len(), 1, "{}", env.log());
    assert!(env.header_file(&ids[0]).contains("later@remote.example"));
    assert!(env.log().contains("450 4.2.0 try later"), "{}", env.log());
}

/// R33 over several connections: killed after the third remote `250` was
/// read, before the spool knows. Nothing is lost, and only messages that
/// were in flight (at most one per connection) may arrive twice.
#[test]
fn killed_mid_parallel_flush_loses_nothing() {
    let sink = Sink::start(SinkConfig::default());
    let env = env_for(&sink, "tls = none");
    queue(&env, 20, "bob@remote.example");
    let out = env
        .cmd()
        .args(["-qo", "isp"])
        .env("MASQMAIL_CRASHPOINT", "remote-accepted:3")
        .output()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "the crash point was not reached: {}",
        env.log()
    );
    sink.quiesce();
    let connections = sink.connections() as usize;
    env.ok(&["-qo", "isp"], b"");
    let seen = subjects(&sink);
    assert_eq!(seen.len(), 20, "every message arrived: {seen:?}");
    let twice = seen.values().filter(|&&n| n == 2).count();
    assert!(seen.values().all(|&n| n <= 2), "{seen:?}");
    assert!(
        twice <= connections,
        "{twice} twice over {connections} connections: {seen:?}"
    );
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// Each extra connection is a whole session: STARTTLS and AUTH on every
/// one (the sink refuses MAIL before AUTH with 530, which is no limit, so
/// a session without AUTH would leave its messages deferred).
#[test]
fn every_connection_does_starttls_and_auth() {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = support::ca::make(ca_dir.path());
    let sink = Sink::start(SinkConfig {
        starttls: Some((ca.cert_pem.clone(), ca.key_pem.clone())),
        auth: Some(("jo".into(), "secret".into())),
        auth_required: true,
        hold_data_until_connections: Some(8),
        ..SinkConfig::default()
    });
    let env = env_for(
        &sink,
        &format!(
            "tls = starttls\ntls_ca_file = \"{}\"\nauth_login = jo\nauth_secret = secret\nauth_name = plain",
            ca.ca_pem.display()
        ),
    );
    queue(&env, 16, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_each_once(&sink, 16, &env);
    assert!(env.queued().is_empty(), "{}", env.log());
    assert_eq!(sink.connections(), 8, "{}", env.log());
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.tls && m.auth.as_deref() == Some("PLAIN"))
    );
}
