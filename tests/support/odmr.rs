//! A blocking test ODMR provider (RFC 2645) on 127.0.0.1:0, one thread per
//! connection. As a server: 220, EHLO (AUTH PLAIN LOGIN CRAM-MD5, ATRN,
//! STARTTLS with a test certificate), AUTH checked against one user and
//! password, ATRN. On `250` to ATRN it turns into an SMTP client on the
//! same socket: reads the greeting, EHLO, sends its queued messages and
//! records every reply, then QUIT. Every line it receives is recorded with
//! whether it came over TLS.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};

/// How the provider answers ATRN.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Atrn {
    /// `250`, then deliver the messages.
    #[default]
    Turn,
    /// `453`: no mail waiting.
    NoMail,
    /// `450`: try later.
    Refuse,
}

#[derive(Clone)]
pub struct TestMsg {
    pub from: String,
    pub rcpts: Vec<String>,
    /// CRLF text without the final dot.
    pub text: String,
}

#[derive(Clone, Default)]
pub struct OdmrConfig {
    pub user: String,
    pub pass: String,
    /// The AUTH mechanisms offered; empty: `PLAIN LOGIN CRAM-MD5`.
    pub mechs: String,
    /// (certificate PEM, key PEM): offer STARTTLS (or smtps).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// TLS from the first byte with `tls`.
    pub smtps: bool,
    pub atrn: Atrn,
    pub messages: Vec<TestMsg>,
    /// Close the connection in the middle of this message's DATA.
    pub drop_in_data: Option<usize>,
}

/// The replies one message got from the ODMR client.
#[derive(Debug, Clone, Default)]
pub struct Replies {
    pub mail: String,
    pub rcpts: Vec<String>,
    /// DATA's reply, then the one after the dot (or RSET's).
    pub data: Vec<String>,
}

#[derive(Default)]
struct Shared {
    /// (line, over TLS), both roles.
    lines: Vec<(String, bool)>,
    atrn: Vec<String>,
    greeting: String,
    replies: Vec<Replies>,
    quit_reply: String,
    done: bool,
}

