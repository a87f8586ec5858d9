//! A message that arrives in pieces (SMTP DATA/BDAT, POP3 RETR): its
//! header section is collected and parsed, its body is passed on as it
//! comes, so the caller can write it to the spool without holding it.
//!
//! The split follows [`super::read::read_message`] exactly: an mbox
//! `From ` line before any header is skipped; the header section ends at
//! the first empty line (which belongs to neither part) or at the first
//! line that is neither a header field nor a continuation (which is the
//! first body line, delivery.md §18.11).
//!
//! # Security
//! The text is hostile. Memory is bounded by the header limit given to
//! [`HeaderSplitter::new`] (plus one read): a header section longer than
//! that, or with more than [`super::read::MAX_HEADER_COUNT`] fields, is an
//! error, and a long first body line is not buffered. Body bytes are only
//! moved, never looked at.

use super::Header;
use super::read::{ReadError, ReadOptions, header_like, read_message, starts_header};

/// The header limit for network input: about what Postfix allows
/// (`header_size_limit` = 100 KiB), and small enough that a session's
/// buffers stay a small constant.
pub const MAX_STREAM_HEADER_BYTES: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("header section too large")]
pub struct HeadersTooLarge;

/// Collects the header section of a message fed in pieces of text with
/// LF line ends (the output of the content decoders).
#[derive(Debug)]
pub struct HeaderSplitter {
    /// The header section so far (complete lines and one partial line).
    prefix: Vec<u8>,
    /// Where the first line not yet classified starts in `prefix`.
    scanned: usize,
    limit: usize,
    /// Every line so far was an mbox `From ` line (those are skipped).
    only_from: bool,
    /// `Some` once the header section has ended.
    headers: Option<Vec<Header>>,
}

impl HeaderSplitter {
    pub fn new(limit: usize) -> HeaderSplitter {
        HeaderSplitter {
            prefix: Vec::new(),
            scanned: 0,
            limit,
            only_from: true,
            headers: None,
        }
    }

    /// Whether the header section has ended (all further text is body).
    pub fn headers_done(&self) -> bool {
        self.headers.is_some()
    }

    /// Takes `text`; whatever is body is appended to `body`.
    pub fn feed(&mut self, text: &[u8], body: &mut Vec<u8>) -> Result<(), HeadersTooLarge> {
        if self.headers.is_some() {
            body.extend_from_slice(text);
            return Ok(());
        }
        self.prefix.extend_from_slice(text);
        while let Some(n) = self.prefix[self.scanned..].iter().position(|&b| b == b'\n') {
            let start = self.scanned;
            let line = &self.prefix[start..start + n];
            if line.is_empty() {
                return self.split(start + 1, start + 1, body);
            }
            let from_line = self.only_from && line.starts_with(b"From ");
            self.only_from = from_line;
            let is_header = from_line || matches!(line[0], b' ' | b'\t') || starts_header(line);
            if !is_header {
                return self.split(start, start, body);
            }
            self.scanned = start + n + 1;
            if self.scanned > self.limit {
                return Err(HeadersTooLarge);
            }
        }
        // A partial line: header text may not grow past the limit; a first
        // body line may be as long as it likes and is passed on.
        if self.prefix.len() > self.limit {
            if header_like(&self.prefix[self.scanned..]) || self.scanned == self.prefix.len() {
                return Err(HeadersTooLarge);
            }
            let start = self.scanned;
            return self.split(start, start, body);
        }
        Ok(())
    }

    /// The header section is `prefix[..end]`; the body starts at `body_from`.
    fn split(
        &mut self,
        end: usize,
        body_from: usize,
        body: &mut Vec<u8>,
    ) -> Result<(), HeadersTooLarge> {
        let headers = parse(&self.prefix[..end])?;
        body.extend_from_slice(&self.prefix[body_from..]);
        self.prefix = Vec::new();
        self.headers = Some(headers);
        Ok(())
    }

