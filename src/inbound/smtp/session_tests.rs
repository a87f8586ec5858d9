//! The session without sockets: command in, step out, for every verb and
//! every reply the session can give.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::accept::AcceptError;
use crate::spool::SpoolError;

pub(super) struct Space(pub(super) AtomicBool);

impl Admission for Space {
    fn room_for(&self, _size: u64) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub(super) const OUTSIDE: &str = "192.0.2.7:4000";
pub(super) const INSIDE: &str = "127.0.0.1:4000";

pub(super) fn config() -> Config {
    let mut cfg = Config::with_host_name("mx.example");
    cfg.max_msg_size = 1000;
    cfg
}

pub(super) fn session_with(cfg: Config, peer: Peer, room: bool, tls: bool) -> Session {
    let limits = Limits {
        max_rcpts: 3,
        max_body: cfg.max_msg_size,
    };
    Session::new(
        Arc::new(cfg),
        Arc::new(Space(AtomicBool::new(room))),
        peer,
        limits,
        tls,
    )
}

pub(super) fn tcp(addr: &str) -> Peer {
    Peer::Tcp(addr.parse().unwrap())
}

fn session(peer: &str) -> Session {
    session_with(config(), tcp(peer), true, true)
}

/// A step as one line of text: its kind, then the reply.
pub(super) fn show(step: Step) -> String {
    let text = |r: Reply| r.to_text().trim_end().replace('\n', " | ");
    match step {
        Step::Reply(r) => text(r),
        Step::Close(r) => format!("close {}", text(r)),
        Step::StartTls(r) => format!("tls {}", text(r)),
        Step::ReceiveData(r) => format!("data {}", text(r)),
        Step::ReceiveChunk { size, last } => format!("chunk {size} last={last}"),
        Step::SkipChunk { size, then } => format!("skip {size} {}", text(then)),
        Step::Commit(sub) => format!(
            "commit <{}> {:?} {:?}",
            sub.return_path,
            sub.recipients
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            sub.protocol
        ),
        Step::Authenticate(c) => format!(
            "authenticate {} user={} authzid={:?}",
            c.mechanism.name(),
            c.user,
            c.authzid
        ),
    }
}

/// Plays `lines` (client line, expected step text prefix).
pub(super) fn play(s: &mut Session, script: &[(&str, &str)]) {
    for (line, want) in script {
        let got = show(s.on_line(line.as_bytes()));
        assert!(
            got.starts_with(want),
            "{line:?}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn greeting_and_simple_verbs() {
    let mut s = session(OUTSIDE);
    assert_eq!(
        s.greeting().to_text(),
        format!("220 mx.example MasqMail {} ESMTP\n", crate::accept::VERSION)
    );
    play(
        &mut s,
        &[
            ("NOOP", "250 2.0.0 OK"),
            ("HELP", "214-2.0.0 supported commands:"),
            ("VRFY bob", "252 2.5.0 cannot VRFY user"),
            ("EXPN list", "502 5.5.1 EXPN not available"),
            ("AUTH PLAIN", "502 5.5.1 AUTH not available"),
            ("RSET", "250 2.0.0 OK"),
            (
                "HELO client.example",
                "250 mx.example pretty old mailer, huh?",
            ),
            ("FOO", "500 5.5.1 command not recognized"),
            (
                "MAIL FROM:<a@b> FOO=1",
                "555 5.5.4 unsupported parameter FOO",
            ),
            ("DATA x", "501 5.5.4 syntax error"),
            ("QUIT", "close 221 2.0.0 mx.example closing connection"),
        ],
    );
    assert_eq!(show(s.line_too_long()), "500 5.5.2 line too long");
    assert_eq!(show(s.on_line(b"NOOP\0")), "500 5.5.2 NUL in command");
    assert_eq!(
        show(s.on_line(b"EHLO x\ry")),
        "500 5.5.2 bare CR in command"
    );
    assert!(
        s.timeout_reply()
            .to_text()
            .starts_with("421 4.4.2 mx.example timeout")
    );
    assert!(
        s.too_slow_reply()
            .to_text()
            .starts_with("421 4.4.2 mx.example data arrives too slowly")
    );
}

#[test]
fn ehlo_lists_extensions_and_starttls_only_before_tls() {
    let mut s = session(OUTSIDE);
    let got = show(s.on_line(b"EHLO c"));
    assert_eq!(
        got,
        "250-mx.example Nice to meet you with ESMTP | 250-SIZE 1000 | 250-PIPELINING | \
         250-8BITMIME | 250-ENHANCEDSTATUSCODES | 250-CHUNKING | 250-SMTPUTF8 | 250-DSN | \
         250-STARTTLS | 250 HELP"
    );
    play(
        &mut s,
        &[
            ("MAIL FROM:<a@b.example>", "250"),
            ("STARTTLS", "tls 220 2.0.0 ready to start TLS"),
        ],
    );
    s.tls_started();
    // Everything before TLS is forgotten (R07), STARTTLS is gone.
    play(
        &mut s,
        &[("MAIL FROM:<a@b.example>", "503 5.5.1 need HELO or EHLO.")],
    );
    assert!(!show(s.on_line(b"EHLO c")).contains("STARTTLS"));
    play(&mut s, &[("STARTTLS", "502 5.5.1 STARTTLS not available")]);
    let mut plain = session_with(config(), tcp(OUTSIDE), true, false);
    play(
        &mut plain,
        &[("STARTTLS", "502 5.5.1 STARTTLS not available")],
    );
}

/// R06: out-of-order commands and the state after a refusal.
#[test]
fn sequence_refusals() {
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("MAIL FROM:<a@b.example>", "503 5.5.1 need HELO or EHLO."),
            ("RCPT TO:<bob@mx.example>", "503 5.5.1 need HELO or EHLO."),
            ("DATA", "503 5.5.1 need HELO or EHLO."),
            ("BDAT 5", "skip 5 503 5.5.1 need HELO or EHLO."),
            ("EHLO c", "250-"),
            (
                "RCPT TO:<bob@mx.example>",
                "503 5.5.1 need MAIL FROM: before RCPT TO:",
            ),
            ("DATA", "503 5.5.1 need MAIL FROM: before DATA"),
            ("BDAT 5", "skip 5 503 5.5.1 need MAIL FROM: before BDAT"),
            (
                "MAIL FROM:<a@b.example>",
                "250 2.1.0 OK a@b.example is a nice guy.",
            ),
            (
                "MAIL FROM:<a@b.example>",
                "503 5.5.1 MAIL FROM: already given.",
            ),
            (
                "DATA",
                "554 5.5.1 need RCPT TO: before DATA (no valid recipients)",
            ),
            ("BDAT 5 LAST", "skip 5 554 5.5.1 need RCPT TO: before BDAT"),
            ("RSET", "250 2.0.0 OK"),
            (
                "RCPT TO:<bob@mx.example>",
                "503 5.5.1 need MAIL FROM: before RCPT TO:",
            ),
        ],
    );
}

#[test]
fn mail_refusals() {
    let mut s = session(OUTSIDE);
    let long = format!("MAIL FROM:<{}@b.example>", "a".repeat(300));
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            (
                "MAIL FROM:<a@b.example> SIZE=1001",
                "552 5.3.4 Message size exceeds fixed limit.",
            ),
            (&long, "553 5.1.7 Address too long."),
            ("MAIL FROM:<a@@b>", "501 5.1.7 <a@@b>:"),
            (
                "MAIL FROM:<alice>",
                "501 5.1.7 return path must be qualified.",
            ),
            ("MAIL FROM:<> SIZE=1000", "250 2.1.0 OK  is a nice guy."),
        ],
    );
    let mut full = session_with(config(), tcp(OUTSIDE), false, false);
    play(
        &mut full,
        &[
            ("EHLO c", "250-"),
            (
                "MAIL FROM:<a@b.example>",
                "452 4.3.1 Insufficient system storage",
            ),
        ],
    );
}

