//! The daemon (delivery.md §16): SMTP listeners (`-bd`) and/or a queue
//! run every interval (`-q<ival>`), a pid file, and an orderly stop.
//!
//! Lifecycle: bind every `listen_addresses` entry (names resolved, IPv4
//! and IPv6) while still privileged → detach unless `-bD` → drop to the
//! mail user when started as root → serve. On SIGTERM or SIGINT: stop
//! accepting, give sessions [`GRACE`] to finish, drop the rest (nothing
//! unacknowledged was spooled), wait for instant deliveries in progress,
//! remove the pid file, exit 0.
//!
//! # Security
//! Connections beyond `max_connections` get `421 4.7.0` at once, so a
//! flood costs a socket each, not a session. The identity drop is checked
//! and fatal (R24).

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::queue::Scope;
use crate::smtp::server::{Peer, ServerCtx, Tracker, serve};
use crate::spool::Spool;

/// How long running sessions may go on after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(5);

/// What `-bd` / `-q<ival>` / `-bD` asked for.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub listen: bool,
    pub queue_interval: Option<Duration>,
    /// `-bD`: stay in the foreground (systemd, tests).
    pub foreground: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("no listen address could be bound")]
    NothingBound,
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Privileges(#[from] crate::privs::PrivError),
    #[error("cannot detach: {0}")]
    Fork(nix::Error),
    #[error("cannot open the spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Runs the daemon until it is told to stop; returns the exit code.
pub fn run(cfg: Config, opts: Options) -> Result<i32, DaemonError> {
    // SIGTERM/SIGINT stay blocked (pending: neither lost nor fatal) until
    // the handlers are in place: every thread created from here on
    // inherits the mask, and only the thread that installs the handlers
    // unblocks them ([`wait_for_stop`]).
    let _ = stop_signals().thread_block();
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
    let listeners = if opts.listen {
        bind_all(&cfg)?
    } else {
        Vec::new()
    };
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    if !opts.foreground {
        detach(&cfg)?;
    }
    let pid_file = cfg.pid_dir.join("masqmail.pid");
    if opts.foreground {
        write_pid_file(&pid_file, std::process::id());
    }
    if !cfg.run_as_user && nix::unistd::geteuid().is_root() {
        crate::privs::become_mail_user()?;
    }
    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let cfg = Arc::new(cfg);
    runtime.block_on(async move {
        let ctx = Arc::new(ServerCtx::new(Arc::clone(&cfg), spool, tls));
        tracing::info!("MasqMail {} daemon starting", crate::accept::VERSION);
        serve_until_stopped(ctx, listeners, opts).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    remove_pid_file(&pid_file);
    tracing::info!("MasqMail {} daemon quitting", crate::accept::VERSION);
    Ok(0)
}

/// Binds every address of every `listen_addresses` entry; failures are
/// logged and the entry dropped (§16), but with none bound we stop.
fn bind_all(cfg: &Config) -> Result<Vec<StdListener>, DaemonError> {
    let mut out = Vec::new();
    for iface in &cfg.listen_addresses {
        let addrs: Vec<SocketAddr> = match (iface.host.as_str(), iface.port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::error!(
                    "cannot resolve listen address {}:{}: {e}",
                    iface.host,
                    iface.port
                );
                continue;
            }
        };
        for addr in addrs {
            match StdListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(l) => {
                    tracing::info!("listening on interface {addr}");
                    out.push(l);
                }
                Err(e) => tracing::error!("cannot listen on {addr}: {e}"),
            }
        }
    }
    if out.is_empty() {
        return Err(DaemonError::NothingBound);
    }
    Ok(out)
}

/// Forks; the parent writes the pid file with the child's pid and exits.
fn detach(cfg: &Config) -> Result<(), DaemonError> {
    // SAFETY: single-threaded here (the runtime is built after this).
    match unsafe { nix::unistd::fork() }.map_err(DaemonError::Fork)? {
        nix::unistd::ForkResult::Parent { child } => {
            write_pid_file(&cfg.pid_dir.join("masqmail.pid"), child.as_raw() as u32);
            std::process::exit(0);
        }
        nix::unistd::ForkResult::Child => {
            let _ = nix::unistd::setsid();
            if let Ok(null) = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd;
                let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
                let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
                // stderr stays only when it is the log (empty log_dir).
                if cfg.log_dir.is_some() || cfg.use_syslog {
                    let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
                }
            }
            Ok(())
        }
    }
}

