//! A masqmail daemon (`-bD`, foreground) of an `Env`, on an ephemeral
//! port of 127.0.0.1; killed when dropped.
//!
//! Readiness is what the daemon documents (src/daemon/mod.rs, issue 7):
//! its log line `ready`, written after the pid file, the listening
//! sockets and the signal handlers. The harness waits for that line from
//! this process, never probes the port (a probe would hold a session
//! slot for a moment) and never sleeps a fixed time.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Env;

pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
}

/// A port that was free a moment ago (the kernel rarely reuses it at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

impl Env {
    /// Adds `listen_addresses` on a fresh port to the config, starts
    /// `masqmail -bD <extra>` and waits until it accepts connections.
    pub fn daemon(&self, extra: &[&str]) -> Daemon {
        let port = free_port();
        let conf = std::fs::read_to_string(&self.conf).expect("conf");
        let conf = match conf.find("\nlisten_addresses") {
            Some(_) => conf,
            None => format!("{conf}\nlisten_addresses = \"127.0.0.1:{port}\"\n"),
        };
        std::fs::write(&self.conf, &conf).expect("conf");
        self.start_daemon(extra, port)
    }

    /// Starts `-bD` on a config that already names `port`; returns once
    /// the daemon has logged `ready`, and checks that its pid file names it.
    pub fn start_daemon(&self, extra: &[&str], port: u16) -> Daemon {
        self.start_daemon_with(extra, port, |_| {})
    }

    /// [`Env::start_daemon`], with `prep` applied to the command first (a
    /// network namespace, an environment variable).
    pub fn start_daemon_with(
        &self,
        extra: &[&str],
        port: u16,
        prep: impl FnOnce(&mut std::process::Command),
    ) -> Daemon {
        let mut c = self.cmd();
        prep(&mut c);
        c.arg("-bD").args(extra);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Only lines logged after this point count: the log is append-only
        // and may hold an earlier daemon's `ready`.
        let seen = self.log().len();
        let child = c.spawn().expect("spawn daemon");
        let pid = child.id();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        // Owned from here: a daemon that never gets ready is killed when
        // the panic below unwinds, not left running.
        let mut daemon = Daemon { child, addr };
        let ready = format!("[{pid}] info: ready");
        self.wait_for("the daemon to log ready", || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("daemon exited early: {status}\nlog: {}", self.log());
            }
            let log = self.log();
            log.get(seen..)
                .is_some_and(|new| new.lines().any(|l| l.ends_with(&ready)))
        });
        let pid_file = std::fs::read_to_string(self.path("run/masqmail.pid")).expect("pid file");
        assert_eq!(
            pid_file,
            format!("{pid}\n"),
            "the pid file names the daemon"
        );
        daemon
    }

    /// Starts `masqmail -bd` (detaching) on a config that already names a
    /// port; returns its output (it returns once the daemon is ready or
    /// has failed) and the daemon's pid from the pid file when it started.
    pub fn start_detached(&self) -> (std::process::Output, Option<i32>) {
        let out = self.run(&["-bd"], b"");
        let pid = std::fs::read_to_string(self.path("run/masqmail.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        (out, pid)
    }

    /// Waits until `cond` holds (polling), panicking with `what` after 30 s.
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nlog: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// SIGTERM, then the exit status (waits up to 30 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            assert!(Instant::now() < deadline, "daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