/// R12: %, !, source routes, quoted @ and IP literals from an untrusted client.
#[test]
fn rcpt_refusals_and_relay_rule() {
    let mut s = session(OUTSIDE);
    let long = format!("RCPT TO:<{}@mx.example>", "a".repeat(300));
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            (&long, "553 5.1.3 Address too long."),
            ("RCPT TO:<>", "501 5.1.3 empty recipient address"),
            ("RCPT TO:<a@@b>", "501 5.1.3 <a@@b>:"),
            (
                "RCPT TO:<bob>",
                "501 5.1.3 recipient address must be qualified.",
            ),
            (
                "RCPT TO:<x@elsewhere.example>",
                "550 5.7.1 relaying to <x@elsewhere.example> denied.",
            ),
            (
                "RCPT TO:<a%b@mx.example>",
                "550 5.7.1 relaying to <a%b@mx.example> denied.",
            ),
            (
                "RCPT TO:<bob@mx.example>",
                "250 2.1.5 OK bob@mx.example is our friend.",
            ),
            ("RCPT TO:<carol@mx.example>", "250 2.1.5"),
            ("RCPT TO:<dave@mx.example>", "250 2.1.5"),
            ("RCPT TO:<eve@mx.example>", "452 4.5.3 too many recipients"),
        ],
    );
    let mut lan = session(INSIDE);
    play(
        &mut lan,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@mx.example>", "250"),
            ("RCPT TO:<x@elsewhere.example>", "250 2.1.5"),
        ],
    );
    // A local -bs user's addresses are qualified with host_name.
    let local = Peer::Local {
        login: "alice".into(),
        uid: 1000,
    };
    let mut bs = session_with(config(), local, true, false);
    play(
        &mut bs,
        &[
            ("HELO c", "250"),
            ("MAIL FROM:<alice>", "250 2.1.0 OK alice@mx.example"),
            ("RCPT TO:<bob>", "250 2.1.5 OK bob@mx.example"),
        ],
    );
}

