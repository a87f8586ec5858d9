//! A small blocking SMTP client for the end-to-end tests: over TCP (with
//! STARTTLS) or over any reader/writer pair, e.g. the stdin/stdout of
//! `masqmail -bs`.
//!
//! It is deliberately strict, to catch server bugs: every reply line must
//! end in CRLF, the lines of one reply must share their code, and no bytes
//! may follow the 220 answer to STARTTLS before the handshake.
//!
//! [`Client::connect`] and [`Client::over`] do NOT read the greeting; call
//! [`Client::greeting`] (tests about the greeting, `instant_helo`-style
//! clients and pipelining-before-greeting checks need that control).
#![allow(dead_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How long any read may wait before the test fails instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(20);
const MAX_LINE: usize = 64 * 1024;

/// One SMTP reply: the code and the text of each line after `250-`/`250 `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The enhanced status code (`2.0.0`) at the start of the first line.
    pub fn enhanced(&self) -> Option<&str> {
        let first = self.lines.first()?.split(' ').next()?;
        let parts: Vec<&str> = first.split('.').collect();
        let ok = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
        ok.then_some(first)
    }
}

impl fmt::Display for Reply {
    /// As sent on the wire, without the CRLFs: `250-a\n250 b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}{sep}{line}", self.code)?;
        }
        Ok(())
    }
}

/// Anything the client can talk through.
pub trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

/// A reader and a writer as one duplex stream. The reader runs in its own
/// thread so that reads time out after [`TIMEOUT`] even on pipes.
struct Split {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    w: Box<dyn Write + Send>,
}

impl Read for Split {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv_timeout(TIMEOUT) {
                Ok(Ok(chunk)) => self.pending = chunk,
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply in time"));
                }
                // The reader thread ended after EOF.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for Split {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Stands in for the stream while STARTTLS moves it into the TLS layer.
struct Gone;
impl Read for Gone {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "stream lost in STARTTLS",
        ))
    }
}
impl Write for Gone {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "stream lost in STARTTLS",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct Client {
    stream: Box<dyn Duplex>,
    buf: Vec<u8>,
    tls: bool,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Client {
    /// Connects; does not read the greeting. Reads time out after 20 s.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Client::from_duplex(s))
    }

    /// Talks through a reader and a writer (`masqmail -bs`: the child's
    /// stdout and stdin). Dropping the client closes `write`.
    pub fn over(read: impl Read + Send + 'static, write: impl Write + Send + 'static) -> Client {
        let (tx, rx) = mpsc::channel();
        let mut read = read;
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match read.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Ok(chunk[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        Client::from_duplex(Split {
            rx,
            pending: Vec::new(),
            w: Box::new(write),
        })
    }

    /// Any duplex stream, as is (no timeout added).
    pub fn from_duplex(stream: impl Duplex + 'static) -> Client {
        Client {
            stream: Box::new(stream),
            buf: Vec::new(),
            tls: false,
        }
    }

    /// True after a successful [`Client::starttls`].
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Reads the greeting (the same as [`Client::read_reply`]).
    pub fn greeting(&mut self) -> io::Result<Reply> {
        self.read_reply()
    }

    /// One line without its CRLF; Err on EOF, on a bare LF, or past 64 KiB.
    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let Some(line) = line.strip_suffix(b"\r\n") else {
                    return Err(bad(format!(
                        "reply line without CRLF: {:?}",
                        String::from_utf8_lossy(&line)
                    )));
                };
                return String::from_utf8(line.to_vec())
                    .map_err(|e| bad(format!("reply not UTF-8: {e}")));
            }
            if self.buf.len() > MAX_LINE {
                return Err(bad("reply line longer than 64 KiB".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                let rest = String::from_utf8_lossy(&self.buf).into_owned();
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed (unterminated: {rest:?})"),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads one (possibly multi-line) reply.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            let b = line.as_bytes();
            let well_formed = b.len() >= 3
                && b[..3].iter().all(u8::is_ascii_digit)
                && matches!(b.get(3), None | Some(b' ') | Some(b'-'));
            if !well_formed {
                return Err(bad(format!("malformed reply line {line:?}")));
            }
            let this: u16 = line[..3]
                .parse()
                .map_err(|_| bad(format!("bad code in {line:?}")))?;
            if *code.get_or_insert(this) != this {
                return Err(bad(format!("code changes inside a reply: {line:?}")));
            }
            lines.push(line.get(4..).unwrap_or("").to_string());
            if b.get(3) != Some(&b'-') {
                return Ok(Reply { code: this, lines });
            }
        }
    }

    /// Sends raw bytes, adding nothing.
    pub fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        self.stream.write_all(raw)?;
        self.stream.flush()
    }

    /// Sends `line` + CRLF and reads one reply.
    pub fn cmd(&mut self, line: &str) -> io::Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.read_reply()
    }

