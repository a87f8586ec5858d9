//! Aliases: alias files (normal and glob, config.md §5) and the expansion
//! of a recipient into its final recipients (delivery.md §8, 1.0 rules).
//!
//! The tables are re-read at every delivery run (no rebuild step); the
//! caller loads them with [`AliasTable::load`] and expands each top-level
//! recipient with [`expand`]. An [`Expansion::Failed`] recipient is marked
//! failed and bounced with the reason `Alias expansion failed`.
//!
//! # Security
//! Pipe items run commands, so they are honoured only from files that only
//! root or the mail user can write (see [`file`]); a loop or an oversized
//! expansion fails one recipient and never the delivery run.

pub mod expand;
pub mod file;

pub use expand::{AliasContext, Expansion, expand};
pub use file::{AliasEntry, AliasError, AliasItem, AliasTable, FileTrust};
