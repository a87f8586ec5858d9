//! One delivery step for one message (delivery.md §6, §12.2): expand
//! aliases, classify, deliver local targets ([`Runner::local_step`]); after
//! the remote step of the batch ([`Runner::remote_step`]), turn deferrals
//! past `max_defer_time` into failures and build the notices that are due
//! ([`Runner::conclude`]); once the caller has spooled those, record the
//! outcome in the spool ([`Conclusion::record`]).
//!
//! Guarantees: delivery never spools a notice itself; it hands each one
//! back, and the message's spool record changes only after the caller has
//! tried to spool them. When a notice could not be built or spooled and
//! nothing was delivered in this step, the message is left as it was and
//! the failure is reported again on the next run.
//!
//! # Security
//! Runs with the caller's locks held. Never writes an address into the
//! spool that was not in the message or produced by alias expansion.

use crate::address::Address;
use crate::alias::{self, Expansion};
use crate::bounce::{self, Action, BounceError, Notice};
use crate::deliver::{Outcome, dsn, local};
use crate::message::{Done, Message, QueueId};
use crate::spool::{Spool, SpooledBody};

use super::runner::Runner;

/// Messages with more `Received:` headers than this are treated as looping
/// (RELIABILITY R14; Postfix's hopcount_limit has the same default).
pub const MAX_HOPS: usize = 50;

/// What happened to the leaves of one message in this step.
#[derive(Default)]
pub struct Tally {
    pub delivered: usize,
    /// Delivered targets a success report may be due for (not those
    /// passed on to a server that offered DSN).
    pub succeeded: Vec<(Address, Action)>,
    pub failed: Vec<(Address, String)>,
    pub deferred: Vec<(Address, String)>,
}

/// One locked message between its local step and its conclusion: the
/// remote step of a batch works on these.
pub struct InFlight {
    pub msg: Message,
    /// The body stays on disk: every target streams it from the open data
    /// file, so no message size grows the memory of a run.
    pub body: SpooledBody,
    pub tally: Tally,
    /// Envelope recipients and their delivery targets after aliasing.
    pub expanded: Vec<(Address, Vec<Address>)>,
    /// Remote targets still pending after the local step.
    pub remote: Vec<Address>,
    pub now: i64,
}

impl InFlight {
    /// Records a remote target's outcome.
    pub fn record(&mut self, leaf: &Address, outcome: Outcome) {
        self.tally.deferred.retain(|(a, _)| a != leaf);
        match outcome {
            Outcome::Delivered | Outcome::PassedOn => {
                self.msg.mark(leaf, Done::Delivered);
                self.tally.delivered += 1;
                if outcome == Outcome::Delivered {
                    self.tally.succeeded.push((leaf.clone(), Action::Relayed));
                }
            }
            Outcome::Deferred(why) => self.tally.deferred.push((leaf.clone(), why)),
            Outcome::Failed(why) => {
                self.msg.mark(leaf, Done::Failed);
                self.tally.failed.push((leaf.clone(), why));
            }
        }
    }

    /// Writes the targets delivered so far to the spool, so that a crash
    /// before [`Runner::conclude`] does not deliver them again (R33). This
    /// step's failures are left out: they stand only with their notice.
    pub fn save_delivered(&self, spool: &Spool) -> Result<(), crate::spool::SpoolError> {
        let mut msg = self.msg.clone();
        for (addr, _) in &self.tally.failed {
            msg.unmark(addr, Done::Failed);
            msg.unmark_top(addr, Done::Failed);
        }
        // An envelope recipient whose targets are all delivered is done, so
        // the file says so in the plain 1.0 way.
        for (top, leaves) in &self.expanded {
            if msg.top_state(top).is_none()
                && leaves
                    .iter()
                    .all(|l| msg.finished_state(l) == Some(Done::Delivered))
            {
                msg.mark_top(top, Done::Delivered);
            }
        }
        note_deferrals(&mut msg, &self.expanded, &self.tally.deferred, self.now);
        spool.update(&msg)
    }

