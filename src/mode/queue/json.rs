//! `mailq --json` / `-bp -json` (ours, issue 10): the queue as JSON Lines,
//! one object per message, for scripts and monitoring.
//!
//! ```text
//! {"id":"…","size":30,"arrival":"2026-11-24T14:30:48Z","sender":"root@host",
//!  "received_host":null,"ident":"root","recipients":[{"address":"bob@x",
//!  "state":"pending","delivery":"remote","last_error":"4.4.1 …",
//!  "last_attempt":"…","next_attempt":"when connection isp is online",
//!  "routes":[{"file":"/etc/masqmail/isp.route","connection":"isp"}]}]}
//! ```
//!
//! Guarantees: every line is one complete JSON object (serde_json writes
//! it, so any text is escaped); the states and errors are the spool's.
//! `next_attempt` says only what is known — masqmail keeps no retry
//! schedule: `next queue run` when a permanent route or one of the
//! connection online now takes the recipient (and for local recipients,
//! judged before alias expansion), `when connection A or B is online` when
//! only other connections' routes would, else `no route`. The routes are
//! decided by the same filters a queue run uses (`last_route` included).
//!
//! # Security
//! Anybody may list the queue. Like `-bt`, this reads the route files and
//! asks which connection is online; it prints route file names, never a
//! route's contents or secrets. The last errors are shown as in the text
//! listing (what the MDA or the server said, cleaned, at most 300 bytes).

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use crate::address::Address;
use crate::config::{Config, Route};
use crate::message::{Done, Message};
use crate::outbound::route::{accepts_message, accepts_rcpt, local_net_applies};

/// The route sets a queue run could use, read once for the listing.
pub struct Routing<'c> {
    cfg: &'c Config,
    /// Permanent routes (no connection), then the online connection's.
    now: Vec<(Option<String>, Route)>,
    /// Every other `query_routes.NAME`, in configuration order.
    others: Vec<(String, Vec<Route>)>,
    local_nets: Vec<Route>,
}

impl<'c> Routing<'c> {
    pub fn load(cfg: &'c Config) -> Routing<'c> {
        let load = |files: &[std::path::PathBuf]| crate::deliver::remote::load(cfg, files);
        let online = crate::online::connection_name(cfg, None);
        let mut now: Vec<(Option<String>, Route)> = load(&cfg.permanent_routes)
            .into_iter()
            .map(|r| (None, r))
            .collect();
        let mut others = Vec::new();
        for (name, files) in &cfg.query_routes {
            if online.as_deref() == Some(name.as_str()) {
                now.extend(load(files).into_iter().map(|r| (Some(name.clone()), r)));
            } else {
                others.push((name.clone(), load(files)));
            }
        }
        let local_nets = if cfg.local_nets.is_empty() {
            Vec::new()
        } else if cfg.local_net_route.is_empty() {
            vec![crate::outbound::route::default_local_net_route(cfg)]
        } else {
            load(&cfg.local_net_route)
        };
        Routing {
            cfg,
            now,
            others,
            local_nets,
        }
    }

    /// `(delivery, next_attempt, routes)` of a pending recipient.
    fn plan(&self, msg: &Message, rcpt: &Address) -> (&'static str, String, Vec<Value>) {
        let cfg = self.cfg;
        if rcpt.is_pipe() || cfg.locality().is_local(rcpt) {
            return ("local", "next queue run".into(), Vec::new());
        }
        let route = |conn: Option<&str>, r: &Route| json!({"file": r.file.display().to_string(), "connection": conn});
        if !cfg.local_nets.is_empty() && local_net_applies(cfg, rcpt) {
            let taking: Vec<Value> = taking(cfg, msg, rcpt, self.local_nets.iter())
                .map(|r| route(None, r))
                .collect();
            return ("remote", next(&taking, "next queue run"), taking);
        }
        let now: Vec<Value> = taking_named(cfg, msg, rcpt, &self.now)
            .map(|(c, r)| route(c.as_deref(), r))
            .collect();
        if !now.is_empty() {
            return ("remote", "next queue run".into(), now);
        }
        let mut names = Vec::new();
        let mut later = Vec::new();
        for (name, routes) in &self.others {
            let before = later.len();
            later.extend(taking(cfg, msg, rcpt, routes.iter()).map(|r| route(Some(name), r)));
            if later.len() > before {
                names.push(name.as_str());
            }
        }
        let when = format!("when connection {} is online", names.join(" or "));
        ("remote", next(&later, &when), later)
    }
}

fn next(routes: &[Value], when: &str) -> String {
    if routes.is_empty() {
        "no route".into()
    } else {
        when.into()
    }
}

/// The routes of one run that would take `rcpt`, in order: a `last_route`
/// route that takes it ends the offer (delivery.md §9.3).
fn taking<'r>(
    cfg: &Config,
    msg: &Message,
    rcpt: &Address,
    routes: impl Iterator<Item = &'r Route>,
) -> impl Iterator<Item = &'r Route> {
    let mut claimed = false;
    routes
        .filter(|r| accepts_rcpt(r, rcpt) && accepts_message(r, cfg, msg))
        .take_while(move |r| !std::mem::replace(&mut claimed, r.last_route))
}

fn taking_named<'r>(
    cfg: &Config,
    msg: &Message,
    rcpt: &Address,
    routes: &'r [(Option<String>, Route)],
) -> impl Iterator<Item = &'r (Option<String>, Route)> {
    let mut claimed = false;
    routes
        .iter()
        .filter(|(_, r)| accepts_rcpt(r, rcpt) && accepts_message(r, cfg, msg))
        .take_while(move |(_, r)| !std::mem::replace(&mut claimed, r.last_route))
}

fn rfc3339(secs: i64) -> Value {
    DateTime::from_timestamp(secs, 0).map_or(Value::Null, |t| {
        t.to_rfc3339_opts(SecondsFormat::Secs, true).into()
    })
}

/// Pipe recipients as the spool writes them: the bare command.
fn shown(addr: &Address) -> String {
    if addr.is_pipe() {
        addr.local.clone()
    } else {
        addr.to_string()
    }
}

/// One message as a JSON object: pending recipients first, then the
/// finished ones.
pub fn message(routing: &Routing<'_>, msg: &Message) -> Value {
    let mut rcpts: Vec<Value> = Vec::new();
    for rcpt in msg.pending() {
        let (delivery, next_attempt, routes) = routing.plan(msg, rcpt);
        let last = msg.last_error(rcpt);
        rcpts.push(json!({
            "address": shown(rcpt),
            "state": "pending",
            "delivery": delivery,
            "last_error": last.map(|e| e.text()),
            "last_attempt": last.map_or(Value::Null, |e| rfc3339(e.time)),
            "next_attempt": next_attempt,
            "routes": routes,
        }));
    }
    for (rcpt, done) in &msg.top_done {
        let state = match done {
            Done::Delivered => "delivered",
            Done::Failed => "failed",
        };
        rcpts.push(json!({
            "address": shown(rcpt),
            "state": state,
            "delivery": Value::Null,
            "last_error": Value::Null,
            "last_attempt": Value::Null,
            "next_attempt": Value::Null,
            "routes": [],
        }));
    }
    json!({
        "id": msg.id.as_str(),
        "size": msg.data_size,
        "arrival": rfc3339(msg.received_time),
        "sender": msg.return_path.to_string(),
        "received_host": msg.received_host,
        "ident": msg.ident,
        "recipients": rcpts,
    })
}
