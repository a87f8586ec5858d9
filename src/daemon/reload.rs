//! SIGHUP: re-read the configuration without dropping accepted mail or
//! open sessions (systemd's `ExecReload=`).
//!
//! Guarantees: a session keeps the configuration it started with until it
//! ends, so a message in the middle of DATA is finished (and acknowledged)
//! under the old one; every session, queue run, fetch and instant delivery
//! started after the reload uses the new one. A configuration that does
//! not load (`file:line: what is wrong`) is logged and the old one stays.
//! What the running process cannot change — its sockets, directories,
//! identity, log target, connection caps and link detection method — is
//! kept, with a log line saying a restart is needed. A new TLS
//! certificate is loaded when the key is readable now; otherwise the old
//! one stays, with a log line.
//!
//! # Security
//! The new file is read through the same loader, with the same `-C`
//! rules, as at startup (the closure comes from `mode`). Reloads are
//! serialised: one signal stream, one reload at a time.

use std::sync::Arc;

use tokio::signal::unix::Signal;
use tokio::sync::watch;

use super::notify;
use crate::config::Config;
use crate::inbound::smtp::ServerCtx;
use crate::queue::InstantDelivery;

/// Loads the configuration again as the command line asked at startup.
pub type Reloader = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// What a reload replaces.
pub(crate) struct Reload {
    pub load: Reloader,
    pub instant: Arc<InstantDelivery>,
    /// The context new sessions, runs and fetches take.
    pub current: watch::Sender<Arc<ServerCtx>>,
}

/// Reloads on every SIGHUP until the daemon stops (the task is aborted).
pub(crate) async fn on_hangup(mut hup: Signal, reload: Reload) {
    while hup.recv().await.is_some() {
        notify::reloading();
        tracing::info!("SIGHUP: reloading the configuration");
        let load = Arc::clone(&reload.load);
        match tokio::task::spawn_blocking(move || load()).await {
            Ok(Ok(cfg)) => apply(&reload, cfg),
            Ok(Err(e)) => tracing::error!("configuration not reloaded, the old one stays: {e}"),
            Err(e) => tracing::error!("configuration not reloaded, the old one stays: {e}"),
        }
        notify::notify("READY=1");
    }
}

fn apply(reload: &Reload, mut cfg: Config) {
    let old = Arc::clone(&reload.current.borrow());
    for option in keep_fixed(&old.cfg, &mut cfg) {
        tracing::warn!("{option} changed: it takes effect after a restart");
    }
    let tls = match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => {
            match crate::privs::as_root(|| crate::tls::server_config(cert, key)) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    tracing::error!("TLS not reloaded, the old certificate stays: {e}");
                    old.tls.clone()
                }
            }
        }
        _ => None,
    };
    let cfg = Arc::new(cfg);
    reload.instant.set_config(Arc::clone(&cfg));
    let ctx = old.reconfigured(cfg, tls, Some(reload.instant.hook()));
    reload.current.send_replace(Arc::new(ctx));
    tracing::info!("configuration reloaded");
}

/// Puts back into `new` the options the running daemon keeps from its
/// start, and names those that differed. The daemon holds the listening
/// sockets and its identity, the spool, pid and log files, and sizes its
/// connection caps once.
fn keep_fixed(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                changed.push(stringify!($field));
                new.$field = old.$field.clone();
            }
        )*};
    }
    keep!(
        listen_addresses,
        tls_listen_addresses,
        spool_dir,
        lock_dir,
        pid_dir,
        log_dir,
        use_syslog,
        run_as_user,
        max_connections,
        max_connections_per_host,
        online_detect
    );
    changed
}
