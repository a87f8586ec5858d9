//! Route selection (delivery.md §9, config.md §3.2–3.3): the filters that
//! decide whether a route takes a message and which of its recipients, the
//! `last_route` claims of one delivery run, the ordered route files of a
//! run, and the 0.2 local-net classification.
//!
//! Guarantees: deny lists win over allow lists; an empty allow list allows
//! everything; `<>` matches exactly the null sender (§18.3, the 1.0 defect
//! is not copied). A recipient claimed by a `last_route` route is never
//! offered to a later route of the same run. Recipients that no route
//! takes are simply not returned: they stay queued, with no notice (§9.1).
//!
//! # Security
//! The return path and the `From:` header are sender-controlled; they are
//! only matched against globs (linear time, see `glob_match`), never
//! interpreted.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::address::{Address, glob_match, parse_address_list};
use crate::config::{AddrPattern, Config, Resolver, Route};
use crate::message::{Message, QueueId};

/// Why a route does not take a message or a recipient: the first filter
/// that refused it, named by its route option (`masqmail -bt` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The option's allow list does not name the address.
    NotAllowed(&'static str),
    /// The option's deny list names it.
    Denied(&'static str),
    /// The `From:` header cannot be parsed, so its filters cannot pass.
    UnparsableFrom,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAllowed(option) => write!(f, "not listed in {option}"),
            Refusal::Denied(option) => write!(f, "listed in {option}"),
            Refusal::UnparsableFrom => f.write_str("the From: header cannot be parsed"),
        }
    }
}

/// Allow list (empty = all) and deny list (wins).
fn permitted(
    (allowed, allow_name): (&[AddrPattern], &'static str),
    (denied, deny_name): (&[AddrPattern], &'static str),
    addr: &Address,
) -> Result<(), Refusal> {
    if !allowed.is_empty() && !allowed.iter().any(|p| p.matches(addr)) {
        return Err(Refusal::NotAllowed(allow_name));
    }
    if denied.iter().any(|p| p.matches(addr)) {
        return Err(Refusal::Denied(deny_name));
    }
    Ok(())
}

/// Domain globs, case-insensitive (0.2 `*_rcpt_domains`, `local_nets`).
fn domain_listed(patterns: &[String], domain: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, domain, true))
}

/// The message-wide conditions of `route`: return path against
/// `allowed_/denied_senders` (1.0) and `allowed_/not_allowed_mail_locals`,
/// `allowed_/not_allowed_return_paths` (0.2), then the first `From:`
/// address against `allowed_/denied_from_hdrs`. Both eras' lists apply
/// together; a 1.0 route simply has no 0.2 lists set.
pub fn accepts_message(route: &Route, cfg: &Config, msg: &Message) -> bool {
    message_refusal(route, cfg, msg).is_none()
}

/// The first message-wide filter of [`accepts_message`] that refuses
/// `msg`; `None` when the route takes it.
pub fn message_refusal(route: &Route, cfg: &Config, msg: &Message) -> Option<Refusal> {
    let rp = &msg.return_path;
    permitted(
        (&route.allowed_senders, "allowed_senders"),
        (&route.denied_senders, "denied_senders"),
        rp,
    )
    .err()
    .or_else(|| {
        // 0.2: exact, case-sensitive equality on the local part.
        let locals = |l: &[String]| l.contains(&rp.local);
        if !route.allowed_mail_locals.is_empty() && !locals(&route.allowed_mail_locals) {
            Some(Refusal::NotAllowed("allowed_mail_locals"))
        } else if locals(&route.not_allowed_mail_locals) {
            Some(Refusal::Denied("not_allowed_mail_locals"))
        } else {
            None
        }
    })
    .or_else(|| {
        permitted(
            (&route.allowed_return_paths, "allowed_return_paths"),
            (&route.not_allowed_return_paths, "not_allowed_return_paths"),
            rp,
        )
        .err()
    })
    .or_else(|| from_header_refusal(route, cfg, msg))
}

/// config.md §3.2: the first address of the first `From:` header,
/// qualified with `host_name`. No `From:` passes; an unparsable one makes
/// the message skip this route.
fn from_header_refusal(route: &Route, cfg: &Config, msg: &Message) -> Option<Refusal> {
    if route.allowed_from_hdrs.is_empty() && route.denied_from_hdrs.is_empty() {
        return None;
    }
    let header = msg.header("From")?;
    let Some(first) = parse_address_list(header.value()).into_iter().next() else {
        tracing::warn!(
            "{}: could not parse From: header; route '{}' skipped",
            msg.id,
            route.file.display()
        );
        return Some(Refusal::UnparsableFrom);
    };
    let from = first.addr.qualify(&cfg.host_name);
    permitted(
        (&route.allowed_from_hdrs, "allowed_from_hdrs"),
        (&route.denied_from_hdrs, "denied_from_hdrs"),
        &from,
    )
    .err()
}

