//! The SMTP server: one session per connection (`-bd`), on stdin/stdout
//! (`-bs`), or on a connection we opened (ODMR). It knows nothing about
//! delivery: a received message is committed through [`crate::accept`],
//! and whoever runs the server learns its id through
//! [`ServerCtx::on_accepted`] (the daemon starts instant delivery there).
//!
//! Sans-IO core, thin driver (STYLE.md §2.2):
//! * [`command`]: command lines → typed commands; the one line splitter.
//! * [`session`]: the dialogue as a state machine returning [`Step`]s.
//! * [`reply`]: every reply, with its enhanced status code, in one table.
//! * [`crate::inbound::content`]: DATA/BDAT content → header fields and
//!   body text, streamed into the spool.
//! * [`policy`]: the relay rule; [`relay_now`]: the relay networks of
//!   the connection online now; [`peer`]: who is at the other end.
//! * [`auth`], [`auth_file`], [`backoff`]: SMTP AUTH (RFC 4954, inside
//!   TLS only): the SASL exchange, the users' passwd-file, the delays
//!   after failures per client address.
//! * `conn`, `driver`: the tokio side: bytes, deadlines, the steps.
//!
//! # Security
//! The client is hostile: see each module. Memory per session is a small
//! constant whatever the message size; every wait has a deadline.

pub mod auth;
pub mod auth_file;
pub mod backoff;
pub mod command;
pub mod peer;
pub mod policy;
pub mod relay_now;
pub mod reply;
pub mod session;

mod conn;
mod driver;

pub use peer::Peer;
pub use reply::Reply;
pub use session::{Admission, AuthCheck, Session, Step};

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::inbound::content::spool::Target;
use crate::message::QueueId;
use crate::spool::Spool;
use auth_file::AuthTable;
use backoff::Backoff;
use relay_now::RelayNow;

/// Session limits (RFC 5321 §4.5.3).
#[derive(Debug, Clone)]
pub struct Limits {
    /// A whole command, and the writing of a batch of replies
    /// (§4.5.3.2.7: 5 minutes).
    pub command_timeout: Duration,
    /// Waiting for the next block of DATA/BDAT content (§4.5.3.2.5: 3 minutes).
    pub data_timeout: Duration,
    /// Content bytes per second a client must keep up (0: none).
    pub min_data_rate: u64,
    /// Recipients per message (§4.5.3.1.8 asks for at least 100).
    pub max_rcpts: usize,
    /// Message text in bytes: `max_msg_size`; 0 is no limit (content is
    /// streamed to the spool, so no limit is needed for memory's sake).
    pub max_body: u64,
}

impl Limits {
    pub fn for_config(cfg: &Config) -> Limits {
        Limits {
            command_timeout: cfg.smtp_command_timeout,
            data_timeout: cfg.smtp_data_timeout,
            min_data_rate: cfg.smtp_min_data_rate,
            max_rcpts: 1000,
            max_body: cfg.max_msg_size,
        }
    }
}

/// Told the id of every message the server accepted (after its 250 was
/// queued): the daemon starts instant delivery here.
pub type OnAccepted = Box<dyn Fn(QueueId) + Send + Sync>;

/// What every session of one server shares.
pub struct ServerCtx {
    pub cfg: Arc<Config>,
    pub spool: Spool,
    /// The same, for the content pipeline.
    pub target: Target,
    /// Set when `tls_cert_file`/`tls_key_file` are: STARTTLS is offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    pub on_accepted: Option<OnAccepted>,
    /// The SMTP AUTH users; `None`: AUTH is not offered.
    pub auth: Option<Arc<AuthTable>>,
    /// Failed AUTH per client address; kept across a reload.
    pub backoff: Arc<Backoff>,
    /// The connection online, for the relay networks; kept across a reload.
    pub relay_now: Arc<RelayNow>,
    /// Shared with the contexts made from this one by [`reconfigured`],
    /// so message ids stay distinct across a reload.
    ///
    /// [`reconfigured`]: ServerCtx::reconfigured
    transfer: Arc<AtomicU32>,
}

