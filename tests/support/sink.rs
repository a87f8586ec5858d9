//! A configurable, blocking test SMTP server ("smarthost") on
//! 127.0.0.1:0, one thread per connection, that records what it receives.
//!
//! It reads commands as they come and answers pipelined commands in
//! order: all complete commands in its buffer are processed and their
//! replies collected, and the replies are written only when it needs more
//! input. [`Sink::round_trips`] counts those flushes (each is followed by a
//! wait for the client). It can misbehave on command: no ESMTP, SIZE
//! limits, rejected/deferred recipients, raw bytes as the STARTTLS reply
//! (R07), AUTH offered in clear, DSN offered or not (parameters refused
//! with 555 when not).
#![allow(dead_code)]

#[path = "sink_auth.rs"]
mod auth;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Clone)]
pub struct SinkConfig {
    /// Answer EHLO (false: 500 to EHLO, only HELO works).
    pub esmtp: bool,
    pub pipelining: bool,
    pub chunking: bool,
    /// Advertise `SIZE n` and refuse MAIL with a larger SIZE=.
    pub size: Option<u64>,
    pub smtputf8: bool,
    pub eightbitmime: bool,
    /// Offer DSN (RFC 3461). Without it, DSN parameters get 555.
    pub dsn: bool,
    /// (certificate PEM file, key PEM file): offer STARTTLS.
    pub starttls: Option<(PathBuf, PathBuf)>,
    /// Raw bytes sent (in one write) instead of the 220 to STARTTLS.
    pub starttls_reply: Option<Vec<u8>>,
    /// TLS from the first byte with the `starttls` certificate (smtps);
    /// STARTTLS is then not offered.
    pub smtps: bool,
    /// Accepted (login, secret); AUTH is offered when set (over TLS only,
    /// unless `auth_in_clear`).
    pub auth: Option<(String, String)>,
    pub auth_mechs: Vec<String>,
    pub auth_in_clear: bool,
    /// MAIL before a successful AUTH gets 530.
    pub auth_required: bool,
    /// Recipients (exact `local@domain`) that get 550 / 450.
    pub reject_rcpts: Vec<String>,
    pub defer_rcpts: Vec<String>,
    /// Connections after the first n get `421` as their greeting.
    pub greet_421_after: Option<u32>,
    /// On connections after the first n, every MAIL gets `452`.
    pub mail_452_after: Option<u32>,
    /// Hold every `354` until the sink has seen this many connections
    /// (at most 30 s): the client cannot finish its batch on one
    /// connection before the others are open, whatever the scheduling.
    pub hold_data_until_connections: Option<u32>,
    /// Hold every `354` until this many MAILs got `452`.
    pub hold_data_until_refusals: Option<u32>,
}

impl Default for SinkConfig {
    fn default() -> SinkConfig {
        SinkConfig {
            esmtp: true,
            pipelining: true,
            chunking: false,
            size: None,
            smtputf8: false,
            eightbitmime: true,
            dsn: false,
            starttls: None,
            starttls_reply: None,
            smtps: false,
            auth: None,
            auth_mechs: ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]
                .map(String::from)
                .to_vec(),
            auth_in_clear: false,
            auth_required: false,
            reject_rcpts: Vec::new(),
            defer_rcpts: Vec::new(),
            greet_421_after: None,
            mail_452_after: None,
            hold_data_until_connections: None,
            hold_data_until_refusals: None,
        }
    }
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    /// MAIL parameters after the path (`SIZE=123`, `BODY=8BITMIME`, ...).
    pub params: Vec<String>,
    pub rcpts: Vec<String>,
    /// RCPT parameters after the path, per recipient (`NOTIFY=SUCCESS`).
    pub rcpt_params: Vec<Vec<String>>,
    /// The bytes as on the wire: DATA up to and including `.\r\n`, or the
    /// BDAT chunks.
    pub data: Vec<u8>,
    /// Decoded: dot-stuffing undone (DATA), CR LF turned into LF.
    pub text: Vec<u8>,
    pub bdat: bool,
    pub tls: bool,
    /// The AUTH mechanism used, if any.
    pub auth: Option<String>,
}