/// R13: a local recipient whose local part could never name a mailbox is
/// refused at RCPT with 550 5.1.3, not accepted and bounced later; the
/// transaction goes on, and a remote recipient is not judged by it.
/// R13: 550 5.1.3 for local parts that cannot name a mailbox.
#[test]
fn rcpt_refuses_local_parts_that_are_no_mailbox() {
    let mut cfg = config();
    cfg.max_msg_size = 0;
    let long = format!("RCPT TO:<{}@mx.example>", "a".repeat(65));
    let fits = format!("RCPT TO:<{}@mx.example>", "a".repeat(64));
    let mut s = session_with(cfg, tcp(INSIDE), true, true);
    let refused = "550 5.1.3 local part is not a valid mailbox name";
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            // Unquoted, the dot names are already no RFC 5321 dot-string.
            ("RCPT TO:<../../x@mx.example>", "501 5.1.3"),
            ("RCPT TO:<.@mx.example>", "501 5.1.3"),
            ("RCPT TO:<..@mx.example>", "501 5.1.3"),
            ("RCPT TO:<\"../../x\"@mx.example>", refused),
            ("RCPT TO:<a/b@mx.example>", refused),
            ("RCPT TO:<-oQ/tmp@mx.example>", refused),
            ("RCPT TO:<-oQ@mx.example>", refused),
            ("RCPT TO:<\"a/b\"@mx.example>", refused),
            ("RCPT TO:<\"a\tb\"@mx.example>", refused),
            (&long, refused),
            (&fits, "250 2.1.5"),
            ("RCPT TO:<a/b@elsewhere.example>", "250 2.1.5"),
            ("RCPT TO:<bob@mx.example>", "250 2.1.5"),
        ],
    );
    // A local -bs user's unqualified recipient is local once qualified.
    let local = Peer::Local {
        login: "alice".into(),
        uid: 1000,
    };
    let mut bs = session_with(config(), local, true, false);
    play(
        &mut bs,
        &[
            ("HELO c", "250"),
            ("MAIL FROM:<alice>", "250"),
            ("RCPT TO:<a/b>", refused),
            ("RCPT TO:<bob>", "250 2.1.5"),
        ],
    );
}

#[test]
fn data_then_commit_then_reply() {
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            ("RCPT TO:<bob@mx.example>", "250"),
            ("DATA", "data 354 okay, and do not forget the dot"),
        ],
    );
    assert!(s.collecting());
    let step = show(s.content_end(Ok(())));
    assert_eq!(step, "commit <a@b.example> [\"bob@mx.example\"] Esmtp");
    assert!(!s.collecting());
    let id = crate::message::QueueId::generate(1_700_000_000, 42, 7);
    assert_eq!(
        s.committed(Ok(&id)).to_text(),
        format!("250 2.0.0 OK id={id}\n")
    );
    let full = AcceptError::NoSpace { free: 1, needed: 2 };
    assert_eq!(
        s.committed(Err(&full)).to_text(),
        "452 4.3.1 Insufficient system storage\n"
    );
    assert_eq!(
        s.committed(Err(&AcceptError::NoRecipients)).to_text(),
        "554 5.5.1 no valid recipients\n"
    );
    let broken = AcceptError::Spool(SpoolError::Internal("test"));
    assert_eq!(
        s.committed(Err(&broken)).to_text(),
        "451 4.3.0 Could not write spool file\n"
    );
    // The transaction is over: a new one starts with MAIL.
    play(
        &mut s,
        &[
            ("RCPT TO:<bob@mx.example>", "503"),
            ("MAIL FROM:<a@b.example>", "250"),
        ],
    );
}

