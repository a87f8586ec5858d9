//! Running get files (delivery.md §15.1–15.2): for each, the fetch lock,
//! the password, the UIDL file and one session; errors are logged per get
//! file and never stop the others.
//!
//! # Security
//! The fetch lock (`<lock_dir>/masqmail-get-<user>@<server>.lock`, an
//! `flock` the kernel drops when the process dies) keeps two fetches of
//! one account apart, so a message is never fetched twice at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::driver::{Fetched, fetch};
use super::uidl::UidlStore;
use crate::config::{Config, GetConf, GetProtocol};
use crate::inbound::content::spool::Target;
use crate::inbound::smtp::{OnAccepted, ServerCtx};
use crate::message::QueueId;
use crate::pop3::Pop3Error;
use crate::pop3::login::secret;
use crate::spool::Spool;

/// Which get files a fetch runs (`-g`, `-g NAME`, `-go [NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    All,
    Named(String),
    /// The gets of `online_gets.<connection>`; `None`: online detection.
    Online(Option<String>),
}

/// The get files `what` names: `get.NAME` entries, or the items of
/// `online_gets.<connection>` (a path, or the name of a `get.NAME`).
pub fn get_files(cfg: &Config, what: &Which) -> Result<Vec<PathBuf>, String> {
    let named = |name: &str| {
        cfg.gets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| format!("no get file named {name} (get.{name} in masqmail.conf)"))
    };
    match what {
        Which::All => Ok(cfg.gets.iter().map(|(_, p)| p.clone()).collect()),
        Which::Named(name) => Ok(vec![named(name)?]),
        Which::Online(connection) => {
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

/// Runs every get file in turn (on a runtime of its own); the ids of all
/// messages spooled.
pub fn run_gets(cfg: &Arc<Config>, spool: &Spool, files: &[&Path]) -> Vec<QueueId> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime for fetching: {e}");
            return Vec::new();
        }
    };
    let target = Target {
        cfg: Arc::clone(cfg),
        spool: spool.clone(),
    };
    runtime.block_on(fetch_files(&target, files))
}

/// Runs every get file in turn; the ids of all messages spooled.
pub async fn fetch_files(target: &Target, files: &[&Path]) -> Vec<QueueId> {
    let mut ids = Vec::new();
    for file in files {
        let get = match crate::privs::as_root(|| GetConf::load(file, &target.cfg)) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("{e}");
                continue;
            }
        };
        ids.extend(run_one(&get, target).await);
    }
    ids
}

/// An ODMR account: the provider delivers over our SMTP server session;
/// the ids of what it accepted.
async fn odmr(get: &GetConf, target: &Target) -> Vec<QueueId> {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&ids);
    let hook: OnAccepted = Box::new(move |id| {
        sink.lock().unwrap_or_else(|p| p.into_inner()).push(id);
    });
    let ctx = ServerCtx::new(
        Arc::clone(&target.cfg),
        target.spool.clone(),
        None,
        Some(hook),
    );
    match super::odmr::run(get, Arc::new(ctx)).await {
        Ok(s) if s.no_mail => tracing::info!("{}: ODMR: no mail waiting", get.server),
        Ok(s) => tracing::info!("{}: ODMR: {} message(s) received", get.server, s.accepted),
        Err(e) => tracing::error!("{e}"),
    }
    let mut ids = ids.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::take(&mut *ids)
}

/// The UIDs of messages in the spool that were fetched from `account`.
fn spooled_uids(spool: &Spool, account: &str) -> Vec<String> {
    let prefix = format!("{account} ");
    let Ok(ids) = spool.ids() else {
        return Vec::new();
    };
    ids.iter()
        .filter_map(|id| spool.read(id).ok())
        .filter_map(|m| m.fetched_as)
        .filter_map(|o| o.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// One get file, under its fetch lock.
pub async fn run_one(get: &GetConf, target: &Target) -> Vec<QueueId> {
    let account = format!("{}@{}", get.user, get.server);
    let lock_name = format!("masqmail-get-{account}.lock").replace(['/', '\0'], "_");
    let _lock = match target.spool.lock_named(lock_name) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::info!("getting mail for {account} is locked");
            return Vec::new();
        }
        Err(e) => {
            tracing::error!("cannot lock the fetch for {account}: {e}");
            return Vec::new();
        }
    };
    if get.protocol == GetProtocol::Odmr {
        return odmr(get, target).await;
    }
    let limit = crate::exec::helper_limit(target.cfg.command_time_limit);
    let secret = match secret(get, limit) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return Vec::new();
        }
    };
    let mut uidl = if get.do_uidl {
        match UidlStore::open(&target.cfg.spool_dir, &get.user, &get.server) {
            Ok(mut u) => {
                // Spooled by a fetch that died before it could write the
                // UIDL file: known all the same.
                for uid in spooled_uids(&target.spool, &account) {
                    if let Err(e) = u.record(&uid) {
                        tracing::error!("{e}");
                        return Vec::new();
                    }
                }
                Some(u)
            }
            Err(e) => {
                // Without it a kept message would be fetched again and
                // again: do not fetch at all.
                tracing::error!("{e}");
                return Vec::new();
            }
        }
    } else {
        None
    };
    let bearer = get.oauth2.as_ref().map(|conf| (conf, secret.clone()));
    let (Fetched { summary, ids }, result) = fetch(get, target, secret, uidl.as_mut()).await;
    if let (Err(Pop3Error::Login { .. }), Some((conf, token))) = (&result, bearer) {
        crate::oauth2::refused(conf, &token);
    }
    match result {
        Ok(()) => tracing::info!(
            "fetched {} message(s) for {account}: {} listed, {} already fetched, {} too large, {} deleted",
            summary.fetched,
            summary.listed,
            summary.known,
            summary.too_large,
            summary.deleted
        ),
        Err(e) => tracing::error!(
            "fetching for {account}: {e} ({} message(s) spooled before)",
            ids.len()
        ),
    }
    ids
}