/// The per-recipient conditions of `route`: `allowed_/denied_recipients`
/// (1.0) and `allowed_/not_allowed_rcpt_domains` (0.2).
pub fn accepts_rcpt(route: &Route, rcpt: &Address) -> bool {
    rcpt_refusal(route, rcpt).is_none()
}

/// The first recipient filter of [`accepts_rcpt`] that refuses `rcpt`.
pub fn rcpt_refusal(route: &Route, rcpt: &Address) -> Option<Refusal> {
    if let Err(r) = permitted(
        (&route.allowed_recipients, "allowed_recipients"),
        (&route.denied_recipients, "denied_recipients"),
        rcpt,
    ) {
        return Some(r);
    }
    if !route.allowed_rcpt_domains.is_empty()
        && !domain_listed(&route.allowed_rcpt_domains, &rcpt.domain)
    {
        return Some(Refusal::NotAllowed("allowed_rcpt_domains"));
    }
    domain_listed(&route.not_allowed_rcpt_domains, &rcpt.domain)
        .then_some(Refusal::Denied("not_allowed_rcpt_domains"))
}

/// The `last_route` claims of one delivery run (delivery.md §9.3 step 5).
///
/// A run walks its routes in order; for each route and message it calls
/// [`Claims::offer`] with the recipients still pending (not delivered or
/// failed by an earlier route), delivers what `offer` returned, and
/// records the outcomes. Deferred recipients are offered again to later
/// routes unless a `last_route` route claimed them. Whatever no route
/// takes stays queued for a later run.
#[derive(Debug, Default)]
pub struct Claims {
    taken: HashSet<(QueueId, Address)>,
}

impl Claims {
    /// Steps 1–5 of delivery.md §9.3 for one route and one message:
    /// the candidates not claimed earlier that pass the recipient filters,
    /// if the message passes the sender and `From:` filters; empty when
    /// the route does not apply. Logs `<ID> using '<route>'` when it does.
    pub fn offer(
        &mut self,
        route: &Route,
        cfg: &Config,
        msg: &Message,
        candidates: &[Address],
    ) -> Vec<Address> {
        let rcpts: Vec<Address> = candidates
            .iter()
            .filter(|r| !self.is_claimed(&msg.id, r) && accepts_rcpt(route, r))
            .cloned()
            .collect();
        if rcpts.is_empty() || !accepts_message(route, cfg, msg) {
            return Vec::new();
        }
        tracing::info!("{} using '{}'", msg.id, route.file.display());
        if route.last_route {
            for r in &rcpts {
                self.taken.insert((msg.id.clone(), r.clone()));
            }
        }
        rcpts
    }

    /// `rcpt` of message `id` was claimed by a `last_route` route.
    pub fn is_claimed(&self, id: &QueueId, rcpt: &Address) -> bool {
        self.taken.contains(&(id.clone(), rcpt.clone()))
    }
}

/// The route files of a run in order (delivery.md §9.1): the permanent
/// routes, then `query_routes.<connection>` when a connection name is
/// known. An unknown name is logged and contributes no routes.
pub fn route_files(cfg: &Config, connection: Option<&str>) -> Vec<PathBuf> {
    let mut files = cfg.permanent_routes.clone();
    if let Some(name) = connection {
        tracing::info!("detected online configuration `{name}'");
        // The config keeps NAMEs in file order; the first definition wins.
        match cfg.query_routes.iter().find(|(n, _)| n == name) {
            Some((_, list)) => files.extend(list.iter().cloned()),
            None => tracing::warn!("route list with name '{name}' not found."),
        }
    }
    files
}

/// 0.2 (delivery.md §9.4): `rcpt` is a local-net recipient, its domain
/// matching a `local_nets` glob (case-insensitive). The caller classifies
/// local recipients first; an unqualified address is never local-net.
pub fn local_net_applies(cfg: &Config, rcpt: &Address) -> bool {
    !rcpt.domain.is_empty() && domain_listed(&cfg.local_nets, &rcpt.domain)
}

/// 0.2: the built-in route for local-net recipients when `local_net_route`
/// is empty: direct SMTP, resolve `byname`, `connect_error_fail = true`.
pub fn default_local_net_route(cfg: &Config) -> Route {
    let mut r = Route::new(std::path::Path::new("(default local_net route)"), cfg);
    r.resolve_list = vec![Resolver::ByName];
    r.connect_error_fail = true;
    r
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
