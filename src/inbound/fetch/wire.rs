//! The POP3 byte stream of a fetch: command groups out in one write,
//! status lines, bounded multi-line lists and message content in.
//!
//! # Security
//! The server is untrusted: a status line is at most
//! [`crate::pop3::conn::MAX_LINE`] bytes, a list at most [`MAX_LIST`]
//! bytes, and message content is never held: it goes through the content
//! decoder into the spool. Every read and write has the connection's
//! deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pop3::Command;
use crate::inbound::content::spool::{Inbound, Target};
use crate::pop3::conn::{BoxStream, MAX_LINE, TooLong, take_line};
use crate::pop3::{Pop3Error, Status};

/// A multi-line list (CAPA, UIDL, LIST) larger than this is an error:
/// about 300 000 messages' worth.
pub const MAX_LIST: usize = 16 << 20;
/// One line of a list.
const MAX_LIST_LINE: usize = 1000;
const READ_CHUNK: usize = 16 * 1024;

pub struct Wire {
    pub io: BoxStream,
    pub input: Vec<u8>,
    server: String,
    timeout: Duration,
}

impl Wire {
    pub fn new(io: BoxStream, input: Vec<u8>, server: String, timeout: Duration) -> Wire {
        Wire {
            io,
            input,
            server,
            timeout,
        }
    }

    fn error(&self, reason: String) -> Pop3Error {
        Pop3Error::Protocol {
            server: self.server.clone(),
            reason,
        }
    }

    /// Sends a group of commands in one write.
    pub async fn send(&mut self, commands: &[Command]) -> Result<(), Pop3Error> {
        let mut out = Vec::new();
        for c in commands {
            let line = c.line();
            if line.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(self.error("refusing to send a command with a line break".into()));
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let io = &mut self.io;
        let write = async {
            io.write_all(&out).await?;
            io.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(self.timed_out("sending commands")),
            Ok(Err(e)) => Err(self.io_error("sending commands", e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    fn timed_out(&self, what: &str) -> Pop3Error {
        Pop3Error::Timeout {
            server: self.server.clone(),
            what: what.to_string(),
        }
    }

    fn io_error(&self, what: &str, source: std::io::Error) -> Pop3Error {
        Pop3Error::Io {
            server: self.server.clone(),
            what: what.to_string(),
            source,
        }
    }

    async fn fill(&mut self, what: &str) -> Result<(), Pop3Error> {
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let read = tokio::time::timeout(self.timeout, self.io.read(&mut self.input[start..])).await;
        let n = match read {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                self.input.truncate(start);
                return Err(self.io_error(what, e));
            }
            Err(_) => {
                self.input.truncate(start);
                return Err(self.timed_out(what));
            }
        };
        self.input.truncate(start + n);
        if n == 0 {
            return Err(Pop3Error::Closed {
                server: self.server.clone(),
                what: what.to_string(),
            });
        }
        Ok(())
    }

    /// The next line without its line end, at most `max` bytes.
    pub async fn line(&mut self, max: usize, what: &str) -> Result<Vec<u8>, Pop3Error> {
        loop {
            match take_line(&mut self.input, max) {
                Ok(Some(line)) => return Ok(line),
                Ok(None) => self.fill(what).await?,
                Err(TooLong) => {
                    return Err(self.error(format!("line longer than {max} bytes {what}")));
                }
            }
        }
    }

    pub async fn status(&mut self, what: &str) -> Result<Status, Pop3Error> {
        Ok(Status::parse(&self.line(MAX_LINE, what).await?))
    }

    /// The lines of a multi-line response up to its `.`, unstuffed.
    pub async fn list(&mut self, what: &str) -> Result<Vec<Vec<u8>>, Pop3Error> {
        let mut lines = Vec::new();
        let mut total = 0usize;
        loop {
            let mut line = self.line(MAX_LIST_LINE, what).await?;
            if line == b"." {
                return Ok(lines);
            }
            if line.first() == Some(&b'.') {
                line.remove(0);
            }
            total += line.len() + 1;
            if total > MAX_LIST {
                return Err(self.error(format!("list longer than {MAX_LIST} bytes {what}")));
            }
            lines.push(line);
        }
    }

    /// Reads message content up to its terminating dot line into
    /// `inbound`, which writes the body to the spool as it comes.
    pub async fn content(
        &mut self,
        inbound: &mut Inbound,
        target: &Target,
    ) -> Result<(), Pop3Error> {
        loop {
            let (consumed, done) = inbound.content.feed(&self.input);
            self.input.drain(..consumed);
            inbound.write(target, false).await;
            if done {
                return Ok(());
            }
            self.fill("reading a message").await?;
        }
    }

    /// The stream for a TLS handshake and how many buffered bytes are
    /// dropped with the rest of this wire (R07: nothing read in clear may
    /// pass as if it came over TLS).
    pub fn into_tls(self) -> (BoxStream, usize) {
        (self.io, self.input.len())
    }
}
