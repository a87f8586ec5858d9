//! A line-based POP3 connection over any async stream (delivery.md §15.2):
//! status lines (`+OK`/`-ERR`), multi-line responses, commands, the STLS
//! upgrade, and [`connect`] to a get file's server (TCP, `wrapper`, or
//! pop3s).
//!
//! Guarantees: a line is at most [`MAX_LINE`] bytes (RFC 1939 allows 512
//! with CR LF; a multi-line response line may be given its own bound);
//! every read and write waits at most the connection's timeout; a command
//! with CR, LF or NUL in it is never sent.
//!
//! # Security
//! [`Conn::starttls`] throws away anything the server sent after its STLS
//! reply before the handshake (R07): nothing read in clear may pass as if
//! it came over TLS. Error texts name the command's verb only, never its
//! arguments (PASS carries the password). Reply text is cleaned of
//! control characters.

use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Pop3Error;
use crate::config::{GetConf, TlsMode};

/// Longest status line, CR LF included (RFC 1939 §3).
pub const MAX_LINE: usize = 512;
/// Each reply (delivery.md §15.2: 5 minutes).
pub const TIMEOUT: Duration = Duration::from_secs(300);
/// Per address.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

const READ_CHUNK: usize = 4096;

/// Any byte stream we can speak POP3 on.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A TCP, wrapper or TLS stream behind one type.
pub type BoxStream = Box<dyn Stream>;

/// A status line: `+OK text` (`ok`) or anything else, judged by the first
/// character (§15.2). `text` follows the status word, cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub ok: bool,
    pub text: String,
}

impl Status {
    /// Parses one line without its line end.
    pub fn parse(line: &[u8]) -> Status {
        let ok = line.first() == Some(&b'+');
        let rest = match line.iter().position(|&b| b == b' ') {
            Some(sp) if line.starts_with(b"+OK") || line.starts_with(b"-ERR") => &line[sp + 1..],
            _ if line == b"+OK" || line == b"-ERR" => &[][..],
            _ => line,
        };
        Status {
            ok,
            text: clean(rest),
        }
    }
}

/// Server text made safe for logs: lossy UTF-8, control characters as `?`.
pub fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A line longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

/// The POP3 line splitter: the first line of `input` without its LF (and
/// a CR before it), removed from `input`; `None` when no whole line is
/// there yet. A line of more than `max` bytes with its line end, whole or
/// not, is [`TooLong`].
pub fn take_line(input: &mut Vec<u8>, max: usize) -> Result<Option<Vec<u8>>, TooLong> {
    match input.iter().position(|&b| b == b'\n') {
        Some(nl) if nl + 1 > max => Err(TooLong),
        Some(nl) => {
            let mut line: Vec<u8> = input.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Ok(Some(line))
        }
        None if input.len() >= max => Err(TooLong),
        None => Ok(None),
    }
}

