//! Queue flush over a slow link, masqmail's side: a test SMTP server
//! (`tests/support/sink.rs`, PIPELINING-only or with CHUNKING, plain or
//! with STARTTLS + AUTH) behind the latency proxy, and `masqmail -qo isp`
//! of N queued 2 KB messages through it, each run from a fresh spool.
//!
//! Used by `benches/flush.rs` and by `benches/peers.rs`, which sends the
//! peers (Postfix, msmtp) through the same [`Link`]. The including crate
//! declares `mod ca; mod conf; mod proxy; mod sink;` at its root.
//!
//! # Trust
//! Bench-only: panics on any setup failure; checks that every message
//! arrived before it reports a time.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::ca::{self, TestCa};
use crate::proxy::{DELAY, Proxy};
use crate::sink::{Sink, SinkConfig};

pub const LOGIN: &str = "jo";
pub const SECRET: &str = "secret";
pub const RCPT: &str = "bob@remote.example";

/// One server behind the proxy, and the CA its certificate is from.
pub struct Link {
    pub chunking: bool,
    pub secure: bool,
    pub ca: TestCa,
    pub sink: Sink,
    pub proxy: Proxy,
    /// Holds the CA files; world-readable so that Postfix's processes,
    /// running as `postfix`, can read the CA too.
    pub dir: tempfile::TempDir,
}

impl Link {
    pub fn start(chunking: bool, secure: bool) -> Link {
        let dir = tempfile::tempdir().expect("tempdir");
        open_up(dir.path());
        let ca = ca::make(&dir.path().join("ca"));
        open_up(&dir.path().join("ca"));
        let sink = Sink::start(SinkConfig {
            chunking,
            starttls: secure.then(|| (ca.cert_pem.clone(), ca.key_pem.clone())),
            auth: secure.then(|| (LOGIN.to_string(), SECRET.to_string())),
            auth_required: secure,
            ..SinkConfig::default()
        });
        let proxy = Proxy::start(sink.addr, DELAY);
        Link {
            chunking,
            secure,
            ca,
            sink,
            proxy,
            dir,
        }
    }

    pub fn server(&self) -> &'static str {
        if self.chunking {
            "CHUNKING"
        } else {
            "PIPELINING only"
        }
    }

    pub fn link(&self) -> &'static str {
        if self.secure {
            "STARTTLS + AUTH"
        } else {
            "plain"
        }
    }

    /// Blocks until the server holds `count` messages in all, or `limit`
    /// passed; whether they all came.
    pub fn wait_for(&self, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.sink.messages().len() < count {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

/// What one `masqmail -qo isp` took.
pub struct Flushed {
    /// Waits for replies, from the debug log, summed over the sessions
    /// (`total (a+b+…)` when there were several).
    pub turns: String,
    /// Connections the proxy saw.
    pub connections: u32,
    pub wall: Duration,
}

/// `masqmail -qo isp` of `n` messages queued with `-odq`, the route's
/// `max_parallel_connections` left at its default.
pub fn masqmail(bin: &Path, link: &Link, n: usize) -> Flushed {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut route = format!("mail_host = \"localhost:{}\"\n", link.proxy.port());
    if link.secure {
        route += &format!(
            "tls = \"starttls\"\ntls_ca_file = \"{}\"\nauth_login = \"{LOGIN}\"\n\
             auth_secret = \"{SECRET}\"\nauth_name = \"plain\"\n",
            link.ca.ca_pem.display()
        );
    } else {
        route += "tls = \"none\"\n";
    }
    std::fs::write(root.join("isp.route"), route).expect("route");
    let extra = format!(
        "debug_level = 1\nquery_routes.isp = \"{}\"\n",
        root.join("isp.route").display()
    );
    let conf = crate::conf::write(root, &extra);
    let body = message(false);
    for _ in 0..n {
        crate::conf::submit(bin, &conf, &["-odq", RCPT], &body);
    }
    let before = link.sink.messages().len();
    link.proxy.reset();
    let start = Instant::now();
    let status = Command::new(bin)
        .arg("-C")
        .arg(&conf)
        .args(["-qo", "isp"])
        .status()
        .expect("-qo");
    let wall = start.elapsed();
    assert!(status.success());
    assert!(
        link.wait_for(before + n, Duration::from_secs(5)),
        "all messages arrived"
    );
    Flushed {
        turns: turns(&root.join("log/debug.log")),
        connections: link.proxy.connections(),
        wall,
    }
}

/// A 2 KB message with a `Subject:`, lines ending in LF or CR LF.
pub fn message(crlf: bool) -> Vec<u8> {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut body = [b"Subject: bench".as_slice(), eol, eol].concat();
    while body.len() < 2048 {
        body.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.");
        body.extend_from_slice(eol);
    }
    body
}

fn turns(debug_log: &Path) -> String {
    let log = std::fs::read_to_string(debug_log).unwrap_or_default();
    let per_session: Vec<u32> = log
        .lines()
        .filter(|l| l.contains("session with"))
        .filter_map(|l| {
            let end = l.find(" round trip(s)")?;
            l[..end].rsplit(' ').next()?.parse().ok()
        })
        .collect();
    match per_session.len() {
        0 => "?".to_string(),
        1 => per_session[0].to_string(),
        _ => {
            let each: Vec<String> = per_session.iter().map(u32::to_string).collect();
            format!("{} ({})", per_session.iter().sum::<u32>(), each.join("+"))
        }
    }
}

fn open_up(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
