//! The SMTP server (delivery.md §13), ESMTP per RFC 5321.
//!
//! [`command`] turns one command line into a typed [`command::Command`];
//! [`data`] decodes message content after `DATA` or `BDAT`. Both are pure:
//! the session that drives them owns the socket, the timeouts and the state.
//!
//! # Security
//! Input is hostile and untrusted; see each module's `# Security` section.

pub mod command;
pub mod data;
