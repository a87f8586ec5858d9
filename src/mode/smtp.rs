//! `-bs` (one SMTP session on stdin/stdout) and `-bd`/`-q<ival>` (the
//! daemon).

use std::sync::Arc;

use super::{Exit, code};
use crate::cli::Invocation;
use crate::config::Config;
use crate::daemon;
use crate::inbound::smtp::{Peer, ServerCtx, serve};
use crate::privs;
use crate::queue::InstantDelivery;
use crate::spool::Spool;

/// `-bs`: if stdin is a TCP socket (inetd) its peer is the client;
/// otherwise the session is local, by the invoking user.
pub fn session(cfg: &Config) -> Result<i32, Exit> {
    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir)
        .map_err(|e| Exit::new(code::TEMPFAIL, format!("cannot open the spool: {e}")))?;
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => Some(
            crate::privs::as_root(|| crate::tls::server_config(cert, key))
                .map_err(|e| Exit::fail(e.to_string()))?,
        ),
        _ => None,
    };
    let peer = match stdin_peer() {
        Some(addr) => Peer::Tcp(addr),
        None => {
            let (uid, login) = privs::current_login();
            Peer::Local { login, uid }
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::fail(format!("cannot start the runtime: {e}")))?;
    let cfg = Arc::new(cfg.clone());
    let instant = InstantDelivery::new(Arc::clone(&cfg), spool.clone());
    let ctx = Arc::new(ServerCtx::new(cfg, spool, tls, Some(instant.hook())));
    runtime.block_on(async {
        let io = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
        serve(io, ctx, peer).await;
        // Instant deliveries finish before the process ends.
        instant.wait_idle().await;
    });
    Ok(code::OK)
}

fn stdin_peer() -> Option<std::net::SocketAddr> {
    use nix::sys::socket::{SockaddrLike, SockaddrStorage, getpeername};
    let addr: SockaddrStorage = getpeername(0).ok()?;
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(std::net::SocketAddr::V4((*v4).into()));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Some(std::net::SocketAddr::V6((*v6).into()));
    }
    let _ = addr.family();
    None
}

/// `-bd`, `-bD`, `-q<ival>`: root or the mail user only (cli.md §4.2).
pub fn daemon(
    cfg: &Config,
    inv: &Invocation,
    listen: bool,
    queue_interval: Option<std::time::Duration>,
    fetch: Option<crate::cli::FetchEvery>,
) -> Result<i32, Exit> {
    let ruid = nix::unistd::getuid();
    let mail = privs::mail_user().ok().map(|(u, _)| u);
    if !cfg.run_as_user && !ruid.is_root() && Some(ruid) != mail {
        return Err(Exit::fail(format!(
            "must be root or {} for daemon.",
            privs::MAIL_USER
        )));
    }
    let opts = daemon::Options {
        listen,
        queue_interval,
        foreground: inv.foreground,
        fetch: fetch.map(|f| daemon::FetchEvery {
            interval: f.interval,
            connection: f.connection,
        }),
    };
    let inv = inv.clone();
    let reload: daemon::Reloader =
        // Read as at startup, when the daemon was still root.
        std::sync::Arc::new(move || privs::as_root(|| super::startup::load(&inv)).map_err(|e| e.message));
    daemon::run(cfg.clone(), opts, reload).map_err(|e| Exit::fail(e.to_string()))
}
