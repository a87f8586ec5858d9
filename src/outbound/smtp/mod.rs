//! The SMTP client (delivery.md §10.3): sends a batch of messages to a
//! smarthost or MX over one connection, built for slow links.
//!
//! A caller that may spread a batch over several connections opens each
//! with [`start`] (its capabilities decide) and lets the sessions take
//! messages from one [`source::Shared`] queue ([`Opened::send`]).
//!
//! [`send_batch`] runs one session on a stream the caller connected (TCP,
//! or a wrapper's socket pair): greeting (skipped with `instant_helo`),
//! EHLO with HELO fallback on 5xx, STARTTLS per [`ClientOptions::tls`]
//! (buffered plaintext is discarded before the handshake: R07), AUTH, every
//! message, QUIT.
//!
//! # Round trips
//! [`Stats::round_trips`] counts the times the client waits for a reply
//! after having written (and flushed) everything it could; replies that
//! arrive in several pieces during one such wait count once, and replies
//! read while the client is still writing are not waits. So:
//! * greeting 1, EHLO 1 (HELO fallback +1), STARTTLS 1 + EHLO 1 (the TLS
//!   handshake itself is not counted), AUTH PLAIN/XOAUTH2 1, CRAM-MD5 2,
//!   LOGIN 3;
//! * PIPELINING: MAIL, all RCPTs and DATA go in one write (1 wait for the
//!   354); the body, the dot and the NEXT message's MAIL/RCPT/DATA (or
//!   QUIT after the last) go in the next write (1 wait). N messages cost
//!   N + 1, a session `greeting + EHLO + N + 1` = N + 3;
//! * PIPELINING and CHUNKING: every message is `[RSET] MAIL, RCPTs,
//!   BDAT <n> LAST, body`, all pipelined back to back and written while the
//!   replies are read concurrently (no deadlock on full socket buffers),
//!   then QUIT: the whole batch costs 1, a session 3 whatever N is;
//! * neither: one wait per command (MAIL, each RCPT, DATA, dot).
//!
//! QUIT's reply is never awaited.
//!
//! # Outbound data
//! LF line ends become CR LF, a lone CR becomes CR LF, DATA is
//! dot-stuffed, BDAT is not (see [`encode`]). The text is encoded as it is
//! written, piece by piece; a body in a file ([`FileText`]) is read twice,
//! once to measure it before MAIL and once while sending, and never held
//! whole in memory. `SIZE=` carries the exact wire size; a message larger than the server's SIZE fails permanently
//! without being sent. `BODY=8BITMIME` when the text has 8-bit bytes and
//! the server offers it; `SMTPUTF8` when needed, and a message that needs
//! it fails permanently if the server does not offer it. The sender's DSN
//! requests (`RET=`, `ENVID=`, `NOTIFY=`, `ORCPT=`) go out only when the
//! server offers DSN; they cost no round trip.
//!
//! # Security
//! The server is untrusted: replies are bounded ([`reply`]) and parsed
//! strictly; every wait has a timeout. Credentials are sent only over TLS,
//! or in clear when the route says `tls = none` explicitly; a server that
//! offers STARTTLS and then fails it is an error, never a silent fallback
//! to plaintext (R28). Bytes received before the TLS handshake are
//! discarded. Addresses with control characters are never sent.

pub mod auth;
pub(crate) mod conn;
pub mod encode;
mod feed;
pub mod reply;
pub(crate) mod session;
pub mod source;
mod transfer;

pub use session::{Io, Opened, start};

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::address::Address;
pub use crate::config::{AuthMech, TlsMode};
use crate::message::dsn::{RcptDsn, Ret, XText};

/// How to run a session (built by the caller from the route).
#[derive(Clone)]
pub struct ClientOptions {
    pub helo_name: String,
    /// Route `do_pipelining`: use PIPELINING (and CHUNKING) when offered.
    pub pipelining: bool,
    /// Route `instant_helo`: send EHLO without waiting for the greeting.
    pub instant_helo: bool,
    /// Route `tls`: `None` is STARTTLS when offered (and `tls_config` is
    /// set); `Some(None)` never; `Some(StartTls)` required; `Some(Smtps)`
    /// TLS from the first byte.
    pub tls: Option<TlsMode>,
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// The name the certificate must carry (host name or IP literal).
    pub server_name: String,
    pub auth: Option<AuthOptions>,
    pub timeouts: Timeouts,
}

/// AUTH settings (route `auth_name`, `auth_login`, `auth_secret`).
#[derive(Clone)]
pub struct AuthOptions {
    /// `None`: the best offered (CRAM-MD5 > PLAIN > LOGIN).
    pub mech: Option<AuthMech>,
    pub login: String,
    pub secret: String,
}

impl std::fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthOptions({:?}, {:?}, ***)", self.mech, self.login)
    }
}

/// Reply timeouts (delivery.md §10.3; RFC 5321 §4.5.3.2).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub greeting: Duration,
    /// MAIL, RCPT, EHLO, RSET, AUTH, STARTTLS and the TLS handshake.
    pub command: Duration,
    /// The 354 after DATA.
    pub data_init: Duration,
    /// The reply after the final dot or a BDAT chunk.
    pub data_final: Duration,
    /// A write that makes no progress.
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        let min = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            greeting: min(5),
            command: min(5),
            data_init: min(5),
            data_final: min(10),
            write: min(5),
        }
    }
}

