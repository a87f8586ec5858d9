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

use std::sync::Arc;

use super::command::{self, Command, MailParams};
use super::peer::Peer;
use super::policy::{self, RcptVerdict};
use super::reply::Reply;
use crate::accept::{AcceptError, Submission};
use crate::address::{Address, PipePolicy, parse_path};
use crate::config::Config;
pub use crate::inbound::content::ContentError;
use crate::message::{Protocol, QueueId};

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
            cfg,
            admission,
            peer,
            limits,
            tls_offered,
            tls_active: false,
            state: State::Fresh,
            accepted: 0,
        }
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
        Step::Reply(Reply::line_too_long())
    }

    /// One command line, without its line end.
    pub fn on_line(&mut self, line: &[u8]) -> Step {
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
            Command::Auth(_) => Step::Reply(Reply::auth_unavailable()),
            Command::Rset => {
                if let State::Greeted(_, tx) = &mut self.state {
                    *tx = Tx::None;
                }
                Step::Reply(Reply::ok())
            }
            Command::StartTls => self.starttls(),
            Command::Mail { from, params } => Step::Reply(self.mail(&from, &params)),
            Command::Rcpt { to, .. } => Step::Reply(self.rcpt(&to)),
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
    }

    fn mail(&mut self, token: &str, params: &MailParams) -> Reply {
        let State::Greeted(_, tx) = &self.state else {
            return Reply::need_helo();
        };
        if !matches!(tx, Tx::None) {
            return Reply::mail_given();
        }
        let max = self.cfg.max_msg_size;
        if let Some(size) = params.size
            && max > 0
            && size > max
        {
            return Reply::size_exceeded();
        }
        if token.len() > 256 {
            return Reply::sender_too_long();
        }
        if !self.admission.room_for(params.size.unwrap_or(0)) {
            return Reply::no_storage();
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) => a,
            Err(e) => return Reply::bad_sender(&format!("{token}: {e}")),
        };
        let Some(from) = self.qualify(addr) else {
            return Reply::sender_unqualified();
        };
        let reply = Reply::sender_ok(&from.to_string());
        if let State::Greeted(_, tx) = &mut self.state {
            *tx = Tx::Mail(Envelope {
                from,
                rcpts: Vec::new(),
            });
        }
        reply
    }

    fn rcpt(&mut self, token: &str) -> Reply {
        let State::Greeted(_, tx) = &self.state else {
            return Reply::need_helo();
        };
        let Tx::Mail(env) = tx else {
            return Reply::need_mail("RCPT TO:");
        };
        if env.rcpts.len() >= self.limits.max_rcpts {
            return Reply::too_many_rcpts();
        }
        if token.len() > 256 {
            return Reply::rcpt_too_long();
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) if a.is_null() => return Reply::empty_rcpt(),
            Ok(a) => a,
            Err(e) => return Reply::bad_rcpt(&format!("{token}: {e}")),
        };
        let Some(addr) = self.qualify(addr) else {
            return Reply::rcpt_unqualified();
        };
        if let RcptVerdict::Refuse(why) =
            policy::check_rcpt(&self.cfg, &self.peer, &env.from, &addr)
        {
            tracing::info!("{}: relaying to <{addr}> denied ({why})", self.peer.who());
            return Reply::relay_denied(&addr.to_string());
        }
        let reply = Reply::rcpt_ok(&addr.to_string());
        if let State::Greeted(_, Tx::Mail(env)) = &mut self.state {
            env.rcpts.push(addr);
        }
        reply
    }

    /// Network peers must send qualified addresses; a local `-bs` user's
    /// are qualified with host_name.
    fn qualify(&self, addr: Address) -> Option<Address> {
        if addr.is_null() || !addr.domain.is_empty() {
            return Some(addr);
        }
        match self.peer {
            Peer::Tcp(_) | Peer::Odmr { .. } => None,
            Peer::Local { .. } => Some(addr.qualify(&self.cfg.host_name)),
        }
    }

    fn data(&mut self) -> Step {
        let State::Greeted(_, tx) = &mut self.state else {
            return Step::Reply(Reply::need_helo());
        };
        match tx {
            Tx::Mail(env) if !env.rcpts.is_empty() => {
                *tx = Tx::Content(env.clone());
                Step::ReceiveData(Reply::start_data())
            }
            Tx::Mail(_) => Step::Reply(Reply::need_rcpt("DATA")),
            Tx::Chunking(_) | Tx::Content(_) => Step::Reply(Reply::data_after_bdat()),
            Tx::None => Step::Reply(Reply::need_mail("DATA")),
        }
    }

    fn bdat(&mut self, size: u64, last: bool) -> Step {
        // A chunk far beyond the limit would only be read to be thrown
        // away: end the session instead of reading gigabytes.
        let max = self.limits.max_body;
        if max > 0 && size > max.saturating_add(1 << 20) {
            return Step::Close(Reply::chunk_too_large());
        }
        let skip = |then| Step::SkipChunk { size, then };
        let State::Greeted(_, tx) = &mut self.state else {
            return skip(Reply::need_helo());
        };
        let env = match tx {
            Tx::None => return skip(Reply::need_mail("BDAT")),
            Tx::Mail(env) if env.rcpts.is_empty() => return skip(Reply::need_rcpt("BDAT")),
            Tx::Mail(env) | Tx::Chunking(env) | Tx::Content(env) => env.clone(),
        };
        *tx = if last {
            Tx::Content(env)
        } else {
            Tx::Chunking(env)
        };
        Step::ReceiveChunk { size, last }
    }

    /// A BDAT chunk that was not the last one has been received.
    pub fn chunk_end(&mut self, size: u64) -> Reply {
        Reply::chunk_received(size)
    }

    /// The whole content has been received (or could not be).
    pub fn content_end(&mut self, result: Result<(), ContentError>) -> Step {
        let (greeting, env) = match std::mem::replace(&mut self.state, State::Fresh) {
            State::Greeted(g, Tx::Content(env) | Tx::Chunking(env)) => (g, env),
            other => {
                // Not in a transaction: a driver bug, never the client's.
                self.state = other;
                return Step::Reply(Reply::spool_error());
            }
        };
        let esmtp = greeting.esmtp;
        self.state = State::Greeted(greeting, Tx::None);
        match result {
            Ok(()) => {}
            Err(ContentError::TooLarge) => {
                tracing::info!("{}: message refused: too large", self.peer.who());
                return Step::Reply(Reply::message_too_large());
            }
            Err(ContentError::HeadersTooLarge) => {
                tracing::info!(
                    "{}: message refused: header section too large",
                    self.peer.who()
                );
                return Step::Reply(Reply::headers_too_large());
            }
            Err(ContentError::Spool) => return Step::Reply(Reply::spool_error()),
        }
        let (ident, uid, host) = match &self.peer {
            Peer::Tcp(_) | Peer::Odmr { .. } => (None, 0, self.peer.ip_text()),
            Peer::Local { login, uid } => (Some(login.clone()), *uid, None),
        };
        Step::Commit(Box::new(Submission {
            return_path: env.from,
            recipients: env.rcpts,
            recipients_from_headers: false,
            full_name: None,
            protocol: if esmtp {
                Protocol::Esmtp
            } else {
                Protocol::Smtp
            },
            received_host: host,
            ident,
            uid,
            fetched_as: None,
        }))
    }

    /// The outcome of the spool commit asked for with [`Step::Commit`].
    pub fn committed(&mut self, result: Result<&QueueId, &AcceptError>) -> Reply {
        match result {
            Ok(id) => {
                self.accepted += 1;
                Reply::accepted(&id.to_string())
            }
            Err(AcceptError::NoRecipients) => Reply::no_valid_rcpts(),
            Err(AcceptError::NoSpace { .. }) => Reply::no_storage(),
            Err(e) => {
                tracing::error!("{}: {e}", self.peer.who());
                Reply::spool_error()
            }
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "odmr_policy_tests.rs"]
mod odmr_policy_tests;
