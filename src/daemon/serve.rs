//! The running daemon: signal handlers, accept loops, interval queue runs,
//! readiness, and the orderly stop.
//!
//! On SIGHUP: reload the configuration ([`super::reload`]). On SIGTERM
//! or SIGINT: stop accepting, give sessions [`GRACE`] to
//! finish, drop the rest (nothing unacknowledged was spooled; each client
//! address dropped is logged), then wait for instant deliveries in
//! progress.
//!
//! # Security
//! The stop signals were blocked since the start of [`super::run`]; they
//! are let in only once their handlers exist, so a SIGTERM during startup
//! is never lost and never kills the process half-started.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use tokio::sync::watch;

use super::detach::Readiness;
use super::link::{Jobs, Serial};
use super::listen::{Bound, Limits, accept_loop};
use super::reload::{Reload, on_hangup};
use super::{GRACE, Options, notify};
use crate::inbound::smtp::ServerCtx;
use crate::queue::Scope;
use crate::tasks::Tracker;

/// Serves until SIGTERM/SIGINT, reporting readiness once everything runs.
pub(crate) async fn serve_until_stopped(
    reload: Reload,
    listeners: Vec<Bound>,
    opts: Options,
    readiness: Readiness,
) {
    // Handlers first: a SIGTERM or SIGHUP must never find the default
    // action (the end of the process) once clients can connect.
    let hup = signal(SignalKind::hangup());
    let stop = wait_for_stop();
    let current = reload.current.subscribe();
    let serial = Serial::default();
    let ctx = Arc::clone(&current.borrow());
    let limits = Arc::new(Limits::new(&ctx.cfg));
    let runs = Arc::new(Tracker::default());
    let mut tasks = tokio::task::JoinSet::new();
    for b in listeners {
        match TcpListener::from_std(b.listener) {
            Ok(l) => {
                let tls = b.implicit_tls;
                tasks.spawn(accept_loop(l, tls, current.clone(), Arc::clone(&limits)));
            }
            Err(e) => tracing::error!("cannot use listener: {e}"),
        }
    }
    if let Some(every) = opts.queue_interval {
        let timer = queue_timer(current.clone(), Arc::clone(&runs), every, serial.clone());
        tasks.spawn(timer);
    }
    match hup {
        Ok(hup) => {
            tasks.spawn(on_hangup(hup, reload));
        }
        Err(e) => tracing::error!("cannot install the SIGHUP handler; no reloads: {e}"),
    }
    // The fetch is not aborted mid-session: it is told to stop and ends
    // after the fetch in progress (whose messages are then safe and
    // deleted on the server), so a stop never leaves a message fetched
    // but not deleted. The link task stops the same way.
    let (stop_fetch, fetch_stopped) = tokio::sync::watch::channel(false);
    let fetcher = opts.fetch.clone().map(|every| {
        let timer = super::fetch::timer(
            current.clone(),
            every,
            Arc::clone(&serial.fetch),
            fetch_stopped.clone(),
        );
        tokio::spawn(timer)
    });
    let jobs = Jobs {
        flush: opts.queue_interval.is_some(),
        fetch: opts.fetch.is_some(),
    };
    let links = (crate::online::link::watchable(ctx.cfg.online_detect)
        && (jobs.flush || jobs.fetch))
        .then(|| {
            tokio::spawn(super::link::run(
                current.clone(),
                Arc::clone(&runs),
                jobs,
                serial,
                fetch_stopped,
            ))
        });
    super::ready(readiness);
    stop.await;
    notify::notify("STOPPING=1");
    let _ = stop_fetch.send(true);
    tracing::info!(
        "stopping: no new connections; {} session(s) running",
        limits.sessions.running()
    );
    tasks.abort_all();
    if tokio::time::timeout(GRACE, limits.sessions.wait_idle())
        .await
        .is_err()
    {
        for (ip, n) in limits.hosts.snapshot() {
            tracing::info!("dropping {n} session(s) of host {ip}: grace period over");
        }
        tracing::info!(
            "{} session(s) dropped after the grace period",
            limits.sessions.running()
        );
    }
    // A queue run may be in the middle of a mailbox append: let it end.
    runs.wait_idle().await;
    for task in [fetcher, links].into_iter().flatten() {
        let _ = task.await;
    }
}

/// The signals that stop (SIGTERM, SIGINT) or reload (SIGHUP) the
/// daemon: blocked from the start until their handlers exist.
pub(crate) fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGTERM);
    set.add(nix::sys::signal::Signal::SIGINT);
    set.add(nix::sys::signal::Signal::SIGHUP);
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

async fn queue_timer(
    current: watch::Receiver<Arc<ServerCtx>>,
    runs: Arc<Tracker>,
    every: Duration,
    serial: Serial,
) {
    // 1.0: the first run one interval after the start.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Not beside a link-up flush either.
        let _one = serial.queue_run.lock().await;
        let ctx = Arc::clone(&current.borrow());
        let guard = runs.enter();
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
