//! The POP3 fetch dialogue (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS;
//! delivery.md §15.2) as a state machine, sans-IO: it is fed the server's
//! responses and answers with [`Step`]s — a group of commands to send, the
//! TLS handshake, the end. The driver sends each group in one write and
//! feeds back one [`Response`] per command, in order.
//!
//! Few round trips: when the server announces PIPELINING, USER and PASS go
//! together, UIDL and LIST go together, every RETR goes in one group, and
//! the DELEs go with QUIT — six turns for any number of messages (nine
//! with STLS: STLS, the handshake and CAPA again). Without PIPELINING every command is its own turn.
//!
//! SASL (RFC 5034, get files with `auth_name`): instead of USER/PASS,
//! `AUTH XOAUTH2` or `AUTH OAUTHBEARER` with the bearer token, only if
//! CAPA's `SASL` line offers the mechanism (else an error, never PASS).
//! The initial response rides on the AUTH line when the line stays
//! within 255 octets (one turn, like USER/PASS), else it answers the
//! server's `+ ` (two turns); see [`crate::pop3::sasl`]. An error
//! challenge is acknowledged once and the server's `-ERR` ends the
//! session before anything is listed.
//!
//! Never lose: a message is deleted only after the driver reported it
//! stored ([`Response::Stored`], i.e. durably spooled), and the DELEs are
//! sent only once every RETR of the session has been answered.
//!
//! # Security
//! The server is untrusted: its lists are bounded by the driver, message
//! numbers and sizes are parsed with overflow checks, a UID is kept only
//! if it is 1–70 printable characters (RFC 1939 §7). The password or
//! token is sent only over TLS unless the get file says `tls = none` (APOP
//! sends a digest, never the password). Errors name a command by its verb
//! ([`Command::verb`]), never by its arguments.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::pop3::Pop3Error;
use crate::pop3::Status;
use crate::pop3::login::timestamp;
use crate::pop3::sasl::Bearer;

/// How the session may use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// `tls = starttls`: STLS or fail.
    Required,
    /// No `tls` option: STLS when offered.
    IfOffered,
    /// `tls = none`: never; passwords may go in clear.
    Never,
    /// `tls = pop3s`: the connection is TLS from its first byte.
    Implicit,
}

/// What one session does, from the get file.
#[derive(Debug, Clone)]
pub struct Plan {
    pub user: String,
    /// The password (USER/PASS, APOP); unused with `sasl`.
    pub secret: String,
    pub apop: bool,
    /// `auth_name`: SASL with this bearer exchange (its token inside)
    /// instead of USER/PASS or APOP.
    pub sasl: Option<Bearer>,
    pub tls: TlsPolicy,
    pub do_uidl: bool,
    pub do_uidl_dele: bool,
    pub do_keep: bool,
    /// Fetch only messages strictly smaller; 0: no limit.
    pub max_size: u64,
    pub max_size_delete: bool,
    /// Stop after this many; 0: no limit.
    pub max_count: u32,
    /// UIDs fetched in earlier sessions (the UIDL file).
    pub known: HashSet<String>,
}

/// The server's answer to one command, as the driver read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A single status line (or `-ERR` to a list command or RETR).
    Status(Status),
    /// AUTH: a `+ ` continuation with its payload (base64, untrusted).
    Continue(Vec<u8>),
    /// A multi-line response: its lines, dot-stuffing undone.
    List(Vec<Vec<u8>>),
    /// RETR: the message is durably spooled (and its UID recorded).
    Stored,
    /// RETR: the message arrived but could not be spooled; it stays on
    /// the server.
    NotStored,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these commands in one write, then feed one response each.
    Send(Vec<Command>),
    /// STLS was accepted: drop buffered input, handshake, then
    /// [`Session::tls_started`].
    StartTls,
    /// The session is over (QUIT answered, or nothing to do).
    Done,
}

/// A message on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub number: u32,
    pub size: u64,
    pub uid: Option<String>,
}

/// What a session did, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub listed: usize,
    pub fetched: usize,
    pub known: usize,
    pub too_large: usize,
    pub deleted: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Capa,
    Stls,
    Login,
    Listing,
    Fetching,
    Closing,
    Done,
}

