//! Queue runs: `-q`, `-qo NAME`, instant delivery after acceptance and the
//! daemon's interval runs are all "deliver these messages with this
//! [`Scope`]", then deliver the notices the run produced.
//!
//! Messages are locked in chunks, delivered, then unlocked, so that the
//! SMTP transport can send all messages of a chunk for one host over one
//! connection, while the number of open lock files stays bounded. Delivery
//! hands back the notices it built; the run spools them through `accept`
//! (`notice.rs`) before each message's spool record changes.
//!
//! Guarantees (R33): each message is concluded the moment its own
//! outcomes are known — after its local step when nothing remote is left,
//! else when the remote step reports its last pending target, in the middle
//! of the chunk's SMTP session — so a kill -9 re-delivers at most what was
//! in flight.
//!
//! # Security
//! A message is touched only under its lock; a second runner skips it
//! (`spool file <ID> is locked`). The header file is re-read after the
//! lock is taken, so a runner never acts on a stale copy.

mod instant;
mod notice;

pub use instant::InstantDelivery;

use std::time::Duration;

use notice::Notices;

use crate::config::Config;
use crate::deliver::runner::Runner;
use crate::deliver::step::InFlight;
use crate::message::QueueId;
use crate::spool::{MessageLock, Spool};

/// Which recipients a run handles: `-q` and instant delivery take all,
/// `-qo NAME` only remote ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub local: bool,
    pub remote: bool,
}

impl Scope {
    pub const ALL: Scope = Scope {
        local: true,
        remote: true,
    };
}

/// Messages locked and delivered together.
const CHUNK: usize = 100;

/// Temp files and orphaned data files older than this are swept.
pub const SWEEP_AGE: Duration = Duration::from_secs(3600);

/// A full queue run over every queued message (`-q`).
pub fn run_all(cfg: &Config, spool: &Spool, scope: Scope) -> Result<(), crate::spool::SpoolError> {
    tracing::info!("Starting queue run.");
    if let Err(e) = spool.sweep(SWEEP_AGE) {
        tracing::error!("cannot sweep the spool: {e}");
    }
    let ids = spool.ids()?;
    deliver_ids(cfg, spool, scope, &ids);
    tracing::info!("Finished queue run.");
    Ok(())
}

/// `-qo NAME`: remote recipients only, over the permanent routes and
/// the route set of connection `name` (cli.md §8).
pub fn run_online(cfg: &Config, spool: &Spool, name: &str) -> Result<(), crate::spool::SpoolError> {
    tracing::info!("Starting online queue run.");
    let ids = spool.ids()?;
    let scope = Scope {
        local: false,
        remote: true,
    };
    deliver_with(cfg, spool, scope, Some(name), &ids);
    tracing::info!("Finished online queue run.");
    Ok(())
}

/// Delivers the given messages (instant delivery after acceptance uses a
/// one-message list), then the notices the run produced.
pub fn deliver_ids(cfg: &Config, spool: &Spool, scope: Scope, ids: &[QueueId]) {
    deliver_with(cfg, spool, scope, None, ids);
}

fn deliver_with(
    cfg: &Config,
    spool: &Spool,
    scope: Scope,
    connection: Option<&str>,
    ids: &[QueueId],
) {
    let mut runner = Runner::new(cfg, spool);
    runner.connection = connection.map(str::to_string);
    let mut run = Run {
        runner,
        scope,
        notices: Notices::default(),
    };
    for chunk in ids.chunks(CHUNK) {
        run.deliver_chunk(chunk);
    }
    // Notices are ordinary local messages; deliver them now unless queueing
    // is forced. A notice about a notice goes to postmaster at most, so this
    // ends; the bound is a second guard.
    for _ in 0..4 {
        let notices = std::mem::take(&mut run.notices.spooled);
        if notices.is_empty() || cfg.do_queue {
            break;
        }
        for chunk in notices.chunks(CHUNK) {
            run.deliver_chunk(chunk);
        }
    }
}

/// One run: the delivery state, its scope, and the notices it spooled.
struct Run<'a> {
    runner: Runner<'a>,
    scope: Scope,
    notices: Notices,
}

impl Run<'_> {
    fn deliver_chunk(&mut self, ids: &[QueueId]) {
        let runner = &mut self.runner;
        let mut locked: Vec<(MessageLock, crate::message::Message)> = Vec::new();
        for id in ids {
            let lock = match runner.spool.lock(id) {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    tracing::warn!("spool file {id} is locked");
                    continue;
                }
                Err(e) => {
                    tracing::error!("{id}: cannot lock: {e}");
                    continue;
                }
            };
            match runner.spool.read(id) {
                Ok(msg) => locked.push((lock, msg)),
                // Gone: another runner finished it between listing and locking.
                Err(e) if e.is_not_found() => {}
                Err(e) => tracing::error!("{e}"),
            }
        }
        // Local delivery per message, then the remote step over the whole
        // chunk (one connection per host), then each message's conclusion:
        // its notices are spooled before its spool record changes. Each
        // message is concluded as soon as its own outcomes are known (R33:
        // a crash later in the chunk never delivers it again): at once when
        // nothing is left for the remote step, else the moment the remote
        // step reports its last pending target. A message with local
        // deliveries that still waits for the remote step has them written
        // to the spool first.
        let mut locks = Vec::with_capacity(locked.len());
        let mut batch = Vec::with_capacity(locked.len());
        for (lock, msg) in locked {
            let Some(state) = runner.local_step(msg, self.scope.local) else {
                continue;
            };
            if self.scope.remote && !state.pending_remote().is_empty() {
                if state.tally.delivered > 0
                    && let Err(e) = state.save_delivered(runner.spool)
                {
                    tracing::error!("{}: cannot record the deliveries: {e}", state.msg.id);
                }
                batch.push(Some(state));
                locks.push(lock);
                continue;
            }
            conclude(runner, &mut self.notices, state);
            drop(lock);
        }
        if self.scope.remote {
            let notices = &mut self.notices;
            runner.remote_step(&mut batch, &mut |runner, state| {
                conclude(runner, notices, state);
            });
        }
        for state in batch.into_iter().flatten() {
            conclude(runner, &mut self.notices, state);
        }
        drop(locks);
    }
}

/// A message's conclusion: its notices are spooled, then its spool record
/// changes (removed when complete).
fn conclude(runner: &Runner<'_>, notices: &mut Notices, state: InFlight) {
    let mut done = runner.conclude(state);
    notices.spool_all(runner.cfg, runner.spool, &mut done);
    done.record(runner.spool);
}
