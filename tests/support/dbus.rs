//! A private system-like D-Bus bus (Debian's `dbus-daemon`, config and
//! socket in the test's directory, killed when dropped) and a fake
//! NetworkManager on it, served by the test with zbus: the object
//! `/org/freedesktop/NetworkManager` with `PrimaryConnection` and
//! `Metered`, and active connections `/org/freedesktop/NetworkManager/
//! ActiveConnection/N` with `Id`. Changes are announced with
//! `PropertiesChanged`, as NetworkManager does.
//!
//! Included by the tests that need it (`#[path]`), not by `support/mod.rs`:
//! the zbus interfaces would be compiled into every test binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use zbus::zvariant::OwnedObjectPath;

pub const NM_PATH: &str = "/org/freedesktop/NetworkManager";

/// NMMetered values.
pub const METERED_YES: u32 = 1;
pub const METERED_NO: u32 = 2;

pub struct Bus {
    child: Child,
    /// For `DBUS_SYSTEM_BUS_ADDRESS`.
    pub address: String,
}

impl Bus {
    /// Why a bus cannot be started here, if it cannot.
    pub fn available() -> Result<(), String> {
        match Command::new("dbus-daemon").arg("--version").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("no dbus-daemon (Debian package dbus-daemon)".into()),
        }
    }

    /// Starts a bus whose socket lives in `dir`; anyone may own any name.
    pub fn start(dir: &Path) -> Bus {
        let conf = dir.join("bus.conf");
        let socket = dir.join("system_bus_socket");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("bus config");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dbus-daemon");
        // The address is printed once the bus listens.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("address");
        let address = line.trim().to_string();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        Bus { child, address }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Nm {
    primary: OwnedObjectPath,
    metered: u32,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager")]
impl Nm {
    #[zbus(property)]
    fn primary_connection(&self) -> OwnedObjectPath {
        self.primary.clone()
    }

    #[zbus(property)]
    fn metered(&self) -> u32 {
        self.metered
    }
}

struct Active {
    id: String,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager.Connection.Active")]
impl Active {
    #[zbus(property)]
    fn id(&self) -> String {
        self.id.clone()
    }
}

/// NetworkManager as the test plays it: offline at first.
pub struct FakeNm {
    runtime: tokio::runtime::Runtime,
    conn: zbus::Connection,
}

fn path(p: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(p.to_string()).expect("object path")
}

impl FakeNm {
    /// Owns `org.freedesktop.NetworkManager` on `bus`, with the active
    /// connections `ids` as `ActiveConnection/1`, `/2`, ...
    pub fn start(bus: &Bus, ids: &[&str]) -> FakeNm {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let conn = runtime.block_on(async {
            let mut b = zbus::connection::Builder::address(bus.address.as_str())
                .expect("bus address")
                .name("org.freedesktop.NetworkManager")
                .expect("name")
                .serve_at(
                    NM_PATH,
                    Nm {
                        primary: path("/"),
                        metered: METERED_NO,
                    },
                )
                .expect("serve NM");
            for (n, id) in ids.iter().enumerate() {
                b = b
                    .serve_at(
                        format!("{NM_PATH}/ActiveConnection/{}", n + 1),
                        Active { id: id.to_string() },
                    )
                    .expect("serve active connection");
            }
            b.build().await.expect("connect to the bus")
        });
        FakeNm { runtime, conn }
    }

    /// Makes active connection `n` (1-based; 0: none) primary with the
    /// given NMMetered value, announcing both properties.
    pub fn set_primary(&self, n: usize, metered: u32) {
        let primary = match n {
            0 => path("/"),
            n => path(&format!("{NM_PATH}/ActiveConnection/{n}")),
        };
        self.runtime.block_on(async {
            let iface = self
                .conn
                .object_server()
                .interface::<_, Nm>(NM_PATH)
                .await
                .expect("NM object");
            {
                let mut nm = iface.get_mut().await;
                nm.primary = primary;
                nm.metered = metered;
            }
            let nm = iface.get().await;
            let emitter = iface.signal_emitter();
            nm.metered_changed(emitter).await.expect("signal");
            nm.primary_connection_changed(emitter)
                .await
                .expect("signal");
        });
    }
}
