//! Incremental decoders for message content: [`DataDecoder`] for `DATA`
//! (after the 354) and [`ChunkAssembler`] for `BDAT` chunks (RFC 3030).
//!
//! Both accept their input split at any byte boundary and give the same
//! result as for the input in one piece. Both produce the message text with
//! LF line ends, ready for `message::read` with dot handling off.
//!
//! # Policy for DATA ("normalize", RELIABILITY R01/R03)
//! * The ONLY end of data is CR LF `.` CR LF; the first line counts as
//!   following a CR LF, so `.` CR LF at once is the empty message.
//!   `\n.\n`, `\n.\r\n`, `\r\n.\n`, `\r.\r`, `\r\n.\r`, a NUL next to the dot
//!   and every other look-alike never end the message: those bytes stay in
//!   the body, so a smuggled second transaction is text of the first
//!   message, never a command (CVE-2023-51764/5/6).
//! * CR LF becomes LF. A bare LF stays an LF (it is a line break in
//!   storage). A bare CR stays a CR byte.
//! * Dot-unstuffing: one leading dot is removed only from a line that
//!   follows a CR LF (or from the very first line), as RFC 5321 §4.5.2
//!   counts lines. A dot after a bare LF is text.
//!
//! For BDAT there is no dot handling and no end marker: exactly the
//! announced bytes are taken; CR LF becomes LF, also when a chunk ends
//! between the CR and the LF.
//!
//! # Limits
//! `max_body` limits the decoded message text (headers and body, after CR LF
//! → LF), like SIZE in RFC 1870; 0 means unlimited. A message of exactly
//! `max_body` bytes is accepted.
//!
//! # Security
//! The input is hostile. The decoded text waits in `output()` until the
//! caller takes it; the server takes it after every `feed`, so memory is
//! bounded by one input buffer whatever the message size. Once the limit
//! is passed nothing more is stored, but the decoder keeps scanning (DATA)
//! or consuming the announced bytes (BDAT), so the session stays in step
//! with the client and can answer `552 5.3.4` at the end (R04, R05). State
//! between calls is a few bytes; a 5 MB line without newline costs nothing
//! extra. Nothing here panics on input.

use thiserror::Error;

/// Why the decoded content cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataError {
    /// The decoded text was longer than the limit.
    #[error("message too large (limit {limit} bytes)")]
    TooLarge { limit: u64 },
    /// `finish` was called before the end of data (DATA) or before all
    /// announced bytes came (BDAT): a bug of the caller, not of the client.
    #[error("message content incomplete")]
    Incomplete,
}

/// What [`DataDecoder::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The end of data is not in the input yet; all of it was consumed.
    NeedMore,
    /// The end of data was found: `consumed` bytes of this input, up to and
    /// including the terminating `.` CR LF, belong to the message. The rest
    /// is the next pipelined command(s).
    Done { consumed: usize },
}

/// Where the decoder stands; the pending CR or dot of a state is not yet emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line that follows CR LF (or the very start).
    LineStart,
    /// Inside a line (also right after a bare LF).
    Text,
    /// After a CR inside a line.
    Cr,
    /// After `.` at a line start: a stuffing dot or the end.
    Dot,
    /// After `.` CR at a line start: LF next would be the end.
    DotCr,
    /// The end was seen.
    Done,
}

/// Decoder for DATA content; see the module documentation for the policy.
#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    out: Sink,
}

impl DataDecoder {
    /// A decoder that stores at most `max_body` bytes (0 = unlimited).
    pub fn new(max_body: u64) -> DataDecoder {
        DataDecoder {
            state: State::LineStart,
            out: Sink::new(max_body),
        }
    }

    /// Consume input up to the end of data. Never fails: text past the
    /// limit is dropped and remembered. After `Done`, further calls return
    /// `Done { consumed: 0 }`.
    pub fn feed(&mut self, input: &[u8]) -> Feed {
        if self.state == State::Done {
            return Feed::Done { consumed: 0 };
        }
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Text {
                // Fast path: copy the run up to the next CR or LF at once.
                let run = input[i..].iter().position(|&b| b == b'\r' || b == b'\n');
                let end = run.map_or(input.len(), |n| i + n);
                self.out.extend(&input[i..end]);
                i = end;
                if i == input.len() {
                    break;
                }
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::LineStart, b'.') => State::Dot,
                (State::Dot, b'\r') => State::DotCr,
                (State::DotCr, b'\n') => {
                    self.state = State::Done;
                    return Feed::Done { consumed: i };
                }
                // `.` CR then not LF: the dot was stuffing, the CR is bare.
                (State::DotCr, b) => {
                    self.out.push(b'\r');
                    self.text(b)
                }
                (State::Cr, b'\n') => {
                    self.out.push(b'\n');
                    State::LineStart
                }
                (State::Cr, b) => {
                    self.out.push(b'\r');
                    self.text(b)
                }
                // LineStart without dot, a stuffing dot followed by text, or Text.
                (_, b) => self.text(b),
            };
        }
        Feed::NeedMore
    }

    /// A byte inside a line (any pending dot already dropped).
    fn text(&mut self, b: u8) -> State {
        match b {
            b'\r' => State::Cr,
            _ => {
                self.out.push(b);
                State::Text
            }
        }
    }

    /// Bytes of text so far (never more than the limit).
    pub fn stored_len(&self) -> u64 {
        self.out.total
    }

    /// Decoded text not yet taken: the caller may process and clear it
    /// after each `feed` (streaming), or leave it for `finish`.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out.buf
    }

    /// Whether the text passed the limit (the rest is being discarded).
    pub fn is_over(&self) -> bool {
        self.out.over
    }

    /// Whether the end of data was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The message text, or why it cannot be accepted.
    pub fn finish(self) -> Result<Vec<u8>, DataError> {
        if self.state != State::Done {
            return Err(DataError::Incomplete);
        }
        self.out.finish()
    }
}

