//! Outbound message text and envelope lines (sans-IO).
//!
//! Guarantees (RELIABILITY.md R02): what [`wire_text`] returns has every
//! line ended by CR LF and contains no CR without LF nor LF without CR.
//! Stored text uses LF line ends; a stored CR LF stays one line end; a
//! lone CR becomes CR LF (Postfix's choice: it was most likely meant as a
//! line break, and passing it on would let the next hop see a line break
//! we did not); text not ending in a line end gets one. [`dot_stuff`]
//! doubles a leading dot on every line, so the end-of-data sequence can only
//! be the one we append.
//!
//! # Security
//! Addresses go into command lines: [`envelope_addr`] refuses any that
//! could end or split a line or the `<...>` path.

use crate::address::Address;

/// `text` with CR LF line ends, a final CR LF, no bare CR or LF.
pub fn wire_text(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 2);
    let mut enc = WireEncoder::new(false);
    enc.feed(text, &mut out);
    enc.finish(&mut out);
    out
}

/// DATA transparency (RFC 5321 §4.5.2) plus the terminating `.` line, for
/// output of [`wire_text`].
pub fn dot_stuff(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + wire.len() / 64 + 8);
    let mut enc = WireEncoder::new(true);
    enc.feed(wire, &mut out);
    enc.finish(&mut out);
    out
}

/// [`wire_text`] (and with `stuff`, [`dot_stuff`] of it) as a stream: fed
/// the stored text in pieces split anywhere, it writes exactly the bytes
/// the whole-text functions return. Its state is what crosses a piece
/// boundary: a CR whose LF may come next, and whether the output is at
/// the start of a line (where a dot is doubled).
#[derive(Debug, Clone)]
pub struct WireEncoder {
    stuff: bool,
    after_cr: bool,
    line_start: bool,
    empty: bool,
}

impl WireEncoder {
    pub fn new(stuff: bool) -> WireEncoder {
        WireEncoder {
            stuff,
            after_cr: false,
            line_start: true,
            empty: true,
        }
    }

    /// Appends the encoding of `text` to `out` (at most `2 * text.len()`
    /// bytes).
    pub fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < text.len() {
            if std::mem::take(&mut self.after_cr) && text[i] == b'\n' {
                // The LF of a CR LF: the CR already ended the line.
                i += 1;
                continue;
            }
            if self.stuff && self.line_start && text[i] == b'.' {
                out.push(b'.');
            }
            let end = text[i..]
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .map_or(text.len(), |p| i + p);
            if end > i {
                out.extend_from_slice(&text[i..end]);
                self.line_start = false;
                self.empty = false;
            }
            if end == text.len() {
                break;
            }
            out.extend_from_slice(b"\r\n");
            self.line_start = true;
            self.empty = false;
            self.after_cr = text[end] == b'\r';
            i = end + 1;
        }
    }

    /// Ends the text: a final CR LF when it did not end with a line end,
    /// and with `stuff` the terminating `.` line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.empty && !self.line_start {
            out.extend_from_slice(b"\r\n");
            self.line_start = true;
        }
        self.after_cr = false;
        if self.stuff {
            out.extend_from_slice(b".\r\n");
        }
    }
}

/// True when `text` has a byte above 127 (it needs `BODY=8BITMIME`).
pub fn has_8bit(text: &[u8]) -> bool {
    text.iter().any(|&b| b >= 0x80)
}

/// True when the address has non-ASCII characters (it needs SMTPUTF8).
pub fn addr_needs_utf8(a: &Address) -> bool {
    !a.local.is_ascii() || !a.domain.is_ascii()
}

/// `<local@domain>` for MAIL/RCPT, or `None` when the address holds a
/// control character, `<` or `>` (which could end the line or the path).
pub fn envelope_addr(a: &Address) -> Option<String> {
    let s = a.to_string();
    let bad = |c: char| c.is_control() || c == '<' || c == '>';
    (!s.chars().any(bad)).then(|| format!("<{s}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_are_normalised() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\r\nb", b"a\r\nb\r\n"),
            (b"a\rb\n", b"a\r\nb\r\n"),
            (b"a\r\r\n", b"a\r\n\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"x\r", b"x\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                wire_text(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn no_bare_cr_or_lf_ever() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let len = rng.usize(0..40);
            let text: Vec<u8> = (0..len)
                .map(|_| *rng.choice(b"ab.\r\n").unwrap_or(&b'a'))
                .collect();
            let w = wire_text(&text);
            for (i, &b) in w.iter().enumerate() {
                if b == b'\r' {
                    assert_eq!(w.get(i + 1), Some(&b'\n'), "{text:?}");
                }
                if b == b'\n' {
                    assert!(i > 0 && w[i - 1] == b'\r', "{text:?}");
                }
            }
            let d = dot_stuff(&w);
            let ends = d.windows(5).filter(|x| x == b"\r\n.\r\n").count()
                + usize::from(d.starts_with(b".\r\n"));
            assert_eq!(ends, 1, "{text:?} -> {d:?}");
        }
    }

    #[test]
    fn dots_are_stuffed() {
        let w = wire_text(b".a\n.\nb.\n\r.\r\n");
        assert_eq!(dot_stuff(&w), b"..a\r\n..\r\nb.\r\n\r\n..\r\n.\r\n");
        assert_eq!(dot_stuff(b""), b".\r\n");
    }

    /// Any split of the input, the chunk boundary of a sender included,
    /// gives the bytes of the whole-text encoding (dot-stuffing and CR LF
    /// across the boundary).
    #[test]
    fn streaming_matches_whole_text_at_every_split() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut cases: Vec<Vec<u8>> = vec![
            b"a\r\n.b\r\n".to_vec(),
            b".\n..\n\r.\r\n.".to_vec(),
            b"x\r".to_vec(),
        ];
        for _ in 0..300 {
            let len = rng.usize(0..24);
            cases.push(
                (0..len)
                    .map(|_| *rng.choice(b"ab.\r\n").unwrap_or(&b'a'))
                    .collect(),
            );
        }
        for text in &cases {
            for stuff in [false, true] {
                let want = if stuff {
                    dot_stuff(&wire_text(text))
                } else {
                    wire_text(text)
                };
                for a in 0..=text.len() {
                    for b in a..=text.len() {
                        let mut enc = WireEncoder::new(stuff);
                        let mut out = Vec::new();
                        for piece in [&text[..a], &text[a..b], &text[b..]] {
                            enc.feed(piece, &mut out);
                        }
                        enc.finish(&mut out);
                        assert_eq!(out, want, "{text:?} split at {a}, {b}, stuff {stuff}");
                    }
                }
            }
        }
    }

    #[test]
    fn envelope_addresses() {
        assert_eq!(
            envelope_addr(&Address::new("a", "b.c")).as_deref(),
            Some("<a@b.c>")
        );
        assert_eq!(envelope_addr(&Address::null()).as_deref(), Some("<>"));
        for bad in ["a\r\nRCPT TO:<x@y>", "a>", "a\0", "<a"] {
            assert_eq!(envelope_addr(&Address::new(bad, "b")), None, "{bad:?}");
        }
        assert!(addr_needs_utf8(&Address::new("jörg", "b")));
        assert!(!addr_needs_utf8(&Address::new("j", "b")));
        assert!(has_8bit(b"a\xc3\xa4") && !has_8bit(b"abc"));
    }
}
