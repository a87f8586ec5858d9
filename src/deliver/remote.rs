//! The remote step of a batch (delivery.md §9): the routes of this run in
//! order (permanent routes, then the online set), each offered the
//! messages' pending remote targets; each route's share goes out through
//! its transport in one go (one connection per host for the whole batch).
//!
//! Recipients no route takes stay queued without a warning (§9.1).

use crate::address::Address;
use crate::config::Route;
use crate::deliver::Outcome;
use crate::deliver::runner::Runner;
use crate::deliver::step::InFlight;
use crate::deliver::transport::{self, Job};
use crate::outbound::route::{Claims, default_local_net_route, local_net_applies, route_files};

impl Runner<'_> {
    /// Routes and delivers the pending remote targets of `batch`.
    pub fn remote_step(&mut self, batch: &mut [InFlight]) {
        if batch.iter().all(|s| s.pending_remote().is_empty()) {
            return;
        }
        // 0.2 local nets: delivered in every run except -qo, by their own
        // routes, before the online set.
        if !self.cfg.local_nets.is_empty() && self.connection.is_none() {
            let routes = self.local_net_routes();
            self.run_routes(batch, &routes, local_net_applies);
        }
        let routes = self.online_routes();
        let cfg = self.cfg;
        self.run_routes(batch, &routes, |_, rcpt| {
            !local_net_applies(cfg, rcpt) || cfg.local_nets.is_empty()
        });
        for state in batch.iter() {
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
        &mut self,
        batch: &mut [InFlight],
        routes: &[Route],
        eligible: impl Fn(&crate::config::Config, &Address) -> bool,
    ) {
        let mut claims = Claims::default();
        for route in routes {
            let mut jobs: Vec<Job> = Vec::new();
            for (index, state) in batch.iter().enumerate() {
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
            let outcomes = transport::deliver(self, route, batch, &jobs);
            for (index, rcpt, outcome) in outcomes {
                let state = &mut batch[index];
                let id = &state.msg.id;
                match &outcome {
                    Outcome::Delivered | Outcome::PassedOn => {}
                    Outcome::Deferred(why) => tracing::warn!("{id} == <{rcpt}> deferred: {why}"),
                    Outcome::Failed(why) => tracing::warn!("{id} == <{rcpt}> failed: {why}"),
                }
                state.record(&rcpt, outcome);
            }
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
