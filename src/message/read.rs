//! Reading message text from stdin, SMTP `DATA` or POP3 `RETR`
//! (delivery.md §3, cli.md §3.3): line ends, dot handling, `From_`
//! skipping, the split into raw header fields and the body.
//!
//! Guarantees: the result is 8-bit clean (NUL and bare CR are kept) with LF
//! line ends; lines of any length stay whole; the body holds exactly the
//! bytes that count against `max_body` (a first body line that arrived
//! without a blank line before it counts too, delivery.md §18.11).
//!
//! # Security
//! The input is hostile. Memory is bounded by the limits: no line is
//! buffered beyond what the body limit (or the header limits) could still
//! accept, headers are capped at [`MAX_HEADER_BYTES`] and
//! [`MAX_HEADER_COUNT`] (RELIABILITY R04). With `max_body == 0` the body is
//! unlimited by the caller's choice. Time limits belong to the caller's
//! reader (a socket timeout), not to this module.

use std::io::{self, BufRead};

use super::Header;

/// Total bytes of all header lines accepted before giving up.
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// Number of header fields accepted before giving up.
pub const MAX_HEADER_COUNT: usize = 10_000;

/// How to read one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// A line `.` ends the message and a leading dot is removed (SMTP,
    /// POP3, stdin without `-i`/`-oi`).
    pub dot_ends: bool,
    /// End of input before the dot line is an error (SMTP, POP3).
    pub eof_is_error: bool,
    /// Largest body in bytes; 0 means unlimited.
    pub max_body: u64,
}

/// A message as read: header fields (each the raw bytes of its lines, LF
/// ended) and the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawMessage {
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("reading message: {0}")]
    Io(#[from] io::Error),
    /// The input ended before the dot line where one is required
    /// (cli.md §6.2 `unexpected EOF.`).
    #[error("unexpected EOF.")]
    UnexpectedEof,
    /// The body passed `max_msg_size` (cli.md §6.2, SMTP 552).
    #[error("max message size exceeded (limit {limit} bytes).")]
    TooLarge { limit: u64 },
    /// More than [`MAX_HEADER_BYTES`] bytes or [`MAX_HEADER_COUNT`] fields.
    #[error("header section too large (limit {max_bytes} bytes, {max_count} fields).")]
    HeadersTooLarge { max_bytes: usize, max_count: usize },
}

impl ReadError {
    fn headers_too_large() -> Self {
        ReadError::HeadersTooLarge {
            max_bytes: MAX_HEADER_BYTES,
            max_count: MAX_HEADER_COUNT,
        }
    }
}

