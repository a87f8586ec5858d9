//! The session's byte stream with deadlines: an input buffer that the one
//! line splitter ([`super::command::LineSplitter`]) cuts into command
//! lines, and an output buffer of replies flushed when the session needs
//! input or when it grows past [`MAX_OUTPUT`] (so a pipelined group gets
//! its replies in one write, RFC 2920, and a client that never reads
//! cannot make us buffer without bound).
//!
//! # Security
//! Memory is bounded: at most [`READ_CHUNK`] plus one command line of
//! input and [`MAX_OUTPUT`] plus one reply of output. Every read and every
//! write has a deadline given by the caller; a client cannot hold the
//! session beyond it.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::command::{LineSplitter, MAX_LINE, NextLine};
use super::reply::Reply;

/// Bytes read from the socket at once.
pub const READ_CHUNK: usize = 16 * 1024;
/// Replies kept before they are written even though more commands wait.
pub const MAX_OUTPUT: usize = 16 * 1024;

/// Why the session stopped.
#[derive(Debug)]
pub enum Stop {
    /// The client closed the connection.
    Eof,
    /// A deadline passed.
    Timeout,
    /// Message content came slower than the minimum data rate.
    TooSlow,
    Io(std::io::Error),
}

/// One item of command input.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A command line without its line end.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`] was skipped.
    TooLong,
}

pub struct Conn<S> {
    pub stream: S,
    /// Received, not yet processed.
    pub input: Vec<u8>,
    output: Vec<u8>,
    lines: LineSplitter,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            input: Vec::with_capacity(READ_CHUNK + MAX_LINE),
            output: Vec::new(),
            lines: LineSplitter::new(),
        }
    }

    /// The next command line in the buffer, if a whole one is there.
    pub fn next_line(&mut self) -> Option<Input> {
        match self.lines.next(&self.input) {
            NextLine::NeedMore => None,
            NextLine::Line { len, consumed, .. } => {
                let line = self.input[..len].to_vec();
                self.input.drain(..consumed);
                Some(Input::Line(line))
            }
            // The part of an overlong line seen so far is dropped (all of
            // the buffer): read on.
            NextLine::Skip { consumed } => {
                self.input.drain(..consumed);
                None
            }
            NextLine::TooLong { consumed } => {
                self.input.drain(..consumed);
                Some(Input::TooLong)
            }
        }
    }

    /// Queues a reply; writes the queue out if it has grown large.
    pub async fn reply(&mut self, reply: &Reply, deadline: Instant) -> Result<(), Stop> {
        reply.encode(&mut self.output);
        if self.output.len() >= MAX_OUTPUT {
            self.flush(deadline).await?;
        }
        Ok(())
    }

    /// Writes the queued replies by `deadline`.
    pub async fn flush(&mut self, deadline: Instant) -> Result<(), Stop> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.output).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Err(_) => Err(Stop::Timeout),
            Ok(Err(e)) => Err(Stop::Io(e)),
            Ok(Ok(())) => {
                self.output.clear();
                if self.output.capacity() > 2 * MAX_OUTPUT {
                    self.output.shrink_to(MAX_OUTPUT);
                }
                Ok(())
            }
        }
    }

    /// Flushes pending replies, then reads more input by `deadline`.
    pub async fn fill(&mut self, deadline: Instant) -> Result<(), Stop> {
        self.flush(deadline).await?;
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let read =
            tokio::time::timeout_at(deadline, self.stream.read(&mut self.input[start..])).await;
        let n = match read {
            Ok(Ok(n)) => n,
            Err(_) => {
                self.input.truncate(start);
                return Err(Stop::Timeout);
            }
            Ok(Err(e)) => {
                self.input.truncate(start);
                return Err(Stop::Io(e));
            }
        };
        self.input.truncate(start + n);
        if n == 0 { Err(Stop::Eof) } else { Ok(()) }
    }

    /// Gives the stream back for the TLS handshake, dropping everything
    /// the client sent after STARTTLS (R07: no plaintext injection).
    pub fn into_stream(self) -> (S, usize) {
        (self.stream, self.input.len())
    }
}