#[derive(Default)]
struct Shared {
    messages: Vec<Received>,
    round_trips: u32,
    raw: Vec<u8>,
    connections: u32,
    /// Sessions that have ended, whichever way.
    ended: u32,
    /// MAILs answered `452`.
    refusals: u32,
}

pub struct Sink {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Sink {
    pub fn start(cfg: SinkConfig) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let cfg = Arc::new(cfg);
        let sh = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (cfg, sh) = (cfg.clone(), sh.clone());
                let number = {
                    let mut sh = lock(&sh);
                    sh.connections += 1;
                    sh.connections
                };
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
                    let mut s = Session::new(cfg, sh.clone(), stream);
                    s.number = number;
                    let _ = s.run();
                    lock(&sh).ended += 1;
                });
            }
        });
        Sink { addr, shared }
    }

    pub fn messages(&self) -> Vec<Received> {
        lock(&self.shared).messages.clone()
    }

    /// Waits until every connection made so far has been served to its
    /// end (a killed client's data may still be in the sink's socket
    /// buffer when the client is gone): a probe connection is greeted,
    /// so every earlier one was accepted; then all but nothing are open.
    pub fn quiesce(&self) {
        if let Ok(probe) = std::net::TcpStream::connect(self.addr) {
            let _ = probe.set_read_timeout(Some(Duration::from_secs(30)));
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&probe), &mut line);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (c, e) = {
                let sh = lock(&self.shared);
                (sh.connections, sh.ended)
            };
            if c == e {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sink sessions still open"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Times the sink flushed replies and then waited for input.
    pub fn round_trips(&self) -> u32 {
        lock(&self.shared).round_trips
    }

    /// Every byte received from clients (decrypted), all connections.
    pub fn raw_log(&self) -> Vec<u8> {
        lock(&self.shared).raw.clone()
    }

    pub fn connections(&self) -> u32 {
        lock(&self.shared).connections
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

struct Session {
    cfg: Arc<SinkConfig>,
    shared: Arc<Mutex<Shared>>,
    stream: Stream,
    input: Vec<u8>,
    out: Vec<u8>,
    tls: bool,
    auth: Option<String>,
    mail: Option<(String, Vec<String>)>,
    rcpts: Vec<String>,
    rcpt_params: Vec<Vec<String>>,
    chunks: Vec<u8>,
    /// 1 for the first connection to the sink, and so on.
    number: u32,
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "client closed")
}

impl Session {
    fn new(cfg: Arc<SinkConfig>, shared: Arc<Mutex<Shared>>, tcp: TcpStream) -> Session {
        Session {
            cfg,
            shared,
            stream: Stream::Plain(tcp),
            input: Vec::new(),
            out: Vec::new(),
            tls: false,
            auth: None,
            mail: None,
            rcpts: Vec::new(),
            rcpt_params: Vec::new(),
            chunks: Vec::new(),
            number: 1,
        }
    }

    fn beyond(&self, n: Option<u32>) -> bool {
        n.is_some_and(|n| self.number > n)
    }

    fn reply(&mut self, r: &str) {
        self.out.extend_from_slice(r.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.stream.flush()?;
            self.out.clear();
            lock(&self.shared).round_trips += 1;
        }
        Ok(())
    }

    /// Writes pending replies, then reads more input.
    fn fill(&mut self) -> io::Result<()> {
        self.flush()?;
        let mut buf = [0u8; 16384];
        let n = self.stream.read(&mut buf)?;
        if n == 0 {
            return Err(eof());
        }
        self.input.extend_from_slice(&buf[..n]);
        lock(&self.shared).raw.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.input.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.input.drain(..=i).collect();
                let s = String::from_utf8_lossy(&raw);
                return Ok(s.trim_end_matches(['\r', '\n']).to_string());
            }
            self.fill()?;
        }
    }

    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.input.len() < n {
            self.fill()?;
        }
        Ok(self.input.drain(..n).collect())
    }

    fn run(&mut self) -> io::Result<()> {
        if self.cfg.smtps {
            self.start_tls()?;
        }
        if self.beyond(self.cfg.greet_421_after) {
            self.reply("421 4.7.0 sink.test too many connections");
            self.stream.write_all(&self.out)?;
            return self.stream.flush();
        }
        self.reply("220 sink.test ESMTP ready");
        loop {
            let line = self.line()?;
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let arg = line.get(verb.len()..).unwrap_or("").trim().to_string();
            match verb.as_str() {
                "EHLO" if self.cfg.esmtp => self.ehlo(),
                "HELO" => self.reply("250 sink.test"),
                "MAIL" => self.mail(&arg),
                "RCPT" => self.rcpt(&arg),
                "DATA" => self.data()?,
                "BDAT" if self.cfg.chunking => self.bdat(&arg)?,
                "RSET" => {
                    self.reset();
                    self.reply("250 reset");
                }
                "NOOP" => self.reply("250 ok"),
                "STARTTLS" if self.cfg.starttls.is_some() && !self.tls => self.starttls()?,
                "AUTH" if self.auth_offered() && self.auth.is_none() => self.auth(&arg)?,
                "QUIT" => {
                    self.reply("221 bye");
                    self.stream.write_all(&self.out)?;
                    return self.stream.flush();
                }
                _ => self.reply("500 5.5.1 unrecognised command"),
            }
        }
    }

    fn auth_offered(&self) -> bool {
        self.cfg.auth.is_some() && (self.tls || self.cfg.auth_in_clear)
    }

    fn ehlo(&mut self) {
        self.reset();
        let c = self.cfg.clone();
        let mut lines = vec!["sink.test".to_string()];
        let flags = [
            (c.pipelining, "PIPELINING"),
            (c.chunking, "CHUNKING"),
            (c.eightbitmime, "8BITMIME"),
            (c.smtputf8, "SMTPUTF8"),
            (c.dsn, "DSN"),
            (c.starttls.is_some() && !self.tls, "STARTTLS"),
        ];
        lines.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()));
        if let Some(n) = c.size {
            lines.push(format!("SIZE {n}"));
        }
        if self.auth_offered() {
            lines.push(format!("AUTH {}", c.auth_mechs.join(" ")));
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.reply(&format!("250{sep}{l}"));
        }
    }

    /// Waits (bounded) for the `hold_data_until_*` conditions.
    fn hold(&self) {
        let (conns, refusals) = (
            self.cfg.hold_data_until_connections,
            self.cfg.hold_data_until_refusals,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let sh = lock(&self.shared);
            if conns.is_none_or(|n| sh.connections >= n)
                && refusals.is_none_or(|n| sh.refusals >= n)
            {
                return;
            }
            drop(sh);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn reset(&mut self) {
        self.mail = None;
        self.rcpts.clear();
        self.rcpt_params.clear();
        self.chunks.clear();
    }

    fn mail(&mut self, arg: &str) {
        let Some((path, params)) = parse_path(arg, "FROM:") else {
            return self.reply("501 5.5.4 syntax");
        };
        let size = params
            .iter()
            .find_map(|p| p.strip_prefix("SIZE=")?.parse::<u64>().ok());
        if self.beyond(self.cfg.mail_452_after) {
            lock(&self.shared).refusals += 1;
            self.reply("452 4.3.2 too many connections, try later");
        } else if self.cfg.auth_required && self.auth.is_none() {
            self.reply("530 5.7.0 authentication required");
        } else if !self.cfg.dsn && has_dsn_param(&params) {
            self.reply("555 5.5.4 DSN not offered");
        } else if self.mail.is_some() {
            self.reply("503 5.5.1 nested MAIL");
        } else if matches!((size, self.cfg.size), (Some(s), Some(max)) if s > max) {
            self.reply("552 5.3.4 message too big");
        } else {
            self.mail = Some((path, params));
            self.reply("250 2.1.0 ok");
        }
    }

    fn rcpt(&mut self, arg: &str) {
        let Some((path, params)) = parse_path(arg, "TO:") else {
            return self.reply("501 5.5.4 syntax");
        };
        if self.mail.is_none() {
            self.reply("503 5.5.1 MAIL first");
        } else if !self.cfg.dsn && has_dsn_param(&params) {
            self.reply("555 5.5.4 DSN not offered");
        } else if self.cfg.reject_rcpts.contains(&path) {
            self.reply("550 5.1.1 no such user");
        } else if self.cfg.defer_rcpts.contains(&path) {
            self.reply("450 4.2.0 try later");
        } else {
            self.rcpts.push(path);
            self.rcpt_params.push(params);
            self.reply("250 2.1.5 ok");
        }
    }

    fn data(&mut self) -> io::Result<()> {
        if self.mail.is_none() {
            self.reply("503 5.5.1 MAIL first");
            return Ok(());
        }
        if self.rcpts.is_empty() {
            self.reply("554 5.5.1 no valid recipients");
            return Ok(());
        }
        self.hold();
        self.reply("354 go ahead");
        let end = loop {
            if self.input.starts_with(b".\r\n") {
                break 3;
            }
            if let Some(i) = self.input.windows(5).position(|w| w == b"\r\n.\r\n") {
                break i + 5;
            }
            self.fill()?;
        };
        let raw: Vec<u8> = self.input.drain(..end).collect();
        let body = &raw[..raw.len() - 3];
        let mut text = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_prefix(b".").unwrap_or(line);
            text.extend_from_slice(line.strip_suffix(b"\r\n").unwrap_or(line));
            if line.ends_with(b"\r\n") {
                text.push(b'\n');
            }
        }
        self.deliver(raw, text, false);
        Ok(())
    }

    fn bdat(&mut self, arg: &str) -> io::Result<()> {
        let mut words = arg.split_whitespace();
        let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
        let chunk = self.take(n)?;
        if self.mail.is_none() {
            self.reply("503 5.5.1 MAIL first");
        } else if self.rcpts.is_empty() {
            self.reply("554 5.5.1 no valid recipients");
        } else {
            self.chunks.extend_from_slice(&chunk);
            if last {
                let raw = std::mem::take(&mut self.chunks);
                let text = crlf_to_lf(&raw);
                self.deliver(raw, text, true);
            } else {
                self.reply("250 2.0.0 chunk ok");
            }
        }
        Ok(())
    }

    fn deliver(&mut self, data: Vec<u8>, text: Vec<u8>, bdat: bool) {
        let (from, params) = self.mail.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.rcpts);
        let rcpt_params = std::mem::take(&mut self.rcpt_params);
        let msg = Received {
            from,
            params,
            rcpts,
            rcpt_params,
            data,
            text,
            bdat,
            tls: self.tls,
            auth: self.auth.clone(),
        };
        lock(&self.shared).messages.push(msg);
        self.reset();
        self.reply("250 2.0.0 queued");
    }

    fn starttls(&mut self) -> io::Result<()> {
        match self.cfg.starttls_reply.clone() {
            Some(raw) => self.out.extend_from_slice(&raw),
            None => self.reply("220 2.0.0 go ahead"),
        }
        self.flush()?;
        // Server-side R07: nothing read before the handshake counts.
        self.input.clear();
        self.start_tls()
    }

    /// Server side of the handshake (STARTTLS, or smtps from the start).
    fn start_tls(&mut self) -> io::Result<()> {
        let Some((cert, key)) = &self.cfg.starttls else {
            return Err(eof());
        };
        let config = masqmail::tls::server_config(cert, key).map_err(io::Error::other)?;
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let Stream::Plain(tcp) = &self.stream else {
            return Err(eof());
        };
        let tcp = tcp.try_clone()?;
        self.stream = Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
        self.tls = true;
        self.reset();
        Ok(())
    }
}

/// `FROM:<path> params` → (path, params).
fn parse_path(arg: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start().strip_prefix('<')?;
    let end = rest.find('>')?;
    let params = rest[end + 1..]
        .split_whitespace()
        .map(String::from)
        .collect();
    Some((rest[..end].to_string(), params))
}

fn has_dsn_param(params: &[String]) -> bool {
    params.iter().any(|p| {
        let key = p.split('=').next().unwrap_or("").to_ascii_uppercase();
        matches!(key.as_str(), "RET" | "ENVID" | "NOTIFY" | "ORCPT")
    })
}

fn crlf_to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        if !(b == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}
