//! One SMTP server session as a state machine (delivery.md §13; RFC 5321,
//! 2920, 3030, 3207, 6531), sans-IO: it is fed command lines and the
//! outcomes of what it asked for, and answers with [`Step`]s. It never
//! touches a socket, a file or a clock, so every reply it can give is a
//! plain unit test (`session_tests.rs`) and the same session runs over any
//! byte stream: a socket we accepted, stdin/stdout (`-bs`) or a connection
//! we opened (ODMR).
//!
//! Each verb is checked first and only then changes the state (OpenSMTPD's
//! check/proceed split); a refusal leaves the state as it was.
//!
//! # Security
//! The client is hostile. Command lines come bounded from the splitter and
//! typed from [`super::command::parse`]; addresses go through the RFC 821
//! path parser; the relay rule is [`super::policy`] (R12). After STARTTLS
//! the session starts over (R07: the driver drops buffered input).
//! SMTP AUTH (`session_auth.rs`, R08) is offered only inside TLS; while an
//! exchange waits for a `334` response, a line is that response, never a
//! command.

use std::sync::Arc;

use super::auth::Pending;
use super::command::{self, Command};
use super::peer::Peer;
use super::reply::Reply;
use crate::accept::Submission;
use crate::address::Address;
use crate::config::Config;
pub use crate::inbound::content::ContentError;
use crate::message::Dsn;

/// What the driver must do next.
#[derive(Debug, Clone)]
pub enum Step {
    /// Queue this reply and go on reading commands.
    Reply(Reply),
    /// Send this reply, then close the connection.
    Close(Reply),
    /// Send this reply, drop all buffered input (R07), do the TLS
    /// handshake, then call [`Session::tls_started`].
    StartTls(Reply),
    /// Send this reply (354) and receive DATA content up to CRLF.CRLF,
    /// then call [`Session::content_end`].
    ReceiveData(Reply),
    /// Receive a BDAT chunk of `size` bytes into the transaction's
    /// content, then call [`Session::chunk_end`] (or
    /// [`Session::content_end`] when `last`).
    ReceiveChunk { size: u64, last: bool },
    /// Read and discard `size` bytes (a chunk that cannot be taken, RFC
    /// 3030 §2 still has it sent), then send `then`.
    SkipChunk { size: u64, then: Reply },
    /// Spool the received content with this envelope, then call
    /// [`Session::committed`].
    Commit(Box<Submission>),
    /// Check these AUTH credentials (slowly, off the event loop; with the
    /// back-off of the client's address), then call
    /// [`Session::auth_checked`].
    Authenticate(Box<super::auth::Credentials>),
}

/// What the session needs to know about its world.
pub trait Admission: Send + Sync {
    /// Whether the spool has room for a message of `size` bytes now
    /// (`queue_minfree`, RELIABILITY R36).
    fn room_for(&self, size: u64) -> bool;
}

/// Limits of one session (RFC 5321 §4.5.3.1).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Recipients per message (§4.5.3.1.8 asks for at least 100).
    pub max_rcpts: usize,
    /// Message text in bytes; 0 is no limit.
    pub max_body: u64,
}

#[derive(Debug, Clone)]
struct Greeting {
    esmtp: bool,
}

/// The envelope of a transaction.
#[derive(Debug, Clone)]
struct Envelope {
    from: Address,
    rcpts: Vec<Address>,
    /// RET/ENVID of MAIL, NOTIFY/ORCPT of each accepted RCPT.
    dsn: Dsn,
}

#[derive(Debug, Clone)]
enum Tx {
    None,
    /// MAIL accepted; recipients are being collected.
    Mail(Envelope),
    /// BDAT chunks (not yet LAST) are being received.
    Chunking(Envelope),
    /// The content is being received or committed.
    Content(Envelope),
}

#[derive(Debug, Clone)]
enum State {
    /// No HELO/EHLO yet (and again after STARTTLS).
    Fresh,
    Greeted(Greeting, Tx),
}

pub struct Session {
    cfg: Arc<Config>,
    admission: Arc<dyn Admission>,
    peer: Peer,
    limits: Limits,
    /// STARTTLS is offered (a certificate is configured).
    tls_offered: bool,
    tls_active: bool,
    state: State,
    /// Messages committed (each has had its 250).
    accepted: usize,
    /// The networks that may relay for this session (`policy::relay_nets`).
    relay_nets: Vec<ipnet::IpNet>,
    auth: AuthState,
}

/// SMTP AUTH in this session.
#[derive(Debug, Default)]
struct AuthState {
    /// Users can authenticate (an auth file is loaded).
    offered: bool,
    /// The client owes a `334` response.
    pending: Option<Pending>,
    /// The user whose credentials are being checked.
    checking: Option<(String, super::auth::Mechanism)>,
    /// Who the client proved to be.
    user: Option<String>,
}

impl Session {
    pub fn new(
        cfg: Arc<Config>,
        admission: Arc<dyn Admission>,
        peer: Peer,
        limits: Limits,
        tls_offered: bool,
    ) -> Session {
        Session {
            relay_nets: super::policy::relay_nets(&cfg, None),
            cfg,
            admission,
            peer,
            limits,
            tls_offered,
            tls_active: false,
            state: State::Fresh,
            accepted: 0,
            auth: AuthState::default(),
        }
    }

