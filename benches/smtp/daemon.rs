//! One `masqmail -bD` under test: its own temp directory (spool, logs,
//! config), a port on 127.0.0.1, and its `/proc` figures.
//!
//! The config holds only options every binary since issue 3 knows
//! (`do_queue = true`, `max_msg_size = 0`). A binary that accepts the
//! issue 7 options (checked with `-bp` on a probe config) also gets
//! `max_connections_per_host = 0`: its default cap of 10 per address would
//! otherwise refuse some of the 10-client rows, which all come from
//! 127.0.0.1.
//!
//! Dropping a `Daemon` kills it and removes its directory, spool included.

#![allow(dead_code)] // benches/peers.rs uses only part of it

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(bin: &Path) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let mut conf = base_conf(dir.path(), port);
        if knows_per_host_cap(bin, &conf, dir.path()) {
            conf += "max_connections_per_host = 0\n";
        }
        let path = dir.path().join("masqmail.conf");
        std::fs::write(&path, conf).expect("write config");
        let child = Command::new(bin)
            .arg("-C")
            .arg(&path)
            .arg("-bD")
            .stdin(Stdio::null())
            .spawn()
            .expect("daemon");
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut d = Daemon { child, addr, dir };
        d.wait_listening();
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`); 0 when
    /// the daemon is gone.
    pub fn status_kb(&self, key: &str) -> u64 {
        status_kb(self.pid(), key)
    }

    /// Bytes under the spool directory (what the big run left there).
    pub fn spool_bytes(&self) -> u64 {
        dir_bytes(&self.dir.path().join("spool"))
    }

    /// The last `n` lines of the daemon's log files, to explain a failure.
    pub fn log_tail(&self, n: usize) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("log")) {
            for e in entries.flatten() {
                text += &std::fs::read_to_string(e.path()).unwrap_or_default();
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                self.child.try_wait().ok().flatten().is_none(),
                "daemon exited"
            );
            assert!(Instant::now() < deadline, "daemon does not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The TempDir drop then removes the spool (4 GiB after a big run).
    }
}

fn base_conf(root: &Path, port: u16) -> String {
    let r = root.display();
    format!(
        "host_name = \"bench.example.org\"\nrun_as_user = true\ndo_queue = true\n\
         max_msg_size = 0\n\
         spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
         mail_dir = \"{r}/mail\"\npid_dir = \"{r}\"\nlisten_addresses = \"127.0.0.1:{port}\"\n"
    )
}

/// Whether `bin` loads a config that sets `max_connections_per_host`
/// (binaries before issue 7 refuse unknown options).
fn knows_per_host_cap(bin: &Path, conf: &str, root: &Path) -> bool {
    let probe: PathBuf = root.join("probe.conf");
    std::fs::write(&probe, format!("{conf}max_connections_per_host = 0\n")).expect("probe");
    let ok = Command::new(bin)
        .arg("-C")
        .arg(&probe)
        .arg("-bp")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let _ = std::fs::remove_file(&probe);
    ok
}

pub use crate::tree::status_kb;

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
