//! The state of one delivery run: config, spool, the alias tables read
//! fresh for this run, and the connection and routes of the run.
//!
//! Guarantees: the alias tables are read once per run, so every message of
//! the run sees the same aliases. Which recipients a run handles (its
//! scope) and what happens to the notices it builds are the caller's (the
//! queue's) business.
//!
//! # Security
//! Alias files are read with [`FileTrust::system`] (root, the mail user,
//! and with `run_as_user` ourselves): a file that fails the trust check of
//! `alias/file.rs` is still read, but its pipe items never run (R17). An
//! unreadable alias file is logged and treated as empty.

use crate::alias::{AliasContext, AliasTable, FileTrust};
use crate::config::Config;
use crate::spool::Spool;

pub struct Runner<'a> {
    pub cfg: &'a Config,
    pub spool: &'a Spool,
    glob: Option<AliasTable>,
    normal: Option<AliasTable>,
    /// `-qo NAME`: the connection, instead of asking online detection.
    pub connection: Option<String>,
    /// Permanent routes and the online set, read at first need.
    pub routes: Option<Vec<crate::config::Route>>,
}

impl<'a> Runner<'a> {
    /// Reads the alias tables (an unreadable one is logged and empty,
    /// delivery.md §6 step 1).
    pub fn new(cfg: &'a Config, spool: &'a Spool) -> Runner<'a> {
        let trust = FileTrust::system(cfg.run_as_user);
        let load = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .and_then(|p| match AliasTable::load_trusting(p, &trust) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::error!("cannot read alias file: {e}");
                        None
                    }
                })
        };
        Runner {
            cfg,
            spool,
            glob: load(&cfg.globalias_file),
            normal: load(&cfg.alias_file),
            connection: None,
            routes: None,
        }
    }

    pub fn alias_context(&self) -> AliasContext<'_> {
        AliasContext {
            globalias: self.glob.as_ref(),
            alias: self.normal.as_ref(),
            locality: self.cfg.locality(),
            host_name: &self.cfg.host_name,
            caseless: self.cfg.caseless_matching,
        }
    }
}