    /// Offers SMTP AUTH (inside TLS) when `yes`: an auth file is loaded.
    pub fn offer_auth(&mut self, yes: bool) {
        self.auth.offered = yes;
    }

    /// The networks that may relay for this session: those of the
    /// connection online when it began (`policy::relay_nets`).
    pub fn set_relay_nets(&mut self, nets: Vec<ipnet::IpNet>) {
        self.relay_nets = nets;
    }

    /// The user the client authenticated as.
    pub fn authenticated(&self) -> Option<&str> {
        self.auth.user.as_deref()
    }

    fn host(&self) -> &str {
        &self.cfg.host_name
    }

    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// How many messages this session has accepted (spooled, 250 given).
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// The first reply of the session.
    pub fn greeting(&self) -> Reply {
        Reply::greeting(self.host(), crate::accept::VERSION)
    }

    /// The reply before closing a connection whose client took too long.
    pub fn timeout_reply(&self) -> Reply {
        Reply::timeout(self.host())
    }

    /// The reply before closing a connection whose client sends content
    /// slower than `smtp_min_data_rate`.
    pub fn too_slow_reply(&self) -> Reply {
        Reply::too_slow(self.host())
    }

    /// Whether a transaction's content is being received (the driver keeps
    /// its content buffer only while this holds).
    pub fn collecting(&self) -> bool {
        matches!(
            self.state,
            State::Greeted(_, Tx::Chunking(_) | Tx::Content(_))
        )
    }

    /// A command line longer than the limit was skipped.
    pub fn line_too_long(&mut self) -> Step {
        if self.auth.pending.take().is_some() {
            return Step::Reply(Reply::auth_line_too_long());
        }
        Step::Reply(Reply::line_too_long())
    }

    /// One command line, without its line end (or the response an AUTH
    /// exchange waits for).
    pub fn on_line(&mut self, line: &[u8]) -> Step {
        if let Some(pending) = self.auth.pending.take() {
            return self.auth_response(pending, line);
        }
        if self.cfg.defer_all {
            return Step::Close(Reply::defer_all(self.host()));
        }
        match command::parse(line) {
            Err(e) => Step::Reply(Reply::refused(&e)),
            Ok(cmd) => self.on_command(cmd),
        }
    }

    fn on_command(&mut self, cmd: Command) -> Step {
        match cmd {
            Command::Quit => Step::Close(Reply::bye(self.host())),
            Command::Helo(_) => self.greet(false),
            Command::Ehlo(_) => self.greet(true),
            Command::Noop => Step::Reply(Reply::ok()),
            Command::Help => Step::Reply(Reply::help()),
            Command::Vrfy(_) => Step::Reply(Reply::vrfy()),
            Command::Expn(_) => Step::Reply(Reply::expn_unavailable()),
            Command::Auth(arg) => self.auth(&arg),
            Command::Rset => {
                if let State::Greeted(_, tx) = &mut self.state {
                    *tx = Tx::None;
                }
                Step::Reply(Reply::ok())
            }
            Command::StartTls => self.starttls(),
            Command::Mail { from, params } => Step::Reply(self.mail(&from, &params)),
            Command::Rcpt { to, params } => Step::Reply(self.rcpt(&to, params)),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
        }
    }

    /// HELO/EHLO: a new session state (RFC 5321 §4.1.4).
    fn greet(&mut self, esmtp: bool) -> Step {
        self.state = State::Greeted(Greeting { esmtp }, Tx::None);
        if !esmtp {
            return Step::Reply(Reply::helo(self.host()));
        }
        let mut ext = vec![format!("SIZE {}", self.cfg.max_msg_size)];
        for e in [
            "PIPELINING",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "SMTPUTF8",
            "DSN",
        ] {
            ext.push(e.to_string());
        }
        if self.tls_offered && !self.tls_active {
            ext.push("STARTTLS".to_string());
        }
        if self.auth.offered && self.tls_active {
            ext.push(format!("AUTH {}", super::auth::MECHANISMS));
        }
        ext.push("HELP".to_string());
        Step::Reply(Reply::ehlo(self.host(), &ext))
    }

    fn starttls(&mut self) -> Step {
        if !self.tls_offered || self.tls_active {
            return Step::Reply(Reply::tls_unavailable());
        }
        Step::StartTls(Reply::tls_ready())
    }

    /// After the TLS handshake: everything learned before is forgotten.
    pub fn tls_started(&mut self) {
        self.tls_active = true;
        self.state = State::Fresh;
        self.auth = AuthState {
            offered: self.auth.offered,
            ..AuthState::default()
        };
    }
}

#[path = "session_auth.rs"]
mod auth_verbs;
pub use auth_verbs::AuthCheck;

#[path = "session_tx.rs"]
mod tx;

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_auth_tests.rs"]
mod auth_tests;

#[cfg(test)]
#[path = "odmr_policy_tests.rs"]
mod odmr_policy_tests;
