//! The `message/delivery-status` part of a notice (RFC 3464 §2): the
//! per-message fields, then one block per reported recipient.
//!
//! Guarantees: every field is one line of printable text; `Status` is a
//! valid RFC 3463 code whose class matches the action (5 failed, 4
//! delayed, 2 delivered or relayed): the first enhanced code in the
//! outcome's text when it has one of that class (a 4.x.y code of a
//! failure that expired becomes 5.x.y), else `5.0.0`, `4.0.0`, `2.0.0`.
//! `Diagnostic-Code` appears only when the text holds a server's reply.
//!
//! # Security
//! Addresses, ENVID, ORCPT and the reasons are data from senders and
//! servers: control characters become `?`, so no value can start a new
//! field or end the part.

use std::fmt::Write;

use chrono::TimeZone;

use super::{Action, Reported, one_line};
use crate::message::Message;
use crate::message::date::rfc822_date;

/// The body of the `message/delivery-status` part.
pub fn delivery_status(
    host_name: &str,
    msg: &Message,
    rcpts: &[Reported],
    retry_until: Option<i64>,
    now: i64,
) -> String {
    let date = |t: i64| {
        chrono::Local
            .timestamp_opt(t, 0)
            .single()
            .map_or_else(|| t.to_string(), rfc822_date)
    };
    let mut out = String::new();
    // Writing into a String cannot fail; `let _` keeps that visible.
    let _ = writeln!(out, "Reporting-MTA: dns; {}", one_line(host_name));
    if let Some(envid) = &msg.dsn.envid {
        let _ = writeln!(out, "Original-Envelope-Id: {}", one_line(&envid.decoded()));
    }
    let _ = writeln!(out, "Arrival-Date: {}", date(msg.received_time));
    for r in rcpts {
        out.push('\n');
        if let Some(o) = &r.orcpt {
            let _ = writeln!(
                out,
                "Original-Recipient: {};{}",
                o.addr_type,
                one_line(&o.addr.decoded())
            );
        }
        let _ = writeln!(
            out,
            "Final-Recipient: rfc822; {}",
            one_line(&r.rcpt.to_string())
        );
        let _ = writeln!(out, "Action: {}", action_name(r.action));
        let _ = writeln!(out, "Status: {}", status(r.action, &r.why));
        if let Some(reply) = server_reply(&r.why) {
            let _ = writeln!(out, "Diagnostic-Code: smtp; {}", one_line(reply));
        }
        if matches!(r.action, Action::Failed | Action::Delayed) {
            let _ = writeln!(out, "Last-Attempt-Date: {}", date(now));
        }
        if let (Action::Delayed, Some(until)) = (r.action, retry_until) {
            let _ = writeln!(out, "Will-Retry-Until: {}", date(until));
        }
    }
    out
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Failed => "failed",
        Action::Delayed => "delayed",
        Action::Delivered => "delivered",
        Action::Relayed => "relayed",
    }
}

/// The `Status` code for `action` (see the module docs).
pub fn status(action: Action, why: &str) -> String {
    let codes: Vec<(u8, &str)> = why.split_whitespace().filter_map(enhanced_code).collect();
    let of = |class: u8| codes.iter().find(|(c, _)| *c == class).map(|(_, s)| *s);
    match action {
        Action::Failed => of(5)
            .map(str::to_string)
            .or_else(|| of(4).map(|s| format!("5{}", &s[1..])))
            .unwrap_or_else(|| "5.0.0".into()),
        Action::Delayed => of(4).unwrap_or("4.0.0").to_string(),
        Action::Delivered | Action::Relayed => "2.0.0".into(),
    }
}

/// `class.subject.detail` (RFC 3463: 2, 4 or 5, then 1-3 digits twice),
/// with punctuation around the word ignored.
fn enhanced_code(word: &str) -> Option<(u8, &str)> {
    let w = word.trim_matches(|c: char| !c.is_ascii_digit());
    let mut parts = w.split('.');
    let class = parts.next()?;
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let valid = matches!(class, "2" | "4" | "5")
        && ok(parts.next())
        && ok(parts.next())
        && parts.next().is_none();
    valid.then(|| (class.as_bytes()[0] - b'0', w))
}

/// The server's reply inside an outcome's text: a part that starts with a
/// reply code (`550 5.1.1 ...`), at the start or after `: `.
fn server_reply(why: &str) -> Option<&str> {
    let starts_with_code = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 3
            && matches!(b[0], b'2'..=b'5')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && matches!(b.get(3), None | Some(b' ' | b'-'))
    };
    std::iter::once(why)
        .chain(why.match_indices(": ").map(|(i, _)| &why[i + 2..]))
        .find(|s| starts_with_code(s))
        .map(|s| s.lines().next().unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_action() {
        for (action, why, want) in [
            (Action::Failed, "550 5.1.1 <b@x>: no such user", "5.1.1"),
            (Action::Failed, "host=mx: 554 5.7.1 denied (5.1.1)", "5.7.1"),
            (Action::Failed, "Local delivery failed", "5.0.0"),
            (
                Action::Failed,
                "Message expired (max_defer_time), last error: 4.4.1 refused",
                "5.4.1",
            ),
            (Action::Failed, "5.4.6 too many hops", "5.4.6"),
            (Action::Delayed, "451 4.3.0 try later", "4.3.0"),
            (Action::Delayed, "try later", "4.0.0"),
            (Action::Delayed, "version 1.2.3 of 5.1.1", "4.0.0"),
            (Action::Delivered, "", "2.0.0"),
            (Action::Relayed, "550 5.1.1", "2.0.0"),
            (Action::Failed, "6.1.1 1.2 5.1234.1 5.1", "5.0.0"),
        ] {
            assert_eq!(status(action, why), want, "{why}");
        }
    }

    #[test]
    fn diagnostic_only_for_server_replies() {
        assert_eq!(
            server_reply("550 5.1.1 no such user"),
            Some("550 5.1.1 no such user")
        );
        assert_eq!(
            server_reply("host=mx.example: 421 4.3.2 closing"),
            Some("421 4.3.2 closing")
        );
        assert_eq!(server_reply("Local delivery failed"), None);
        assert_eq!(server_reply("5.4.6 too many hops (51 Received:)"), None);
        assert_eq!(server_reply("exit code 100: no such mailbox"), None);
    }
}
