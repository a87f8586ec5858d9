//! The client's byte mover: a stream, the bytes read but not yet parsed,
//! timeouts, and the round-trip counter of [`super::Stats`].
//!
//! Guarantees: every read and write is bounded by a timeout; [`Conn::pump`]
//! writes and reads at the same time, so a long pipelined batch can never
//! deadlock with a server that is itself blocked writing replies; the
//! unparsed input never exceeds one reply's bounds plus one read.
//!
//! # Security
//! [`Conn::into_parts`] drops the unparsed input: before a TLS handshake
//! nothing the server sent in clear may be read as if it came over TLS.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::reply::{self, Reply};
use super::{SessionError, Stats};

const READ_CHUNK: usize = 16 * 1024;

/// Bytes waiting to be written, consumed from the front without moving
/// the rest on every write.
#[derive(Default)]
pub struct Out {
    buf: Vec<u8>,
    pos: usize,
}

impl Out {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
        }
    }
}

enum Event {
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
    Read(std::io::Result<usize>),
}

pub struct Conn<T> {
    io: T,
    input: Vec<u8>,
    pub stats: Stats,
    /// Something was written since the last counted wait.
    wrote: bool,
    /// Written but perhaps not flushed (TLS buffers).
    dirty: bool,
    write_timeout: Duration,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    pub fn new(io: T, stats: Stats, write_timeout: Duration) -> Conn<T> {
        Conn {
            io,
            input: Vec::new(),
            stats,
            // The greeting is the first wait.
            wrote: true,
            dirty: false,
            write_timeout,
        }
    }

    /// The stream and the counters; unparsed input is dropped and its
    /// length returned (it should be 0: anything else is injection, R07).
    pub fn into_parts(self) -> (T, Stats, usize) {
        (self.io, self.stats, self.input.len())
    }

    /// The same connection over `f(stream)` (boxing it): unlike
    /// [`Conn::into_parts`], the unparsed input is kept.
    pub fn map_io<U>(self, f: impl FnOnce(T) -> U) -> Conn<U> {
        Conn {
            io: f(self.io),
            input: self.input,
            stats: self.stats,
            wrote: self.wrote,
            dirty: self.dirty,
            write_timeout: self.write_timeout,
        }
    }

    /// Writes and flushes `bytes` (used outside the pipelined transfer).
    pub async fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), SessionError> {
        self.wrote = true;
        let io = &mut self.io;
        let done = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        match tokio::time::timeout(self.write_timeout, done).await {
            Err(_) => Err(SessionError::Timeout(format!("writing {what}"))),
            Ok(Err(e)) => Err(io_err(what, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// A complete reply from the input already read, if there is one.
    pub fn take_reply(&mut self) -> Result<Option<Reply>, SessionError> {
        match reply::parse(&self.input) {
            Ok(Some((r, used))) => {
                self.input.drain(..used);
                Ok(Some(r))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(SessionError::Protocol(e.to_string())),
        }
    }

    /// The next reply, waiting for it at most `timeout` per read.
    pub async fn reply(&mut self, timeout: Duration, what: &str) -> Result<Reply, SessionError> {
        loop {
            if let Some(r) = self.take_reply()? {
                return Ok(r);
            }
            self.wait(timeout, what).await?;
        }
    }

    /// Waits for more input with nothing left to write: a round trip if
    /// something was written since the last one.
    pub async fn wait(&mut self, timeout: Duration, what: &str) -> Result<(), SessionError> {
        if std::mem::take(&mut self.wrote) {
            self.stats.round_trips += 1;
        }
        let mut tmp = [0u8; READ_CHUNK];
        let read = tokio::io::AsyncReadExt::read(&mut self.io, &mut tmp);
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err(SessionError::Timeout(what.to_string())),
            Ok(Err(e)) => Err(io_err(what, e)),
            Ok(Ok(0)) => Err(SessionError::Closed(what.to_string())),
            Ok(Ok(n)) => {
                self.input.extend_from_slice(&tmp[..n]);
                Ok(())
            }
        }
    }

    /// True when [`Conn::pump`] has something to do besides reading.
    pub fn busy(&self, out: &Out) -> bool {
        !out.is_empty() || self.dirty
    }

    /// One step of writing `out` (or flushing it) while reading whatever
    /// the server sends meanwhile. `timeout` bounds a step with no
    /// progress in either direction.
    pub async fn pump(
        &mut self,
        out: &mut Out,
        timeout: Duration,
        what: &str,
    ) -> Result<(), SessionError> {
        let mut tmp = [0u8; READ_CHUNK];
        let io = &mut self.io;
        let dirty = self.dirty;
        let step = poll_fn(|cx| {
            if !out.is_empty() {
                if let Poll::Ready(r) = Pin::new(&mut *io).poll_write(cx, out.pending()) {
                    return Poll::Ready(Event::Wrote(r));
                }
            } else if dirty && let Poll::Ready(r) = Pin::new(&mut *io).poll_flush(cx) {
                return Poll::Ready(Event::Flushed(r));
            }
            let mut buf = ReadBuf::new(&mut tmp);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(r) => Poll::Ready(Event::Read(r.map(|()| buf.filled().len()))),
                Poll::Pending => Poll::Pending,
            }
        });
        let event = tokio::time::timeout(timeout.max(self.write_timeout), step)
            .await
            .map_err(|_| SessionError::Timeout(what.to_string()))?;
        match event {
            Event::Wrote(Ok(0)) => Err(SessionError::Closed(what.to_string())),
            Event::Wrote(Ok(n)) => {
                out.consume(n);
                self.wrote = true;
                self.dirty = true;
                Ok(())
            }
            Event::Flushed(r) => {
                self.dirty = false;
                r.map_err(|e| io_err(what, e))
            }
            Event::Read(Ok(0)) => Err(SessionError::Closed(what.to_string())),
            Event::Read(Ok(n)) => {
                self.input.extend_from_slice(&tmp[..n]);
                Ok(())
            }
            Event::Wrote(Err(e)) | Event::Read(Err(e)) => Err(io_err(what, e)),
        }
    }

    /// Best-effort close after QUIT.
    pub async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.io.shutdown()).await;
    }
}

fn io_err(what: &str, source: std::io::Error) -> SessionError {
    SessionError::Io {
        what: what.to_string(),
        source,
    }
}
