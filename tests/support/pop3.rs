//! A configurable, blocking test POP3 server on 127.0.0.1:0, one thread
//! per connection, that records every command it receives (with whether
//! it came over TLS). Users and passwords, APOP (greeting with a
//! `<pid.clock@host>` timestamp), CAPA with STLS or pop3s using a test CA
//! certificate, SASL `AUTH XOAUTH2`/`OAUTHBEARER` with a bearer token
//! (RFC 5034, RFC 7628 error challenge), and a mailbox with
//! STAT/LIST/UIDL/RETR/DELE/QUIT.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;

#[derive(Clone, Default)]
pub struct Pop3Config {
    /// (user, password); the same password is the APOP secret.
    pub users: Vec<(String, String)>,
    /// Put an APOP timestamp in the greeting and accept APOP.
    pub apop: bool,
    /// (certificate PEM, key PEM): offer STLS in CAPA (or pop3s).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// TLS from the first byte with `tls`; STLS is then not offered.
    pub pop3s: bool,
    /// Answer CAPA with -ERR (an old server).
    pub no_capa: bool,
    /// Messages in every user's mailbox (shared; DELE marks them, QUIT
    /// removes the marked ones for later sessions).
    pub messages: Vec<Vec<u8>>,
    /// Announce PIPELINING in CAPA (RFC 2449).
    pub pipelining: bool,
    /// Announce nothing and answer UIDL with -ERR.
    pub no_uidl: bool,
    /// How the server misbehaves.
    pub fault: Fault,
    /// RETR sends each message's bytes exactly as given after `+OK`
    /// (no line-end conversion, no dot-stuffing) followed by CR LF: the
    /// message supplies its own terminating `.` (R31 raw endings).
    pub raw: bool,
    /// UIDL answers `<n> <uids[n-1]>` verbatim instead of a checksum.
    pub uids: Option<Vec<String>>,
    /// LIST claims these sizes instead of the real ones.
    pub list_sizes: Option<Vec<u64>>,
    /// Mechanisms for CAPA's `SASL` line and AUTH (XOAUTH2, OAUTHBEARER).
    pub sasl: Vec<String>,
    /// The bearer token AUTH accepts for any user of `users`; anything
    /// else gets the RFC 7628 error challenge, then `-ERR`.
    pub bearer: Option<String>,
}

/// A hostile or broken server.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// Close the connection right after sending the n-th RETR (from 1).
    DropAfterRetr(usize),
    /// Close the connection right after answering the first DELE.
    DropAfterDele,
    /// Close instead of answering QUIT (nothing is deleted: RFC 1939 §6).
    DropBeforeQuit,
    /// Answer LIST with a line far longer than any POP3 line.
    OversizedList,
    /// Send the n-th RETR's content (from 1) without its final `.` line,
    /// then close the connection.
    RetrWithoutDot(usize),
}

/// One command line as received.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// Connection number, from 1.
    pub conn: u32,
    pub tls: bool,
    pub line: String,
}

#[derive(Default)]
struct Shared {
    commands: Vec<Cmd>,
    /// Users that logged in successfully, in order.
    logins: Vec<String>,
    deleted: Vec<usize>,
    quits: u32,
    connections: u32,
    /// The mailbox: `None` for messages deleted by an earlier QUIT.
    mailbox: Option<Vec<Option<Vec<u8>>>>,
    /// Times the server waited for the client with nothing buffered.
    turns: u32,
    retrs: usize,
}

