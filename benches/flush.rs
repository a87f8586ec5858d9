//! Flushing the queue over a slow link (issue 4): `cargo bench --bench flush`.
//!
//! A proxy on 127.0.0.1 delays every chunk by 50 ms in each direction
//! (100 ms per round trip) in front of the harness's test SMTP server.
//! For N = 1, 10, 100 queued 2 KB messages, against a PIPELINING-only and
//! a CHUNKING server, in plain text and with STARTTLS + AUTH, it prints
//! the client's turns (waits for replies, from the debug log, summed over
//! its sessions), the connections the server saw and the wall time of
//! `masqmail -qo isp`, with the route's `max_parallel_connections` at 1
//! (one connection) and at its default. Nothing is asserted.

#[path = "../tests/support/ca.rs"]
mod ca;
#[path = "../tests/support/sink.rs"]
mod sink;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sink::{Sink, SinkConfig};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
const DELAY: Duration = Duration::from_millis(50);

fn main() {
    println!("| server | link | N | max_parallel_connections | turns | connections | wall time |");
    println!("|---|---|---|---|---|---|---|");
    for chunking in [false, true] {
        for secure in [false, true] {
            for (n, parallel) in [1, 10, 100]
                .into_iter()
                .flat_map(|n| settings().into_iter().map(move |p| (n, p)))
            {
                let (turns, conns, wall) = run(chunking, secure, n, &parallel);
                println!(
                    "| {} | {} | {n} | {parallel} | {turns} | {conns} | {:.0} ms |",
                    if chunking {
                        "CHUNKING"
                    } else {
                        "PIPELINING only"
                    },
                    if secure { "STARTTLS + AUTH" } else { "plain" },
                    wall.as_secs_f64() * 1000.0
                );
            }
        }
    }
}

/// The `max_parallel_connections` values to compare: `FLUSH_PARALLEL`
/// (comma-separated, `default` for none written), else `1,default`.
fn settings() -> Vec<String> {
    std::env::var("FLUSH_PARALLEL")
        .unwrap_or_else(|_| "1,default".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

fn run(chunking: bool, secure: bool, n: usize, parallel: &str) -> (String, u32, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let ca = ca::make(root);
    let sink = Sink::start(SinkConfig {
        chunking,
        starttls: secure.then(|| (ca.cert_pem.clone(), ca.key_pem.clone())),
        auth: secure.then(|| ("jo".to_string(), "secret".to_string())),
        auth_required: secure,
        ..SinkConfig::default()
    });
    let proxy = start_proxy(sink.addr);
    let mut route = format!("mail_host = \"localhost:{}\"\n", proxy.port());
    if parallel != "default" {
        route += &format!("max_parallel_connections = {parallel}\n");
    }
    if secure {
        route += &format!(
            "tls = \"starttls\"\ntls_ca_file = \"{}\"\nauth_login = \"jo\"\nauth_secret = \"secret\"\nauth_name = \"plain\"\n",
            ca.ca_pem.display()
        );
    } else {
        route += "tls = \"none\"\n";
    }
    std::fs::write(root.join("isp.route"), route).expect("route");
    let conf = root.join("masqmail.conf");
    let r = root.display();
    std::fs::write(
        &conf,
        format!(
            "host_name = \"bench.example.org\"\nrun_as_user = true\ndebug_level = 1\n\
             spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
             mail_dir = \"{r}/mail\"\nquery_routes.isp = \"{r}/isp.route\"\n"
        ),
    )
    .expect("config");
    let mut body = b"Subject: bench\n\n".to_vec();
    while body.len() < 2048 {
        body.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.\n");
    }
    for _ in 0..n {
        submit(&conf, &body);
    }
    let start = Instant::now();
    let status = Command::new(BIN)
        .arg("-C")
        .arg(&conf)
        .args(["-qo", "isp"])
        .status()
        .expect("-qo");
    let wall = start.elapsed();
    assert!(status.success());
    assert_eq!(sink.messages().len(), n, "all messages arrived");
    (turns(&root.join("log/debug.log")), sink.connections(), wall)
}

fn submit(conf: &Path, body: &[u8]) {
    let mut child = Command::new(BIN)
        .arg("-C")
        .arg(conf)
        .args(["-odq", "bob@remote.example"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write");
    assert!(child.wait().expect("wait").success());
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
        _ => format!(
            "{} ({})",
            per_session.iter().sum::<u32>(),
            per_session
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("+")
        ),
    }
}

/// A proxy that delays each chunk by [`DELAY`], in both directions.
fn start_proxy(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            for (from, to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ] {
                if let (Ok(from), Ok(to)) = (from, to) {
                    pipe(from, to);
                }
            }
        }
    });
    addr
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + DELAY, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
        let _ = tx.send((Instant::now() + DELAY, Vec::new()));
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
