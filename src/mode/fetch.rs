//! `-g [NAME]`, `-go [NAME]` (cli.md §3.4): fetch mail, then deliver what
//! came unless `do_queue`, then the queue run given with it (`-g -q`).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Exit, code};
use crate::cli::{Fetch, QueueRun};
use crate::config::Config;
use crate::inbound::fetch;
use crate::privs;
use crate::queue::{self, Scope};
use crate::spool::Spool;

/// Fetches `what`; delivers what came (unless `do_queue`); then `then`.
pub fn run(cfg: &Config, what: &Fetch, then: Option<&QueueRun>) -> Result<i32, Exit> {
    if !privs::is_privileged(cfg.run_as_user) {
        return Err(Exit::fail(format!(
            "must be root, {} or in group {} for getting mail.",
            privs::MAIL_USER,
            privs::MAIL_GROUP
        )));
    }
    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir)
        .map_err(|e| Exit::new(code::TEMPFAIL, format!("cannot open the spool: {e}")))?;
    let which = match what {
        Fetch::All => fetch::Which::All,
        Fetch::Named(n) => fetch::Which::Named(n.clone()),
        Fetch::Online { connection } => fetch::Which::Online(connection.clone()),
    };
    let files = fetch::get_files(cfg, &which).map_err(Exit::fail)?;
    fetch_and_deliver(&Arc::new(cfg.clone()), &spool, &files);
    match then {
        None => Ok(code::OK),
        Some(QueueRun::All) => super::queue::run(cfg, None),
        Some(QueueRun::Online { name }) => super::queue::run(cfg, Some(name)),
    }
}

/// The fetch of `files`, then instant delivery of what came.
pub fn fetch_and_deliver(cfg: &Arc<Config>, spool: &Spool, files: &[PathBuf]) {
    let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let ids = fetch::run_gets(cfg, spool, &paths);
    if !cfg.do_queue && !ids.is_empty() {
        queue::deliver_ids(cfg, spool, Scope::ALL, &ids);
    }
}
