//! Group commit of directory syncs: committers that finish their renames
//! together share one `fsync` of the directory (issue 12).
//!
//! A committer takes a [`Ticket`] before it creates, renames or removes
//! anything in the directory, does its work, then calls
//! [`GroupSync::sync`]. That call returns `Ok` only after a sync that
//! *started after the call* finished without error: if a sync is running
//! it may have been issued before our renames, so we wait for the next
//! one. Whoever finds no sync running becomes the leader and syncs for
//! everyone who arrived meanwhile; the others sleep on a condition
//! variable. A lone committer (a `sendmail` process, one SMTP client) is
//! the leader at once and pays exactly what it paid before: one sync, no
//! thread hand-off.
//!
//! Why leader/followers under a `Mutex` + `Condvar` and not a commit
//! thread with a channel: commits already run on blocking threads that
//! would otherwise just wait for the channel's answer; a dedicated thread
//! adds a hand-off (two wake-ups) to every commit, the single-client case
//! included, and one more thread to the daemon's footprint.
//!
//! Errors (the fsyncgate rule of [`super::durable`]): a failed sync is
//! final for everyone whose entries it may have covered. Each ticket
//! remembers how many syncs had failed when it was taken; if any sync
//! failed between the ticket and the covering sync's end, the committer
//! gets an error, even if a later sync of the same fd succeeded (after a
//! failure the kernel may have dropped the dirty metadata, and the error
//! is reported only once per open file). Committers whose ticket is newer
//! than the failure are not affected: everything they did is written by
//! a sync that comes after it and would report a new error.
//!
//! # Security
//! Holds no data of its own: a counter state under a mutex. A poisoned
//! mutex (a panic elsewhere while it was held) is taken over, and a
//! leader that panics inside the sync still ends its generation (as a
//! failure), so no committer can wait forever.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shares directory syncs among concurrent committers.
#[derive(Debug, Default)]
pub struct GroupSync {
    state: Mutex<State>,
    finished: Condvar,
    /// Test hook ([`GroupSync::holding`]); 0 in production.
    hold: usize,
}

/// The longest a held leader waits for its batch before it syncs anyway
/// (a test that miscounts its committers fails its count, it never hangs).
const HOLD_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct State {
    /// Generations started; while `running`, the one in progress.
    started: u64,
    /// Generations ended (`started` or `started - 1`).
    ended: u64,
    running: bool,
    /// Syncs that failed so far.
    failures: u64,
    /// The last failure, for the committers it concerns.
    last_error: Option<(io::ErrorKind, String)>,
    /// Committers asleep waiting for a generation (tests look at it).
    waiting: usize,
    /// Committers inside [`GroupSync::sync`].
    present: usize,
}

/// Taken before a committer touches the directory; see the module doc.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Ticket {
    failures: u64,
}

impl GroupSync {
    pub fn new() -> GroupSync {
        GroupSync::default()
    }

    /// Test hook (debug builds set it from `MASQMAIL_TEST_SYNC_BATCH`, see
    /// `Spool::open`): no sync starts until `batch` committers are inside
    /// [`GroupSync::sync`] (or [`HOLD_LIMIT`] passed), so that end-to-end
    /// tests can count the fsyncs of a batch exactly.
    pub fn holding(batch: usize) -> GroupSync {
        GroupSync {
            hold: batch,
            ..GroupSync::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers the failures so far; take it before the first change to
    /// the directory that the sync must cover.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            failures: self.lock().failures,
        }
    }

    /// Returns once a run of `fsync` that started after this call has
    /// ended: `Ok` if it and every run since `ticket` succeeded. `fsync`
    /// is called by at most one committer at a time.
    pub fn sync(&self, ticket: Ticket, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut st = self.lock();
        // A running generation may have begun before our renames.
        let target = st.started + 1;
        st.present += 1;
        let held_until = (self.hold > 0).then(|| {
            self.finished.notify_all();
            Instant::now() + HOLD_LIMIT
        });
        let mut fsync = Some(fsync);
        while st.ended < target {
            let hold = held_until.filter(|_| st.present < self.hold);
            if let Some(until) = hold.filter(|u| !st.running && Instant::now() < *u) {
                let wait = until.saturating_duration_since(Instant::now());
                st = self
                    .finished
                    .wait_timeout(st, wait)
                    .map_or_else(|e| e.into_inner().0, |(st, _)| st);
                continue;
            }
            if st.running {
                st.waiting += 1;
                st = self.finished.wait(st).unwrap_or_else(|e| e.into_inner());
                st.waiting -= 1;
                continue;
            }
            let Some(run) = fsync.take() else {
                // Unreachable: we lead at most once, and after leading
                // `ended` has reached `target`.
                st.present -= 1;
                return Err(io::Error::other("group sync: led twice"));
            };
            st.started += 1;
            st.running = true;
            drop(st);
            let end = End { group: self };
            let result = run();
            st = end.finish(result.as_ref().err());
        }
        st.present -= 1;
        // Conservative: a failure of a later generation that ended before
        // we woke counts too. A needless 451 costs a retry; a 250 that a
        // failed sync may have dropped would cost the message.
        if st.failures == ticket.failures {
            return Ok(());
        }
        let (kind, text) = st
            .last_error
            .clone()
            .unwrap_or((io::ErrorKind::Other, String::new()));
        Err(io::Error::new(
            kind,
            format!("directory sync failed while this commit was pending: {text}"),
        ))
    }

    /// Committers asleep waiting for a sync (for tests that must know a
    /// batch has formed).
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

/// Ends the leader's generation, also when the sync panics.
struct End<'a> {
    group: &'a GroupSync,
}

impl<'a> End<'a> {
    fn finish(self, error: Option<&io::Error>) -> MutexGuard<'a, State> {
        let group = self.group;
        std::mem::forget(self);
        let mut st = group.lock();
        end_generation(&mut st, error.map(|e| (e.kind(), e.to_string())));
        group.finished.notify_all();
        st
    }
}

impl Drop for End<'_> {
    fn drop(&mut self) {
        let mut st = self.group.lock();
        end_generation(
            &mut st,
            Some((io::ErrorKind::Other, "sync panicked".into())),
        );
        self.group.finished.notify_all();
    }
}

fn end_generation(st: &mut State, error: Option<(io::ErrorKind, String)>) {
    st.running = false;
    st.ended = st.started;
    if let Some(e) = error {
        st.failures += 1;
        st.last_error = Some(e);
    }
}

#[cfg(test)]
#[path = "group_sync_tests.rs"]
mod tests;