/// Reads one message from `input` until the dot line (with `dot_ends`) or
/// the end of input. Nothing after the dot line is read. After an error
/// the input is left mid-message (not drained): SMTP closes the
/// connection after 552, stdin exits (delivery.md §3).
pub fn read_message(input: &mut dyn BufRead, opts: &ReadOptions) -> Result<RawMessage, ReadError> {
    let mut msg = RawMessage::default();
    let mut header_bytes = 0usize;
    let mut in_headers = true;
    let mut line = Vec::new();
    loop {
        line.clear();
        let body_room = match opts.max_body {
            0 => usize::MAX,
            max => usize::try_from(max.saturating_sub(msg.body.len() as u64)).unwrap_or(usize::MAX),
        };
        // A raw line may lose a dot and a CR, so two bytes more than the
        // room can still fit; anything longer cannot.
        let body_cap = body_room.saturating_add(2);
        let header_cap = MAX_HEADER_BYTES
            .saturating_sub(header_bytes)
            .saturating_add(2);
        let mut status = read_line(
            input,
            &mut line,
            if in_headers { header_cap } else { body_cap },
        )?;
        if status == LineStatus::TooLong
            && in_headers
            && body_cap > header_cap
            && !header_like(&line)
        {
            // Too long for a header but it is the first body line: the rest
            // of it is bounded by the body limit only.
            status = read_line(input, &mut line, body_cap)?;
        }
        if status == LineStatus::TooLong {
            return Err(if in_headers && header_like(&line) {
                ReadError::headers_too_large()
            } else {
                ReadError::TooLarge {
                    limit: opts.max_body,
                }
            });
        }
        if status == LineStatus::Eof && (opts.eof_is_error || line.is_empty()) {
            if opts.eof_is_error {
                return Err(ReadError::UnexpectedEof);
            }
            return Ok(msg);
        }
        // Only a CR right before the LF is part of the line end.
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let mut text: &[u8] = &line;
        if opts.dot_ends {
            if text == b"." {
                return Ok(msg);
            }
            if let Some(rest) = text.strip_prefix(b".") {
                text = rest;
            }
        }
        if in_headers {
            if text.is_empty() {
                in_headers = false;
            } else if msg.headers.is_empty() && text.starts_with(b"From ") {
                // An mbox separator before any header (delivery.md §3).
            } else if text[0] == b' ' || text[0] == b'\t' {
                // A continuation with no header to continue is dropped.
                if let Some(last) = msg.headers.last_mut() {
                    header_bytes += text.len() + 1;
                    if header_bytes > MAX_HEADER_BYTES {
                        return Err(ReadError::headers_too_large());
                    }
                    last.raw.extend_from_slice(text);
                    last.raw.push(b'\n');
                }
            } else if starts_header(text) {
                header_bytes += text.len() + 1;
                if header_bytes > MAX_HEADER_BYTES || msg.headers.len() >= MAX_HEADER_COUNT {
                    return Err(ReadError::headers_too_large());
                }
                let mut raw = Vec::with_capacity(text.len() + 1);
                raw.extend_from_slice(text);
                raw.push(b'\n');
                msg.headers.push(Header { raw });
            } else {
                // No blank line before the body: this line is the first
                // body line, and it counts (delivery.md §18.11).
                in_headers = false;
                push_body(&mut msg.body, text, opts.max_body)?;
            }
        } else {
            push_body(&mut msg.body, text, opts.max_body)?;
        }
        if status == LineStatus::Eof {
            return Ok(msg);
        }
    }
}

fn push_body(body: &mut Vec<u8>, text: &[u8], max_body: u64) -> Result<(), ReadError> {
    body.extend_from_slice(text);
    body.push(b'\n');
    if max_body > 0 && body.len() as u64 > max_body {
        return Err(ReadError::TooLarge { limit: max_body });
    }
    Ok(())
}

/// A header field starts with a name of printable ASCII other than space
/// and colon, then a colon (RFC 5322 §2.2 `ftext`). Anything else is not a
/// header line.
pub(crate) fn starts_header(text: &[u8]) -> bool {
    match text
        .iter()
        .position(|&b| !(b'!'..=b'~').contains(&b) || b == b':')
    {
        Some(i) => i > 0 && text[i] == b':',
        None => false,
    }
}

/// Whether a (possibly truncated) line in the header section would be
/// header text rather than the first body line.
pub(crate) fn header_like(line: &[u8]) -> bool {
    let text = line.strip_prefix(b".").unwrap_or(line);
    matches!(text.first(), Some(b' ' | b'\t')) || starts_header(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineStatus {
    /// The line ends in LF.
    Complete,
    /// The input ended; `buf` holds what came before (maybe nothing).
    Eof,
    /// The line is longer than `cap`; `buf` holds its first `cap` bytes
    /// (consumed from the input, so a second call reads on).
    TooLong,
}

/// `read_until(b'\n')` that never buffers more than `cap` bytes.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> io::Result<LineStatus> {
    loop {
        let (take, finished) = {
            let avail = match input.fill_buf() {
                Ok(avail) => avail,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(LineStatus::Eof);
            }
            let (take, finished) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, Some(LineStatus::Complete)),
                None => (avail.len(), None),
            };
            let room = cap.saturating_sub(buf.len());
            let (take, finished) = if take > room {
                (room, Some(LineStatus::TooLong))
            } else {
                (take, finished)
            };
            buf.extend_from_slice(&avail[..take]);
            (take, finished)
        };
        input.consume(take);
        if let Some(status) = finished {
            return Ok(status);
        }
    }
}

#[cfg(test)]
mod tests;
