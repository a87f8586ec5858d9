//! R39 at the scale RELIABILITY.md names: 200 concurrent SMTP sessions on
//! 127.0.0.1, each sending 20 pipelined 10 kB messages (4000), while
//! bare connections beyond `max_connections` are refused. Guarantees
//! checked: every message is spooled exactly once (count, and a content
//! hash of each `-D` body against the bodies sent); every connection over
//! the limit gets `421 4.7.0` at once (never accept-and-hang); the
//! daemon's peak RSS stays under a bound and its fd count returns to the
//! baseline it had before the load.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use support::smtp::Client;
use support::*;

const CLIENTS: usize = 200;
const PER_CLIENT: usize = 20;
/// Bare connections opened while all CLIENTS hold their slots. R39 says
/// `ulimit -n` minus 20; capped so a CI host with a huge limit does not
/// turn the test into a flood of its own.
const MAX_BARE: usize = 1000;
/// Peak RSS of the daemon (debug build) for 200 sessions.
const RSS_BOUND_KB: u64 = 128 * 1024;

/// Message `i` of client `c`: about 10 kB, unique, CRLF lines.
fn body(c: usize, i: usize) -> String {
    let mut b = format!("Subject: c{c}-m{i}\r\n\r\n");
    let line = format!("client {c} message {i} {}\r\n", "x".repeat(60));
    while b.len() < 10_000 {
        b.push_str(&line);
    }
    b
}

/// The text the spool's `-D` file holds after its id line: LF lines.
fn spooled_body(c: usize, i: usize) -> Vec<u8> {
    let b = body(c, i).replace("\r\n", "\n");
    let (_, rest) = b.split_once("\n\n").expect("header/body split");
    rest.as_bytes().to_vec()
}

fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn vm_hwm_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises the soft fd limit to the hard one (inherited by the daemon);
/// returns the soft limit now in force.
fn raise_nofile() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur as usize
}

/// One client: connect, EHLO, wait for everyone (so that all CLIENTS hold
/// a slot while the bare connections are refused), then 20 messages, each
/// as MAIL/RCPT/DATA in one write (RFC 2920) and the body.
fn session(addr: SocketAddr, c: usize, gate: &Barrier, acked: &Mutex<Vec<(usize, usize)>>) {
    let mut cl = Client::connect(addr).expect("connect");
    let greeting = cl.read_reply().expect("greeting");
    assert_eq!(greeting.code, 220, "client {c}: {}", greeting.text());
    assert_eq!(cl.cmd("EHLO load.example").expect("ehlo").code, 250);
    gate.wait(); // every session is open
    gate.wait(); // the over-limit probes are done
    for i in 0..PER_CLIENT {
        let rcpt = format!("RCPT TO:<user{}@host.example.org>", c % 10);
        let replies = cl
            .pipeline(&["MAIL FROM:<load@remote.example>", &rcpt, "DATA"])
            .expect("pipelined group");
        let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, [250, 250, 354], "client {c} message {i}");
        cl.send(&smtp::dot_stuff(body(c, i).as_bytes()))
            .expect("body");
        let r = cl.read_reply().expect("end of data");
        assert_eq!(r.code, 250, "client {c} message {i}: {}", r.text());
        acked.lock().unwrap().push((c, i));
    }
    assert_eq!(cl.cmd("QUIT").expect("quit").code, 221);
}

/// A bare connection over the limit: the 421 4.7.0 must come at once.
fn refused_at_once(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no reply within 5 s: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    if text.starts_with("421 4.7.0 ") {
        Ok(())
    } else {
        Err(format!("got {text:?}"))
    }
}

/// R39: 200 concurrent sessions × 20 pipelined 10 kB messages: 4000 spooled exactly once by count and content hash; over-limit connections get 421 4.7.0 at once; peak RSS bounded; fds back to baseline.
#[test]
fn r39_two_hundred_sessions_twenty_pipelined_messages_each_spooled_once() {
    let start = Instant::now();
    let nofile = raise_nofile();
    let env = Env::new(&format!(
        "do_queue = true\nmax_connections = {CLIENTS}\nmax_connections_per_host = 0"
    ));
    let d = env.daemon(&[]);
    let baseline = fds(d.pid());
    let gate = Arc::new(Barrier::new(CLIENTS + 1));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (gate, acked, addr) = (Arc::clone(&gate), Arc::clone(&acked), d.addr);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || session(addr, c, &gate, &acked))
                .expect("thread")
        })
        .collect();
    gate.wait();
    // Every slot is taken: the rest of the fd budget in bare connections
    // (R39: ulimit -n minus 20, less what this process already holds).
    let bare = nofile.saturating_sub(20 + 2 * CLIENTS + 64).min(MAX_BARE);
    let refused: Vec<Result<(), String>> = (0..bare).map(|_| refused_at_once(d.addr)).collect();
    gate.wait();
    let failures: Vec<&String> = refused.iter().filter_map(|r| r.as_ref().err()).collect();
    for t in threads {
        t.join().expect("client thread");
    }
    assert!(
        failures.is_empty(),
        "{} of {bare} over-limit connections not refused at once: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(bare >= 100, "only {bare} bare connections possible");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        CLIENTS * PER_CLIENT,
        "every message got its 250"
    );

    // Exactly once: 4000 entries, and the multiset of -D bodies equals
    // the bodies sent.
    let ids = env.queued();
    assert_eq!(ids.len(), CLIENTS * PER_CLIENT, "spool entries");
    let mut want: HashMap<u64, usize> = HashMap::new();
    for c in 0..CLIENTS {
        for i in 0..PER_CLIENT {
            *want.entry(hash(&spooled_body(c, i))).or_default() += 1;
        }
    }
    let mut got: HashMap<u64, usize> = HashMap::new();
    for id in &ids {
        let data = std::fs::read(env.path("spool").join(format!("{id}-D"))).expect("-D");
        let nl = data.iter().position(|&b| b == b'\n').expect("id line");
        *got.entry(hash(&data[nl + 1..])).or_default() += 1;
    }
    assert_eq!(got, want, "spooled bodies differ from the bodies sent");

    let hwm = vm_hwm_kb(d.pid());
    assert!(hwm < RSS_BOUND_KB, "peak RSS {hwm} kB");
    env.wait_for("the daemon's fds back to baseline", || {
        fds(d.pid()) <= baseline
    });
    assert!(d.stop().success());
    eprintln!(
        "r39: {CLIENTS} sessions, {} messages, {bare} refused, peak RSS {hwm} kB, {:.1} s",
        CLIENTS * PER_CLIENT,
        start.elapsed().as_secs_f64()
    );
}
