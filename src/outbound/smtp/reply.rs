//! Server replies as the client reads them (sans-IO): a bounded parser for
//! possibly multi-line replies, and the EHLO capabilities.
//!
//! Guarantees: [`parse`] never keeps more than [`MAX_LINE`] bytes of an
//! incomplete line nor accepts more than [`MAX_LINES`] lines in one reply;
//! a malformed reply (short line, `2500`, `25O`, mixed codes, NUL or a lone
//! CR in the text, a first digit outside 2..5) is an error, never a guess.
//! [`Reply::text`] is one printable line of bounded length, safe for logs,
//! the spool and bounces.
//!
//! # Security
//! The server is not trusted. Nothing in its reply is used for anything
//! but the code, the capability keywords and (for AUTH) the base64
//! challenge; the text is cleaned before it is kept anywhere.

/// Longest reply line we accept, CRLF included.
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply.
pub const MAX_LINES: usize = 100;
/// Longest text kept from a reply (in [`Reply::text`]).
const MAX_TEXT: usize = 512;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line after `NNN-` / `NNN `, raw.
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// First digit: 2 ok, 3 intermediate, 4 temporary, 5 permanent.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    pub fn is_positive(&self) -> bool {
        self.class() == 2
    }

    /// `code text` on one line (lines joined by a space), controls and
    /// non-ASCII replaced by `?`, cut to a bounded length.
    pub fn text(&self) -> String {
        let mut s = self.code.to_string();
        for line in &self.lines {
            if !line.is_empty() {
                s.push(' ');
                s.extend(line.iter().map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '?'
                    }
                }));
            }
            if s.len() > MAX_TEXT {
                s.truncate(MAX_TEXT);
                s.push_str("...");
                break;
            }
        }
        s
    }
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("reply with more than {MAX_LINES} lines")]
    TooManyLines,
    #[error("malformed reply line: {0:?}")]
    Malformed(String),
    #[error("reply lines with different codes ({0} and {1})")]
    MixedCodes(u16, u16),
}

/// Parses one complete reply from the start of `buf`. `Ok(None)`: more
/// bytes are needed. `Ok(Some((reply, used)))`: `used` bytes were consumed.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() >= MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            return Ok(None);
        };
        if nl + 1 > MAX_LINE {
            return Err(ReplyError::LineTooLong);
        }
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        pos += nl + 1;
        let (c, last, text) = parse_line(line)?;
        match code {
            Some(prev) if prev != c => return Err(ReplyError::MixedCodes(prev, c)),
            _ => code = Some(c),
        }
        lines.push(text.to_vec());
        if last {
            return Ok(Some((Reply { code: c, lines }, pos)));
        }
        if lines.len() >= MAX_LINES {
            return Err(ReplyError::TooManyLines);
        }
    }
}

/// `NNN[ -]text` or a bare `NNN`: (code, is last line, text).
fn parse_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let bad = || ReplyError::Malformed(String::from_utf8_lossy(&line[..line.len().min(40)]).into());
    if line.len() < 3
        || !line[..3].iter().all(u8::is_ascii_digit)
        || !(b'2'..=b'5').contains(&line[0])
    {
        return Err(bad());
    }
    let code = line[..3]
        .iter()
        .fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    let (last, text) = match line.get(3) {
        None => (true, &line[3..]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(bad()),
    };
    if text.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(bad());
    }
    Ok((code, last, text))
}

/// What an EHLO reply offers (keywords caseless, RFC 5321 §4.1.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    pub esmtp: bool,
    pub pipelining: bool,
    pub chunking: bool,
    pub starttls: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    /// `DSN` (RFC 3461): DSN requests may be passed on.
    pub dsn: bool,
    /// `SIZE` was offered (so `MAIL ... SIZE=` may be sent).
    pub size_ext: bool,
    /// `SIZE n` with n > 0; `SIZE` or `SIZE 0` means no fixed limit.
    pub size: Option<u64>,
    /// Upper-cased mechanism names from `AUTH` (and old `AUTH=`) lines.
    pub auth: Vec<String>,
}

