//! Delivery: the only place that decides what happens to a recipient.

pub mod command;
pub mod content;
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
    /// Temporary failure: the recipient stays pending. The text is the reason.
    Deferred(String),
    /// Permanent failure: the recipient fails and is bounced.
    Failed(String),
}