pub struct Pop3Server {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Pop3Server {
    pub fn start(cfg: Pop3Config) -> Pop3Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind pop3");
        let addr = listener.local_addr().expect("pop3 addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let cfg = Arc::new(cfg);
        let sh = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (cfg, sh) = (cfg.clone(), sh.clone());
                let n = {
                    let mut s = lock(&sh);
                    s.connections += 1;
                    s.connections
                };
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = session(&cfg, &sh, n, stream);
                });
            }
        });
        Pop3Server { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn commands(&self) -> Vec<Cmd> {
        lock(&self.shared).commands.clone()
    }

    /// The command lines only.
    pub fn lines(&self) -> Vec<String> {
        self.commands().into_iter().map(|c| c.line).collect()
    }

    pub fn logins(&self) -> Vec<String> {
        lock(&self.shared).logins.clone()
    }

    /// Message numbers (from 1) deleted by a QUIT.
    pub fn deleted(&self) -> Vec<usize> {
        lock(&self.shared).deleted.clone()
    }

    pub fn quits(&self) -> u32 {
        lock(&self.shared).quits
    }

    pub fn connections(&self) -> u32 {
        lock(&self.shared).connections
    }

    /// Round trips: the connection (greeting) plus every time the server
    /// had answered everything and waited for the client.
    pub fn turns(&self) -> u32 {
        lock(&self.shared).turns
    }

    /// Puts one more message into the mailbox (for later sessions).
    pub fn add_message(&self, cfg_messages: &[Vec<u8>], msg: Vec<u8>) {
        let mut s = lock(&self.shared);
        s.mailbox
            .get_or_insert_with(|| cfg_messages.iter().cloned().map(Some).collect())
            .push(Some(msg));
    }

    /// Messages still on the server.
    pub fn remaining(&self) -> usize {
        lock(&self.shared)
            .mailbox
            .as_ref()
            .map_or(0, |m| m.iter().flatten().count())
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

fn tls_over(cfg: &Pop3Config, tcp: TcpStream) -> io::Result<Box<dyn Io>> {
    let (cert, key) = cfg
        .tls
        .as_ref()
        .ok_or_else(|| io::Error::other("no cert"))?;
    let config = masqmail::tls::server_config(cert, key).map_err(io::Error::other)?;
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

fn session(cfg: &Pop3Config, sh: &Mutex<Shared>, n: u32, tcp: TcpStream) -> io::Result<()> {
    let raw = tcp.try_clone()?;
    let mut tls = cfg.pop3s;
    let mut io: BufReader<Box<dyn Io>> = BufReader::with_capacity(
        65536,
        if tls {
            tls_over(cfg, tcp)?
        } else {
            Box::new(tcp)
        },
    );
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stamp = format!("<{}.{clock}@pop3.test>", std::process::id());
    let greeting = if cfg.apop {
        format!("+OK test POP3 server ready {stamp}\r\n")
    } else {
        "+OK test POP3 server ready\r\n".to_string()
    };
    io.get_mut().write_all(greeting.as_bytes())?;
    io.get_mut().flush()?;
    let mut user: Option<String> = None;
    let mut authed = false;
    let mut marked: Vec<usize> = Vec::new();
    let mailbox: Vec<Option<Vec<u8>>> = {
        let mut s = lock(sh);
        s.turns += 1;
        s.mailbox
            .get_or_insert_with(|| cfg.messages.iter().cloned().map(Some).collect())
            .clone()
    };
    let messages: Vec<Vec<u8>> = mailbox
        .iter()
        .map(|m| m.clone().unwrap_or_default())
        .collect();
    let gone: Vec<usize> = (0..mailbox.len())
        .filter(|&i| mailbox[i].is_none())
        .collect();
    let view = Pop3Config {
        messages,
        ..cfg.clone()
    };
    let cfg = &view;
    marked.extend(&gone);
    loop {
        let Some(line) = next_line(&mut io, sh, n, tls)? else {
            return Ok(());
        };
        let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = verb.to_ascii_uppercase();
        let password = |u: &str| {
            cfg.users
                .iter()
                .find(|(name, _)| name == u)
                .map(|(_, p)| p.clone())
        };
        let reply: String = match (verb.as_str(), authed) {
            ("CAPA", _) if cfg.no_capa => "-ERR unknown command".into(),
            ("CAPA", _) => {
                let stls = if cfg.tls.is_some() && !tls {
                    "STLS\r\n"
                } else {
                    ""
                };
                let pipe = if cfg.pipelining { "PIPELINING\r\n" } else { "" };
                let uidl = if cfg.no_uidl { "" } else { "UIDL\r\n" };
                let sasl = match cfg.sasl.is_empty() {
                    true => String::new(),
                    false => format!("SASL {}\r\n", cfg.sasl.join(" ")),
                };
                format!("+OK\r\nUSER\r\n{uidl}{pipe}{stls}{sasl}.")
            }
            ("AUTH", false) => {
                let (mech, ir) = arg.split_once(' ').unwrap_or((arg, ""));
                let mech = mech.to_ascii_uppercase();
                if !cfg.sasl.contains(&mech) {
                    "-ERR unsupported mechanism".into()
                } else {
                    let response = match ir {
                        "" => {
                            io.get_mut().write_all(b"+ \r\n")?;
                            match next_line(&mut io, sh, n, tls)? {
                                Some(l) => l,
                                None => return Ok(()),
                            }
                        }
                        ir => ir.to_string(),
                    };
                    match bearer_user(cfg, &mech, &response) {
                        Some(name) => {
                            authed = true;
                            lock(sh).logins.push(name);
                            "+OK logged in".into()
                        }
                        None if response == "*" => "-ERR cancelled".into(),
                        None => {
                            let json = r#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
                            let challenge = base64::engine::general_purpose::STANDARD.encode(json);
                            io.get_mut()
                                .write_all(format!("+ {challenge}\r\n").as_bytes())?;
                            // The client's acknowledgement (RFC 7628 §3.2.3).
                            if next_line(&mut io, sh, n, tls)?.is_none() {
                                return Ok(());
                            }
                            "-ERR [AUTH] invalid credentials".into()
                        }
                    }
                }
            }
            ("STLS", false) if cfg.tls.is_some() && !tls => {
                io.get_mut().write_all(b"+OK begin TLS\r\n")?;
                // Anything buffered in clear is dropped with the reader.
                io = BufReader::with_capacity(65536, tls_over(cfg, raw.try_clone()?)?);
                tls = true;
                continue;
            }
            ("USER", false) => {
                user = Some(arg.to_string());
                "+OK".into()
            }
            ("PASS", false) => match user.as_deref().and_then(password) {
                Some(p) if p == arg => {
                    authed = true;
                    lock(sh).logins.push(user.clone().unwrap_or_default());
                    "+OK logged in".into()
                }
                _ => "-ERR invalid login".into(),
            },
            ("APOP", false) if cfg.apop => {
                let (name, digest) = arg.split_once(' ').unwrap_or((arg, ""));
                match password(name) {
                    Some(p) if masqmail::pop3::login::apop_digest(&stamp, &p) == digest => {
                        authed = true;
                        lock(sh).logins.push(name.to_string());
                        "+OK logged in".into()
                    }
                    _ => "-ERR invalid login".into(),
                }
            }
            ("QUIT", _) => {
                if cfg.fault == Fault::DropBeforeQuit {
                    return Ok(());
                }
                let mut s = lock(sh);
                s.quits += 1;
                if authed {
                    let new: Vec<usize> = marked
                        .iter()
                        .filter(|i| !gone.contains(i))
                        .copied()
                        .collect();
                    s.deleted.extend(new.iter().map(|i| i + 1));
                    if let Some(mb) = s.mailbox.as_mut() {
                        for i in new {
                            mb[i] = None;
                        }
                    }
                }
                drop(s);
                io.get_mut().write_all(b"+OK bye\r\n")?;
                io.get_mut().flush()?;
                return Ok(());
            }
            ("NOOP", true) => "+OK".into(),
            ("STAT", true) => {
                let live = live(cfg, &marked);
                let size: usize = live.iter().map(|(_, m)| m.len()).sum();
                format!("+OK {} {size}", live.len())
            }
            ("LIST", true) if cfg.fault == Fault::OversizedList => {
                format!("+OK\r\n1 {}\r\n.", "9".repeat(5000))
            }
            ("LIST", true) => match &cfg.list_sizes {
                Some(sizes) => {
                    let mut out = String::from("+OK\r\n");
                    for (i, _) in live(cfg, &marked) {
                        out.push_str(&format!("{} {}\r\n", i + 1, sizes[i]));
                    }
                    out.push('.');
                    out
                }
                None => listing(cfg, &marked, |m| m.len().to_string()),
            },
            ("UIDL", true) if cfg.no_uidl => "-ERR no UIDL".into(),
            ("UIDL", true) => match &cfg.uids {
                Some(uids) => {
                    let mut out = String::from("+OK\r\n");
                    for (i, _) in live(cfg, &marked) {
                        out.push_str(&format!("{} {}\r\n", i + 1, uids[i]));
                    }
                    out.push('.');
                    out
                }
                None => listing(cfg, &marked, |m| format!("uid{:x}", checksum(m))),
            },
            ("RETR", true) => match msg_index(cfg, &marked, arg) {
                Some(i) => {
                    let mut out = format!("+OK {} octets\r\n", cfg.messages[i].len());
                    if cfg.raw {
                        out.push_str(&String::from_utf8_lossy(&cfg.messages[i]));
                    } else {
                        for l in String::from_utf8_lossy(&cfg.messages[i]).lines() {
                            if l.starts_with('.') {
                                out.push('.');
                            }
                            out.push_str(l);
                            out.push_str("\r\n");
                        }
                        out.push('.');
                    }
                    let n = {
                        let mut s = lock(sh);
                        s.retrs += 1;
                        s.retrs
                    };
                    if cfg.fault == Fault::RetrWithoutDot(n) {
                        out.pop();
                        io.get_mut().write_all(out.as_bytes())?;
                        io.get_mut().flush()?;
                        return Ok(());
                    }
                    if cfg.fault == Fault::DropAfterRetr(n) {
                        io.get_mut().write_all(format!("{out}\r\n").as_bytes())?;
                        io.get_mut().flush()?;
                        return Ok(());
                    }
                    out
                }
                None => "-ERR no such message".into(),
            },
            ("DELE", true) => match msg_index(cfg, &marked, arg) {
                Some(i) => {
                    marked.push(i);
                    if cfg.fault == Fault::DropAfterDele {
                        io.get_mut().write_all(b"+OK deleted\r\n")?;
                        io.get_mut().flush()?;
                        return Ok(());
                    }
                    "+OK deleted".into()
                }
                None => "-ERR no such message".into(),
            },
            ("RSET", true) => {
                marked.clear();
                "+OK".into()
            }
            _ => "-ERR unknown command or wrong state".into(),
        };
        io.get_mut().write_all(format!("{reply}\r\n").as_bytes())?;
        io.get_mut().flush()?;
    }
}

/// The next command line (recorded), counting a turn when the client
/// had to be waited for; `None` at EOF.
fn next_line(
    io: &mut BufReader<Box<dyn Io>>,
    sh: &Mutex<Shared>,
    n: u32,
    tls: bool,
) -> io::Result<Option<String>> {
    let mut line = String::new();
    if io.buffer().is_empty() {
        io.get_mut().flush()?;
        lock(sh).turns += 1;
    }
    if io.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    lock(sh).commands.push(Cmd {
        conn: n,
        tls,
        line: line.clone(),
    });
    Ok(Some(line))
}

/// The user a bearer initial response (base64) logs in, if its format is
/// that of `mech` and its token is the accepted one.
fn bearer_user(cfg: &Pop3Config, mech: &str, response: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(response)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let body = text.strip_suffix("\x01\x01")?;
    let mut parts = body.split('\x01');
    let first = parts.next()?;
    let user = match mech {
        "XOAUTH2" => first.strip_prefix("user=")?.to_string(),
        _ => first
            .strip_prefix("n,a=")?
            .strip_suffix(',')?
            .replace("=2C", ",")
            .replace("=3D", "="),
    };
    let mut kv: Vec<&str> = parts.collect();
    if mech == "XOAUTH2" && kv.len() != 1 {
        return None;
    }
    let token = kv.pop()?.strip_prefix("auth=Bearer ")?;
    let known = cfg.users.iter().any(|(u, _)| *u == user);
    (known && Some(token) == cfg.bearer.as_deref()).then_some(user)
}

fn live<'a>(cfg: &'a Pop3Config, marked: &[usize]) -> Vec<(usize, &'a Vec<u8>)> {
    cfg.messages
        .iter()
        .enumerate()
        .filter(|(i, _)| !marked.contains(i))
        .collect()
}

fn msg_index(cfg: &Pop3Config, marked: &[usize], arg: &str) -> Option<usize> {
    let i = arg.trim().parse::<usize>().ok()?.checked_sub(1)?;
    (i < cfg.messages.len() && !marked.contains(&i)).then_some(i)
}

fn listing(cfg: &Pop3Config, marked: &[usize], f: impl Fn(&[u8]) -> String) -> String {
    let mut out = String::from("+OK\r\n");
    for (i, m) in live(cfg, marked) {
        out.push_str(&format!("{} {}\r\n", i + 1, f(m)));
    }
    out.push('.');
    out
}

fn checksum(m: &[u8]) -> u64 {
    m.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}
