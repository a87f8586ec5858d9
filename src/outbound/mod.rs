//! The outbound room: what remote delivery (`deliver::remote` and its
//! transports) uses to reach other hosts.
//!
//! * [`route`]: which route takes which recipient, and per-route rewriting.
//! * [`smtp`]: the SMTP client.
//! * [`dns`]: MX/A/AAAA lookups for direct delivery.
//!
//! Nothing here imports the inbound room, the queue or delivery.
//!
//! # Security
//! The peers (servers, DNS) are not trusted: see each module.

pub mod dns;
pub mod route;
pub mod smtp;
