//! masqmail: a mail transfer agent for hosts that are not always online.
//!
//! The life of a message, and where each step lives:
//!
//! ```text
//! cli ─► config ─► accept ─► spool ─► queue run ─► alias ─► deliver ─► bounce
//! ```
//!
//! * [`cli`]: the sendmail-compatible command line and the binary's names.
//! * [`config`]: masqmail.conf, route and get files (both eras).
//! * [`address`]: addresses, RFC 821 paths, globs, locality.
//! * [`message`]: the in-memory message (envelope + raw headers), ids.
//! * [`spool`]: the masqmail 1.0 on-disk format, durable commits, locks.
//! * [`alias`]: alias files and the expansion of recipients.
//! * [`deliver`]: recipients' outcomes; local delivery (mbox, Maildir, MDA, pipe).
//! * [`bounce`]: failure notices and delay warnings from templates.
//! * [`exec`]: the one place that starts child processes (deadline, bounded output).

pub mod accept;
pub mod address;
pub mod alias;
pub mod bounce;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod dns;
pub mod exec;
pub mod fs;
pub mod log;
pub mod message;
pub mod mode;
pub mod online;
pub mod pop3;

pub mod privs;
pub mod queue;
pub mod route;
pub mod smtp;
pub mod spool;
pub mod tls;
pub mod wrapper;