    /// The end of the message: its header fields. Text still held (a
    /// message that is all header section) is parsed as `read_message`
    /// would; a last line that is not a header goes to `body`.
    pub fn finish(mut self, body: &mut Vec<u8>) -> Result<Vec<Header>, HeadersTooLarge> {
        if let Some(headers) = self.headers.take() {
            return Ok(headers);
        }
        let opts = ReadOptions {
            dot_ends: false,
            eof_is_error: false,
            max_body: 0,
        };
        match read_message(&mut self.prefix.as_slice(), &opts) {
            Ok(raw) => {
                body.extend_from_slice(&raw.body);
                Ok(raw.headers)
            }
            Err(_) => Err(HeadersTooLarge),
        }
    }
}

/// Parses complete header lines (no body among them).
fn parse(section: &[u8]) -> Result<Vec<Header>, HeadersTooLarge> {
    let opts = ReadOptions {
        dot_ends: false,
        eof_is_error: false,
        max_body: 0,
    };
    match read_message(&mut &section[..], &opts) {
        Ok(raw) => Ok(raw.headers),
        Err(ReadError::HeadersTooLarge { .. }) | Err(_) => Err(HeadersTooLarge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in pieces of `piece` bytes; (headers, body).
    fn split(
        text: &[u8],
        piece: usize,
        limit: usize,
    ) -> Result<(Vec<String>, Vec<u8>), HeadersTooLarge> {
        let mut s = HeaderSplitter::new(limit);
        let mut body = Vec::new();
        for chunk in text.chunks(piece.max(1)) {
            s.feed(chunk, &mut body)?;
        }
        let headers = s.finish(&mut body)?;
        let names = headers
            .iter()
            .map(|h| String::from_utf8_lossy(&h.raw).into_owned())
            .collect();
        Ok((names, body))
    }

    /// Whatever the pieces, the result equals `read_message` on the whole.
    #[test]
    fn same_split_as_read_message() {
        let cases: &[&[u8]] = &[
            b"Subject: a\nTo: b\n\nbody\nmore\n",
            b"Subject: a\n folded\n\n\nbody with blank first\n",
            b"From someone Mon\nSubject: a\n\nx\n",
            b"From a\nFrom b\nSubject: a\nFrom c\n\nx\n",
            b"Subject: a\nnot a header line\nSubject: b\n",
            b"no headers at all\n\nSubject: x\n",
            b"\nbody only\n",
            b"Subject: only headers\n",
            b"Subject: no newline at end",
            b"",
            b" continuation first\nSubject: a\n\nb\n",
        ];
        let opts = ReadOptions {
            dot_ends: false,
            eof_is_error: false,
            max_body: 0,
        };
        for text in cases {
            let want = read_message(&mut &text[..], &opts).unwrap();
            let want_h: Vec<String> = want
                .headers
                .iter()
                .map(|h| String::from_utf8_lossy(&h.raw).into_owned())
                .collect();
            for piece in [1, 2, 3, 7, 1000] {
                let (h, b) = split(text, piece, 1024).unwrap();
                assert_eq!(
                    h,
                    want_h,
                    "{:?} piece {piece}",
                    String::from_utf8_lossy(text)
                );
                assert_eq!(
                    b,
                    want.body,
                    "{:?} piece {piece}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn header_section_over_the_limit_is_refused() {
        let mut text = Vec::new();
        for i in 0..100 {
            text.extend_from_slice(format!("X-Filler-{i}: {}\n", "a".repeat(50)).as_bytes());
        }
        text.extend_from_slice(b"\nbody\n");
        assert_eq!(split(&text, 100, 1024), Err(HeadersTooLarge));
        // One endless header line.
        let long = [b"Subject: ".as_slice(), &vec![b'x'; 5000]].concat();
        assert_eq!(split(&long, 100, 1024), Err(HeadersTooLarge));
        assert!(split(&text, 100, 1 << 20).is_ok());
    }

    /// A long first body line (no blank line before it) is passed on, not held.
    #[test]
    fn long_first_body_line_streams() {
        let mut text = b"Subject: a\n".to_vec();
        text.extend(std::iter::repeat_n(b'y', 10_000));
        text.push(b'\n');
        let mut s = HeaderSplitter::new(1024);
        let mut body = Vec::new();
        for chunk in text.chunks(100) {
            s.feed(chunk, &mut body).unwrap();
            assert!(s.prefix.len() <= 1024 + 100);
        }
        assert!(s.headers_done());
        let h = s.finish(&mut body).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(body.len(), 10_001);
    }
}
