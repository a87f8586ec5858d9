//! The fetch daemon (`-go INTERVAL [NAME]`, alone or with `-bd`/`-q`):
//! fetch the online gets at once, then every interval; what came is
//! handed to instant delivery like mail that came in over SMTP.
//!
//! # Security
//! Runs the same fetch as `-go` (see [`crate::inbound::fetch`]); fetches
//! never overlap (the link task's fetches take the same lock), and a stop
//! waits for the fetch in progress.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{Mutex, watch};

use super::FetchEvery;
use crate::inbound::fetch::{Which, fetch_files, get_files};
use crate::inbound::smtp::ServerCtx;

pub(crate) async fn timer(
    current: watch::Receiver<Arc<ServerCtx>>,
    every: FetchEvery,
    fetching: Arc<Mutex<()>>,
    mut stop: watch::Receiver<bool>,
) {
    // 0.2: the first fetch at once.
    let mut tick = tokio::time::interval(every.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let ctx = Arc::clone(&current.borrow());
        let _one = fetching.lock().await;
        fetch_once(&ctx, every.connection.clone()).await;
    }
}

/// Fetches the gets of `online_gets.<connection>` (`None`: online
/// detection names it) and hands what came to instant delivery.
pub(super) async fn fetch_once(ctx: &Arc<ServerCtx>, connection: Option<String>) {
    let cfg = Arc::clone(&ctx.cfg);
    let which = Which::Online(connection);
    // Online detection may run a command: not on a runtime thread.
    let files = match tokio::task::spawn_blocking(move || get_files(&cfg, &which)).await {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => {
            tracing::error!("fetch: {e}");
            return;
        }
        Err(e) => {
            tracing::error!("fetch: {e}");
            return;
        }
    };
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let ids = fetch_files(&ctx.target, &paths).await;
    if let Some(hook) = &ctx.on_accepted {
        for id in ids {
            hook(id);
        }
    }
}
