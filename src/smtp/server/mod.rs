//! The SMTP server: one session per connection (`-bd`) or on stdin/stdout
//! (`-bs`). It knows nothing about delivery: a received message goes to
//! [`crate::accept`], and instant delivery is the queue's.
//!
//! * [`command`]: command lines → typed commands (sans-IO).
//! * [`data`]: DATA and BDAT content decoders (sans-IO).
//! * `io`: line buffering and reply batching over the stream.
//! * `session`: the dialogue and the envelope; `body`: content → spool.
//! * [`policy`]: the relay rule.

pub mod command;
pub mod data;
pub mod policy;

mod body;
mod io;
mod session;

pub use session::Peer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use crate::config::Config;
use crate::spool::Spool;
use io::Conn;
use session::{End, Session};

/// Session limits (RFC 5321 §4.5.3).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Waiting for a command (§4.5.3.2.7: 5 minutes).
    pub command_timeout: Duration,
    /// Waiting for the next block of DATA/BDAT content (§4.5.3.2.5: 3 minutes).
    pub data_timeout: Duration,
    /// Recipients per message (§4.5.3.1.8 asks for at least 100).
    pub max_rcpts: usize,
    /// Content bytes kept per message: `max_msg_size`, or [`HARD_MAX_BODY`].
    pub max_body: u64,
}

/// The body limit when `max_msg_size` is 0 ("unlimited"): messages are
/// held in memory until they are spooled, so some bound must exist.
pub const HARD_MAX_BODY: u64 = 512 * 1024 * 1024;

impl Limits {
    pub fn for_config(cfg: &Config) -> Limits {
        Limits {
            command_timeout: cfg.smtp_command_timeout,
            data_timeout: cfg.smtp_data_timeout,
            max_rcpts: 1000,
            max_body: match cfg.max_msg_size {
                0 => HARD_MAX_BODY,
                n => n,
            },
        }
    }
}

/// Counts running tasks so that shutdown can wait for them.
#[derive(Debug, Default)]
pub struct Tracker {
    running: AtomicUsize,
    idle: Notify,
}

/// Held while a tracked task runs.
pub struct TrackGuard(Arc<Tracker>);

impl Tracker {
    pub fn enter(self: &Arc<Self>) -> TrackGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        TrackGuard(Arc::clone(self))
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Resolves once nothing is running.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What every session of one server shares.
pub struct ServerCtx {
    pub cfg: Arc<Config>,
    pub spool: Spool,
    /// Set when `tls_cert_file`/`tls_key_file` are: STARTTLS is offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub limits: Limits,
    /// Instant deliveries in progress.
    pub deliveries: Arc<Tracker>,
    transfer: AtomicU32,
}

impl ServerCtx {
    pub fn new(
        cfg: Arc<Config>,
        spool: Spool,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerCtx {
        let limits = Limits::for_config(&cfg);
        ServerCtx {
            cfg,
            spool,
            tls,
            limits,
            deliveries: Arc::default(),
            transfer: AtomicU32::new(0),
        }
    }

    /// Distinct per message of this process (the id's last field).
    pub fn next_transfer(&self) -> u32 {
        self.transfer.fetch_add(1, Ordering::Relaxed)
    }
}

/// Runs one whole session on `stream`: greeting, dialogue, STARTTLS.
pub async fn serve<S>(stream: S, ctx: Arc<ServerCtx>, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut session = Session::new(Arc::clone(&ctx), peer);
    let mut conn = Conn::new(stream);
    let greeting = format!(
        "{} MasqMail {} ESMTP",
        ctx.cfg.host_name,
        crate::accept::VERSION
    );
    conn.reply(220, "", &[&greeting]);
    let plain = match session.run(conn).await {
        End::Closed => return,
        End::StartTls(stream) => stream,
    };
    let Some(tls) = ctx.tls.clone() else { return };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let handshake = tokio::time::timeout(ctx.limits.command_timeout, acceptor.accept(plain)).await;
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("{}: TLS handshake failed: {e}", session.who());
            return;
        }
        Err(_) => {
            tracing::info!("{}: TLS handshake timed out", session.who());
            return;
        }
    };
    session.restart_after_tls();
    // A second STARTTLS is refused inside TLS, so this cannot recurse.
    let _ = session.run(Conn::new(stream)).await;
}
