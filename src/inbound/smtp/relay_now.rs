//! Which networks may relay for a new session: with `relay_nets.NAME` in
//! the configuration, those of the connection online now
//! ([`super::policy::relay_nets`]). The server keeps the connection name
//! and asks [`crate::online::connection_name`] again (on a blocking
//! thread: it may run `online_query`) when a session starts and the
//! answer is older than [`RECHECK`]; the daemon's link watcher tells it
//! at once when a link settles on another connection ([`RelayNow::told`]).
//!
//! Without `online_query` or `online_detect`, the connection is the one
//! recorded by `masqmail -qo NAME` until `masqmail --offline`
//! ([`crate::online::told`]), read afresh for every session.
//!
//! Guarantees: a session never starts with an answer older than
//! [`RECHECK`], so after the link changes (`online_query`'s answer, the
//! file of `online_detect = file`, a link event) new sessions get the new
//! networks at once, without a restart; running sessions keep theirs.
//! One question at a time: a burst of connections runs `online_query`
//! once, the others wait for its answer. Without `relay_nets.NAME`
//! nothing is asked and `relay_nets` applies as it always did.
//!
//! # Security
//! Fails closed: an unknown or failed answer is "no connection", and
//! then only loopback (and authenticated clients) may relay. We wait for
//! the answer rather than use a stale one, so a laptop that just moved to
//! a foreign network never serves its first sessions there with the home
//! network's trust.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::policy;
use crate::config::Config;

/// How old an answer may be when a session starts.
pub const RECHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct RelayNow {
    /// The last answer and when it came.
    known: Mutex<Option<(Option<String>, Instant)>>,
    /// Held while asking.
    asking: tokio::sync::Mutex<()>,
}

impl RelayNow {
    /// The networks that may relay for a session starting now.
    pub async fn nets(&self, cfg: &Arc<Config>) -> Vec<IpNet> {
        if !policy::per_connection(cfg) {
            return cfg.relay_nets.clone();
        }
        let name = self.connection(cfg).await;
        policy::relay_nets(cfg, name.as_deref())
    }

    /// The daemon's link watcher saw the links settle on `name`.
    pub fn told(&self, name: Option<String>) {
        self.store(name);
    }

    async fn connection(&self, cfg: &Arc<Config>) -> Option<String> {
        if crate::online::told::applies(cfg) {
            // One small file: read for every session, so that `-qo NAME`
            // and `--offline` count from the next session on.
            let c = Arc::clone(cfg);
            let name = tokio::task::spawn_blocking(move || crate::online::told::read(&c))
                .await
                .unwrap_or(None);
            self.store(name.clone());
            return name;
        }
        if let Some(name) = self.fresh() {
            return name;
        }
        let _one = self.asking.lock().await;
        // Somebody else may have asked while we waited.
        if let Some(name) = self.fresh() {
            return name;
        }
        let c = Arc::clone(cfg);
        let name = tokio::task::spawn_blocking(move || crate::online::connection_name(&c, None))
            .await
            .unwrap_or(None);
        self.store(name.clone());
        name
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Option<(Option<String>, Instant)>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self) -> Option<Option<String>> {
        match &*self.known() {
            Some((name, at)) if at.elapsed() < RECHECK => Some(name.clone()),
            _ => None,
        }
    }

    fn store(&self, name: Option<String>) {
        let mut known = self.known();
        let changed = known.as_ref().is_none_or(|(old, _)| *old != name);
        if changed {
            match &name {
                Some(n) => tracing::info!("relaying: connection {n} is online"),
                None => tracing::info!("relaying: no connection online"),
            }
        }
        *known = Some((name, Instant::now()));
    }
}
