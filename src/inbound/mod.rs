//! The inbound room: the doors through which mail comes in from the
//! network. Each hands what it received to [`crate::accept`] and learns
//! nothing about what happens to the message afterwards.
//!
//! * [`smtp`]: the SMTP server (`-bd`, `-bs`, and the ODMR turn).
//! * [`fetch`]: fetching from the provider (POP3, ODMR).
//! * [`content`]: message content from the network into the spool, for both.
//!
//! The sendmail door (stdin) is `mode::accept` with `message::read`.
//!
//! # Security
//! Everything here faces hostile peers: see each module.

pub mod content;
pub mod fetch;
pub mod smtp;
