//! The remote step of a batch (delivery.md §9): the routes of this run in
//! order (permanent routes, then the online set), each offered the
//! messages' pending remote targets; each route's share goes out through
//! its transport in one go (one connection per host for the whole batch,
//! or a few in parallel: `transport/parallel.rs`).
//!
//! Recipients no route takes stay queued without a warning (§9.1).
//!
//! Guarantees (R33): a message is handed to the caller's [`Finished`] the
//! moment its last pending remote target has its outcome, while the
//! connection goes on with the next message; a message that still has
//! targets pending after some were delivered has those deliveries written
//! to the spool at once. So a crash re-delivers only the message whose
//! outcome was in flight (one per connection in a parallel flush). Crash point `remote-accepted`: a remote delivery
//! was reported, nothing about it is on disk yet.
//!
//! # Security
//! Outcomes come from the transports; this module only records them for
//! the message and recipient they were reported for.

use crate::address::Address;
use crate::config::Route;
use crate::deliver::Outcome;
use crate::deliver::runner::Runner;
use crate::deliver::step::InFlight;
use crate::deliver::transport::{self, Batch, Job};
use crate::outbound::route::{Claims, default_local_net_route, local_net_applies, route_files};

/// Takes each message whose remote step is over, during the step: the
/// queue concludes it (notices, then the spool record).
pub type Finished<'f> = dyn FnMut(&Runner<'_>, InFlight) + 'f;

impl Runner<'_> {
    /// Routes and delivers the pending remote targets of `batch`. A message
    /// with nothing left pending is taken out of its slot and handed to
    /// `finished`; the ones left are the caller's to conclude.
    pub fn remote_step(&mut self, batch: &mut [Option<InFlight>], finished: &mut Finished<'_>) {
        if batch
            .iter()
            .flatten()
            .all(|s| s.pending_remote().is_empty())
        {
            return;
        }
        // 0.2 local nets: delivered in every run except -qo, by their own
        // routes, before the online set.
        if !self.cfg.local_nets.is_empty() && self.connection.is_none() {
            let routes = self.local_net_routes();
            self.run_routes(batch, &routes, local_net_applies, finished);
        }
        let routes = self.online_routes();
        let cfg = self.cfg;
        let eligible = |_: &crate::config::Config, rcpt: &Address| {
            !local_net_applies(cfg, rcpt) || cfg.local_nets.is_empty()
        };
        self.run_routes(batch, &routes, eligible, finished);
        for state in batch.iter().flatten() {
            for rcpt in state.pending_remote() {
                if !state.tally.deferred.iter().any(|(a, _)| *a == rcpt) {
                    tracing::info!(
                        "{} == <{rcpt}> no route available now, kept in queue",
                        state.msg.id
                    );
                }
            }
        }
    }

    fn run_routes(
        &self,
        batch: &mut [Option<InFlight>],
        routes: &[Route],
        eligible: impl Fn(&crate::config::Config, &Address) -> bool,
        finished: &mut Finished<'_>,
    ) {
        let mut claims = Claims::default();
        for route in routes {
            let mut jobs: Vec<Job> = Vec::new();
            for (index, state) in batch.iter().enumerate() {
                let Some(state) = state else { continue };
                let pending: Vec<Address> = state
                    .pending_remote()
                    .into_iter()
                    .filter(|r| eligible(self.cfg, r))
                    .collect();
                if pending.is_empty() {
                    continue;
                }
                let rcpts = claims.offer(route, self.cfg, &state.msg, &pending);
                if !rcpts.is_empty() {
                    jobs.push(Job { index, rcpts });
                }
            }
            if jobs.is_empty() {
                continue;
            }
            let mut slots = Slots {
                runner: self,
                states: &mut *batch,
                finished: &mut *finished,
            };
            transport::deliver(self, route, &mut slots, &jobs);
        }
    }

    /// Permanent routes and the online set, read once per run.
    fn online_routes(&mut self) -> Vec<Route> {
        if let Some(routes) = &self.routes {
            return routes.clone();
        }
        let name = self
            .connection
            .clone()
            .or_else(|| crate::online::connection_name(self.cfg, None));
        let routes = load(self.cfg, &route_files(self.cfg, name.as_deref()));
        self.routes = Some(routes.clone());
        routes
    }

    fn local_net_routes(&self) -> Vec<Route> {
        if self.cfg.local_net_route.is_empty() {
            vec![default_local_net_route(self.cfg)]
        } else {
            load(self.cfg, &self.cfg.local_net_route)
        }
    }
}

/// Reads route files; an unreadable or invalid one is logged and skipped.
pub fn load(cfg: &crate::config::Config, files: &[std::path::PathBuf]) -> Vec<Route> {
    files
        .iter()
        .filter_map(|f| match crate::privs::as_root(|| Route::load(f, cfg)) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("could not read route file: {e}");
                None
            }
        })
        .collect()
}

/// The batch during one route's transport: outcomes are recorded as they
/// come, and a message is concluded as soon as nothing of it is pending.
struct Slots<'s, 'r, 'f> {
    runner: &'s Runner<'r>,
    states: &'s mut [Option<InFlight>],
    finished: &'s mut Finished<'f>,
}

impl Batch for Slots<'_, '_, '_> {
    fn get(&self, index: usize) -> Option<&InFlight> {
        self.states.get(index)?.as_ref()
    }

    fn report(&mut self, index: usize, outcomes: Vec<(Address, Outcome)>) {
        let Some(state) = self.states.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let mut delivered = false;
        for (rcpt, outcome) in outcomes {
            let id = &state.msg.id;
            match &outcome {
                Outcome::Delivered | Outcome::PassedOn => delivered = true,
                Outcome::Deferred(why) => tracing::warn!("{id} == <{rcpt}> deferred: {why}"),
                Outcome::Failed(why) => tracing::warn!("{id} == <{rcpt}> failed: {why}"),
            }
            state.record(&rcpt, outcome);
        }
        if delivered {
            crate::crashpoint!("remote-accepted");
        }
        if state.pending_remote().is_empty() {
            if let Some(state) = self.states[index].take() {
                (self.finished)(self.runner, state);
            }
        } else if delivered && let Err(e) = state.save_delivered(self.runner.spool) {
            // Not fatal: the conclusion writes it again; only a crash
            // before then would deliver these targets twice.
            tracing::error!("{}: cannot record the deliveries: {e}", state.msg.id);
        }
    }
}