#[test]
fn content_refusals() {
    for (err, want) in [
        (
            ContentError::TooLarge,
            "552 5.3.4 Error: message too large.",
        ),
        (
            ContentError::HeadersTooLarge,
            "552 5.3.4 Error: header section too large.",
        ),
        (ContentError::Spool, "451 4.3.0 Could not write spool file"),
    ] {
        let mut s = session(OUTSIDE);
        play(
            &mut s,
            &[
                ("HELO c", "250"),
                ("MAIL FROM:<a@b.example>", "250"),
                ("RCPT TO:<bob@mx.example>", "250"),
                ("DATA", "data 354"),
            ],
        );
        assert_eq!(show(s.content_end(Err(err))), want);
        play(&mut s, &[("MAIL FROM:<a@b.example>", "250")]);
    }
    // Not in a transaction: a driver bug, answered 451.
    let mut s = session(OUTSIDE);
    assert_eq!(
        show(s.content_end(Ok(()))),
        "451 4.3.0 Could not write spool file"
    );
}

#[test]
fn bdat_chunks() {
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            ("RCPT TO:<bob@mx.example>", "250"),
            ("BDAT 10", "chunk 10 last=false"),
        ],
    );
    assert_eq!(s.chunk_end(10).to_text(), "250 2.0.0 10 octets received\n");
    assert!(s.collecting());
    play(
        &mut s,
        &[
            ("DATA", "503 5.5.1 DATA not allowed after BDAT"),
            (
                "MAIL FROM:<a@b.example>",
                "503 5.5.1 MAIL FROM: already given.",
            ),
            ("BDAT 0 LAST", "chunk 0 last=true"),
        ],
    );
    assert!(show(s.content_end(Ok(()))).starts_with("commit <a@b.example>"));
    // A chunk far over the size limit ends the session.
    play(
        &mut s,
        &[(
            "BDAT 99999999",
            "close 552 5.3.4 chunk larger than the message size limit; closing",
        )],
    );
    // RSET in the middle of chunks ends the transaction.
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            ("RCPT TO:<bob@mx.example>", "250"),
            ("BDAT 3", "chunk"),
        ],
    );
    play(&mut s, &[("RSET", "250 2.0.0 OK")]);
    assert!(!s.collecting());
}

#[test]
fn defer_all_closes_at_the_first_command() {
    let mut cfg = config();
    cfg.defer_all = true;
    let mut s = session_with(cfg, tcp(OUTSIDE), true, false);
    play(
        &mut s,
        &[(
            "EHLO c",
            "close 421 4.3.2 mx.example service temporarily unavailable.",
        )],
    );
}

#[test]
fn helo_gives_smtp_protocol_and_a_new_transaction() {
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("EHLO c", "250-"),
            ("MAIL FROM:<a@b.example>", "250"),
            ("HELO c", "250"),
            ("RCPT TO:<bob@mx.example>", "503"),
            ("MAIL FROM:<a@b.example>", "250"),
            ("RCPT TO:<bob@mx.example>", "250"),
            ("DATA", "data"),
        ],
    );
    assert!(show(s.content_end(Ok(()))).ends_with("Smtp"));
}

#[test]
fn connection_limits_replies() {
    assert_eq!(
        Reply::too_many_connections("h").to_text(),
        "421 4.7.0 h too many connections, try again later\n"
    );
    assert_eq!(
        Reply::too_many_from_host("h").to_text(),
        "421 4.7.0 h too many connections from your address, try again later\n"
    );
}

#[test]
fn dsn_requests_reach_the_submission() {
    let mut s = session(OUTSIDE);
    play(
        &mut s,
        &[
            ("EHLO c", "250-mx.example"),
            ("MAIL FROM:<a@b.example> RET=HDRS ENVID=E+2B1", "250"),
            (
                "RCPT TO:<bob@mx.example> NOTIFY=SUCCESS ORCPT=rfc822;x+40y",
                "250",
            ),
            ("RCPT TO:<carol@mx.example>", "250"),
            // The same recipient again: its first requests stand.
            ("RCPT TO:<bob@mx.example> NOTIFY=NEVER", "250"),
            ("DATA", "data 354"),
        ],
    );
    let Step::Commit(sub) = s.content_end(Ok(())) else {
        panic!("no commit");
    };
    let dsn = &sub.dsn;
    assert_eq!(dsn.ret, Some(crate::message::dsn::Ret::Hdrs));
    assert_eq!(dsn.envid.as_ref().map(|e| e.as_str()), Some("E+2B1"));
    assert_eq!(dsn.rcpts.len(), 1, "carol has none: {dsn:?}");
    let bob = dsn.rcpt(&Address::new("bob", "mx.example")).unwrap();
    assert_eq!(
        bob.notify.map(|n| n.to_string()).as_deref(),
        Some("SUCCESS")
    );
    assert_eq!(bob.orcpt.as_ref().unwrap().to_string(), "rfc822;x+40y");
}
