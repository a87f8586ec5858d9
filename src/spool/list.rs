//! The queue listing of `-bp` / `mailq` (cli.md §7.2).
//!
//! Guarantees: output is byte-for-byte the 1.0 format, plus (ours) one
//! line under a pending recipient whose last deferral reason is known
//! (`LE:`), indented further and in parentheses, so the 1.0 lines a
//! script matches (`<=`, `==`) are unchanged and no new line starts with
//! them:
//!
//! ```text
//!               == <alice@remote.example>
//!                  (last error 2.0h ago: 4.4.1 connection refused)
//! ```
//!
//! Only pending recipients are listed.
//!
//! # Security
//! Prints envelope values as read from the spool; the spool reader has
//! already refused control characters in them, so nothing here can move
//! the terminal's cursor or forge a line. A last error's text is clean
//! printable ASCII by construction (`message::LastError`). Whoever may
//! list sees it, as they see the recipients: it is what the MDA or the
//! remote server said, at most 300 bytes of it.

use std::fmt::Write;

use crate::address::Address;
use crate::message::Message;

/// The listing of `msgs` (in the given order) at Unix time `now`.
pub fn format_listing(msgs: &[Message], now: i64) -> String {
    if msgs.is_empty() {
        return "mail queue is empty.\n".to_string();
    }
    let mut out = String::new();
    for msg in msgs {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{} <= <{}> size={} age={}",
            msg.id,
            msg.return_path,
            msg.data_size,
            age(now.saturating_sub(msg.received_time))
        );
        if let Some(host) = &msg.received_host {
            let _ = write!(out, " host={host}");
        }
        if let Some(ident) = &msg.ident {
            let _ = write!(out, " ident={ident}");
        }
        out.push('\n');
        for rcpt in msg.pending() {
            let _ = writeln!(out, "{:14}== <{}>", "", shown(rcpt));
            if let Some(e) = msg.last_error(rcpt) {
                let ago = age(now.saturating_sub(e.time));
                let _ = writeln!(out, "{:17}(last error {ago} ago: {})", "", e.text());
            }
        }
    }
    out
}

/// Pipe recipients are shown as their command, as the spool writes them.
fn shown(addr: &Address) -> String {
    if addr.is_pipe() {
        addr.local.clone()
    } else {
        addr.to_string()
    }
}

/// `4s`, `1.5m`, `2.0h`, `1.5d`: one decimal above a minute.
fn age(secs: i64) -> String {
    let f = secs as f64;
    if secs > 86400 {
        format!("{:.1}d", f / 86400.0)
    } else if secs > 3600 {
        format!("{:.1}h", f / 3600.0)
    } else if secs > 60 {
        format!("{:.1}m", f / 60.0)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{PipePolicy, parse_path};
    use crate::message::{Done, Protocol, QueueId};

    fn msg() -> Message {
        let a = |s| parse_path(s, PipePolicy::Allow).unwrap();
        let mut m = Message {
            id: QueueId::parse("1xVrXk-3tM-00").unwrap(),
            return_path: a("root@host.example.org"),
            rcpt_list: vec![a("alice@remote.example"), a("bob@host.example.org")],
            top_done: Vec::new(),
            finished: vec![],
            protocol: Protocol::Local,
            received_host: None,
            ident: Some("root".into()),
            data_size: 30,
            received_time: 1000,
            warning_time: None,
            fetched_as: None,
            dsn: Default::default(),
            last_errors: Vec::new(),
            headers: vec![],
        };
        m.mark_top(&a("bob@host.example.org"), Done::Delivered);
        m
    }

    #[test]
    fn spec_example() {
        assert_eq!(
            format_listing(&[msg()], 1004),
            "1xVrXk-3tM-00 <= <root@host.example.org> size=30 age=4s ident=root\n              == <alice@remote.example>\n"
        );
    }

    #[test]
    fn last_error_under_its_recipient() {
        let mut m = msg();
        let alice = parse_path("alice@remote.example", PipePolicy::Allow).unwrap();
        m.set_last_error(&alice, 1000 - 7200, "4.4.1 connection\nrefused");
        assert_eq!(
            format_listing(&[m], 1004),
            "1xVrXk-3tM-00 <= <root@host.example.org> size=30 age=4s ident=root\n              == <alice@remote.example>\n                 (last error 2.0h ago: 4.4.1 connection refused)\n"
        );
    }

    #[test]
    fn empty_queue() {
        assert_eq!(format_listing(&[], 0), "mail queue is empty.\n");
    }

    #[test]
    fn network_message_null_sender_and_pipe() {
        let mut m = msg();
        m.return_path = Address::null();
        m.ident = None;
        m.received_host = Some("192.0.2.1".into());
        m.rcpt_list
            .push(parse_path("|/bin/filter", PipePolicy::Allow).unwrap());
        let text = format_listing(&[m.clone(), m], 1000);
        let first = "1xVrXk-3tM-00 <= <> size=30 age=0s host=192.0.2.1\n              == <alice@remote.example>\n              == <|/bin/filter>\n";
        assert_eq!(text, format!("{first}{first}"));
    }

    #[test]
    fn ages() {
        for (secs, want) in [
            (0, "0s"),
            (60, "60s"),
            (61, "1.0m"),
            (90, "1.5m"),
            (3600, "60.0m"),
            (3601, "1.0h"),
            (7200, "2.0h"),
            (86400, "24.0h"),
            (129600, "1.5d"),
            (-5, "-5s"), // clock stepped back: say so rather than lie
        ] {
            assert_eq!(age(secs), want, "{secs}");
        }
    }
}
