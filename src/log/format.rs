//! The log line format (delivery.md §14): `YYYY-MM-DD HH:MM:SS [<pid>]
//! <level>: <text>`, with the event's fields appended as ` key=value`.
//!
//! Every line is exactly one line: control characters in messages and
//! values (which may come from the network, R27) are escaped, and the text
//! is cut at [`MAX_TEXT`] bytes.
//!
//! # Security
//! Trusts nothing in the text: a peer cannot forge a second log line with an
//! embedded newline, nor inflate one line without bound.

use std::fmt::{self, Write as _};

use tracing::Level;
use tracing::field::{Field, Visit};

/// Longest text (message plus fields) of one line, in bytes. Longer text is
/// cut and ends in `...`.
pub(crate) const MAX_TEXT: usize = 4096;

/// The masqmail level name of a tracing level.
pub(crate) fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        _ => "debug",
    }
}

/// Collects an event's (or span's) message and fields.
#[derive(Debug, Default)]
pub(crate) struct Text {
    /// The `message` field, escaped.
    pub message: String,
    /// ` key=value` for each other field, escaped.
    pub fields: String,
}

impl Text {
    fn push(&mut self, name: &str, value: &str) {
        if name == "message" {
            escape_into(&mut self.message, value);
            return;
        }
        self.fields.push(' ');
        self.fields.push_str(name);
        self.fields.push('=');
        let quote = value.is_empty() || value.contains([' ', '"', '=']);
        if quote {
            self.fields.push('"');
            escape_into(&mut self.fields, &value.replace('"', "\\\""));
            self.fields.push('"');
        } else {
            escape_into(&mut self.fields, value);
        }
    }

    /// Message and fields, cut to [`MAX_TEXT`], followed by `extra` (span
    /// fields). This is the whole text for syslog and the stderr echo.
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::with_capacity(self.message.len() + self.fields.len() + extra.len());
        out.push_str(&self.message);
        out.push_str(&self.fields);
        out.push_str(extra);
        if out.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
        }
        out
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here too; their Debug is the Display text.
        self.push(field.name(), &format!("{value:?}"));
    }
}

/// Appends `s` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`).
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// A full file/stderr line, newline included. `time` is already formatted
/// (`%Y-%m-%d %H:%M:%S`), so tests can pin it.
pub(crate) fn line(time: &str, pid: u32, level: &Level, text: &str) -> String {
    let mut out = String::with_capacity(time.len() + text.len() + 24);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{time} [{pid}] {}: {text}", level_name(level));
    out
}

/// The current local time in the log format.
pub(crate) fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        for (level, name) in [
            (Level::ERROR, "error"),
            (Level::WARN, "warning"),
            (Level::INFO, "info"),
            (Level::DEBUG, "debug"),
            (Level::TRACE, "debug"),
        ] {
            assert_eq!(level_name(&level), name);
        }
    }

    #[test]
    fn fields_and_escaping() {
        for (pairs, want) in [
            (&[("message", "accepted")][..], "accepted"),
            (&[("message", "a"), ("id", "1x-2")], "a id=1x-2"),
            (
                &[("message", "x"), ("e", "no such user")],
                "x e=\"no such user\"",
            ),
            (&[("message", "x"), ("e", "")], "x e=\"\""),
            (
                &[("message", "x"), ("q", "say \"hi\"")],
                "x q=\"say \\\"hi\\\"\"",
            ),
            (
                &[("message", "S: 250 ok\r\nfake line"), ("v", "a\nb")],
                "S: 250 ok\\r\\nfake line v=a\\nb",
            ),
            (
                &[("message", "nul\0esc\u{1b}del\u{7f}")],
                "nul\\u{0}esc\\u{1b}del\\u{7f}",
            ),
            (&[("message", "naïve ✓")], "naïve ✓"),
        ] {
            let mut t = Text::default();
            for (k, v) in pairs {
                t.push(k, v);
            }
            assert_eq!(t.render(""), want, "{pairs:?}");
        }
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let mut t = Text::default();
        t.push("message", &"é".repeat(MAX_TEXT));
        let r = t.render("");
        assert!(r.len() <= MAX_TEXT + 3 && r.ends_with("..."), "{}", r.len());
        assert!(!r.contains('\n'));
    }

    #[test]
    fn line_format() {
        assert_eq!(
            line("2024-01-02 03:04:05", 42, &Level::WARN, "disk full"),
            "2024-01-02 03:04:05 [42] warning: disk full\n"
        );
        let t = now();
        // YYYY-MM-DD HH:MM:SS
        assert_eq!(t.len(), 19, "{t}");
        assert_eq!((&t[4..5], &t[10..11], &t[13..14]), ("-", " ", ":"), "{t}");
    }
}
