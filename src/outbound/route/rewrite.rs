//! The outgoing return path and header list of a message for one route
//! (delivery.md §11). Rewriting works on a copy; the spool keeps the
//! original.
//!
//! Rule chains, first match wins (KEY globs match the local part):
//!
//! | What | Chain |
//! |---|---|
//! | return path | `map_return_path_addresses`, `set_return_path_domain`, `map_outgoing_addresses` |
//! | `From:` | `map_h_from_addresses`, `set_h_from_domain` (only without a From map, as in 0.2), `map_outgoing_addresses` |
//! | `Reply-To:` | `map_h_reply_to_addresses`, `set_h_reply_to_domain` (likewise), `map_outgoing_addresses` |
//! | `Mail-Followup-To:` | `map_h_mail_followup_to_addresses`, `map_outgoing_addresses` |
//! | `Sender:` | `map_h_sender_addresses`, `expand_h_sender_domain` (outgoing return-path domain), `map_outgoing_addresses` |
//!
//! Then, 0.2 `expand_h_sender_address` (only when written in the route
//! file) replaces every `Sender:` by `Sender: <outgoing return path>`.
//!
//! Era decisions (1.0 wins where the eras conflict): only "really local"
//! addresses are rewritten (empty domain or domain in `local_hosts`, §11.1),
//! also by the 0.2 `set_*`/`expand_*` options, which thus behave exactly
//! like the 1.0 maps their migration hints name; headers are spliced byte
//! for byte, not rebuilt joined with `,` as 0.2 did.
//!
//! Guarantees: the null sender is never rewritten (§18.4); a header that
//! does not parse completely is sent unchanged; no rewrite inserts a
//! control character; a `set_*` domain that is not a valid domain is
//! ignored (logged).
//!
//! # Security
//! See `splice.rs`: only address bytes change, and replacement texts are
//! refused when they contain CR, LF, NUL or other controls, so a route
//! value can neither add a header field nor a line.

use crate::address::{Address, Locality, PipePolicy, parse_path};
use crate::config::{Config, Replacement, RewriteMap, Route};
use crate::message::{Header, Message};

use super::splice::{self, Found};

/// A message as one route sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// For `MAIL FROM`.
    pub return_path: Address,
    /// All headers in their original order, rewritten ones in place.
    pub headers: Vec<Header>,
}

/// One link of a rule chain.
enum Rule<'a> {
    Map(&'a RewriteMap),
    /// Matches every local part: replace the domain.
    AllTo(&'a str),
}

fn lookup<'a>(chain: &[Rule<'a>], local: &str) -> Option<Found<'a>> {
    chain.iter().find_map(|rule| match rule {
        Rule::Map(map) => map.lookup(local).map(|r| match r {
            Replacement::Domain(d) => Found::Domain(d),
            Replacement::Address { text, addr } => Found::Address { text, addr },
        }),
        Rule::AllTo(d) => Some(Found::Domain(d)),
    })
}

/// A `set_*` domain from the route file, if it is a usable domain. Such
/// strings are not validated at load time; a quoted value could even hold
/// a newline.
fn valid_domain<'a>(route: &Route, option: &str, domain: Option<&'a str>) -> Option<&'a str> {
    let d = domain?;
    match parse_path(&format!("x@{d}"), PipePolicy::Refuse) {
        Ok(a) if a.domain == d => Some(d),
        _ => {
            tracing::warn!(
                "route '{}': `{option}` value {d:?} is not a domain; ignored",
                route.file.display()
            );
            None
        }
    }
}

/// A header's map, then an optional catch-all domain.
fn chain<'a>(map: &'a RewriteMap, all: Option<&'a str>) -> Vec<Rule<'a>> {
    let mut c = vec![Rule::Map(map)];
    c.extend(all.map(Rule::AllTo));
    c
}

/// Computes the outgoing return path and headers of `msg` for `route`.
pub fn rewrite(route: &Route, cfg: &Config, msg: &Message) -> Rewritten {
    let loc = cfg.locality();
    let return_path = return_path(route, &loc, &msg.return_path);

    let set_from = valid_domain(
        route,
        "set_h_from_domain",
        route.set_h_from_domain.as_deref(),
    )
    .filter(|_| route.map_h_from_addresses.is_empty());
    let set_reply = valid_domain(
        route,
        "set_h_reply_to_domain",
        route.set_h_reply_to_domain.as_deref(),
    )
    .filter(|_| route.map_h_reply_to_addresses.is_empty());
    let sender_domain = (route.expand_h_sender_domain && !return_path.domain.is_empty())
        .then_some(return_path.domain.as_str());

    let mut from = chain(&route.map_h_from_addresses, set_from);
    let mut reply = chain(&route.map_h_reply_to_addresses, set_reply);
    let mut followup = chain(&route.map_h_mail_followup_to_addresses, None);
    let mut sender = chain(&route.map_h_sender_addresses, sender_domain);
    for c in [&mut from, &mut reply, &mut followup, &mut sender] {
        c.push(Rule::Map(&route.map_outgoing_addresses));
    }

    let replace_sender = route.expand_h_sender_address_set
        && route.expand_h_sender_address
        && !return_path.is_null()
        // The return path went through parse_path; checked again because
        // it becomes a header line.
        && !return_path.to_string().chars().any(char::is_control);
    let headers = msg
        .headers
        .iter()
        .map(|h| {
            let chain = if h.is("From") {
                &from
            } else if h.is("Reply-To") {
                &reply
            } else if h.is("Mail-Followup-To") {
                &followup
            } else if h.is("Sender") {
                if replace_sender {
                    return Header::new("Sender", &return_path.to_string());
                }
                &sender
            } else {
                return h.clone();
            };
            splice::header(h, &loc, |local| lookup(chain, local))
        })
        .collect();
    Rewritten {
        return_path,
        headers,
    }
}

/// §11.1 first bullet (plus 0.2 `set_return_path_domain`).
fn return_path(route: &Route, loc: &Locality, rp: &Address) -> Address {
    // §18.4: the null sender stays null whatever the maps say.
    if rp.is_null() || !loc.is_local_domain(&rp.domain) {
        return rp.clone();
    }
    let set = valid_domain(
        route,
        "set_return_path_domain",
        route.set_return_path_domain.as_deref(),
    );
    let mut chain = vec![Rule::Map(&route.map_return_path_addresses)];
    chain.extend(set.map(Rule::AllTo));
    chain.push(Rule::Map(&route.map_outgoing_addresses));
    match lookup(&chain, &rp.local) {
        Some(Found::Domain(d)) => Address::new(rp.local.clone(), d),
        Some(Found::Address { addr, .. }) => addr.clone(),
        None => rp.clone(),
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