pub struct OdmrServer {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl OdmrServer {
    pub fn start(cfg: OdmrConfig) -> OdmrServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind odmr");
        let addr = listener.local_addr().expect("odmr addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (cfg, sh) = (Arc::new(cfg), shared.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (cfg, sh) = (cfg.clone(), sh.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = Provider::serve(&cfg, &sh, tcp);
                    lock(&sh).done = true;
                });
            }
        });
        OdmrServer { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn lines(&self) -> Vec<(String, bool)> {
        lock(&self.shared).lines.clone()
    }

    /// The domains of each ATRN received.
    pub fn atrn(&self) -> Vec<String> {
        lock(&self.shared).atrn.clone()
    }

    /// Our client's greeting after the turn.
    pub fn greeting(&self) -> String {
        lock(&self.shared).greeting.clone()
    }

    pub fn replies(&self) -> Vec<Replies> {
        lock(&self.shared).replies.clone()
    }

    pub fn quit_reply(&self) -> String {
        lock(&self.shared).quit_reply.clone()
    }

    /// Waits (up to 10 s) until a connection has ended.
    pub fn wait_done(&self) {
        for _ in 0..1000 {
            if lock(&self.shared).done {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

struct Provider<'a> {
    cfg: &'a OdmrConfig,
    sh: &'a Mutex<Shared>,
    raw: TcpStream,
    io: BufReader<Box<dyn Io>>,
    tls: bool,
}

impl Provider<'_> {
    fn serve(cfg: &OdmrConfig, sh: &Mutex<Shared>, tcp: TcpStream) -> io::Result<()> {
        let raw = tcp.try_clone()?;
        let io: Box<dyn Io> = if cfg.smtps {
            tls_over(cfg, tcp)?
        } else {
            Box::new(tcp)
        };
        let mut p = Provider {
            cfg,
            sh,
            raw,
            io: BufReader::new(io),
            tls: cfg.smtps,
        };
        p.send("220 odmr.test ESMTP ODMR ready")?;
        if p.server_role()? {
            p.client_role()?;
        }
        Ok(())
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        let w = self.io.get_mut();
        w.write_all(line.as_bytes())?;
        w.write_all(b"\r\n")?;
        w.flush()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.io.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        lock(self.sh).lines.push((line.clone(), self.tls));
        Ok(line)
    }

    /// Until ATRN's 250 (true) or QUIT/EOF (false).
    fn server_role(&mut self) -> io::Result<bool> {
        let mut authed = false;
        loop {
            let line = self.line()?;
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" => {
                    let tls = if self.cfg.tls.is_some() && !self.tls {
                        "250-STARTTLS\r\n"
                    } else {
                        ""
                    };
                    let mechs = match self.cfg.mechs.as_str() {
                        "" => "PLAIN LOGIN CRAM-MD5",
                        m => m,
                    };
                    let text = format!(
                        "250-odmr.test\r\n250-AUTH {mechs}\r\n{tls}250-ATRN\r\n250 8BITMIME"
                    );
                    self.send(&text)?;
                }
                "STARTTLS" if self.cfg.tls.is_some() && !self.tls => {
                    self.send("220 2.0.0 go ahead")?;
                    let io = tls_over(self.cfg, self.raw.try_clone()?)?;
                    self.io = BufReader::new(io);
                    self.tls = true;
                }
                "AUTH" => {
                    authed = self.auth(arg)?;
                    let r = if authed {
                        "235 2.7.0 authenticated"
                    } else {
                        "535 5.7.8 bad credentials"
                    };
                    self.send(r)?;
                }
                "ATRN" if !authed => self.send("530 5.7.0 authentication required")?,
                "ATRN" => {
                    lock(self.sh).atrn.push(arg.to_string());
                    match self.cfg.atrn {
                        Atrn::NoMail => self.send("453 You have no mail")?,
                        Atrn::Refuse => self.send("450 4.3.0 try again later")?,
                        Atrn::Turn => {
                            self.send("250 OK now reversing the connection")?;
                            return Ok(true);
                        }
                    }
                }
                "QUIT" => {
                    self.send("221 2.0.0 bye")?;
                    return Ok(false);
                }
                _ => self.send("500 5.5.1 unrecognized")?,
            }
        }
    }

    fn auth(&mut self, arg: &str) -> io::Result<bool> {
        let mut words = arg.split_whitespace();
        let mech = words.next().unwrap_or("").to_ascii_uppercase();
        let ir = words.next().map(str::to_string);
        let (user, pass) = (&self.cfg.user, &self.cfg.pass);
        Ok(match mech.as_str() {
            "PLAIN" => self.response(ir, "")? == format!("\0{user}\0{pass}").as_bytes(),
            "LOGIN" => {
                let l = self.response(None, "VXNlcm5hbWU6")?;
                let s = self.response(None, "UGFzc3dvcmQ6")?;
                l == user.as_bytes() && s == pass.as_bytes()
            }
            "CRAM-MD5" => {
                let challenge = format!("<{}@odmr.test>", fastrand::u32(..));
                let resp = self.response(None, &B64.encode(&challenge))?;
                let mut mac =
                    Hmac::<md5::Md5>::new_from_slice(pass.as_bytes()).map_err(io::Error::other)?;
                mac.update(challenge.as_bytes());
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                resp == format!("{user} {hex}").as_bytes()
            }
            _ => false,
        })
    }

    fn response(&mut self, ir: Option<String>, challenge: &str) -> io::Result<Vec<u8>> {
        let line = match ir {
            Some(ir) => ir,
            None => {
                self.send(&format!("334 {challenge}"))?;
                self.line()?
            }
        };
        Ok(B64.decode(line.trim()).unwrap_or_default())
    }

    /// One reply (all its lines), as its last line.
    fn reply(&mut self) -> io::Result<String> {
        loop {
            let line = self.line()?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }

    /// After the turn: the client of our ODMR client's SMTP server.
    fn client_role(&mut self) -> io::Result<()> {
        let greeting = self.reply()?;
        lock(self.sh).greeting = greeting;
        self.send("EHLO odmr.test")?;
        self.reply()?;
        for (i, m) in self.cfg.messages.iter().enumerate() {
            let mut r = Replies::default();
            self.send(&format!("MAIL FROM:<{}>", m.from))?;
            r.mail = self.reply()?;
            for rcpt in &m.rcpts {
                self.send(&format!("RCPT TO:<{rcpt}>"))?;
                let got = self.reply()?;
                r.rcpts.push(got);
            }
            if !r.rcpts.iter().any(|x| x.starts_with("250")) {
                self.send("RSET")?;
                r.data.push(self.reply()?);
                lock(self.sh).replies.push(r);
                continue;
            }
            self.send("DATA")?;
            r.data.push(self.reply()?);
            if self.cfg.drop_in_data == Some(i) {
                let half = &m.text.as_bytes()[..m.text.len() / 2];
                self.io.get_mut().write_all(half)?;
                self.io.get_mut().flush()?;
                lock(self.sh).replies.push(r);
                return self.raw.shutdown(Shutdown::Both);
            }
            let text = m.text.replace("\r\n.", "\r\n..");
            self.io.get_mut().write_all(text.as_bytes())?;
            self.send(".")?;
            r.data.push(self.reply()?);
            lock(self.sh).replies.push(r);
        }
        self.send("QUIT")?;
        let bye = self.reply()?;
        lock(self.sh).quit_reply = bye;
        Ok(())
    }
}

fn tls_over(cfg: &OdmrConfig, tcp: TcpStream) -> io::Result<Box<dyn Io>> {
    let (cert, key) = cfg
        .tls
        .as_ref()
        .ok_or_else(|| io::Error::other("no cert"))?;
    let config = masqmail::tls::server_config(cert, key).map_err(io::Error::other)?;
    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
}