impl ServerCtx {
    pub fn new(
        cfg: Arc<Config>,
        spool: Spool,
        tls: Option<Arc<rustls::ServerConfig>>,
        on_accepted: Option<OnAccepted>,
    ) -> ServerCtx {
        let limits = Limits::for_config(&cfg);
        ServerCtx {
            target: Target {
                cfg: Arc::clone(&cfg),
                spool: spool.clone(),
            },
            cfg,
            spool,
            tls,
            limits,
            on_accepted,
            auth: None,
            backoff: Arc::new(Backoff::default()),
            relay_now: Arc::new(RelayNow::default()),
            transfer: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Offers SMTP AUTH to the users of `table` (inside TLS).
    pub fn with_auth(self, table: Option<Arc<AuthTable>>) -> ServerCtx {
        ServerCtx {
            auth: table,
            ..self
        }
    }

    /// A context for new sessions with a reloaded configuration (SIGHUP):
    /// same spool, same message id counter, same AUTH back-off and
    /// connection; the auth file read again (kept as it was when it now
    /// fails: the error is logged); sessions running on `self` keep the
    /// old one until they end.
    pub fn reconfigured(
        &self,
        cfg: Arc<Config>,
        tls: Option<Arc<rustls::ServerConfig>>,
        on_accepted: Option<OnAccepted>,
    ) -> ServerCtx {
        let auth = match &cfg.smtp_auth_file {
            None => None,
            Some(path) => match AuthTable::load(path) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    tracing::error!("{e}; the users as before the reload apply");
                    self.auth.clone()
                }
            },
        };
        ServerCtx {
            transfer: Arc::clone(&self.transfer),
            backoff: Arc::clone(&self.backoff),
            relay_now: Arc::clone(&self.relay_now),
            auth,
            ..ServerCtx::new(cfg, self.spool.clone(), tls, on_accepted)
        }
    }

    /// Distinct per message of this process (the id's last field).
    pub fn next_transfer(&self) -> u32 {
        self.transfer.fetch_add(1, Ordering::Relaxed)
    }
}

/// Free space in the spool (`queue_minfree`) decides MAIL's 452.
struct SpoolSpace {
    cfg: Arc<Config>,
    spool: Spool,
}

impl Admission for SpoolSpace {
    fn room_for(&self, size: u64) -> bool {
        crate::accept::check_space(&self.cfg, &self.spool, size).is_ok()
    }
}

/// A fresh session for `peer` with the server's limits and spool check.
fn new_session(ctx: &Arc<ServerCtx>, peer: Peer, tls_offered: bool) -> Session {
    let space = Arc::new(SpoolSpace {
        cfg: Arc::clone(&ctx.cfg),
        spool: ctx.spool.clone(),
    });
    let limits = session::Limits {
        max_rcpts: ctx.limits.max_rcpts,
        max_body: ctx.limits.max_body,
    };
    Session::new(Arc::clone(&ctx.cfg), space, peer, limits, tls_offered)
}

/// A session for a network client: AUTH offered when users exist, the
/// relay networks of the connection online now.
async fn client_session(ctx: &Arc<ServerCtx>, peer: Peer, tls_offered: bool) -> Session {
    let tcp = matches!(peer, Peer::Tcp(_));
    let mut session = new_session(ctx, peer, tls_offered);
    session.offer_auth(ctx.auth.is_some());
    if tcp {
        session.set_relay_nets(ctx.relay_now.nets(&ctx.cfg).await);
    }
    session
}

/// Runs one whole session on `stream`: greeting, dialogue, STARTTLS.
pub async fn serve<S>(stream: S, ctx: Arc<ServerCtx>, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let session = client_session(&ctx, peer, ctx.tls.is_some()).await;
    driver::run(stream, ctx, session).await;
}

/// Runs one whole session on a stream that is encrypted from its first
/// byte (`tls_listen_addresses`, RFC 8314): the caller did the TLS
/// handshake; STARTTLS is not offered, AUTH is.
pub async fn serve_encrypted<S>(stream: S, ctx: Arc<ServerCtx>, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut session = client_session(&ctx, peer, false).await;
    session.tls_started();
    driver::run(stream, ctx, session).await;
}

/// The TLS handshake of an implicit-TLS listener (within
/// `smtp_command_timeout`), then [`serve_encrypted`]. Without a
/// certificate (`tls_cert_file`) the connection is closed.
pub async fn serve_implicit_tls(stream: tokio::net::TcpStream, ctx: Arc<ServerCtx>, peer: Peer) {
    let Some(tls) = ctx.tls.clone() else {
        tracing::error!("{}: implicit TLS without tls_cert_file", peer.who());
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let handshake = tokio::time::timeout(ctx.limits.command_timeout, acceptor.accept(stream));
    match handshake.await {
        Ok(Ok(s)) => serve_encrypted(s, ctx, peer).await,
        Ok(Err(e)) => tracing::info!("{}: TLS handshake failed: {e}", peer.who()),
        Err(_) => tracing::info!("{}: dropped: TLS handshake timed out", peer.who()),
    }
}

/// Runs the server side of a connection we opened and turned (ODMR, RFC
/// 2645 §4): our greeting first, then the provider's transactions. STARTTLS
/// is not offered: `tls` says whether the link is already encrypted (we
/// are its TLS client). Returns how many messages were accepted.
pub(crate) async fn serve_turned<S>(stream: S, ctx: Arc<ServerCtx>, peer: Peer, tls: bool) -> usize
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut session = new_session(&ctx, peer, false);
    if tls {
        session.tls_started();
    }
    driver::run(stream, ctx, session).await
}
