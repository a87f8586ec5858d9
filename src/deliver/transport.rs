//! A route's transport for its share of a batch (delivery.md §10): the
//! pipe transport per recipient, or SMTP — to `mail_host`, through a
//! `wrapper`, or directly to each domain's mail exchangers — with all
//! messages for one host over one connection, or spread over a few when
//! the host offers PIPELINING but not CHUNKING (`parallel.rs`).
//!
//! Outcomes are reported per message through [`Batch::report`] as soon as
//! they are known: for SMTP the moment the message's end-of-data reply was
//! read (on whichever connection), while the connection goes on with the
//! next message, so the queue
//! can conclude it before anything else happens (R33).
//!
//! Bodies are never copied into memory: the pipe transport and the SMTP
//! client both stream each message's body from its open data file, so a
//! batch of 100 large messages costs 100 open files and their headers.
//!
//! # Security
//! What goes out is the route's rewritten header set and the stored body;
//! the SMTP client converts line ends and dot-stuffs, so no stored byte
//! can end the data early (R02). Credentials are only sent as the client's
//! TLS policy allows.

use std::collections::HashMap;
use std::net::SocketAddr;

use chrono::Local;

use crate::address::Address;
use crate::config::{Route, Transport};
use crate::deliver::Outcome;
use crate::deliver::command::{self, Vars};
use crate::deliver::content::{Body, Content, ContentOptions};
use crate::deliver::dsn;
use crate::deliver::runner::Runner;
use crate::deliver::step::InFlight;
use crate::outbound::route::rewrite;
use crate::outbound::smtp::{DsnRequests, FileText, Outgoing};

mod connect;
mod parallel;

/// One message's recipients for this route.
pub struct Job {
    /// Index into the batch.
    pub index: usize,
    pub rcpts: Vec<Address>,
}

/// The batch as a transport sees it: the messages to send, and where each
/// message's outcomes go.
pub trait Batch {
    /// The message at `index`; `None` once it was concluded.
    fn get(&self, index: usize) -> Option<&InFlight>;
    /// Outcomes of (some of) the recipients of message `index`; called once
    /// per message and job, as soon as they are known.
    fn report(&mut self, index: usize, outcomes: Vec<(Address, Outcome)>);
}

pub fn deliver(runner: &Runner<'_>, route: &Route, batch: &mut dyn Batch, jobs: &[Job]) {
    match (route.protocol, &route.pipe) {
        (Transport::Pipe, Some(spec)) => pipe(runner, route, spec, batch, jobs),
        (Transport::Pipe, None) => all(batch, jobs, |_| {
            Outcome::Deferred(format!(
                "4.3.5 route {} has protocol pipe but no pipe command",
                route.file.display()
            ))
        }),
        (Transport::Smtp, _) => smtp(runner, route, batch, jobs),
    }
}

/// The same outcome for every recipient of `jobs`.
fn all(batch: &mut dyn Batch, jobs: &[Job], outcome: impl Fn(&Address) -> Outcome) {
    for job in jobs {
        let outcomes = job.rcpts.iter().map(|r| (r.clone(), outcome(r))).collect();
        batch.report(job.index, outcomes);
    }
}

/// §10.7: per message and recipient, the stored headers, no rewriting.
fn pipe(
    runner: &Runner<'_>,
    route: &Route,
    spec: &crate::config::CommandSpec,
    batch: &mut dyn Batch,
    jobs: &[Job],
) {
    let cfg = runner.cfg;
    let opts = ContentOptions {
        fromline: route.pipe_fromline,
        fromhack: route.pipe_fromhack,
    };
    let now = Local::now();
    for job in jobs {
        let Some(state) = batch.get(job.index) else {
            continue;
        };
        let mut out = Vec::with_capacity(job.rcpts.len());
        for rcpt in &job.rcpts {
            let body = Body::File {
                file: state.body.file(),
                offset: state.body.offset(),
            };
            let content = Content::stored(&state.msg, body, opts, &now);
            let vars = Vars::new(cfg, &state.msg, rcpt, rcpt);
            let outcome = match command::run_route_pipe(cfg, spec, &content, &vars) {
                Outcome::Delivered | Outcome::PassedOn => {
                    tracing::info!("{} => {rcpt} with pipe (cmd = {})", state.msg.id, spec.text);
                    Outcome::Delivered
                }
                Outcome::Failed(why) if why.starts_with("5.3.0") => Outcome::Failed(why),
                Outcome::Failed(why) | Outcome::Deferred(why) => {
                    let why = format!("Remote delivery using pipe command failed: {why}");
                    if route.connect_error_fail {
                        Outcome::Failed(why)
                    } else {
                        Outcome::Deferred(why)
                    }
                }
            };
            out.push((rcpt.clone(), outcome));
        }
        batch.report(job.index, out);
    }
}

