//! DSN requests at delivery (RFC 3461 §4.1, §5.2): a delivery target
//! answers to the NOTIFY/ORCPT of the envelope recipient it came from, and
//! a notice reports only on the targets whose NOTIFY asks for it.
//!
//! Guarantees: without NOTIFY a recipient gets today's failure notices
//! and delay warnings and no success report; `NOTIFY=NEVER` gets none;
//! otherwise exactly the events listed. A target that several envelope
//! recipients expand to answers to the first of them.
//!
//! # Security
//! Reads the message's stored requests; decides, never sends.

use crate::address::Address;
use crate::bounce::{Action, Reported};
use crate::message::Message;
use crate::message::dsn::RcptDsn;

/// The envelope recipient `leaf` was expanded from (itself when it is one
/// or was not expanded).
fn top_of<'a>(expanded: &'a [(Address, Vec<Address>)], leaf: &'a Address) -> &'a Address {
    expanded
        .iter()
        .find(|(top, leaves)| top == leaf || leaves.contains(leaf))
        .map_or(leaf, |(top, _)| top)
}

/// The DSN requests that apply to delivery target `leaf`.
pub fn requests<'a>(
    msg: &'a Message,
    expanded: &[(Address, Vec<Address>)],
    leaf: &Address,
) -> Option<&'a RcptDsn> {
    msg.dsn.rcpt(top_of(expanded, leaf))
}

/// The entries a notice reports on: those whose NOTIFY wants `action`'s
/// kind of report; the others are logged.
pub fn reported<'a>(
    msg: &Message,
    expanded: &[(Address, Vec<Address>)],
    entries: impl IntoIterator<Item = (&'a Address, Action, &'a str)>,
) -> Vec<Reported> {
    let mut out = Vec::new();
    for (leaf, action, why) in entries {
        let req = requests(msg, expanded, leaf);
        let wanted = match action {
            Action::Failed => RcptDsn::wants_failure(req),
            Action::Delayed => RcptDsn::wants_delay(req),
            Action::Delivered | Action::Relayed => RcptDsn::wants_success(req),
        };
        if !wanted {
            if action == Action::Failed {
                tracing::info!("{} == <{leaf}> no failure notice (NOTIFY)", msg.id);
            }
            continue;
        }
        out.push(Reported {
            rcpt: leaf.clone(),
            orcpt: req.and_then(|r| r.orcpt.clone()),
            action,
            why: why.to_string(),
        });
    }
    out
}