/// One message to send: the outgoing return path and recipients, and the
/// text (headers, empty line, body; LF line ends; already rewritten):
/// `text`, followed by `body` when set.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub return_path: Address,
    pub rcpts: Vec<Address>,
    /// The text in memory: all of it, or (with `body`) the header section.
    pub text: Vec<u8>,
    /// The rest of the text, streamed from a file while it is sent.
    pub body: Option<FileText>,
    /// The message was received with SMTPUTF8 (or has UTF-8 headers).
    pub smtputf8: bool,
    /// The message was received as 8BITMIME (8-bit text is also detected).
    pub eightbit: bool,
    /// The sender's DSN requests, passed on only to a server that offers
    /// DSN (never to one that does not: it would refuse the command).
    pub dsn: DsnRequests,
}

/// DSN requests (RFC 3461) for one message of a batch.
#[derive(Debug, Clone, Default)]
pub struct DsnRequests {
    pub ret: Option<Ret>,
    pub envid: Option<XText>,
    /// Per recipient, in the order of [`Outgoing::rcpts`]; missing
    /// entries have none.
    pub rcpts: Vec<RcptDsn>,
}

/// Text that stays in a file: `len` bytes from `offset`, read with
/// positional reads in pieces of 64 KiB (so the open file may
/// be shared). The file must not change while a session runs; if it comes
/// out shorter, the session is aborted rather than a wrong text sent.
#[derive(Debug, Clone)]
pub struct FileText {
    pub file: Arc<std::fs::File>,
    pub offset: u64,
    pub len: u64,
}

/// A recipient's final outcome; the text is the server's reply with its
/// code (cleaned, one line) or our own reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    Accepted,
    Deferred(String),
    Failed(String),
}

/// The outcome of one message: per recipient (RCPT and DATA combined, in
/// the order of [`Outgoing::rcpts`]), and the data phase on its own
/// (`Err((permanent, text))`, also when no DATA was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    pub rcpts: Vec<(Address, RcptResult)>,
    pub data: Result<(), (bool, String)>,
    /// The server offered DSN, so the DSN requests went with the message
    /// and reporting on its accepted recipients is that server's job.
    pub dsn: bool,
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// See the module documentation for the exact definition.
    pub round_trips: u32,
}

/// A session that ran (at least up to the first message).
#[derive(Debug)]
pub struct BatchOutcome {
    /// `results[i]` is for `msgs[i]`. Shorter than `msgs` when the session
    /// broke off: the remaining messages were not attempted (untouched).
    pub results: Vec<MessageResult>,
    /// Why the session broke off, if it did. Messages in flight at that
    /// moment have their recipients deferred with this text.
    pub aborted: Option<SessionError>,
    pub stats: Stats,
    /// The session was encrypted.
    pub tls: bool,
    /// AUTH succeeded with this mechanism.
    pub auth: Option<AuthMech>,
}

/// Why a session failed before any message could be sent (or broke off).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// For callers that connect: the connection could not be made.
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("bad greeting: {reply}")]
    Greeting { reply: String, permanent: bool },
    #[error("EHLO/HELO refused: {reply}")]
    Helo { reply: String, permanent: bool },
    #[error("TLS: {0}")]
    Tls(String),
    /// Never permanent: a wrong password must not bounce the queue.
    #[error("AUTH: {0}")]
    Auth(String),
    /// The server answered the credentials with a failure reply (`535`,
    /// `454`, …): a bearer token it refused is worth forgetting.
    #[error("AUTH: {0}")]
    AuthRefused(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("timeout waiting for {0}")]
    Timeout(String),
    #[error("connection closed by the server while waiting for {0}")]
    Closed(String),
    #[error("I/O error ({what}): {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl SessionError {
    /// True when retrying cannot help (a 5xx greeting or HELO).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SessionError::Greeting {
                permanent: true,
                ..
            } | SessionError::Helo {
                permanent: true,
                ..
            }
        )
    }
}

/// Runs one session on `stream` and sends `msgs` in order.
///
/// `Err`: nothing was sent (greeting, EHLO, TLS or AUTH failed): every
/// recipient gets the error's class ([`SessionError::is_permanent`]).
/// `Ok`: see [`BatchOutcome`].
pub async fn send_batch<S>(
    stream: S,
    opts: &ClientOptions,
    msgs: &[Outgoing],
) -> Result<BatchOutcome, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    session::run(stream, opts, msgs, &mut |_, _| {}).await
}

/// [`send_batch`], handing each message's final result to `on_done` (its
/// index in `msgs`) the moment it is known, while the session goes on: a
/// queue run makes it durable before the next reply is read (R33).
pub async fn send_batch_reporting<S>(
    stream: S,
    opts: &ClientOptions,
    msgs: &[Outgoing],
    on_done: &mut dyn FnMut(usize, MessageResult),
) -> Result<BatchOutcome, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    session::run(stream, opts, msgs, on_done).await
}