/// One SMTP target: where to connect and which recipients of which jobs.
struct Target {
    /// For logs: `mail_host`, the domain, or `... (via wrapper)`.
    label: String,
    kind: TargetKind,
    jobs: Vec<Job>,
}

enum TargetKind {
    Wrapper,
    Host { host: String, port: u16 },
    Domain { domain: String },
}

fn smtp(runner: &Runner<'_>, route: &Route, batch: &mut dyn Batch, jobs: &[Job]) {
    let targets = targets(route, jobs);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return all(batch, jobs, |_| {
                Outcome::Deferred(format!("4.3.0 cannot start the runtime: {e}"))
            });
        }
    };
    for target in targets {
        // A job whose message was concluded meanwhile has nothing left here
        // (a message is concluded only when no target of it is pending).
        let target = Target {
            jobs: target
                .jobs
                .into_iter()
                .filter(|j| batch.get(j.index).is_some())
                .collect(),
            ..target
        };
        // The message text with this route's rewriting, per job.
        let mut msgs: Vec<Outgoing> = Vec::with_capacity(target.jobs.len());
        let mut ids: Vec<String> = Vec::with_capacity(target.jobs.len());
        for j in &target.jobs {
            if let Some(state) = batch.get(j.index) {
                msgs.push(outgoing(runner, route, state, &j.rcpts));
                ids.push(state.msg.id.to_string());
            }
        }
        let mut reported = vec![false; msgs.len()];
        let mut on_done = |host: &str, n: usize, result: crate::outbound::smtp::MessageResult| {
            let (Some(job), Some(id)) = (target.jobs.get(n), ids.get(n)) else {
                return;
            };
            reported[n] = true;
            batch.report(job.index, delivered_outcomes(id, host, job, &result));
        };
        let results = runtime.block_on(connect::send(
            runner,
            route,
            &target.kind,
            &target.label,
            &msgs,
            &mut on_done,
        ));
        for (n, job) in target.jobs.iter().enumerate() {
            if reported[n] {
                continue;
            }
            let outcomes = job_outcomes(route, &target.label, &ids[n], job, &results, n);
            if !outcomes.is_empty() {
                batch.report(job.index, outcomes);
            }
        }
    }
}

