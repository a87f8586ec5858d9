//! Instant delivery: a message accepted by a long-running process (the
//! daemon, `-bs`) is delivered at once on a blocking thread, unless
//! `do_queue` holds. At most [`MAX_DELIVERIES`] run at a time; a burst
//! of accepted messages waits in a queue of ids for the next free one
//! (a flood of clients cannot grow the daemon by a thread per message).
//! The process waits for these, queued ones included, before it exits,
//! so no mailbox append is cut short. A reloaded configuration (SIGHUP)
//! applies to the deliveries started after it; those running keep theirs.
//!
//! # Security
//! Runs the ordinary delivery of one queued message under its lock; it
//! trusts only the spool.

use std::sync::{Arc, RwLock};

use super::Scope;
use crate::config::Config;
use crate::message::QueueId;
use crate::spool::Spool;
use crate::tasks::{Tracker, Workers};

/// Instant deliveries running at once. Deliveries wait on disks, MDAs
/// and remote servers rather than on the CPU, so more than the cores;
/// but bounded, each one is a thread.
pub const MAX_DELIVERIES: usize = 16;

pub struct InstantDelivery {
    cfg: Arc<RwLock<Arc<Config>>>,
    spool: Spool,
    running: Arc<Tracker>,
    workers: Arc<Workers<QueueId>>,
}

impl InstantDelivery {
    pub fn new(cfg: Arc<Config>, spool: Spool) -> Arc<InstantDelivery> {
        let running = Arc::new(Tracker::default());
        Arc::new(InstantDelivery {
            cfg: Arc::new(RwLock::new(cfg)),
            spool,
            workers: Workers::new(MAX_DELIVERIES, Arc::clone(&running)),
            running,
        })
    }

    /// Delivers `id` on a blocking thread, at once or after the
    /// deliveries queued before it (nothing when `do_queue` is set).
    pub fn start(&self, id: QueueId) {
        if self.config().do_queue {
            return;
        }
        let (cfg, spool) = (Arc::clone(&self.cfg), self.spool.clone());
        let work = Arc::new(move |id: QueueId| {
            // The configuration when the delivery starts (a reload meanwhile
            // applies to it).
            let cfg = Arc::clone(&cfg.read().unwrap_or_else(|e| e.into_inner()));
            super::deliver_ids(&cfg, &spool, Scope::ALL, std::slice::from_ref(&id));
        });
        self.workers.submit(id, work);
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
