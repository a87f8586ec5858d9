//! Counting running tasks (sessions, deliveries) so that an orderly stop
//! can wait for them.
//!
//! # Security
//! Nothing here touches input; a guard decrements on drop, also when its
//! task panics or is aborted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

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
