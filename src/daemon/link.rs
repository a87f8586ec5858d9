//! Reacting to links (`online_detect = netlink | networkmanager`): when a
//! connection comes up, the queue daemon (`-q`) flushes the queue through
//! its route set and the fetch daemon (`-go`) runs its gets, with no hook
//! script. [`crate::online::link`] watches; this task decides.
//!
//! Guarantees:
//! - Debounce: a change is acted on only after `online_debounce` passed
//!   with no further change, so a flapping link gives one flush.
//! - One at a time: the flush and fetch run in this task, awaited, so
//!   two never overlap; a change that arrives meanwhile is acted on after
//!   them (once it settled), even when it ends on the same connection,
//!   since the link went away under the run. A flush also waits for the
//!   interval run in progress, a fetch for the fetch timer's ([`Serial`]).
//! - Link down is logged, nothing else; a link that stays on the same
//!   connection is not flushed again.
//! - A stop ends the task between actions, never inside one: a flush
//!   runs on a tracked blocking thread, a fetch is never cut mid-session.
//!
//! # Security
//! Acts only on the connection name the configuration maps a link to,
//! through the same queue run (`-qo NAME`) and fetch (`-go NAME`) an
//! administrator can start by hand; the configuration is read anew
//! (`current`) for each change, so a SIGHUP applies.

use std::sync::Arc;

use tokio::sync::{Mutex, watch};

use crate::inbound::smtp::ServerCtx;
use crate::online::link::{self, Seen};
use crate::tasks::Tracker;

/// The daemon's one-at-a-time locks, shared by the timers and this task.
#[derive(Debug, Default, Clone)]
pub(crate) struct Serial {
    /// Held by a queue run (interval or link-up).
    pub queue_run: Arc<Mutex<()>>,
    /// Held by a fetch (timer or link-up).
    pub fetch: Arc<Mutex<()>>,
}

/// What this daemon does on link-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Jobs {
    /// `-q`: flush the queue through the connection's route set.
    pub flush: bool,
    /// `-go`: run the connection's `online_gets`.
    pub fetch: bool,
}

/// Watches the links until `stop` turns true; see the module doc.
pub(crate) async fn run(
    current: watch::Receiver<Arc<ServerCtx>>,
    runs: Arc<Tracker>,
    jobs: Jobs,
    serial: Serial,
    mut stop: watch::Receiver<bool>,
) {
    let method = current.borrow().cfg.online_detect;
    let (tx, mut seen) = watch::channel(None);
    let watcher = tokio::spawn(link::watch(method, tx));
    // The connection last acted on; `None` while down.
    let mut up: Option<String> = None;
    // The links changed while the last action ran: act again even if they
    // settle on the same connection (what changed meanwhile may matter).
    let mut changed_meanwhile = false;
    while let Some(now) = settled(&current, &mut seen, &mut stop).await {
        let ctx = Arc::clone(&current.borrow());
        let Some(now) = now else {
            ctx.relay_now.told(None);
            changed_meanwhile = false;
            if up.take().is_some() {
                tracing::info!("link down");
            }
            continue;
        };
        let name = now.name(&ctx.cfg);
        // New sessions get the new connection's relay networks at once.
        ctx.relay_now.told(Some(name.clone()));
        if up.as_deref() == Some(name.as_str()) && !changed_meanwhile {
            continue;
        }
        tracing::info!("link up: connection {name} (via {})", now.via());
        act(&ctx, &runs, jobs, &serial, &name).await;
        up = Some(name);
        changed_meanwhile = seen.has_changed().unwrap_or(true);
    }
    watcher.abort();
}

/// Waits for a change, then until none came for `online_debounce`;
/// returns what the links are then, or `None` to stop.
async fn settled(
    current: &watch::Receiver<Arc<ServerCtx>>,
    seen: &mut watch::Receiver<Option<Seen>>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Option<Seen>> {
    tokio::select! {
        r = seen.changed() => r.ok()?,
        _ = stop.changed() => return None,
    }
    let debounce = current.borrow().cfg.online_debounce;
    loop {
        tokio::select! {
            r = tokio::time::timeout(debounce, seen.changed()) => match r {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return None,
                Err(_quiet) => break,
            },
            _ = stop.changed() => return None,
        }
    }
    Some(seen.borrow_and_update().clone())
}

async fn act(ctx: &Arc<ServerCtx>, runs: &Arc<Tracker>, jobs: Jobs, serial: &Serial, name: &str) {
    if jobs.flush {
        let _one = serial.queue_run.lock().await;
        tracing::info!("flushing the queue for {name}");
        let guard = runs.enter();
        let (cfg, spool, name) = (Arc::clone(&ctx.cfg), ctx.spool.clone(), name.to_string());
        let run = tokio::task::spawn_blocking(move || {
            if let Err(e) = crate::queue::run_online(&cfg, &spool, &name) {
                tracing::error!("queue run for {name} failed: {e}");
            }
            drop(guard);
        });
        let _ = run.await;
    }
    if jobs.fetch {
        let _one = serial.fetch.lock().await;
        super::fetch::fetch_once(ctx, Some(name.to_string())).await;
    }
}