    /// Remote targets not finished yet.
    pub fn pending_remote(&self) -> Vec<Address> {
        self.remote
            .iter()
            .filter(|a| self.msg.finished_state(a).is_none())
            .cloned()
            .collect()
    }
}

/// Each envelope recipient with deferred targets gets their reasons as
/// its last error, for `mailq`; it goes into the spool with the write that
/// records the step anyway (no write of its own).
fn note_deferrals(
    msg: &mut Message,
    expanded: &[(Address, Vec<Address>)],
    deferred: &[(Address, String)],
    now: i64,
) {
    for (top, leaves) in expanded {
        let why: Vec<String> = deferred
            .iter()
            .filter(|(leaf, _)| leaves.contains(leaf))
            .map(|(leaf, why)| match leaf == top {
                true => why.clone(),
                false => format!("<{leaf}>: {why}"),
            })
            .collect();
        if !why.is_empty() && msg.rcpt_list.contains(top) {
            msg.set_last_error(top, now, &why.join("; "));
        }
    }
}

impl Runner<'_> {
    /// Aliases, loop check and local delivery; remote targets are left in
    /// [`InFlight::remote`]. Local targets are delivered only when
    /// `deliver_local` is set (a remote-only run such as `-qo` keeps them
    /// pending). `None` when the message cannot be read.
    pub fn local_step(&mut self, mut msg: Message, deliver_local: bool) -> Option<InFlight> {
        let body = match self.spool.open_body(&msg.id, &msg) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("{}: cannot read message body: {e}", msg.id);
                return None;
            }
        };
        let now = chrono::Utc::now().timestamp();
        let mut tally = Tally::default();
        let mut tops: Vec<Address> = Vec::new();
        if let Some(lu) = &self.cfg.log_user
            && msg.top_state(lu).is_none()
            && !msg.rcpt_list.contains(lu)
        {
            tops.push(lu.clone());
        }
        tops.extend(msg.pending().cloned());

        let hops = msg.headers.iter().filter(|h| h.is("Received")).count();
        let mut expanded: Vec<(Address, Vec<Address>)> = Vec::new();
        let mut remote: Vec<Address> = Vec::new();
        for top in tops {
            if hops > MAX_HOPS {
                tracing::warn!(
                    "{} == <{top}> too many Received: headers ({hops}), mail loop?",
                    msg.id
                );
                msg.mark_top(&top, Done::Failed);
                tally.failed.push((
                    top,
                    format!("5.4.6 too many hops ({hops} Received: headers): mail loop"),
                ));
                continue;
            }
            let expansion = alias::expand(&top, &self.alias_context());
            if let Expansion::Leaves(leaves) = &expansion {
                tracing::debug!("{}: <{top}> expands to {} target(s)", msg.id, leaves.len());
            }
            match expansion {
                Expansion::Failed(why) => {
                    tracing::warn!("{} == <{top}> alias expansion failed: {why}", msg.id);
                    msg.mark_top(&top, Done::Failed);
                    tally
                        .failed
                        .push((top, "Alias expansion failed".to_string()));
                }
                Expansion::Leaves(leaves) => expanded.push((top, leaves)),
            }
        }

        for (top, leaves) in &expanded {
            for leaf in leaves {
                if msg.finished_state(leaf).is_some() {
                    continue;
                }
                let is_local = leaf.is_pipe() || self.cfg.locality().is_local(leaf);
                if !is_local {
                    if !remote.contains(leaf) {
                        remote.push(leaf.clone());
                    }
                    continue;
                }
                if !deliver_local {
                    continue;
                }
                match local::deliver(self.cfg, &msg, &body, leaf, top) {
                    Outcome::Delivered | Outcome::PassedOn => {
                        msg.mark(leaf, Done::Delivered);
                        tally.delivered += 1;
                        tally.succeeded.push((leaf.clone(), Action::Delivered));
                    }
                    Outcome::Deferred(why) => tally.deferred.push((leaf.clone(), why)),
                    Outcome::Failed(why) => {
                        msg.mark(leaf, Done::Failed);
                        tally.failed.push((leaf.clone(), why));
                    }
                }
            }
        }

        Some(InFlight {
            msg,
            body,
            tally,
            expanded,
            remote,
            now,
        })
    }

    /// Expiry and envelope recipients' states; builds the notices that
    /// are due. The caller spools them, then calls [`Conclusion::record`].
    pub fn conclude(&self, state: InFlight) -> Conclusion {
        let InFlight {
            mut msg,
            body,
            mut tally,
            expanded,
            now,
            ..
        } = state;
        if !tally.deferred.is_empty()
            && bounce::expired(msg.received_time, now, self.cfg.max_defer_time)
        {
            for (leaf, why) in std::mem::take(&mut tally.deferred) {
                tracing::warn!(
                    "{} == <{leaf}> failed: deferred too long (max_defer_time), last error: {why}",
                    msg.id
                );
                msg.mark(&leaf, Done::Failed);
                tally.failed.push((
                    leaf,
                    format!("Message expired (max_defer_time), last error: {why}"),
                ));
            }
        }
        note_deferrals(&mut msg, &expanded, &tally.deferred, now);
        let mut failed_tops = Vec::new();
        for (top, leaves) in &expanded {
            if leaves.iter().all(|l| msg.finished_state(l).is_some()) {
                let all_ok = leaves
                    .iter()
                    .all(|l| msg.finished_state(l) == Some(Done::Delivered));
                if all_ok {
                    msg.mark_top(top, Done::Delivered);
                } else if msg.top_state(top).is_none() {
                    msg.mark_top(top, Done::Failed);
                    failed_tops.push(top.clone());
                }
            }
        }
        let mut done = Conclusion {
            msg,
            delivered: tally.delivered,
            now,
            unbuilt: false,
            failed: tally.failed.iter().map(|(a, _)| a.clone()).collect(),
            failed_tops,
            failure_unbuilt: false,
            notices: Vec::new(),
        };
        let failed = dsn::reported(
            &done.msg,
            &expanded,
            tally
                .failed
                .iter()
                .map(|(a, why)| (a, Action::Failed, why.as_str())),
        );
        if !failed.is_empty() {
            let start = body.read_start(bounce::BODY_LIMIT).unwrap_or_else(|e| {
                tracing::warn!("{}: cannot read the body for the notice: {e}", done.msg.id);
                Vec::new()
            });
            let excerpt = bounce::BodyExcerpt {
                start: &start,
                size: body.len(),
            };
            let built = bounce::failure_notice(self.cfg, &done.msg, excerpt, &failed);
            done.add(NoticeKind::Failure, built);
        }
        if !tally.deferred.is_empty()
            && bounce::warning_due(
                done.msg.received_time,
                done.msg.warning_time,
                now,
                &self.cfg.warn_intervals,
            )
        {
            let deferred = dsn::reported(
                &done.msg,
                &expanded,
                tally
                    .deferred
                    .iter()
                    .map(|(a, why)| (a, Action::Delayed, why.as_str())),
            );
            let built = bounce::delay_warning(self.cfg, &done.msg, &deferred);
            done.add(NoticeKind::Warning, built);
        }
        let succeeded = dsn::reported(
            &done.msg,
            &expanded,
            tally.succeeded.iter().map(|(a, action)| (a, *action, "")),
        );
        if !succeeded.is_empty() {
            let built = bounce::success_report(self.cfg, &done.msg, &succeeded);
            done.add(NoticeKind::Success, built);
        }
        done
    }
}

