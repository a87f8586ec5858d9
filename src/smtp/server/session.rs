//! One SMTP server session (delivery.md §13, RFC 5321, 2920, 3030, 3207,
//! 6531): the command dialogue and the envelope. Message content is
//! received by [`super::body`]; acceptance and delivery are the core's.
//!
//! Every reply carries an enhanced status code (RFC 2034). Replies are
//! queued and flushed when the session needs input, so pipelined groups
//! are answered in order, one reply per command, in one write.
//!
//! # Security
//! The client is hostile. Command lines are bounded; addresses go through
//! the RFC 821 path parser; a client outside `relay_nets` may only send to
//! local recipients, and sender-routed local parts (`%`, `!`, `@`) are not
//! accepted from it (R12). After STARTTLS all buffered input is dropped and
//! the session starts over (R07).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::ServerCtx;
use super::command::{self, Command, CommandError};
use super::data::ChunkAssembler;
use super::io::{Conn, Line, Stop};
use super::policy::{self, RcptVerdict};
use crate::address::{Address, PipePolicy, parse_path};

/// Who is at the other end.
#[derive(Debug, Clone)]
pub enum Peer {
    Tcp(SocketAddr),
    /// `-bs` on a pipe or terminal: a local user; addresses are qualified
    /// and the message counts as local (ident = login).
    Local {
        login: String,
        uid: u32,
    },
}

impl Peer {
    pub fn ip_text(&self) -> Option<String> {
        match self {
            Peer::Tcp(a) => Some(a.ip().to_canonical().to_string()),
            Peer::Local { .. } => None,
        }
    }
}

/// The envelope being collected.
#[derive(Default)]
pub struct Envelope {
    pub from: Option<Address>,
    pub rcpts: Vec<Address>,
    /// `BDAT` chunks were sent in this transaction (no `DATA` then).
    pub chunking: bool,
    /// The content of the BDAT chunks so far.
    pub chunks: Option<ChunkAssembler>,
}

pub struct Session {
    pub ctx: Arc<ServerCtx>,
    pub peer: Peer,
    pub helo: Option<String>,
    pub esmtp: bool,
    pub tls: bool,
    pub env: Envelope,
}

/// How the command loop ended.
pub enum End<S> {
    Closed,
    /// STARTTLS was accepted: hand the stream to the TLS handshake.
    StartTls(S),
}

impl Session {
    pub fn new(ctx: Arc<ServerCtx>, peer: Peer) -> Session {
        Session {
            ctx,
            peer,
            helo: None,
            esmtp: false,
            tls: false,
            env: Envelope::default(),
        }
    }

    fn host(&self) -> &str {
        &self.ctx.cfg.host_name
    }

