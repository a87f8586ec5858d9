//! Delivery: the only place that decides what happens to a recipient.
//!
//! The queue hands a [`runner::Runner`] chunks of locked messages; each
//! message goes through [`step`] (aliases, classification, local delivery
//! via [`local`]), the chunk through [`remote`] (routes, then
//! [`transport`]: pipe or the SMTP client), and each message is concluded:
//! expiry, the notices that are due (built by `bounce`), the spool update.
//!
//! * [`runner`]: the state of one run (config, spool, alias tables, routes).
//! * [`step`]: one message's local step, its conclusion, its notices.
//! * [`local`], [`mbox`], [`maildir`], [`command`], [`content`]: local
//!   methods and the bytes they write; [`forward`]: a `.forward`'s
//!   commands and files, as its user.
//! * [`remote`], [`transport`]: the remote step of a batch.
//!
//! Guarantees: every recipient ends a step with exactly one [`Outcome`].
//! Delivery does not spool anything new: the notices it builds are handed
//! back ([`step::Conclusion`]) and the queue spools them. Imports point
//! down the road: nothing here uses `accept`, `queue`, `mode` or the SMTP
//! server.
//!
//! # Security
//! Runs with the identity of the run and the message's lock held by the
//! caller. Mailboxes are written under the recipient's identity
//! (`privs::EffectiveIdentity`) unless `run_as_user`; commands never go
//! through a shell. Each file's doc says what it trusts.

pub mod command;
pub mod content;
pub mod dsn;
pub mod forward;
pub mod local;
pub mod maildir;
pub mod mbox;
pub mod remote;
pub mod runner;
pub mod step;
pub mod transport;

/// The result of one delivery attempt for one recipient. No booleans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Accepted by a server that offered DSN, with the sender's DSN
    /// requests passed on: delivered, and from now on that server reports
    /// (RFC 3461 §4), so no success report of ours.
    PassedOn,
    /// Temporary failure: the recipient stays pending. The text is the reason.
    Deferred(String),
    /// Permanent failure: the recipient fails and is bounced.
    Failed(String),
}
