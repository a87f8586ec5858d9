//! Counting running tasks (sessions, deliveries) so that an orderly stop
//! can wait for them, and [`Workers`]: a bounded set of blocking workers
//! draining one queue, so a burst never takes a thread per item.
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

/// At most `limit` blocking workers draining one FIFO of items: a burst
/// of work waits in the queue (an item is small) instead of each item
/// taking a thread of its own. Every worker holds a [`TrackGuard`] of
/// `tracker`, so [`Tracker::wait_idle`] also waits for queued items.
pub struct Workers<T> {
    limit: usize,
    state: std::sync::Mutex<WorkState<T>>,
    tracker: Arc<Tracker>,
}

struct WorkState<T> {
    queue: std::collections::VecDeque<T>,
    workers: usize,
}

impl<T: Send + 'static> Workers<T> {
    pub fn new(limit: usize, tracker: Arc<Tracker>) -> Arc<Workers<T>> {
        Arc::new(Workers {
            limit: limit.max(1),
            state: std::sync::Mutex::new(WorkState {
                queue: std::collections::VecDeque::new(),
                workers: 0,
            }),
            tracker,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WorkState<T>> {
        // A poisoned lock only means a panic elsewhere; the queue is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`; a new worker (on tokio's blocking pool) runs `work`
    /// on it unless `limit` workers are busy already.
    pub fn submit(self: &Arc<Self>, item: T, work: Arc<dyn Fn(T) + Send + Sync>) {
        let mut st = self.state();
        st.queue.push_back(item);
        if st.workers >= self.limit {
            return;
        }
        st.workers += 1;
        drop(st);
        let this = Arc::clone(self);
        let guard = self.tracker.enter();
        tokio::task::spawn_blocking(move || {
            // Ends the worker, also when `work` panics (the item is lost
            // to this worker only: it stays in the spool).
            struct Leave<'a, T>(&'a Workers<T>);
            impl<T> Drop for Leave<'_, T> {
                fn drop(&mut self) {
                    if std::thread::panicking() {
                        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
                        st.workers -= 1;
                    }
                }
            }
            let leave = Leave(&this);
            loop {
                let next = {
                    let mut st = this.state();
                    match st.queue.pop_front() {
                        Some(item) => item,
                        None => {
                            st.workers -= 1;
                            break;
                        }
                    }
                };
                work(next);
            }
            drop(leave);
            drop(guard);
        });
    }

    /// Items waiting for a worker and workers running (for tests).
    pub fn load(&self) -> (usize, usize) {
        let st = self.state();
        (st.queue.len(), st.workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    /// Work that blocks until released, counting how many run at once.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        now: AtomicUsize,
        most: AtomicUsize,
        done: AtomicUsize,
    }

    impl Gate {
        fn pass(&self) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
            drop(open);
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_waits_for_the_limit_and_every_item_runs() {
        let tracker = Arc::new(Tracker::default());
        let workers = Workers::new(16, Arc::clone(&tracker));
        let gate = Arc::new(Gate::default());
        let g = Arc::clone(&gate);
        let work: Arc<dyn Fn(u32) + Send + Sync> = Arc::new(move |_| g.pass());
        for i in 0..20 {
            workers.submit(i, Arc::clone(&work));
        }
        // Every worker took its first item: 16 running, 4 waiting.
        let deadline = Instant::now() + Duration::from_secs(30);
        while gate.now.load(Ordering::SeqCst) < 16 {
            assert!(Instant::now() < deadline, "workers did not start");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(workers.load(), (4, 16));
        *gate.open.lock().unwrap() = true;
        gate.opened.notify_all();
        tracker.wait_idle().await;
        assert_eq!(gate.done.load(Ordering::SeqCst), 20);
        assert_eq!(gate.most.load(Ordering::SeqCst), 16);
        assert_eq!(workers.load(), (0, 0));
        // Idle workers are gone; new work starts a new one.
        workers.submit(99, Arc::clone(&work));
        tracker.wait_idle().await;
        assert_eq!(gate.done.load(Ordering::SeqCst), 21);
    }
}