/// Which notice: decides what its spooling changes in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// For recipients that failed permanently.
    Failure,
    /// For recipients still deferred; once it is spooled, the message's
    /// `warning_time` becomes the time of this step.
    Warning,
    /// For recipients delivered with NOTIFY=SUCCESS: best effort, one that
    /// cannot be built or spooled is logged and the delivery stands.
    Success,
}

/// A notice built for a message, not yet spooled.
#[derive(Debug)]
pub struct DueNotice {
    pub kind: NoticeKind,
    pub notice: Notice,
    /// Set by whoever spools the notice: its queue id. `None` until then,
    /// and when it could not be spooled.
    pub spooled: Option<QueueId>,
}

/// A message after its delivery step, before its spool record changes.
///
/// Delivery does not spool notices itself: the queue run spools
/// [`Conclusion::notices`] (in order, through `accept`, with the null
/// sender) and then calls [`Conclusion::record`]. A message whose notice
/// could not be built or spooled, and that delivered nothing in this step,
/// is left as it was and retried later.
pub struct Conclusion {
    msg: Message,
    delivered: usize,
    now: i64,
    /// A failure notice was due but could not be built (template
    /// unreadable).
    unbuilt: bool,
    /// The delivery targets and envelope recipients marked failed in this
    /// run: their failure stands only together with its spooled notice.
    failed: Vec<Address>,
    failed_tops: Vec<Address>,
    failure_unbuilt: bool,
    /// The notices to spool before [`Conclusion::record`], in order.
    pub notices: Vec<DueNotice>,
}