    /// Sends all lines in ONE write, then reads one reply per line.
    pub fn pipeline(&mut self, lines: &[&str]) -> io::Result<Vec<Reply>> {
        let batch: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        self.send(batch.as_bytes())?;
        lines.iter().map(|_| self.read_reply()).collect()
    }

    /// Sends STARTTLS, expects 220, then continues over TLS trusting only
    /// `ca_pem` for `server_name`. Returns the 220 reply; an Err for any
    /// other reply, for plaintext sent after the 220, or a failed handshake.
    pub fn starttls(&mut self, ca_pem: &Path, server_name: &str) -> io::Result<Reply> {
        self.starttls_with_injection(ca_pem, server_name, b"")
    }

    /// [`Client::starttls`], with `injected` sent in the same write right
    /// after `STARTTLS` (RELIABILITY R07: the server must drop it).
    pub fn starttls_with_injection(
        &mut self,
        ca_pem: &Path,
        server_name: &str,
        injected: &[u8],
    ) -> io::Result<Reply> {
        let mut raw = b"STARTTLS\r\n".to_vec();
        raw.extend_from_slice(injected);
        self.send(&raw)?;
        let reply = self.read_reply()?;
        if reply.code != 220 {
            return Err(io::Error::other(format!("STARTTLS refused: {reply}")));
        }
        if !self.buf.is_empty() {
            return Err(bad(format!(
                "bytes after the 220 to STARTTLS: {:?}",
                String::from_utf8_lossy(&self.buf)
            )));
        }
        let config =
            masqmail::tls::client_config(Some(ca_pem), true, None).map_err(io::Error::other)?;
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut inner = std::mem::replace(&mut self.stream, Box::new(Gone));
        // Handshake now, so that a bad certificate is this call's error.
        while conn.is_handshaking() {
            conn.complete_io(&mut inner)?;
        }
        self.stream = Box::new(rustls::StreamOwned::new(conn, inner));
        self.tls = true;
        Ok(reply)
    }

    /// MAIL FROM, one RCPT TO per recipient, DATA, the dot-stuffed body
    /// and the final dot; returns the reply to the dot. Any non-2xx reply
    /// to MAIL or RCPT, or not 354 to DATA, is an Err naming it (use
    /// [`Client::cmd`] to test rejections).
    pub fn send_message(&mut self, from: &str, to: &[&str], body: &[u8]) -> io::Result<Reply> {
        let expect = |c: &mut Client, line: String, ok: fn(u16) -> bool| -> io::Result<()> {
            let r = c.cmd(&line)?;
            if ok(r.code) {
                Ok(())
            } else {
                Err(io::Error::other(format!("{line}: {r}")))
            }
        };
        expect(self, format!("MAIL FROM:<{from}>"), |c| {
            (200..300).contains(&c)
        })?;
        for rcpt in to {
            expect(self, format!("RCPT TO:<{rcpt}>"), |c| {
                (200..300).contains(&c)
            })?;
        }
        expect(self, "DATA".into(), |c| c == 354)?;
        self.send(&dot_stuff(body))?;
        self.read_reply()
    }
}

/// The body as sent after DATA: every line ending made CRLF (a bare LF
/// becomes CRLF), a leading dot doubled, a final CRLF added when missing,
/// then the terminating `.` line.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut at_line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !body.is_empty() && !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
