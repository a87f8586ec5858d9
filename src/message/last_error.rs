//! The last deferral reason of an envelope recipient (ours, issue 10): what
//! `mailq` shows under a recipient that waits, and when it happened.
//!
//! Guarantees: a [`LastError`]'s text is always clean — printable ASCII,
//! single spaces, no outer whitespace, 1 to [`MAX_TEXT`] bytes — because
//! the only constructor cleans it. So it can go on one spool line and on a
//! terminal as it is, and [`clean`] of a clean text is the text itself.
//!
//! # Security
//! The reason comes from a remote server's reply or a local command's
//! output: it is untrusted. Control characters (a line feed would be a new
//! spool record, an escape sequence would drive the terminal of whoever
//! runs `mailq`) become spaces, anything outside ASCII a `?`.

use crate::address::Address;

/// Longest text kept, in bytes: enough for a status code and a reply line.
pub const MAX_TEXT: usize = 300;

/// Why delivery to `rcpt` was last deferred, at Unix time `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    pub rcpt: Address,
    pub time: i64,
    text: String,
}

impl LastError {
    /// The reason `why` (any text) as it will be kept: see [`clean`].
    pub fn new(rcpt: Address, time: i64, why: &str) -> LastError {
        LastError {
            rcpt,
            time,
            text: clean(why),
        }
    }

    /// A text read back, accepted only when it is already clean (the spool
    /// reader is strict: it takes what the writer could have written).
    pub fn parse(rcpt: Address, time: i64, text: &str) -> Option<LastError> {
        (clean(text) == text).then(|| LastError {
            rcpt,
            time,
            text: text.to_string(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Controls and runs of whitespace become one space, non-ASCII a `?`;
/// trimmed, cut to [`MAX_TEXT`] bytes; never empty.
pub fn clean(why: &str) -> String {
    let mut out = String::with_capacity(why.len().min(MAX_TEXT));
    for c in why.chars() {
        let c = match c {
            c if c.is_ascii_control() || c == ' ' => ' ',
            c if c.is_ascii() => c,
            _ => '?',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() == MAX_TEXT {
            break;
        }
        out.push(c);
    }
    let kept = out.trim_end().len();
    out.truncate(kept);
    if out.is_empty() {
        out.push_str("(no reason given)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        for (why, want) in [
            ("4.3.0 busy", "4.3.0 busy"),
            ("  4.2.0 a\r\nRT: <evil@x>\0\t b ", "4.2.0 a RT: <evil@x> b"),
            ("\u{1b}[2Jé\u{202e}x", "[2J??x"),
            ("", "(no reason given)"),
            (" \n\t", "(no reason given)"),
        ] {
            assert_eq!(clean(why), want, "{why:?}");
            assert_eq!(clean(want), want, "clean is idempotent");
        }
        let long = format!("4.4.1 {}", "x ".repeat(400));
        let cut = clean(&long);
        assert!(cut.len() <= MAX_TEXT && !cut.ends_with(' '), "{cut}");
        assert_eq!(clean(&cut), cut);
    }

    #[test]
    fn parse_takes_only_clean_text() {
        let a = Address::new("a", "b.example");
        assert!(LastError::parse(a.clone(), 1, "4.3.0 x").is_some());
        for bad in [
            "",
            " x",
            "x ",
            "a  b",
            "a\tb",
            "é",
            &"x".repeat(MAX_TEXT + 1),
        ] {
            assert!(LastError::parse(a.clone(), 1, bad).is_none(), "{bad:?}");
        }
    }
}
