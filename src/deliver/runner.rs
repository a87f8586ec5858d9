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
//! unreadable alias file is logged and treated as empty. Users' `.forward`
//! files are read at each lookup, with the checks of alias/forward_file.rs.

use crate::alias::{AliasContext, AliasTable, FileTrust, HomeForwards};
use crate::config::Config;
use crate::spool::Spool;

pub struct Runner<'a> {
    pub cfg: &'a Config,
    pub spool: &'a Spool,
    aliases: Aliases,
    /// `-qo NAME`: the connection, instead of asking online detection.
    pub connection: Option<String>,
    /// Permanent routes and the online set, read at first need.
    pub routes: Option<Vec<crate::config::Route>>,
}

impl<'a> Runner<'a> {
    pub fn new(cfg: &'a Config, spool: &'a Spool) -> Runner<'a> {
        Runner {
            cfg,
            spool,
            aliases: Aliases::load(cfg),
            connection: None,
            routes: None,
        }
    }

    pub fn alias_context(&self) -> AliasContext<'_> {
        self.aliases.context(self.cfg)
    }
}

/// The global and the normal alias table, as a run reads them.
pub struct Aliases {
    glob: Option<AliasTable>,
    normal: Option<AliasTable>,
    /// `None` with `forward_files = false`.
    forwards: Option<HomeForwards>,
}

impl Aliases {
    /// Reads the alias tables (an unreadable one is logged and empty,
    /// delivery.md §6 step 1).
    pub fn load(cfg: &Config) -> Aliases {
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
        Aliases {
            glob: load(&cfg.globalias_file),
            normal: load(&cfg.alias_file),
            forwards: cfg
                .forward_files
                .then(|| HomeForwards::new(cfg.run_as_user)),
        }
    }

    pub fn context<'c>(&'c self, cfg: &'c Config) -> AliasContext<'c> {
        AliasContext {
            globalias: self.glob.as_ref(),
            alias: self.normal.as_ref(),
            locality: cfg.locality(),
            host_name: &cfg.host_name,
            caseless: cfg.caseless_matching,
            forward: self
                .forwards
                .as_ref()
                .map(|f| f as &dyn crate::alias::Forwards),
        }
    }
}