    /// Runs the command loop on `conn` until QUIT, EOF, a timeout or
    /// STARTTLS.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
        &mut self,
        mut conn: Conn<S>,
    ) -> End<S> {
        loop {
            let line = match conn.take_line() {
                Some(line) => line,
                None => match conn.fill(self.ctx.limits.command_timeout).await {
                    Ok(()) => continue,
                    Err(stop) => {
                        self.stopped(&mut conn, stop).await;
                        return End::Closed;
                    }
                },
            };
            let line = match line {
                Line::Complete(l) => l,
                Line::TooLong => {
                    conn.reply(500, "5.5.2", &["line too long"]);
                    continue;
                }
            };
            if self.ctx.cfg.defer_all {
                let text = format!("{} service temporarily unavailable.", self.host());
                conn.reply(421, "4.3.2", &[&text]);
                let _ = conn.flush().await;
                return End::Closed;
            }
            match command::parse(&line) {
                Err(e) => self.refuse(&mut conn, &e),
                Ok(Command::Quit) => {
                    conn.reply(
                        221,
                        "2.0.0",
                        &[&format!("{} closing connection", self.host())],
                    );
                    let _ = conn.flush().await;
                    return End::Closed;
                }
                Ok(Command::StartTls) => {
                    if let Some(end) = self.starttls(&mut conn).await {
                        return match end {
                            End::StartTls(()) => End::StartTls(conn.into_stream()),
                            End::Closed => End::Closed,
                        };
                    }
                }
                Ok(Command::Data) => {
                    if self.data(&mut conn).await.is_err() {
                        return End::Closed;
                    }
                }
                Ok(Command::Bdat { size, last }) => {
                    if self.bdat(&mut conn, size, last).await.is_err() {
                        return End::Closed;
                    }
                }
                Ok(cmd) => self.simple(&mut conn, cmd),
            }
        }
    }

    async fn stopped<S: AsyncRead + AsyncWrite + Unpin>(&self, conn: &mut Conn<S>, stop: Stop) {
        match stop {
            Stop::Eof => tracing::debug!("{}: received EOF", self.who()),
            Stop::Timeout => {
                tracing::info!("{}: connection timed out", self.who());
                conn.reply(
                    421,
                    "4.4.2",
                    &[&format!("{} timeout, closing connection", self.host())],
                );
                let _ = conn.flush().await;
            }
            Stop::Io(e) => tracing::info!("{}: connection error: {e}", self.who()),
        }
    }

    pub fn who(&self) -> String {
        match &self.peer {
            Peer::Tcp(a) => format!("{}", a.ip().to_canonical()),
            Peer::Local { login, .. } => format!("local user {login}"),
        }
    }

    fn refuse<S: AsyncRead + AsyncWrite + Unpin>(&self, conn: &mut Conn<S>, e: &CommandError) {
        let (code, enhanced, text) = e.reply();
        conn.reply(code, enhanced, &[&text]);
    }

    /// Commands answered without reading further input.
    fn simple<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Conn<S>, cmd: Command) {
        match cmd {
            Command::Helo(name) => {
                self.greeted(name, false);
                conn.reply(
                    250,
                    "",
                    &[&format!("{} pretty old mailer, huh?", self.host())],
                );
            }
            Command::Ehlo(name) => {
                self.greeted(name, true);
                let lines = self.ehlo_lines();
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                conn.reply(250, "", &refs);
            }
            Command::Mail { from, params } => self.mail(conn, &from, &params),
            Command::Rcpt { to, .. } => self.rcpt(conn, &to),
            Command::Rset => {
                self.env = Envelope::default();
                conn.reply(250, "2.0.0", &["OK"]);
            }
            Command::Noop => conn.reply(250, "2.0.0", &["OK"]),
            Command::Help => conn.reply(
                214,
                "2.0.0",
                &[
                    "supported commands:",
                    "HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS",
                    "HELP",
                ],
            ),
            Command::Vrfy(_) => conn.reply(
                252,
                "2.5.0",
                &["cannot VRFY user, but will accept message and attempt delivery"],
            ),
            Command::Expn(_) => conn.reply(502, "5.5.1", &["EXPN not available"]),
            Command::Auth(_) => conn.reply(502, "5.5.1", &["AUTH not available"]),
            // Handled by `run`.
            Command::Quit | Command::StartTls | Command::Data | Command::Bdat { .. } => {}
        }
    }

    /// HELO/EHLO: a new session state (RFC 5321 §4.1.4).
    fn greeted(&mut self, name: String, esmtp: bool) {
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.env = Envelope::default();
    }

    fn ehlo_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("{} Nice to meet you with ESMTP", self.host())];
        lines.push(format!("SIZE {}", self.ctx.cfg.max_msg_size));
        for ext in [
            "PIPELINING",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "SMTPUTF8",
            "DSN",
        ] {
            lines.push(ext.to_string());
        }
        if self.ctx.tls.is_some() && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        lines.push("HELP".to_string());
        lines
    }

    fn mail<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        token: &str,
        params: &command::MailParams,
    ) {
        if self.helo.is_none() {
            return conn.reply(503, "5.5.1", &["need HELO or EHLO"]);
        }
        if self.env.from.is_some() {
            return conn.reply(503, "5.5.1", &["MAIL FROM: already given."]);
        }
        let max = self.ctx.cfg.max_msg_size;
        if let Some(size) = params.size
            && max > 0
            && size > max
        {
            return conn.reply(552, "5.3.4", &["Message size exceeds fixed limit."]);
        }
        if token.len() > 256 {
            return conn.reply(553, "5.1.7", &["Address too long."]);
        }
        if crate::accept::check_space(&self.ctx.cfg, &self.ctx.spool, params.size.unwrap_or(0))
            .is_err()
        {
            return conn.reply(452, "4.3.1", &["Insufficient system storage"]);
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) => a,
            Err(e) => return conn.reply(501, "5.1.7", &[&format!("{token}: {e}")]),
        };
        let addr = match self.qualify(addr) {
            Some(a) => a,
            None => return conn.reply(501, "5.1.7", &["return path must be qualified."]),
        };
        let text = format!("OK {addr} is a nice guy.");
        self.env.from = Some(addr);
        conn.reply(250, "2.1.0", &[&text]);
    }

    fn rcpt<S: AsyncRead + AsyncWrite + Unpin>(&mut self, conn: &mut Conn<S>, token: &str) {
        if self.helo.is_none() {
            return conn.reply(503, "5.5.1", &["need HELO or EHLO."]);
        }
        let Some(from) = &self.env.from else {
            return conn.reply(503, "5.5.1", &["need MAIL FROM: before RCPT TO:"]);
        };
        if self.env.rcpts.len() >= self.ctx.limits.max_rcpts {
            return conn.reply(452, "4.5.3", &["too many recipients"]);
        }
        if token.len() > 256 {
            return conn.reply(553, "5.1.3", &["Address too long."]);
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) if a.is_null() => return conn.reply(501, "5.1.3", &["empty recipient address"]),
            Ok(a) => a,
            Err(e) => return conn.reply(501, "5.1.3", &[&format!("{token}: {e}")]),
        };
        let Some(addr) = self.qualify(addr) else {
            return conn.reply(501, "5.1.3", &["recipient address must be qualified."]);
        };
        match policy::check_rcpt(&self.ctx.cfg, &self.peer, from, &addr) {
            RcptVerdict::Accept => {
                let text = format!("OK {addr} is our friend.");
                self.env.rcpts.push(addr);
                conn.reply(250, "2.1.5", &[&text]);
            }
            RcptVerdict::Refuse(why) => {
                tracing::info!("{}: relaying to <{addr}> denied ({why})", self.who());
                conn.reply(550, "5.7.1", &[&format!("relaying to <{addr}> denied.")]);
            }
        }
    }

    /// Network peers must send qualified addresses; a local `-bs` user's
    /// are qualified with host_name.
    fn qualify(&self, addr: Address) -> Option<Address> {
        if addr.is_null() || !addr.domain.is_empty() {
            return Some(addr);
        }
        match self.peer {
            Peer::Tcp(_) => None,
            Peer::Local { .. } => Some(addr.qualify(&self.ctx.cfg.host_name)),
        }
    }

    /// `Some(End::StartTls(()))` when the handshake is to start now.
    async fn starttls<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Option<End<()>> {
        if self.ctx.tls.is_none() || self.tls {
            conn.reply(502, "5.5.1", &["STARTTLS not available"]);
            return None;
        }
        if !conn.input.is_empty() {
            tracing::warn!(
                "{}: dropping {} bytes sent after STARTTLS",
                self.who(),
                conn.input.len()
            );
            conn.input.clear();
        }
        conn.reply(220, "2.0.0", &["ready to start TLS"]);
        if conn.flush().await.is_err() {
            return Some(End::Closed);
        }
        Some(End::StartTls(()))
    }

    /// After the TLS handshake: everything learned before is forgotten.
    pub fn restart_after_tls(&mut self) {
        self.helo = None;
        self.esmtp = false;
        self.tls = true;
        self.env = Envelope::default();
    }
}