pub struct Conn<S> {
    io: S,
    /// Bytes read but not yet returned as lines.
    input: Vec<u8>,
    /// `host:port` (or the wrapper) for error messages.
    server: String,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S, server: impl Into<String>) -> Conn<S> {
        Conn {
            io,
            input: Vec::new(),
            server: server.into(),
            timeout: TIMEOUT,
        }
    }

    /// Replaces the per-read/per-write timeout (tests, fetch tuning).
    pub fn with_timeout(mut self, timeout: Duration) -> Conn<S> {
        self.timeout = timeout;
        self
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The next line without its LF (and CR), at most `max` bytes with
    /// the line end; a longer line is a protocol error.
    pub async fn read_line(&mut self, max: usize, what: &str) -> Result<Vec<u8>, Pop3Error> {
        loop {
            match take_line(&mut self.input, max) {
                Ok(Some(line)) => return Ok(line),
                Ok(None) => self.fill(what).await?,
                Err(TooLong) => {
                    return Err(self.protocol(format!("line longer than {max} bytes {what}")));
                }
            }
        }
    }

    /// A status line (greeting or command reply).
    pub async fn read_status(&mut self, what: &str) -> Result<Status, Pop3Error> {
        Ok(Status::parse(&self.read_line(MAX_LINE, what).await?))
    }

    /// One line of a multi-line response (CAPA, LIST, UIDL, RETR) with the
    /// byte-stuffing undone; `None` at the terminating `.`.
    pub async fn read_data_line(
        &mut self,
        max: usize,
        what: &str,
    ) -> Result<Option<Vec<u8>>, Pop3Error> {
        let mut line = self.read_line(max, what).await?;
        if line == b"." {
            return Ok(None);
        }
        if line.first() == Some(&b'.') {
            line.remove(0);
        }
        Ok(Some(line))
    }

    /// Sends `line` with CR LF. Errors name only the first word.
    pub async fn send(&mut self, line: &str) -> Result<(), Pop3Error> {
        let verb = line.split(' ').next().unwrap_or("").to_string();
        self.send_named(line, &verb).await
    }

    /// Sends `line` with CR LF; errors call it `verb` (a SASL response
    /// has no verb, and its first word is the secret).
    pub async fn send_named(&mut self, line: &str, verb: &str) -> Result<(), Pop3Error> {
        if line.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(self.protocol(format!("refusing to send {verb} with a line break")));
        }
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let io = &mut self.io;
        let done = async {
            io.write_all(&bytes).await?;
            io.flush().await
        };
        let what = format!("sending {verb}");
        match tokio::time::timeout(self.timeout, done).await {
            Err(_) => Err(self.err_timeout(&what)),
            Ok(Err(e)) => Err(self.io_err(&what, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends `line` and reads its status line.
    pub async fn command(&mut self, line: &str) -> Result<Status, Pop3Error> {
        self.send(line).await?;
        let verb = line.split(' ').next().unwrap_or("");
        self.read_status(&format!("waiting for the reply to {verb}"))
            .await
    }

    /// The stream and what was read but not yet taken (a session that
    /// reads on its own, as the fetch does).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        (self.io, self.input)
    }

    /// Best-effort close (TLS close_notify, then EOF); never a QUIT.
    pub async fn shutdown(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.io.shutdown()).await;
    }

    async fn fill(&mut self, what: &str) -> Result<(), Pop3Error> {
        let mut tmp = [0u8; READ_CHUNK];
        match tokio::time::timeout(self.timeout, self.io.read(&mut tmp)).await {
            Err(_) => Err(self.err_timeout(what)),
            Ok(Err(e)) => Err(self.io_err(what, e)),
            Ok(Ok(0)) => Err(Pop3Error::Closed {
                server: self.server.clone(),
                what: what.to_string(),
            }),
            Ok(Ok(n)) => {
                self.input.extend_from_slice(&tmp[..n]);
                Ok(())
            }
        }
    }

    pub(super) fn protocol(&self, reason: String) -> Pop3Error {
        Pop3Error::Protocol {
            server: self.server.clone(),
            reason,
        }
    }

    pub(super) fn tls_err(&self, reason: impl Into<String>) -> Pop3Error {
        Pop3Error::Tls {
            server: self.server.clone(),
            reason: reason.into(),
        }
    }

    fn err_timeout(&self, what: &str) -> Pop3Error {
        Pop3Error::Timeout {
            server: self.server.clone(),
            what: what.to_string(),
        }
    }

    fn io_err(&self, what: &str, source: std::io::Error) -> Pop3Error {
        Pop3Error::Io {
            server: self.server.clone(),
            what: what.to_string(),
            source,
        }
    }
}

impl<S: Stream + 'static> Conn<S> {
    /// `STLS` and the handshake (RFC 2595). A `-ERR` is a TLS error.
    pub async fn starttls(
        mut self,
        config: Arc<ClientConfig>,
        name: &str,
    ) -> Result<Conn<BoxStream>, Pop3Error> {
        let st = self.command("STLS").await?;
        if !st.ok {
            return Err(self.tls_err(format!("STLS refused: {}", st.text)));
        }
        if !self.input.is_empty() {
            tracing::warn!(
                "{}: discarded {} bytes the server sent after its STLS reply",
                self.server,
                self.input.len()
            );
        }
        let (server, timeout) = (self.server, self.timeout);
        let tls = handshake(Box::new(self.io), config, name, &server, timeout).await?;
        Ok(Conn::new(tls, server).with_timeout(timeout))
    }
}

