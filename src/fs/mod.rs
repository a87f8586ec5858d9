//! File-system helpers shared by the spool and local delivery.

pub mod crash;
pub mod durable;
pub mod group_sync;
