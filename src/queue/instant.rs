//! Instant delivery: a message accepted by a long-running process (the
//! daemon, `-bs`) is delivered at once on a blocking thread, unless
//! `do_queue` holds. The process waits for these before it exits, so no
//! mailbox append is cut short. A reloaded configuration (SIGHUP) applies
//! to the deliveries started after it; those running keep theirs.
//!
//! # Security
//! Runs the ordinary delivery of one queued message under its lock; it
//! trusts only the spool.

use std::sync::{Arc, RwLock};

use super::Scope;
use crate::config::Config;
use crate::message::QueueId;
use crate::spool::Spool;
use crate::tasks::Tracker;

pub struct InstantDelivery {
    cfg: RwLock<Arc<Config>>,
    spool: Spool,
    running: Arc<Tracker>,
}

impl InstantDelivery {
    pub fn new(cfg: Arc<Config>, spool: Spool) -> Arc<InstantDelivery> {
        Arc::new(InstantDelivery {
            cfg: RwLock::new(cfg),
            spool,
            running: Arc::default(),
        })
    }

    /// Delivers `id` on a blocking thread (nothing when `do_queue` is set).
    pub fn start(&self, id: QueueId) {
        let cfg = self.config();
        if cfg.do_queue {
            return;
        }
        let guard = self.running.enter();
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || {
            super::deliver_ids(&cfg, &spool, Scope::ALL, std::slice::from_ref(&id));
            drop(guard);
        });
    }

    /// The configuration for deliveries started from now on.
    pub fn set_config(&self, cfg: Arc<Config>) {
        // A poisoned lock only means a panic elsewhere; the value is whole.
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    }

    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.cfg.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A hook for the SMTP server's `on_accepted` (a server context field).
    pub fn hook(self: &Arc<Self>) -> Box<dyn Fn(QueueId) + Send + Sync> {
        let this = Arc::clone(self);
        Box::new(move |id| this.start(id))
    }

    /// Resolves once no delivery started here is running.
    pub async fn wait_idle(&self) {
        self.running.wait_idle().await;
    }
}
