//! Fetching over a slow link, both clients' side: a private Dovecot
//! (`tests/support/dovecot.rs`) refilled with [`N`] messages of 2 KB
//! before each run, `masqmail -g isp` and Debian's `fetchmail` fetching
//! and deleting them through the latency proxy, which counts the turns.
//!
//! Used by `benches/fetch.rs` and `benches/peers.rs`; the including crate
//! declares `mod ca; mod conf; mod dovecot; mod proxy;` at its root.
//!
//! # Trust
//! Bench-only: panics on any setup failure; a run counts only when every
//! message was fetched and deleted.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dovecot::{self, Dovecot};
use crate::proxy::{DELAY, Proxy};

pub const N: usize = 100;

pub fn fill(dc: &Dovecot) {
    dc.clear();
    for i in 0..N {
        let mut body = format!(
            "From: Sender <sender@far.example>\nTo: joe@isp.example\n\
             Message-ID: <bench-{i}@far.example>\nSubject: bench {i}\n\n"
        )
        .into_bytes();
        while body.len() < 2048 {
            body.extend_from_slice(
                b"The quick brown fox jumps over the lazy dog, again and again.\n",
            );
        }
        dc.deliver(&body);
    }
}

pub fn masqmail(bin: &Path, dc: &Dovecot, ca: Option<&Path>, delayed: bool) -> (u32, Duration) {
    fill(dc);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let delay = if delayed { DELAY } else { Duration::ZERO };
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], dc.port)), delay);
    let tls = match ca {
        Some(ca) => format!("tls = starttls\ntls_ca_file = \"{}\"", ca.display()),
        None => "tls = none".to_string(),
    };
    std::fs::write(
        root.join("isp.get"),
        format!(
            "server = 127.0.0.1\nport = {}\nuser = {}\npass = {}\naddress = joe\n{tls}\n",
            proxy.port(),
            dovecot::USER,
            dovecot::PASS
        ),
    )
    .expect("get file");
    let get = format!("get.isp = \"{}\"\n", root.join("isp.get").display());
    let conf = crate::conf::write(root, &get);
    let start = Instant::now();
    let status = Command::new(bin)
        .arg("-C")
        .arg(&conf)
        .args(["-g", "isp"])
        .status()
        .expect("-g");
    let wall = start.elapsed();
    assert!(status.success());
    let mbox = std::fs::read_to_string(root.join("mail/joe")).unwrap_or_default();
    let got = mbox.matches("\nSubject: bench ").count();
    assert_eq!(
        got,
        N,
        "all messages fetched\n{}\n{:?}",
        std::fs::read_to_string(root.join("log/masqmail.log")).unwrap_or_default(),
        std::fs::read_dir(root.join("mail"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    assert_eq!(dc.messages(), 0, "and deleted");
    (proxy.turns(), wall)
}

/// Debian's fetchmail, one poll, each message piped to `cat > /dev/null`.
pub fn fetchmail(dc: &Dovecot) -> Option<(u32, Duration)> {
    let which = Command::new("sh")
        .args(["-c", "command -v fetchmail"])
        .output()
        .ok()?;
    if !which.status.success() {
        return None;
    }
    fill(dc);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], dc.port)), DELAY);
    let rc = root.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll 127.0.0.1 service {} protocol pop3 auth password\n  \
             user \"{}\" there with password \"{}\" is \"{}\" here\n  \
             fetchall no keep sslproto '' mda \"/bin/cat > /dev/null\"\n",
            proxy.port(),
            dovecot::USER,
            dovecot::PASS,
            whoami()
        ),
    )
    .expect("rcfile");
    set_mode(&rc, 0o600);
    let start = Instant::now();
    let out = Command::new("fetchmail")
        .arg("-f")
        .arg(&rc)
        .args(["--nosyslog", "-v"])
        .env("FETCHMAILHOME", root)
        .env("HOME", root)
        .stdin(Stdio::null())
        .output()
        .expect("fetchmail");
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "fetchmail: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(dc.messages(), 0, "all fetched and deleted\n{}", dc.log());
    Some((proxy.turns(), wall))
}

fn whoami() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".to_string())
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
