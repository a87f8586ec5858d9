//! Splitting the command stream into lines, with bounded memory.
//!
//! Policy (RELIABILITY R03): a line ends at LF. CR LF is the normal end; an
//! LF without CR also ends the line (old clients; [`NextLine::Line`] says
//! so in `bare_lf`, so the session may refuse it instead). A CR that is not
//! directly before the LF is never a line end: it stays in the line and
//! [`super::parse`] refuses it with `500 5.5.2`.
//!
//! A line longer than [`MAX_LINE`] (with its line end) is not buffered: the
//! splitter discards its bytes as they come ([`NextLine::Skip`]) and reports
//! it once, when its LF arrives ([`NextLine::TooLong`]), so that pipelined
//! replies stay one per line and in order (R04, R06).
//!
//! # Security
//! The caller never needs to keep more than [`MAX_LINE`] bytes of command
//! input: every answer other than `NeedMore` consumes input, and `NeedMore`
//! comes only while the buffer is shorter than [`MAX_LINE`].

use super::MAX_LINE;

/// What the start of the input buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextLine {
    /// A whole line: its text is `buf[..len]` (without CR LF or LF), and
    /// `consumed` bytes (with the line end) are to be removed from the buffer.
    Line {
        len: usize,
        consumed: usize,
        bare_lf: bool,
    },
    /// No line end yet; read more and call again with the grown buffer.
    NeedMore,
    /// Part of an overlong line: drop `consumed` bytes, no reply yet.
    Skip { consumed: usize },
    /// The end of an overlong line: drop `consumed` bytes and reply
    /// `500 5.5.2 line too long` (`CommandError::LineTooLong`).
    TooLong { consumed: usize },
}

/// The splitter's memory between calls: whether an overlong line is being skipped.
#[derive(Debug, Default, Clone)]
pub struct LineSplitter {
    skipping: bool,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Look at the buffered input (everything not consumed yet).
    pub fn next(&mut self, buf: &[u8]) -> NextLine {
        if self.skipping {
            return match buf.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    self.skipping = false;
                    NextLine::TooLong { consumed: p + 1 }
                }
                None => NextLine::Skip {
                    consumed: buf.len(),
                },
            };
        }
        let window = &buf[..buf.len().min(MAX_LINE)];
        match window.iter().position(|&b| b == b'\n') {
            Some(p) => {
                let bare_lf = p == 0 || buf[p - 1] != b'\r';
                let len = if bare_lf { p } else { p - 1 };
                NextLine::Line {
                    len,
                    consumed: p + 1,
                    bare_lf,
                }
            }
            None if buf.len() < MAX_LINE => NextLine::NeedMore,
            // Too long; its end may already be in the buffer.
            None => match buf[MAX_LINE..].iter().position(|&b| b == b'\n') {
                Some(p) => NextLine::TooLong {
                    consumed: MAX_LINE + p + 1,
                },
                None => {
                    self.skipping = true;
                    NextLine::Skip {
                        consumed: buf.len(),
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces of `piece` bytes through a buffer as a session
    /// would; the events, with line texts.
    fn run(input: &[u8], piece: usize) -> (Vec<String>, usize) {
        let mut s = LineSplitter::new();
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let mut peak = 0;
        for chunk in input.chunks(piece) {
            buf.extend_from_slice(chunk);
            peak = peak.max(buf.len());
            loop {
                match s.next(&buf) {
                    NextLine::NeedMore => break,
                    NextLine::Line {
                        len,
                        consumed,
                        bare_lf,
                    } => {
                        let text = String::from_utf8_lossy(&buf[..len]);
                        events.push(format!("{}{text}", if bare_lf { "lf:" } else { "" }));
                        buf.drain(..consumed);
                    }
                    NextLine::Skip { consumed } => {
                        buf.drain(..consumed);
                        if buf.is_empty() {
                            break;
                        }
                    }
                    NextLine::TooLong { consumed } => {
                        events.push("TOO LONG".to_string());
                        buf.drain(..consumed);
                    }
                }
            }
        }
        (events, peak)
    }

    #[test]
    fn lines_and_policies() {
        let long = "x".repeat(10_000);
        let table: Vec<(String, Vec<&str>)> = vec![
            (
                "EHLO a\r\nMAIL FROM:<a@b>\r\n".into(),
                vec!["EHLO a", "MAIL FROM:<a@b>"],
            ),
            (
                "MAIL FROM:<a@b>\nRCPT TO:<c@d>\r\n".into(),
                vec!["lf:MAIL FROM:<a@b>", "RCPT TO:<c@d>"],
            ),
            ("EHLO x\ry\r\n".into(), vec!["EHLO x\ry"]),
            ("EHLO x\r\r\n".into(), vec!["EHLO x\r"]),
            ("\r\n\n".into(), vec!["", "lf:"]),
            ("NOOP".into(), vec![]),
            (format!("NOOP {long}\r\nQUIT\r\n"), vec!["TOO LONG", "QUIT"]),
            (
                format!("{long}\n{long}\r\nRSET\r\n"),
                vec!["TOO LONG", "TOO LONG", "RSET"],
            ),
        ];
        for (input, want) in table {
            for piece in [1, 7, 100, 4096, input.len().max(1)] {
                let (events, peak) = run(input.as_bytes(), piece);
                assert_eq!(events, want, "{input:?} in pieces of {piece}");
                assert!(peak < MAX_LINE + piece, "{input:?}: buffered {peak}");
            }
        }
    }

    #[test]
    fn limit_boundary() {
        // MAX_LINE bytes including CR LF is a line; one more is too long.
        let fits = format!("{}\r\n", "a".repeat(MAX_LINE - 2));
        let mut s = LineSplitter::new();
        assert_eq!(
            s.next(fits.as_bytes()),
            NextLine::Line {
                len: MAX_LINE - 2,
                consumed: MAX_LINE,
                bare_lf: false
            }
        );
        let over = format!("{}\r\n", "a".repeat(MAX_LINE - 1));
        assert_eq!(
            s.next(over.as_bytes()),
            NextLine::TooLong {
                consumed: MAX_LINE + 1
            }
        );
        assert_eq!(
            s.next(b"NOOP\r\n"),
            NextLine::Line {
                len: 4,
                consumed: 6,
                bare_lf: false
            }
        );
        // The same line arriving in two reads: skipped, then reported at its LF.
        assert_eq!(
            s.next(&over.as_bytes()[..MAX_LINE]),
            NextLine::Skip { consumed: MAX_LINE }
        );
        assert_eq!(s.next(b"a\r\nNOOP\r\n"), NextLine::TooLong { consumed: 3 });
        assert_eq!(
            s.next(b"NOOP\r\n"),
            NextLine::Line {
                len: 4,
                consumed: 6,
                bare_lf: false
            }
        );
        // A bare-LF line of MAX_LINE bytes is split here and refused by parse.
        let bare = format!("{}\n", "a".repeat(MAX_LINE - 1));
        assert_eq!(
            s.next(bare.as_bytes()),
            NextLine::Line {
                len: MAX_LINE - 1,
                consumed: MAX_LINE,
                bare_lf: true
            }
        );
        assert_eq!(
            super::super::parse(&bare.as_bytes()[..MAX_LINE - 1]),
            Err(super::super::CommandError::LineTooLong)
        );
    }
}
