//! `-g [NAME]`, `-go [NAME]` (cli.md §3.4): fetch mail, then deliver what
//! came unless `do_queue`, then the queue run given with it (`-g -q`).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Exit, code};
use crate::cli::{Fetch, QueueRun};
use crate::config::Config;
use crate::privs;
use crate::queue::{self, Scope};
use crate::spool::Spool;

/// The get files `what` names: `get.NAME` entries, or the items of
/// `online_gets.<connection>` (a path, or the name of a `get.NAME`).
pub fn get_files(cfg: &Config, what: &Fetch) -> Result<Vec<PathBuf>, String> {
    let named = |name: &str| {
        cfg.gets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| format!("no get file named {name} (get.{name} in masqmail.conf)"))
    };
    match what {
        Fetch::All => Ok(cfg.gets.iter().map(|(_, p)| p.clone()).collect()),
        Fetch::Named(name) => Ok(vec![named(name)?]),
        Fetch::Online { connection } => {
            let Some(conn) = crate::online::connection_name(cfg, connection.as_deref()) else {
                tracing::info!("not online: nothing to fetch");
                return Ok(Vec::new());
            };
            let Some((_, items)) = cfg.online_gets.iter().find(|(n, _)| *n == conn) else {
                tracing::info!("no online_gets.{conn}: nothing to fetch");
                return Ok(Vec::new());
            };
            items
                .iter()
                .map(|item| match item.starts_with('/') {
                    true => Ok(PathBuf::from(item)),
                    false => named(item),
                })
                .collect()
        }
    }
}

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
    let files = get_files(cfg, what).map_err(Exit::fail)?;
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
    let ids = crate::inbound::fetch::run_gets(cfg, spool, &paths);
    if !cfg.do_queue && !ids.is_empty() {
        queue::deliver_ids(cfg, spool, Scope::ALL, &ids);
    }
}
