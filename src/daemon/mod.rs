//! The daemon (delivery.md §16): SMTP listeners (`-bd`) and/or a queue
//! run every interval (`-q<ival>`), a pid file, and an orderly stop.
//!
//! # Startup order (issue 7)
//! One order, which supervisors and tests may rely on:
//! 1. block SIGTERM/SIGINT (pending, neither lost nor fatal); be root
//!    again when the saved uid allows it; load the TLS key;
//! 2. unless `-bD`: fork ([`detach`]); the child carries on, the parent
//!    waits until the child reports ready (exit 0) or ends (its code);
//! 3. write the pid file with our own pid ([`pidfile`]): it exists before
//!    any socket listens;
//! 4. bind every `listen_addresses` entry ([`listen::bind_all`]); if none
//!    can be bound, the pid file is removed and the start fails with one
//!    line on stderr and a non-zero exit;
//! 5. drop to the mail user when started as root (checked, R24);
//! 6. open the spool and start the runtime;
//! 7. install the signal handlers (SIGTERM/SIGINT stop, SIGHUP reloads:
//!    [`reload`]) and let the signals in, start the accept loops, the
//!    interval timer ([`serve`]) and, with link detection, the link task
//!    ([`link`]);
//! 8. [`ready`]: the log line `ready`, then the parent is told (`-bd`
//!    returns 0), systemd gets `READY=1` ([`notify`]), and stderr goes to
//!    `/dev/null` unless it is the log.
//!
//! The stop: see [`serve`]; at the end the pid file is removed (as root
//! again through the saved uid when it was written as root).
//!
//! Files: `detach.rs` (fork, readiness pipe), `pidfile.rs`, `listen.rs`
//! (bind, accept loop, 421 refusals), `limits.rs` (per-address cap),
//! `serve.rs` (signals, grace period, interval runs), `fetch.rs` (the
//! fetch timer), `link.rs` (flush and fetch on link-up).
//!
//! # Security
//! Connections beyond `max_connections`, or beyond
//! `max_connections_per_host` from one client address, get `421 4.7.0` at
//! once, so a flood costs a socket each, not a session. The identity drop
//! is checked and fatal (R24). The pid file is written without following
//! symlinks ([`pidfile`]).

mod detach;
mod fetch;
mod limits;
mod link;
mod listen;
mod notify;
mod pidfile;
mod reload;
mod serve;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::inbound::smtp::ServerCtx;
use crate::inbound::smtp::auth_file::AuthTable;
use crate::queue::InstantDelivery;
use crate::spool::Spool;
use detach::{Detached, Readiness};
use pidfile::PidFile;

pub use pidfile::PidFileError;
pub use reload::Reloader;

/// How long running sessions may go on after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(5);

/// What `-bd` / `-q<ival>` / `-bD` asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: bool,
    pub queue_interval: Option<Duration>,
    /// `-bD`: stay in the foreground (systemd, tests).
    pub foreground: bool,
    /// `-go INTERVAL [NAME]`: fetch at once, then every interval.
    pub fetch: Option<FetchEvery>,
}

/// The fetch daemon's schedule.
#[derive(Debug, Clone)]
pub struct FetchEvery {
    pub interval: Duration,
    /// The connection; `None`: online detection decides each time.
    pub connection: Option<String>,
}