/// Assembler for BDAT chunks; see the module documentation.
#[derive(Debug)]
pub struct ChunkAssembler {
    /// Bytes of the announced chunk(s) not yet consumed.
    remaining: u64,
    /// A CR ended the previous input; it becomes LF if an LF follows.
    pending_cr: bool,
    out: Sink,
}

impl ChunkAssembler {
    /// An assembler that stores at most `max_body` bytes (0 = unlimited).
    pub fn new(max_body: u64) -> Self {
        ChunkAssembler {
            remaining: 0,
            pending_cr: false,
            out: Sink::new(max_body),
        }
    }

    /// A BDAT command announced `size` more bytes. Normally called once the
    /// previous chunk is complete; if not, the sizes add up.
    pub fn expect(&mut self, size: u64) {
        self.remaining = self.remaining.saturating_add(size);
    }

    /// Bytes still expected for the current chunk.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Consume up to the rest of the current chunk; returns how many bytes
    /// of `input` were taken (the rest is the next command).
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let take = usize::try_from(self.remaining).map_or(input.len(), |r| r.min(input.len()));
        let chunk = &input[..take];
        self.remaining -= take as u64;
        let mut start = 0;
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk[0] != b'\n' {
                self.out.push(b'\r');
            }
        }
        // Copy runs between CRs; a CR directly before LF is dropped.
        while let Some(n) = chunk[start..].iter().position(|&b| b == b'\r') {
            let cr = start + n;
            self.out.extend(&chunk[start..cr]);
            match chunk.get(cr + 1) {
                None => self.pending_cr = true,
                Some(b'\n') => {}
                Some(_) => self.out.push(b'\r'),
            }
            start = cr + 1;
        }
        self.out.extend(&chunk[start..]);
        take
    }

    /// Whether all announced bytes have been consumed.
    pub fn chunk_complete(&self) -> bool {
        self.remaining == 0
    }

    /// Bytes of text so far (never more than the limit).
    pub fn stored_len(&self) -> u64 {
        self.out.total
    }

    /// Decoded text not yet taken: the caller may process and clear it
    /// after each `feed` (streaming), or leave it for `finish`.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out.buf
    }

    /// Whether the text passed the limit (the rest is being discarded).
    pub fn is_over(&self) -> bool {
        self.out.over
    }

    /// The assembled message text, or why it cannot be accepted.
    pub fn finish(mut self) -> Result<Vec<u8>, DataError> {
        if self.remaining != 0 {
            return Err(DataError::Incomplete);
        }
        if self.pending_cr {
            self.out.push(b'\r');
        }
        self.out.finish()
    }
}

/// The output buffer shared by both decoders. It counts every byte the
/// message has against the limit, also those the caller already took out
/// with `output()`, so a caller that drains it after each `feed` keeps only
/// one input's worth of text in memory whatever the message size.
#[derive(Debug)]
struct Sink {
    buf: Vec<u8>,
    /// Bytes of the message so far, up to the limit.
    total: u64,
    /// 0 = unlimited.
    limit: u64,
    over: bool,
}

impl Sink {
    fn new(limit: u64) -> Sink {
        Sink {
            buf: Vec::new(),
            total: 0,
            limit,
            over: false,
        }
    }

    fn push(&mut self, b: u8) {
        self.extend(&[b]);
    }

    fn extend(&mut self, bytes: &[u8]) {
        if self.over || bytes.is_empty() {
            return;
        }
        let room = match self.limit {
            0 => usize::MAX,
            limit => usize::try_from(limit.saturating_sub(self.total)).unwrap_or(usize::MAX),
        };
        let take = bytes.len().min(room);
        self.buf.extend_from_slice(&bytes[..take]);
        self.total += take as u64;
        if take < bytes.len() {
            self.over = true;
        }
    }

    fn finish(self) -> Result<Vec<u8>, DataError> {
        if self.over {
            return Err(DataError::TooLarge { limit: self.limit });
        }
        Ok(self.buf)
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
