//! SMTP AUTH in the session (issue 11, RELIABILITY R08): when AUTH is
//! offered and allowed, every edge of the exchange, and what a verdict
//! changes (relaying, the recorded user).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::tests::{OUTSIDE, config, play, session_with, show, tcp};
use super::*;
use crate::inbound::smtp::auth_file::AuthTable;

/// A session from outside relay_nets with AUTH offered, TLS as given.
fn session(tls: bool) -> Session {
    let mut s = session_with(config(), tcp(OUTSIDE), true, true);
    s.offer_auth(true);
    if tls {
        s.tls_started();
    }
    s
}

fn plain(authzid: &str, user: &str, pw: &str) -> String {
    STANDARD.encode(format!("{authzid}\0{user}\0{pw}"))
}

#[test]
fn offered_only_inside_tls() {
    let mut s = session(false);
    let ehlo = show(s.on_line(b"EHLO c"));
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    let ir = plain("", "jo", "sesame");
    play(
        &mut s,
        &[
            (
                &format!("AUTH PLAIN {ir}"),
                "538 5.7.11 Encryption required",
            ),
            ("AUTH LOGIN", "538 5.7.11"),
            ("STARTTLS", "tls 220 2.0.0"),
        ],
    );
    s.tls_started();
    play(&mut s, &[("AUTH PLAIN", "503 5.5.1 need EHLO before AUTH")]);
    let ehlo = show(s.on_line(b"EHLO c"));
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    // HELO is not enough.
    play(
        &mut s,
        &[("HELO c", "250 "), ("AUTH PLAIN", "503 5.5.1 need EHLO")],
    );
}

#[test]
fn not_offered_without_users() {
    let mut s = session_with(config(), tcp(OUTSIDE), true, true);
    s.tls_started();
    let ehlo = show(s.on_line(b"EHLO c"));
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    play(&mut s, &[("AUTH PLAIN", "502 5.5.1 AUTH not available")]);
}

#[test]
fn success_lets_relay_and_records_the_user() {
    let mut s = session(true);
    play(
        &mut s,
        &[
            ("EHLO c", "250-mx.example"),
            ("MAIL FROM:<a@far.example>", "250 2.1.0"),
            ("RCPT TO:<u@elsewhere.example>", "550 5.7.1 relaying to"),
            (
                "AUTH PLAIN",
                "503 5.5.1 AUTH not allowed during a mail transaction",
            ),
            ("RSET", "250 2.0.0"),
        ],
    );
    let ir = plain("jo", "jo", "sesame");
    play(
        &mut s,
        &[(
            &format!("AUTH PLAIN {ir}"),
            "authenticate PLAIN user=jo authzid=\"jo\"",
        )],
    );
    assert_eq!(
        show(s.auth_checked(AuthCheck::Accepted)),
        "235 2.7.0 Authentication successful"
    );
    assert_eq!(s.authenticated(), Some("jo"));
    play(
        &mut s,
        &[
            ("AUTH LOGIN", "503 5.5.1 already authenticated"),
            ("EHLO again", "250-mx.example"),
            ("AUTH PLAIN", "503 5.5.1 already authenticated"),
            ("MAIL FROM:<a@far.example>", "250 2.1.0"),
            ("RCPT TO:<u@elsewhere.example>", "250 2.1.5"),
            ("DATA", "data 354"),
        ],
    );
    let Step::Commit(sub) = s.content_end(Ok(())) else {
        panic!("no commit")
    };
    assert_eq!(sub.ident.as_deref(), Some("jo"));
    assert_eq!(sub.received_host.as_deref(), Some("192.0.2.7"));
}

#[test]
fn failure_keeps_relaying_closed() {
    let mut s = session(true);
    play(&mut s, &[("EHLO c", "250-")]);
    let ir = plain("", "jo", "wrong");
    play(
        &mut s,
        &[(&format!("AUTH PLAIN {ir}"), "authenticate PLAIN user=jo")],
    );
    assert_eq!(
        show(s.auth_checked(AuthCheck::Refused)),
        "535 5.7.8 Authentication credentials invalid"
    );
    assert_eq!(s.authenticated(), None);
    play(
        &mut s,
        &[
            ("MAIL FROM:<a@far.example>", "250 2.1.0"),
            ("RCPT TO:<u@elsewhere.example>", "550 5.7.1"),
            ("RSET", "250"),
            (&format!("AUTH PLAIN {ir}"), "authenticate PLAIN"),
        ],
    );
    assert_eq!(
        show(s.auth_checked(AuthCheck::TooMany)),
        "close 421 4.7.0 mx.example too many failed authentications, closing connection"
    );
    // A verdict nobody asked for changes nothing.
    assert_eq!(
        show(s.auth_checked(AuthCheck::Accepted)),
        "535 5.7.8 Authentication credentials invalid"
    );
    assert_eq!(s.authenticated(), None);
}

