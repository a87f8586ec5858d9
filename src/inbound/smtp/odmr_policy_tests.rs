//! The relay rule for an ODMR provider after `ATRN` turned the roles
//! (RFC 2645): recipients only in the ATRN domains, whatever `local_hosts`
//! and `relay_nets` say; sender-routed local parts and unqualified
//! addresses refused as from any network client.

use std::sync::Arc;

use super::*;
use crate::inbound::smtp::policy;

struct Room;

impl Admission for Room {
    fn room_for(&self, _size: u64) -> bool {
        true
    }
}

fn session(relay_nets: &str) -> Session {
    let mut cfg = Config::with_host_name("mx.example");
    cfg.relay_nets = vec![relay_nets.parse().expect("net")];
    let peer = Peer::Odmr {
        server: "odmr.provider.example:366".into(),
        // Inside relay_nets on purpose: it must not matter.
        addr: Some("127.0.0.1:366".parse().expect("addr")),
        domains: vec!["example.org".into(), "Second.Example".into()],
    };
    let limits = Limits {
        max_rcpts: 10,
        max_body: 0,
    };
    Session::new(Arc::new(cfg), Arc::new(Room), peer, limits, false)
}

fn reply(s: &mut Session, line: &str) -> String {
    match s.on_line(line.as_bytes()) {
        Step::Reply(r) => r.to_text().trim_end().to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn recipients_only_in_the_atrn_domains() {
    let mut s = session("127.0.0.0/8");
    assert!(reply(&mut s, "EHLO odmr.provider.example").starts_with("250"));
    assert!(reply(&mut s, "MAIL FROM:<a@far.example>").starts_with("250"));
    for (rcpt, want) in [
        ("<bob@example.org>", "250 2.1.5"),
        ("<BOB@EXAMPLE.ORG>", "250 2.1.5"),
        ("<carol@second.example>", "250 2.1.5"),
        ("<dave@SECOND.example>", "250 2.1.5"),
        // our own host name is not an ATRN domain
        ("<bob@mx.example>", "550 5.7.1"),
        ("<bob@far.example>", "550 5.7.1"),
        ("<bob@sub.example.org>", "550 5.7.1"),
        ("<bob@example.org.evil.example>", "550 5.7.1"),
        ("<bob@[127.0.0.1]>", "550 5.7.1"),
        // sender-routed local parts, even in an ATRN domain
        ("<u%far.example@example.org>", "550 5.7.1"),
        ("<far.example!u@example.org>", "550 5.7.1"),
        ("<\"u@far.example\"@example.org>", "550 5.7.1"),
        ("<@example.org:u@far.example>", "550 5.7.1"),
        // network rules: nothing is qualified
        ("<bob>", "501 5.1.3"),
    ] {
        let got = reply(&mut s, &format!("RCPT TO:{rcpt}"));
        assert!(got.starts_with(want), "{rcpt}: got {got:?}, want {want}");
    }
}

#[test]
fn unqualified_sender_refused() {
    let mut s = session("127.0.0.0/8");
    assert!(reply(&mut s, "EHLO odmr.provider.example").starts_with("250"));
    assert!(reply(&mut s, "MAIL FROM:<a>").starts_with("501"));
}

#[test]
fn peer_is_not_trusted() {
    let s = session("127.0.0.0/8");
    let trust = policy::Trust {
        relay_nets: &s.relay_nets,
        authenticated: false,
    };
    assert!(!policy::trusted(s.peer(), &trust));
    assert_eq!(s.peer().ip_text().as_deref(), Some("127.0.0.1"));
    assert_eq!(s.peer().who(), "ODMR odmr.provider.example:366");
}

#[test]
fn no_starttls_offered_after_the_turn() {
    let mut s = session("127.0.0.0/8");
    s.tls_started();
    let ehlo = reply(&mut s, "EHLO odmr.provider.example");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(reply(&mut s, "STARTTLS").starts_with("502 5.5.1"));
}
