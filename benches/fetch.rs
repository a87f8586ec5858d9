//! Fetching over a slow link (issue 8): `cargo bench --bench fetch`.
//!
//! A private Dovecot (tests/support/dovecot.rs) holds 100 messages of
//! 2 KB; a proxy on 127.0.0.1 delays every chunk by 50 ms in each
//! direction (100 ms per round trip). `masqmail -g isp` (Dovecot announces
//! PIPELINING) and Debian's `fetchmail` fetch and delete them through it;
//! the Maildir is refilled with the same 100 messages before each run.
//! Printed: the turns counted at the proxy (a turn is one flight of the
//! server's: data from the server after the client has sent something, or
//! the greeting — so a fetch's waits for the server, as tests/fetch.rs
//! counts them) and the wall time; a first row without the delay shows
//! the time masqmail spends itself (a durable spool commit per message,
//! then the local deliveries). Nothing is asserted but that every message
//! was fetched and deleted. `FETCH_BENCH_TRACE=1` prints every chunk the
//! proxy forwards.

#[path = "../tests/support/ca.rs"]
mod ca;
#[path = "../tests/support/dovecot.rs"]
mod dovecot;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use dovecot::{Dovecot, Options};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
const DELAY: Duration = Duration::from_millis(50);
const N: usize = 100;

fn main() {
    if !dovecot::installed() {
        println!("dovecot not installed (apt-get install dovecot-pop3d): nothing to measure");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let plain = Dovecot::start(Options::default());
    let tls = Dovecot::start(Options {
        tls: Some((ca.cert_pem.clone(), ca.key_pem.clone())),
    });
    println!("{N} messages of 2 KB, 50 ms each way:\n");
    println!("| client | link | turns | wall time |");
    println!("|---|---|---|---|");
    let (turns, wall) = masqmail(&plain, None, false);
    row(
        "masqmail -g (PIPELINING)",
        "no delay (baseline)",
        turns,
        wall,
    );
    let (turns, wall) = masqmail(&plain, None, true);
    row("masqmail -g (PIPELINING)", "plain, USER/PASS", turns, wall);
    let (turns, wall) = masqmail(&tls, Some(&ca.ca_pem), true);
    row("masqmail -g (PIPELINING)", "STLS, USER/PASS", turns, wall);
    match fetchmail(&plain) {
        Some((turns, wall)) => row("fetchmail", "plain, USER/PASS", turns, wall),
        None => println!("| fetchmail | plain, USER/PASS | not installed | |"),
    }
}

fn row(client: &str, link: &str, turns: u32, wall: Duration) {
    println!(
        "| {client} | {link} | {turns} | {:.0} ms |",
        wall.as_secs_f64() * 1000.0
    );
}

fn fill(dc: &Dovecot) {
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

fn masqmail(dc: &Dovecot, ca: Option<&Path>, delayed: bool) -> (u32, Duration) {
    fill(dc);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (proxy, turns) = start_proxy(SocketAddr::from(([127, 0, 0, 1], dc.port)), delayed);
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
    std::fs::create_dir(root.join("mail")).expect("mail dir");
    let conf = root.join("masqmail.conf");
    let r = root.display();
    std::fs::write(
        &conf,
        format!(
            "host_name = \"bench.example.org\"\nrun_as_user = true\n\
             spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
             mail_dir = \"{r}/mail\"\nget.isp = \"{r}/isp.get\"\n"
        ),
    )
    .expect("config");
    let start = Instant::now();
    let status = Command::new(BIN)
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
    (turns.load(Ordering::Relaxed), wall)
}

/// Debian's fetchmail, one poll, each message piped to `cat > /dev/null`.
fn fetchmail(dc: &Dovecot) -> Option<(u32, Duration)> {
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
    let (proxy, turns) = start_proxy(SocketAddr::from(([127, 0, 0, 1], dc.port)), true);
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
    Some((turns.load(Ordering::Relaxed), wall))
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

/// Which way the last chunk went, for counting the server's flights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    None,
    ToServer,
    ToClient,
}

/// A proxy that delays each chunk by [`DELAY`], in both directions, and
/// counts the server's flights (turns).
fn start_proxy(target: SocketAddr, delayed: bool) -> (SocketAddr, Arc<AtomicU32>) {
    let delay = if delayed { DELAY } else { Duration::ZERO };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let turns = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&turns);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let last = Arc::new(Mutex::new(Dir::None));
            for (from, to, dir) in [
                (client.try_clone(), server.try_clone(), Dir::ToServer),
                (server.try_clone(), client.try_clone(), Dir::ToClient),
            ] {
                if let (Ok(from), Ok(to)) = (from, to) {
                    pipe(
                        from,
                        to,
                        dir,
                        delay,
                        Arc::clone(&last),
                        Arc::clone(&counter),
                    );
                }
            }
        }
    });
    (addr, turns)
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    delay: Duration,
    last: Arc<Mutex<Dir>>,
    turns: Arc<AtomicU32>,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                if dir == Dir::ToClient && *last != Dir::ToClient {
                    turns.fetch_add(1, Ordering::Relaxed);
                }
                if std::env::var_os("FETCH_BENCH_TRACE").is_some() {
                    let arrow = if dir == Dir::ToClient { "S>C" } else { "C>S" };
                    let head =
                        String::from_utf8_lossy(&buf[..n.min(24)]).replace(['\r', '\n'], " ");
                    eprintln!("{arrow} {n:6} {head:?}");
                }
                *last = dir;
            }
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
        let _ = tx.send((Instant::now() + delay, Vec::new()));
    });
    std::thread::spawn(move || {
        while let Ok((due, bytes)) = rx.recv() {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if bytes.is_empty() {
                let _ = to.shutdown(std::net::Shutdown::Write);
                break;
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
    });
}