impl Options {
    /// A daemon that only fetches keeps its own pid file (cli.md §3.4),
    /// so it can run beside the SMTP daemon.
    fn pid_name(&self) -> &'static str {
        if !self.listen && self.queue_interval.is_none() && self.fetch.is_some() {
            "masqmail-get.pid"
        } else {
            "masqmail.pid"
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Every `listen_addresses` entry failed; the last failure.
    #[error("no listen address could be bound: {0}")]
    NothingBound(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Privileges(#[from] crate::privs::PrivError),
    #[error("cannot detach: {0}")]
    Fork(nix::Error),
    /// The detached daemon was killed before it was ready.
    #[error("the daemon died during startup: {0}")]
    Died(nix::sys::signal::Signal),
    #[error("{0}")]
    PidFile(#[from] PidFileError),
    #[error("cannot open the spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    AuthFile(#[from] crate::inbound::smtp::auth_file::AuthFileError),
    #[error("tls_listen_addresses needs tls_cert_file and tls_key_file")]
    ImplicitTlsWithoutCert,
}

/// Runs the daemon until it is told to stop; returns the exit code. In
/// the parent of a detaching start, returns once the daemon is ready
/// (0) or has failed (its exit code; it printed its own error).
pub fn run(cfg: Config, opts: Options, reload: Reloader) -> Result<i32, DaemonError> {
    // SIGTERM/SIGINT stay blocked (pending: neither lost nor fatal) until
    // the handlers are in place: every thread created from here on
    // inherits the mask, and only the thread that installs the handlers
    // unblocks them (`serve::wait_for_stop`).
    let _ = serve::stop_signals().thread_block();
    // Binding low ports, the key file and the pid file need root: be root
    // again (the saved uid allows it) until the drop below.
    let ids = nix::unistd::getresuid();
    if !cfg.run_as_user
        && !nix::unistd::geteuid().is_root()
        && ids.is_ok_and(|i| i.saved.is_root() || i.real.is_root())
    {
        nix::unistd::seteuid(nix::unistd::Uid::from_raw(0)).map_err(|e| {
            DaemonError::Privileges(crate::privs::PrivError::from_nix("seteuid(0)", e))
        })?;
    }
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    if tls.is_none() && opts.listen && !cfg.tls_listen_addresses.is_empty() {
        return Err(DaemonError::ImplicitTlsWithoutCert);
    }
    let readiness = if opts.foreground {
        Readiness::default()
    } else {
        let stderr_is_log = cfg.log_dir.is_none() && !cfg.use_syslog;
        match detach::detach(stderr_is_log)? {
            Detached::Parent(code) => return Ok(code),
            Detached::Child(r) => r,
        }
    };
    // Dropped (and so removed) on every return from here on.
    let pid_file = PidFile::create(&cfg.pid_dir, opts.pid_name())?;
    let listeners = if opts.listen {
        listen::bind_all(&cfg)?
    } else {
        Vec::new()
    };
    if !cfg.run_as_user && nix::unistd::geteuid().is_root() {
        crate::privs::become_mail_user()?;
    }
    // Read as the mail user, as a reload (SIGHUP) will: a file only root
    // can read fails here, at the start, not at the first reload.
    let auth = match (&cfg.smtp_auth_file, opts.listen) {
        (Some(path), true) => Some(Arc::new(AuthTable::load(path)?)),
        _ => None,
    };
    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let cfg = Arc::new(cfg);
    runtime.block_on(async move {
        let instant = InstantDelivery::new(Arc::clone(&cfg), spool.clone());
        let ctx = Arc::new(
            ServerCtx::new(Arc::clone(&cfg), spool, tls, Some(instant.hook())).with_auth(auth),
        );
        let reload = reload::Reload {
            load: reload,
            instant: Arc::clone(&instant),
            current: tokio::sync::watch::Sender::new(ctx),
        };
        tracing::info!("MasqMail {} daemon starting", crate::accept::VERSION);
        serve::serve_until_stopped(reload, listeners, opts, readiness).await;
        // A delivery may be in the middle of a mailbox append: let it end.
        instant.wait_idle().await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(pid_file);
    tracing::info!("MasqMail {} daemon quitting", crate::accept::VERSION);
    Ok(0)
}

/// The daemon serves: pid file written, sockets listening, identity
/// dropped, signal handlers installed, accept loops running. Logs `ready`
/// (with `-bd` and `-bD` alike), tells a waiting parent, and systemd
/// (`Type=notify`).
fn ready(readiness: Readiness) {
    tracing::info!("ready");
    readiness.report();
    notify::notify("READY=1");
}