/// Groups the jobs into connections (§10.1).
fn targets(route: &Route, jobs: &[Job]) -> Vec<Target> {
    let copy = |j: &Job| Job {
        index: j.index,
        rcpts: j.rcpts.clone(),
    };
    if route.wrapper.is_some() || route.mail_host.is_some() {
        let (label, kind) = match (&route.wrapper, &route.mail_host) {
            (Some(w), host) => (
                format!(
                    "{} (via wrapper)",
                    host.as_ref().map_or(w.text.clone(), |h| h.host.clone())
                ),
                TargetKind::Wrapper,
            ),
            (None, Some(h)) => (
                h.host.clone(),
                TargetKind::Host {
                    host: h.host.clone(),
                    port: h.port,
                },
            ),
            (None, None) => unreachable!("checked above"),
        };
        return vec![Target {
            label,
            kind,
            jobs: jobs.iter().map(copy).collect(),
        }];
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_domain: HashMap<String, Vec<Job>> = HashMap::new();
    for job in jobs {
        for rcpt in &job.rcpts {
            let domain = rcpt.domain.to_ascii_lowercase();
            let list = by_domain.entry(domain.clone()).or_insert_with(|| {
                order.push(domain.clone());
                Vec::new()
            });
            match list.iter_mut().find(|j| j.index == job.index) {
                Some(j) => j.rcpts.push(rcpt.clone()),
                None => list.push(Job {
                    index: job.index,
                    rcpts: vec![rcpt.clone()],
                }),
            }
        }
    }
    order
        .into_iter()
        .map(|domain| Target {
            label: domain.clone(),
            jobs: by_domain.remove(&domain).unwrap_or_default(),
            kind: TargetKind::Domain { domain },
        })
        .collect()
}

/// The rewritten headers in memory; the body stays in the data file and
/// the SMTP client streams it (RELIABILITY R04).
fn outgoing(runner: &Runner<'_>, route: &Route, state: &InFlight, rcpts: &[Address]) -> Outgoing {
    let rewritten = rewrite::rewrite(route, runner.cfg, &state.msg);
    let mut text = Vec::with_capacity(1024);
    for h in &rewritten.headers {
        text.extend_from_slice(&h.raw);
        if h.raw.last() != Some(&b'\n') {
            text.push(b'\n');
        }
    }
    text.push(b'\n');
    let ascii = |a: &Address| a.local.is_ascii() && a.domain.is_ascii();
    Outgoing {
        smtputf8: !ascii(&rewritten.return_path) || !rcpts.iter().all(ascii),
        // The client also looks at the body as it measures it.
        eightbit: !text.is_ascii(),
        return_path: rewritten.return_path,
        dsn: DsnRequests {
            ret: state.msg.dsn.ret,
            envid: state.msg.dsn.envid.clone(),
            rcpts: rcpts
                .iter()
                .map(|r| {
                    dsn::requests(&state.msg, &state.expanded, r)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
        },
        rcpts: rcpts.to_vec(),
        text,
        body: Some(FileText {
            file: state.body.shared_file(),
            offset: state.body.offset(),
            len: state.body.len(),
        }),
    }
}

/// The outcome of each recipient of message `n` of a target.
fn job_outcomes(
    route: &Route,
    label: &str,
    id: &str,
    job: &Job,
    results: &connect::Results,
    n: usize,
) -> Vec<(Address, Outcome)> {
    match results {
        connect::Results::NotConnected { reason } => {
            let why = format!("{label}: {reason}");
            job.rcpts
                .iter()
                .map(|r| {
                    let o = if route.connect_error_fail {
                        Outcome::Failed(format!("5.4.4 {why}"))
                    } else {
                        Outcome::Deferred(format!("4.4.1 {why}"))
                    };
                    (r.clone(), o)
                })
                .collect()
        }
        // §10.4: not attempted; the recipients stay pending, unchanged.
        connect::Results::Skipped { reason } => {
            tracing::warn!("{id} == host={label} not attempted: {reason}");
            Vec::new()
        }
        connect::Results::Session { error, .. } if results.message(n).is_none() => {
            let (permanent, reason) = error
                .clone()
                .unwrap_or((false, "session ended early".to_string()));
            job.rcpts
                .iter()
                .map(|r| {
                    let why = format!("host={label}: {reason}");
                    (
                        r.clone(),
                        if permanent {
                            Outcome::Failed(why)
                        } else {
                            Outcome::Deferred(why)
                        },
                    )
                })
                .collect()
        }
        connect::Results::Session { host, .. } => match results.message(n) {
            Some(result) => delivered_outcomes(id, host, job, result),
            None => Vec::new(),
        },
    }
}

/// The outcome of each recipient of a message the session finished.
fn delivered_outcomes(
    id: &str,
    host: &str,
    job: &Job,
    result: &crate::outbound::smtp::MessageResult,
) -> Vec<(Address, Outcome)> {
    job.rcpts
        .iter()
        .map(|r| {
            let o = connect::outcome(result, r);
            if matches!(o, Outcome::Delivered | Outcome::PassedOn) {
                tracing::info!("{id} => <{r}> host={host}");
            }
            (r.clone(), o)
        })
        .collect()
}

/// Parses `host` as an IP literal (a target that is an address is used
/// directly, §10.2).
pub fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.parse().ok().map(|ip| SocketAddr::new(ip, port))
}
