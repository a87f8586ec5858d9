//! Remote routing (delivery.md §9, §11): which route takes which recipient
//! of a message, and how a message is rewritten for one route.
//!
//! * [`select`]: route filters (config.md §3.2–3.3), the per-run
//!   `last_route` claims, the route files of a run, 0.2 `local_nets`.
//! * [`rewrite`]: the outgoing return path and header list of a route.
//!
//! Everything here is pure: no spool, no network, no files. The delivery
//! run (deliver::) calls it per route, per message.
//!
//! # Security
//! Header values and return paths come from senders and are hostile;
//! replacement texts come from route files (trusted, but checked again
//! for control characters before anything is spliced into a header).

pub mod rewrite;
pub mod select;
mod splice;

pub use rewrite::{Rewritten, rewrite};
pub use select::{
    Claims, Refusal, accepts_message, accepts_rcpt, default_local_net_route, local_net_applies,
    message_refusal, rcpt_refusal, route_files,
};