/// TLS client handshake on `io`, verifying the certificate for `name`.
pub async fn handshake(
    io: BoxStream,
    config: Arc<ClientConfig>,
    name: &str,
    server: &str,
    timeout: Duration,
) -> Result<BoxStream, Pop3Error> {
    let tls_err = |reason: String| Pop3Error::Tls {
        server: server.to_string(),
        reason,
    };
    let host = name.trim_start_matches('[').trim_end_matches(']');
    let sni = ServerName::try_from(host.to_string())
        .map_err(|_| tls_err(format!("invalid server name {host:?}")))?;
    let connect = TlsConnector::from(config).connect(sni, io);
    match tokio::time::timeout(timeout, connect).await {
        Err(_) => Err(tls_err("timed out in the handshake".into())),
        Ok(Err(e)) => Err(tls_err(format!("handshake failed: {e}"))),
        Ok(Ok(s)) => Ok(Box::new(s)),
    }
}

/// The get file's TLS client configuration (its CA file and verify flag).
pub fn tls_config(get: &GetConf) -> Result<Arc<ClientConfig>, crate::tls::TlsError> {
    crate::tls::client_config(get.tls_ca_file.as_deref(), get.tls_verify, None)
}

/// `server:port` as used in messages.
pub fn label(get: &GetConf) -> String {
    match &get.wrapper {
        Some(w) => format!("{}:{} (via wrapper {})", get.server, get.port, w.text),
        None => format!("{}:{}", get.server, get.port),
    }
}

/// A connection to the get file's server: the `wrapper` if set, else TCP
/// to each address of `server` in turn; with `tls = pop3s` the TLS
/// handshake is done here. The greeting is not read yet.
pub async fn connect(get: &GetConf) -> Result<Conn<BoxStream>, Pop3Error> {
    let server = label(get);
    let (io, _) = open(get, &server).await?;
    let io = if get.tls == Some(TlsMode::Smtps) {
        let config = tls_config(get).map_err(|e| Pop3Error::Tls {
            server: server.clone(),
            reason: e.to_string(),
        })?;
        handshake(io, config, &get.server, &server, TIMEOUT).await?
    } else {
        io
    };
    Ok(Conn::new(io, server))
}

/// The plain byte stream to the get file's server (`server` is its
/// [`label`]): the `wrapper` if set, else TCP to each address in turn,
/// with the address connected to. No TLS, nothing read. ODMR uses it too.
pub async fn open(
    get: &GetConf,
    server: &str,
) -> Result<(BoxStream, Option<SocketAddr>), Pop3Error> {
    match &get.wrapper {
        Some(spec) => {
            let io = crate::wrapper::spawn(spec).map_err(|source| Pop3Error::Wrapper {
                server: server.to_string(),
                command: spec.text.clone(),
                source,
            })?;
            Ok((Box::new(io), None))
        }
        None => {
            let tcp = tcp(get, server).await?;
            let addr = tcp.peer_addr().ok();
            Ok((Box::new(tcp), addr))
        }
    }
}

async fn tcp(get: &GetConf, server: &str) -> Result<TcpStream, Pop3Error> {
    let host = get.server.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse() {
        Ok(ip) => vec![SocketAddr::new(ip, get.port)],
        Err(_) => tokio::net::lookup_host((host, get.port))
            .await
            .map_err(|e| Pop3Error::Resolve {
                server: server.to_string(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: timed out"),
        }
        tracing::info!("connection to {addr} failed: {last}");
    }
    Err(Pop3Error::Connect {
        server: server.to_string(),
        reason: last,
    })
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
