//! Link detection (`online_detect = netlink | networkmanager`): what the
//! system says about its links, and the connection name the
//! configuration maps that to.
//!
//! Guarantees: a watcher ([`watch`]) never returns; it publishes on a
//! `watch` channel whenever what it sees changes (`None`: no link), and
//! when its source fails it logs, waits and starts again ([`RETRY`],
//! doubling up to [`MAX_RETRY`] while it keeps failing at once). A
//! one-shot question ([`ask`]) ends within [`QUERY_LIMIT`]; any failure
//! there means "offline", logged.
//!
//! # Security
//! The kernel (rtnetlink, our own network namespace) and the system bus
//! (`DBUS_SYSTEM_BUS_ADDRESS` or the standard socket) are trusted to tell
//! the truth about links; an interface name or connection id is used only
//! to choose a name from the configuration, as a key into `query_routes`
//! and `online_gets`, and in log lines.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::address::glob_match;
use crate::config::{Config, OnlineDetect};

/// How long a one-shot question may take.
pub const QUERY_LIMIT: Duration = Duration::from_secs(10);
/// The pause before a failed watcher starts again.
pub const RETRY: Duration = Duration::from_secs(10);
/// The longest pause: a system without NetworkManager is not asked (and
/// the log not written) more often.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// What a link watcher saw, before the configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A default route through this interface.
    Route { iface: String },
    /// NetworkManager's primary connection, by its id.
    Primary { id: String, metered: bool },
}

impl Seen {
    /// The connection name under `cfg`: the first `online_interfaces`
    /// glob that matches the interface, else the interface's own name;
    /// NetworkManager's connection id, or `online_metered` while metered.
    pub fn name(&self, cfg: &Config) -> String {
        match self {
            Seen::Route { iface } => cfg
                .online_interfaces
                .iter()
                .find(|(glob, _)| glob_match(glob, iface, false))
                .map_or_else(|| iface.clone(), |(_, name)| name.clone()),
            Seen::Primary { id, metered } => match (&cfg.online_metered, metered) {
                (Some(name), true) => name.clone(),
                _ => id.clone(),
            },
        }
    }

    /// What the link goes through, for the log: the interface, or the
    /// NetworkManager connection id.
    pub fn via(&self) -> &str {
        match self {
            Seen::Route { iface } => iface,
            Seen::Primary { id, .. } => id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("D-Bus: {0}")]
    Dbus(#[from] zbus::Error),
    #[error("the event stream ended")]
    Ended,
}

/// Whether `method` is link detection that the daemon can watch.
pub fn watchable(method: Option<OnlineDetect>) -> bool {
    matches!(
        method,
        Some(OnlineDetect::Netlink | OnlineDetect::NetworkManager)
    )
}

/// Watches the links by `method` for as long as the task runs,
/// publishing each change on `tx`. For other methods it returns at once.
pub async fn watch(method: Option<OnlineDetect>, tx: watch::Sender<Option<Seen>>) {
    let name = match method {
        Some(OnlineDetect::Netlink) => "netlink",
        Some(OnlineDetect::NetworkManager) => "NetworkManager",
        _ => return,
    };
    let mut pause = RETRY;
    loop {
        let started = tokio::time::Instant::now();
        let result = match method {
            Some(OnlineDetect::Netlink) => super::netlink::watch(&tx).await,
            _ => super::nm::watch(&tx).await,
        };
        // A watcher that ran for a while failed anew: start from the
        // short pause again.
        if started.elapsed() > MAX_RETRY {
            pause = RETRY;
        }
        if let Err(e) = result {
            tracing::warn!("watching links ({name}): {e}; trying again in {pause:?}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY);
    }
}

/// What the links are now, asked once (for `connection_name`, which is
/// called outside the daemon and on blocking threads inside it). The
/// question runs on a thread of its own with its own small runtime, so it
/// never depends on the caller's.
pub fn ask<F, Fut>(what: &'static str, question: F) -> Option<Seen>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<Seen>, LinkError>>,
{
    let thread = std::thread::Builder::new()
        .name("online".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                match tokio::time::timeout(QUERY_LIMIT, question()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {QUERY_LIMIT:?}")),
                }
            })
        });
    let answer = match thread.map(|t| t.join()) {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the question panicked".to_string()),
        Err(e) => Err(e.to_string()),
    };
    match answer {
        Ok(Some(seen)) => Some(seen),
        Ok(None) => {
            tracing::info!("not online ({what}).");
            None
        }
        Err(e) => {
            tracing::warn!("{what}: {e}; taken as offline");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_map_first_match_else_the_interface() {
        let mut cfg = Config::with_host_name("h");
        let route = |i: &str| Seen::Route {
            iface: i.to_string(),
        };
        assert_eq!(route("eth0").name(&cfg), "eth0", "no map: the interface");
        cfg.online_interfaces = vec![
            ("wlan0".into(), "home".into()),
            ("ppp*".into(), "mobile".into()),
            ("*".into(), "other".into()),
        ];
        assert_eq!(route("wlan0").name(&cfg), "home");
        assert_eq!(route("ppp1").name(&cfg), "mobile");
        assert_eq!(route("eth0").name(&cfg), "other");
        assert_eq!(route("eth0").via(), "eth0");
    }

    #[test]
    fn metered_primary_connection_maps_when_configured() {
        let mut cfg = Config::with_host_name("h");
        let seen = |metered| Seen::Primary {
            id: "Café".to_string(),
            metered,
        };
        assert_eq!(seen(true).name(&cfg), "Café", "no online_metered: the id");
        cfg.online_metered = Some("mobile".into());
        assert_eq!(seen(true).name(&cfg), "mobile");
        assert_eq!(seen(false).name(&cfg), "Café");
        assert_eq!(seen(true).via(), "Café");
    }
}