impl Caps {
    /// Capabilities of a positive EHLO reply (the first line is the
    /// server's name, not a keyword).
    pub fn from_ehlo(reply: &Reply) -> Caps {
        let mut caps = Caps {
            esmtp: true,
            ..Caps::default()
        };
        for line in reply.lines.iter().skip(1) {
            let text = String::from_utf8_lossy(line).to_ascii_uppercase();
            let mut words = text.split([' ', '=']);
            let keyword = words.next().unwrap_or("");
            match keyword {
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => {
                    caps.size_ext = true;
                    caps.size = words.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
                }
                "AUTH" => {
                    for m in words.filter(|w| !w.is_empty()) {
                        if !caps.auth.iter().any(|a| a == m) {
                            caps.auth.push(m.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_replies() {
        let cases: &[(&[u8], u16, usize, usize)] = &[
            (b"250 ok\r\n", 250, 1, 8),
            (b"250-a\r\n250 b\r\nrest", 250, 2, 14),
            (b"354\r\n", 354, 1, 5),
            (b"250-\r\n250 x\n", 250, 2, 12),
            (b"550 5.1.1 no\r\n", 550, 1, 14),
        ];
        for (input, code, n, used) in cases {
            let (r, u) = parse(input).expect("ok").expect("complete");
            assert_eq!((r.code, r.lines.len(), u), (*code, *n, *used), "{input:?}");
        }
    }

    #[test]
    fn incomplete_needs_more() {
        for input in [&b""[..], b"250", b"250-a\r\n", b"250-a\r\n25"] {
            assert_eq!(parse(input), Ok(None), "{input:?}");
        }
    }

    /// R27: 2500, 25O, mixed codes, NUL, lone CR, huge replies: protocol errors.
    #[test]
    fn hostile_replies_are_errors() {
        let long = [b"250 ".as_slice(), &vec![b'x'; MAX_LINE], b"\r\n"].concat();
        let many = b"250-x\r\n".repeat(MAX_LINES + 1);
        let cases: Vec<&[u8]> = vec![
            b"2500 x\r\n",
            b"25O x\r\n",
            b"25\r\n",
            b"\r\n",
            b"250-a\r\n251 b\r\n",
            b"250 a\0b\r\n",
            b"250 a\rb\r\n",
            b"650 x\r\n",
            b"150 x\r\n",
            &long,
            &many,
        ];
        for input in cases {
            assert!(
                parse(input).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // An endless unterminated line is refused before it is complete.
        assert_eq!(parse(&vec![b'2'; MAX_LINE]), Err(ReplyError::LineTooLong));
    }

    #[test]
    fn text_is_one_clean_bounded_line() {
        let (r, _) = parse(b"550-5.1.1 a\xff\r\n550 b\tc\r\n").unwrap().unwrap();
        assert_eq!(r.text(), "550 5.1.1 a? b?c");
        let r = Reply {
            code: 250,
            lines: vec![vec![b'x'; 300]; 50],
        };
        assert!(r.text().len() <= MAX_TEXT + 3);
    }

    #[test]
    fn ehlo_capabilities() {
        let raw = b"250-mx.example Hello\r\n250-pipelining\r\n250-SIZE 1000\r\n250-AUTH PLAIN login\r\n\
                    250-AUTH=CRAM-MD5\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 STARTTLS\r\n";
        let (r, _) = parse(raw).unwrap().unwrap();
        let c = Caps::from_ehlo(&r);
        assert!(c.pipelining && c.chunking && c.starttls && c.eightbitmime && c.smtputf8);
        assert_eq!(c.size, Some(1000));
        assert_eq!(c.auth, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        // The greeting line is not a keyword; SIZE 0 is "no limit".
        let (r, _) = parse(b"250-PIPELINING\r\n250 SIZE 0\r\n").unwrap().unwrap();
        let c = Caps::from_ehlo(&r);
        assert!(!c.pipelining);
        assert_eq!(c.size, None);
    }
}