pub struct Session {
    plan: Plan,
    server: String,
    state: State,
    tls_active: bool,
    pipelining: bool,
    stls_offered: bool,
    /// CAPA's `SASL` mechanisms, upper-cased.
    sasl_offered: Vec<String>,
    /// The AUTH exchange in progress.
    auth: Option<Bearer>,
    apop_stamp: Option<String>,
    /// Commands sent and not yet answered, oldest first.
    pending: VecDeque<Command>,
    /// Commands of this phase not yet sent (without PIPELINING).
    outbox: VecDeque<Command>,
    /// Answers collected for the current group.
    uidl: Option<Vec<(u32, String)>>,
    listed: Vec<Listed>,
    /// Where each message number stands in `listed`.
    index: HashMap<u32, usize>,
    /// Messages durably stored this session.
    stored: Vec<u32>,
    /// Too large, to be deleted anyway (`max_size_delete`).
    oversized: Vec<u32>,
    summary: Summary,
}

impl Session {
    pub fn new(plan: Plan, server: impl Into<String>) -> Session {
        let tls_active = plan.tls == TlsPolicy::Implicit;
        Session {
            plan,
            server: server.into(),
            state: State::Greeting,
            tls_active,
            pipelining: false,
            stls_offered: false,
            sasl_offered: Vec::new(),
            auth: None,
            apop_stamp: None,
            pending: VecDeque::new(),
            outbox: VecDeque::new(),
            uidl: None,
            listed: Vec::new(),
            index: HashMap::new(),
            stored: Vec::new(),
            oversized: Vec::new(),
            summary: Summary::default(),
        }
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Messages on the server as listed (UIDs when `do_uidl`).
    pub fn listed(&self) -> &[Listed] {
        &self.listed
    }

    /// The UID of message `number`, if known.
    pub fn uid_of(&self, number: u32) -> Option<&str> {
        let i = *self.index.get(&number)?;
        self.listed[i].uid.as_deref()
    }

    /// The command whose response the driver reads next.
    pub fn awaiting(&self) -> Option<&Command> {
        self.pending.front()
    }

    /// The server's greeting.
    pub fn greeting(&mut self, status: Status) -> Result<Step, Pop3Error> {
        if !status.ok {
            return Err(Pop3Error::Greeting {
                server: self.server.clone(),
                text: status.text,
            });
        }
        self.apop_stamp = timestamp(&status.text).map(str::to_string);
        Ok(self.start(State::Capa, vec![Command::Capa]))
    }

    /// After the TLS handshake: capabilities may differ (RFC 2595 §4).
    pub fn tls_started(&mut self) -> Step {
        self.tls_active = true;
        self.start(State::Capa, vec![Command::Capa])
    }

    /// Starts a phase with its commands.
    fn start(&mut self, state: State, commands: Vec<Command>) -> Step {
        self.state = state;
        self.outbox.extend(commands);
        self.dispatch().unwrap_or(Step::Done)
    }

    /// The next group to send, once the previous one is answered: all
    /// queued commands with PIPELINING, else one.
    fn dispatch(&mut self) -> Option<Step> {
        if !self.pending.is_empty() || self.outbox.is_empty() {
            return None;
        }
        let n = if self.pipelining {
            self.outbox.len()
        } else {
            1
        };
        let group: Vec<Command> = self.outbox.drain(..n).collect();
        self.pending.extend(group.iter().cloned());
        Some(Step::Send(group))
    }

    /// The response to the oldest command not yet answered. `None`: read
    /// the next response of the group.
    pub fn on_response(&mut self, response: Response) -> Result<Option<Step>, Pop3Error> {
        let Some(command) = self.pending.pop_front() else {
            return Err(self.protocol("a response to no command"));
        };
        if let Some(step) = self.handle(command, response)? {
            return Ok(Some(step));
        }
        if let Some(step) = self.dispatch() {
            return Ok(Some(step));
        }
        if !self.pending.is_empty() {
            return Ok(None);
        }
        self.next_phase().map(Some)
    }
}

#[path = "pop3_steps.rs"]
mod steps;

#[path = "pop3_command.rs"]
mod command;
pub use command::Command;

#[cfg(test)]
#[path = "pop3_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "pop3_sasl_tests.rs"]
mod sasl_tests;

/// `UIDL` lines: `<n> <uid>`; malformed lines and bad UIDs are skipped.
fn parse_uidl(lines: &[Vec<u8>]) -> Vec<(u32, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let text = std::str::from_utf8(l).ok()?;
            let mut words = text.split_ascii_whitespace();
            let n = words.next()?.parse().ok()?;
            let uid = words.next()?;
            let valid =
                (1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
            valid.then(|| (n, uid.to_string()))
        })
        .collect()
}

/// `LIST` lines: `<n> <size>`; malformed lines are skipped.
fn parse_list(lines: &[Vec<u8>]) -> Vec<(u32, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let text = std::str::from_utf8(l).ok()?;
            let mut words = text.split_ascii_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}
