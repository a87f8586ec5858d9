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
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// DATA transparency (RFC 5321 §4.5.2) plus the terminating `.` line, for
/// output of [`wire_text`].
pub fn dot_stuff(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + wire.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in wire {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
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