/// The pid file was written while still root (`/var/run` is root's);
/// the saved uid lets this thread be root again for removing it.
fn remove_pid_file(path: &PathBuf) {
    let _root = if nix::unistd::geteuid().is_root() {
        None
    } else {
        crate::privs::EffectiveIdentity::switch_to(
            nix::unistd::Uid::from_raw(0),
            nix::unistd::Gid::from_raw(0),
        )
        .ok()
    };
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!("cannot remove {}: {e}", path.display());
    }
}

fn write_pid_file(path: &PathBuf, pid: u32) {
    // One level, like the spool directories (cli.md §4.3).
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir(dir);
    }
    if let Err(e) = std::fs::write(path, format!("{pid}\n")) {
        tracing::warn!("cannot write pid file {}: {e}", path.display());
    }
}

async fn serve_until_stopped(ctx: Arc<ServerCtx>, listeners: Vec<StdListener>, opts: Options) {
    // Handlers first: a SIGTERM must never find the default action once
    // clients can connect.
    let stop = wait_for_stop();
    let sessions = Arc::new(Tracker::default());
    let permits = Arc::new(Semaphore::new(match ctx.cfg.max_connections {
        0 => Semaphore::MAX_PERMITS,
        n => n as usize,
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        match TcpListener::from_std(l) {
            Ok(l) => {
                tasks.spawn(accept_loop(
                    l,
                    Arc::clone(&ctx),
                    Arc::clone(&sessions),
                    Arc::clone(&permits),
                ));
            }
            Err(e) => tracing::error!("cannot use listener: {e}"),
        }
    }
    if let Some(every) = opts.queue_interval {
        tasks.spawn(queue_timer(Arc::clone(&ctx), every));
    }
    stop.await;
    tracing::info!(
        "stopping: no new connections; {} session(s) running",
        sessions.running()
    );
    tasks.abort_all();
    if tokio::time::timeout(GRACE, sessions.wait_idle())
        .await
        .is_err()
    {
        tracing::info!(
            "{} session(s) dropped after the grace period",
            sessions.running()
        );
    }
    // A delivery may be in the middle of a mailbox append: let it end.
    ctx.deliveries.wait_idle().await;
}

fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    set.add(nix::sys::signal::Signal::SIGINT);
    set
}

/// Installs the SIGTERM/SIGINT handlers now (not at the first poll), then
/// lets the signals in on this thread, so a stop requested during startup
/// is delivered now; the future resolves on either.
fn wait_for_stop() -> impl Future<Output = ()> {
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let _ = stop_signals().thread_unblock();
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ServerCtx>,
    sessions: Arc<Tracker>,
    permits: Arc<Semaphore>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(too_many(stream, ctx.cfg.host_name.clone()));
            continue;
        };
        tracing::debug!(
            "connect from host {}, port {}",
            addr.ip().to_canonical(),
            addr.port()
        );
        let guard = sessions.enter();
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            serve(stream, ctx, Peer::Tcp(addr)).await;
            drop(permit);
            drop(guard);
        });
    }
}

async fn too_many(mut stream: TcpStream, host: String) {
    let line = format!("421 4.7.0 {host} too many connections, try again later\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
}

async fn queue_timer(ctx: Arc<ServerCtx>, every: Duration) {
    // 1.0: the first run one interval after the start.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ctx = Arc::clone(&ctx);
        let guard = ctx.deliveries.enter();
        let run = tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::queue::run_all(&ctx.cfg, &ctx.spool, Scope::ALL) {
                tracing::error!("queue run failed: {e}");
            }
            drop(guard);
        });
        // Runs do not overlap: the next tick waits for this one.
        let _ = run.await;
    }
}
