//! `online_detect = networkmanager`: NetworkManager's primary active
//! connection, over the system D-Bus; its id names the connection, and
//! `online_metered` replaces it while the connection is metered.
//!
//! Guarantees: the watcher follows `PrimaryConnection` and `Metered`
//! through their `PropertiesChanged` signals (subscribed before the first
//! read, so no change is missed), and reads the active connection's `Id`
//! anew after each change. No primary connection (`/`) is offline; an
//! active connection that vanished before its id could be read is
//! offline until the next change.
//!
//! # Security
//! Connects to the system bus as whatever user we are, reads properties,
//! calls nothing that changes anything. `DBUS_SYSTEM_BUS_ADDRESS` is
//! honoured only for privileged callers (root, the mail user or group:
//! [`crate::privs::is_privileged`]); anyone else who runs us gets the
//! standard socket, so they cannot name the route set through a bus of
//! their own. Trusts the owner of the well-known name
//! `org.freedesktop.NetworkManager` (the bus policy decides who may own
//! it) for the connection id, which is used only as a name.

use futures_util::StreamExt;
use tokio::sync::watch;
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedObjectPath;

use super::link::{LinkError, Seen};

#[zbus::proxy(
    interface = "org.freedesktop.NetworkManager",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager"
)]
trait NetworkManager {
    #[zbus(property)]
    fn primary_connection(&self) -> zbus::Result<OwnedObjectPath>;
    /// NMMetered: 0 unknown, 1 yes, 2 no, 3 guessed yes, 4 guessed no.
    #[zbus(property)]
    fn metered(&self) -> zbus::Result<u32>;
}

#[zbus::proxy(
    interface = "org.freedesktop.NetworkManager.Connection.Active",
    default_service = "org.freedesktop.NetworkManager"
)]
trait Active {
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
}

/// The standard system bus socket.
const SYSTEM_BUS: &str = "unix:path=/var/run/dbus/system_bus_socket";

async fn system_bus() -> zbus::Result<zbus::Connection> {
    if crate::privs::is_privileged(false) {
        zbus::Connection::system().await
    } else {
        zbus::connection::Builder::address(SYSTEM_BUS)?
            .build()
            .await
    }
}

/// The primary connection, asked once (one property read, then its id).
pub fn current() -> Option<Seen> {
    super::link::ask("NetworkManager", || async {
        let conn = system_bus().await?;
        let nm = NetworkManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        read(&conn, &nm).await
    })
}

/// Publishes the primary connection on `tx` at once and after every
/// change, until the bus connection fails.
pub async fn watch(tx: &watch::Sender<Option<Seen>>) -> Result<(), LinkError> {
    let conn = system_bus().await?;
    let nm = NetworkManagerProxy::new(&conn).await?;
    let mut primary = nm.receive_primary_connection_changed().await;
    let mut metered = nm.receive_metered_changed().await;
    publish(tx, read(&conn, &nm).await?);
    tracing::info!("watching links (NetworkManager)");
    loop {
        let event = tokio::select! {
            e = primary.next() => e.map(drop),
            e = metered.next() => e.map(drop),
        };
        if event.is_none() {
            return Err(LinkError::Ended);
        }
        publish(tx, read(&conn, &nm).await?);
    }
}

fn publish(tx: &watch::Sender<Option<Seen>>, seen: Option<Seen>) {
    tx.send_if_modified(|now| {
        let changed = *now != seen;
        *now = seen;
        changed
    });
}

async fn read(
    conn: &zbus::Connection,
    nm: &NetworkManagerProxy<'_>,
) -> Result<Option<Seen>, LinkError> {
    let path = nm.primary_connection().await?;
    if path.as_str() == "/" {
        return Ok(None);
    }
    let metered = matches!(nm.metered().await?, 1 | 3);
    let id = async {
        ActiveProxy::builder(conn)
            .path(path.clone())?
            .cache_properties(CacheProperties::No)
            .build()
            .await?
            .id()
            .await
    };
    match id.await {
        Ok(id) => Ok(Some(Seen::Primary { id, metered })),
        Err(e) => {
            tracing::info!("NetworkManager: no id for {}: {e}", path.as_str());
            Ok(None)
        }
    }
}