impl Conclusion {
    /// The message concluded.
    pub fn id(&self) -> &QueueId {
        &self.msg.id
    }

    fn add(&mut self, kind: NoticeKind, built: Result<Option<Notice>, BounceError>) {
        match built {
            Ok(Some(notice)) => self.notices.push(DueNotice {
                kind,
                notice,
                spooled: None,
            }),
            // Nobody is to be told: as good as sent.
            Ok(None) => {
                if kind == NoticeKind::Warning {
                    self.msg.warning_time = Some(self.now);
                }
            }
            Err(e) if kind == NoticeKind::Success => {
                tracing::error!("{}: cannot build the success report: {e}", self.msg.id);
            }
            Err(e) => {
                tracing::error!("{}: cannot build the notice: {e}", self.msg.id);
                self.unbuilt = true;
                self.failure_unbuilt |= kind == NoticeKind::Failure;
            }
        }
    }

    /// The spool update of spool.md §5, after the notices were spooled
    /// (or not): remove a complete message, else rewrite its header file.
    pub fn record(self, spool: &Spool) {
        let Conclusion {
            mut msg,
            delivered,
            now,
            unbuilt,
            failed,
            failed_tops,
            failure_unbuilt,
            notices,
        } = self;
        let failure_lost = failure_unbuilt
            || notices
                .iter()
                .any(|d| d.kind == NoticeKind::Failure && d.spooled.is_none());
        let mut notices_ok = !unbuilt;
        for due in &notices {
            match (&due.spooled, due.kind) {
                (Some(_), NoticeKind::Warning) => msg.warning_time = Some(now),
                (Some(_), NoticeKind::Failure | NoticeKind::Success) => {}
                // Spooling already logged it; the delivery stands.
                (None, NoticeKind::Success) => {}
                (None, _) => notices_ok = false,
            }
        }
        if delivered == 0 && !notices_ok {
            tracing::warn!(
                "{}: a notice could not be sent; the message is left as it was and retried later",
                msg.id
            );
            return;
        }
        if failure_lost && !failed.is_empty() {
            // A failure stands only with its notice (issue 9): without the
            // notice the recipients stay queued and the next run tries
            // again, also to tell the sender.
            for leaf in &failed {
                msg.unmark(leaf, Done::Failed);
            }
            for top in &failed_tops {
                msg.unmark_top(top, Done::Failed);
            }
            tracing::warn!(
                "{}: the failure notice could not be spooled; {} failed recipient(s) stay queued",
                msg.id,
                failed.len()
            );
        }
        let result = if msg.is_complete() {
            spool
                .remove(&msg.id)
                .map(|()| tracing::info!("{} completed.", msg.id))
        } else {
            spool.update(&msg)
        };
        if let Err(e) = result {
            tracing::error!("{}: cannot update the spool: {e}", msg.id);
        }
    }
}
