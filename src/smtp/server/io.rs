//! The session's byte stream: an input buffer split into command lines,
//! and an output buffer of replies flushed only when the session needs
//! more input (so a pipelined group gets its replies in one write, RFC 2920).
//!
//! # Security
//! Memory is bounded: a command line longer than [`MAX_LINE`] is reported
//! once and then skipped up to its LF without being stored. Reads time out.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::command::MAX_LINE;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// Why the session stopped reading.
#[derive(Debug)]
pub enum Stop {
    /// The client closed the connection.
    Eof,
    /// No input within the time limit.
    Timeout,
    Io(std::io::Error),
}

/// One line taken from the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The bytes before LF, without a CR right before the LF.
    Complete(Vec<u8>),
    /// The line passed [`MAX_LINE`]; its rest is being skipped.
    TooLong,
}

pub struct Conn<S> {
    pub stream: S,
    /// Received, not yet processed.
    pub input: Vec<u8>,
    output: Vec<u8>,
    /// Inside an over-long line: drop input up to the next LF.
    skipping: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            skipping: false,
        }
    }

    /// The next complete line in the buffer, if any.
    pub fn take_line(&mut self) -> Option<Line> {
        if self.skipping {
            match self.input.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.input.drain(..=end);
                    self.skipping = false;
                }
                None => {
                    self.input.clear();
                    return None;
                }
            }
        }
        match self.input.iter().position(|&b| b == b'\n') {
            Some(end) if end < MAX_LINE => {
                let mut line: Vec<u8> = self.input.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Line::Complete(line))
            }
            Some(end) => {
                self.input.drain(..=end);
                Some(Line::TooLong)
            }
            None if self.input.len() >= MAX_LINE => {
                self.input.clear();
                self.skipping = true;
                Some(Line::TooLong)
            }
            None => None,
        }
    }

    /// Queues one reply (`lines` joined as a multi-line reply).
    pub fn reply(&mut self, code: u16, enhanced: &str, lines: &[&str]) {
        for (i, text) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let text = if enhanced.is_empty() {
                (*text).to_string()
            } else {
                format!("{enhanced} {text}")
            };
            self.output
                .extend_from_slice(format!("{code}{sep}{text}\r\n").as_bytes());
        }
    }

    pub async fn flush(&mut self) -> Result<(), Stop> {
        if self.output.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.output);
        self.stream.write_all(&out).await.map_err(Stop::Io)?;
        self.stream.flush().await.map_err(Stop::Io)
    }

    /// Flushes pending replies, then reads more input.
    pub async fn fill(&mut self, limit: Duration) -> Result<(), Stop> {
        self.flush().await?;
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let read = tokio::time::timeout(limit, self.stream.read(&mut self.input[start..])).await;
        let n = match read {
            Err(_) => {
                self.input.truncate(start);
                return Err(Stop::Timeout);
            }
            Ok(Err(e)) => {
                self.input.truncate(start);
                return Err(Stop::Io(e));
            }
            Ok(Ok(n)) => n,
        };
        self.input.truncate(start + n);
        if n == 0 { Err(Stop::Eof) } else { Ok(()) }
    }

    /// Gives the stream back for the TLS handshake, dropping everything
    /// the client sent after STARTTLS (R07: no plaintext injection).
    pub fn into_stream(self) -> S {
        self.stream
    }
}
