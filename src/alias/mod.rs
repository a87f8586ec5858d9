//! Aliases: alias files (normal and glob, config.md §5) and the expansion
//! of a recipient into its final recipients (delivery.md §8, 1.0 rules).
//!
//! The tables are re-read at every delivery run (no rebuild step); the
//! caller loads them with [`AliasTable::load`] and expands each top-level
//! recipient with [`expand`]. An [`Expansion::Failed`] recipient is marked
//! failed and bounced with the reason `Alias expansion failed`.
//!
//! After the alias tables, a local address that is no alias goes through
//! its user's `~/.forward` ([`forward`], read by [`forward_file`]), unless
//! it came from a `\user` item.
//!
//! # Security
//! Pipe items run commands, so they are honoured only from files that only
//! root or the mail user can write (see [`file`]); a loop or an oversized
//! expansion fails one recipient and never the delivery run. Command and
//! file items of a `.forward` become targets that run as that user only.

pub mod expand;
pub mod file;
pub mod forward;
pub mod forward_file;

pub use expand::{AliasContext, Expansion, expand};
pub use file::{AliasEntry, AliasError, AliasItem, AliasTable, FileTrust};
pub use forward::{ForwardItem, ForwardList, ForwardTarget, Forwards};
pub use forward_file::HomeForwards;