#[test]
fn cancel_then_another_mechanism() {
    let mut s = session(true);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("AUTH LOGIN", "334 VXNlcm5hbWU6"),
            (&STANDARD.encode("jo"), "334 UGFzc3dvcmQ6"),
            ("*", "501 5.0.0 authentication cancelled"),
            ("NOOP", "250 2.0.0 OK"),
            ("AUTH PLAIN", "334"),
            ("*", "501 5.0.0 authentication cancelled"),
            ("AUTH PLAIN", "334"),
            (&plain("", "jo", "sesame"), "authenticate PLAIN user=jo"),
        ],
    );
}

#[test]
fn bad_responses_end_the_exchange() {
    let mut s = session(true);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("AUTH PLAIN", "334"),
            ("not base64!", "501 5.5.2 invalid base64"),
            ("NOOP", "250 2.0.0 OK"),
            (
                &format!("AUTH PLAIN {}", STANDARD.encode("\0jo\0pw\0x")),
                "501 5.5.2 malformed PLAIN message",
            ),
            (
                &format!("AUTH PLAIN {}", STANDARD.encode("jo\0pw")),
                "501 5.5.2 malformed PLAIN message",
            ),
            (
                "AUTH CRAM-MD5",
                "504 5.5.4 unrecognized authentication mechanism",
            ),
            ("AUTH", "501 5.5.4 syntax error: AUTH mechanism"),
            ("AUTH LOGIN", "334"),
        ],
    );
    // A 4 kB response is longer than a line may be.
    assert_eq!(
        show(s.line_too_long()),
        "500 5.5.6 authentication exchange line is too long"
    );
    play(&mut s, &[("NOOP", "250 2.0.0 OK")]);
    // Outside an exchange a long line is a long command.
    assert_eq!(show(s.line_too_long()), "500 5.5.2 line too long");
}

/// A client that pipelines a command after `AUTH PLAIN` (no initial
/// response) has that command read as its response: refused, and the
/// command is not run.
#[test]
fn pipelined_command_after_auth_is_not_run() {
    let mut s = session(true);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("AUTH PLAIN", "334"),
            ("MAIL FROM:<a@far.example>", "501 5.5.2 invalid base64"),
            ("RCPT TO:<u@elsewhere.example>", "503 5.5.1 need MAIL FROM:"),
        ],
    );
    assert_eq!(s.authenticated(), None);
}

/// An authzid other than the user fails even with the right password.
#[test]
fn authzid_must_be_the_user() {
    let table =
        AuthTable::parse(b"jo:{PLAIN}sesame\nroot:{PLAIN}x\n", Path::new("pw")).expect("table");
    let creds = |authzid: &str, pw: &str| super::super::auth::Credentials {
        mechanism: super::super::auth::Mechanism::Plain,
        authzid: authzid.into(),
        user: "jo".into(),
        password: pw.as_bytes().to_vec(),
    };
    assert!(creds("", "sesame").check(&table));
    assert!(creds("jo", "sesame").check(&table));
    assert!(!creds("root", "sesame").check(&table));
    assert!(!creds("", "x").check(&table));
}

#[test]
fn relay_nets_of_the_connection() {
    let mut s = session(false);
    s.set_relay_nets(vec!["192.0.2.0/24".parse().expect("net")]);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@far.example>", "250 2.1.0"),
            ("RCPT TO:<u@elsewhere.example>", "250 2.1.5"),
        ],
    );
    let mut s = session(false);
    s.set_relay_nets(vec!["127.0.0.1/32".parse().expect("net")]);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@far.example>", "250 2.1.0"),
            ("RCPT TO:<u@elsewhere.example>", "550 5.7.1"),
        ],
    );
}
