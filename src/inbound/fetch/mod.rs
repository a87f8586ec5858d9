//! Fetching mail from the provider when online (delivery.md §15; `-g`,
//! `-go`): a get file names an account; the protocol module speaks to it
//! and every retrieved message goes through [`crate::accept`] like any
//! other, durably, before the server is told to delete it.
//!
//! * [`pop3`]: the POP3 dialogue as a sans-IO state machine.
//! * [`envelope`]: return path, recipients (multidrop) and header rules.
//! * [`odmr`]: On-Demand Mail Relay (RFC 2645): ATRN, then our SMTP server
//!   on the provider's connection.
//! * [`uidl`]: which messages were fetched already (the UIDL file).
//! * [`driver`], `wire`: the tokio side of a POP3 session; [`run`]: get
//!   files, the fetch lock, the password.
//!
//! # Security
//! The server is untrusted: see each module.

pub mod driver;
pub mod envelope;
pub mod odmr;
pub mod pop3;
pub mod run;
pub mod uidl;
mod wire;

pub use run::{Which, fetch_files, get_files, run_gets};
