//! Big messages under concurrency (issue 7 "done when"; RELIABILITY R04,
//! R39): 20 clients at once each stream a 200 MiB message to the daemon
//! (`max_msg_size = 0`, `do_queue = true`). Every client gets its 250, the
//! daemon's peak RSS stays below 32 MiB (content goes to the spool as it
//! arrives, never into memory), every spooled body is the one the client
//! sent, and a queue run delivers every one of them intact into a Maildir.
//!
//! The clients never hold a message: the body is a deterministic stream of
//! pseudo-random lines (some starting with a dot, some empty), written in
//! 64 KiB pieces while a simple hash ([`Hash64`]) is taken of its decoded
//! form (LF line ends, dots unstuffed: what the spool holds). The checks
//! stream the files too, and delete each delivered file once hashed.

mod support;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::big::{Hash64, Rng, end_data, pool, status_kib};
use support::smtp::Client;
use support::*;

const CLIENTS: usize = 20;
/// Decoded body bytes per message (the last line may go a little over).
const BODY: u64 = 200 * 1024 * 1024;
/// Bytes per write to the socket.
const WRITE: usize = 64 * 1024;
/// The bound on the daemon's peak RSS (VmHWM).
const RSS_LIMIT_KIB: u64 = 32 * 1024;
/// The last reply may wait for the fsync of 200 MiB with 19 others.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// What one client sent and was told.
struct Sent {
    id: String,
    /// The body as spooled.
    hash: (u64, u64),
    /// The body as delivered: local delivery ends every message with one
    /// extra empty line, Maildir too (src/deliver/content.rs).
    delivered: (u64, u64),
}

/// One client: the dialogue, then a 200 MiB body generated line by line,
/// written in 64 KiB pieces; returns the queue id of the 250 and the hash
/// of the body as the spool must hold it.
fn send_big(addr: SocketAddr, n: usize, pool: &[u8]) -> Sent {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut c = Client::from_duplex(stream);
    assert_eq!(c.read_reply().expect("greeting").code, 220);
    assert_eq!(c.cmd("EHLO big.example").unwrap().code, 250);
    assert_eq!(c.cmd("MAIL FROM:<big@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<big@{HOST}>")).unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    let mut wire = format!("Subject: big {n}\r\n\r\n").into_bytes();
    let mut decoded = Vec::with_capacity(WRITE + 256);
    let mut hash = Hash64::new();
    let mut rng = Rng(0x1234_5678_9abc_def1 ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
    let mut body = 0u64;
    while body < BODY {
        let r = rng.next();
        let len = (r % 100) as usize;
        let at = ((r >> 8) % (pool.len() - len) as u64) as usize;
        let line = &pool[at..at + len];
        if line.first() == Some(&b'.') {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
        wire.extend_from_slice(b"\r\n");
        decoded.extend_from_slice(line);
        decoded.push(b'\n');
        body += len as u64 + 1;
        if wire.len() >= WRITE {
            c.send(&wire[..WRITE]).expect("body write");
            wire.drain(..WRITE);
        }
        if decoded.len() >= WRITE {
            hash.update(&decoded);
            decoded.clear();
        }
    }
    hash.update(&decoded);
    let id = end_data(&mut c, wire, &format!("client {n}"));
    let spooled = hash.clone().finish();
    hash.update(b"\n");
    Sent {
        id,
        hash: spooled,
        delivered: hash.finish(),
    }
}

/// Hashes the rest of `reader` (the body, once the data file's id line or
/// a Maildir file's header section was read), in 64 KiB reads.
fn hash_rest(reader: &mut impl BufRead) -> (u64, u64) {
    let mut hash = Hash64::new();
    let mut buf = vec![0u8; WRITE];
    loop {
        let n = reader.read(&mut buf).expect("read");
        if n == 0 {
            return hash.finish();
        }
        hash.update(&buf[..n]);
    }
}

/// The Subject header of a delivered file; leaves `reader` at the body.
fn skip_headers(reader: &mut impl BufRead) -> String {
    let mut subject = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).expect("header") > 0, "no body");
        if line == "\n" {
            return subject;
        }
        if let Some(s) = line.strip_prefix("Subject: ") {
            subject = s.trim_end().to_string();
        }
    }
}

/// The peak RSS of the child `pid`, waited for here (in KiB), and whether
/// it exited 0.
fn wait_with_peak_rss(pid: i32) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unwaited child; both pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss)
}

/// R04/R39: peak RSS bounded while big bodies stream in.
#[test]
fn twenty_clients_stream_200_mib_each_in_bounded_memory_and_intact() {
    let started = Instant::now();
    let env = Env::new(
        "do_queue = true\nmax_msg_size = 0\nmax_connections = 100\nmax_connections_per_host = 0",
    );
    let maildirs = env.path("maildirs");
    std::fs::create_dir(&maildirs).unwrap();
    env.add_conf(&format!(
        "maildir_users = \"big\"\nmaildir_dir = \"{}\"\n",
        maildirs.display()
    ));
    let d = env.daemon(&[]);
    let pool = std::sync::Arc::new(pool());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let pool = std::sync::Arc::clone(&pool);
            let addr = d.addr;
            std::thread::spawn(move || send_big(addr, n, &pool))
        })
        .collect();
    let sent: Vec<Sent> = clients
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let sending = started.elapsed();
    let peak = status_kib(d.pid(), "VmHWM:");
    let now = status_kib(d.pid(), "VmRSS:");
    eprintln!(
        "{CLIENTS} × {} MiB sent in {sending:.1?}; daemon VmHWM {peak} KiB, VmRSS {now} KiB",
        BODY >> 20
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "daemon peak RSS {peak} KiB, limit {RSS_LIMIT_KIB} KiB"
    );
    assert!(d.stop().success());

    // What the daemon accepted: each -D is the id line, then the body.
    let mut by_subject = HashMap::new();
    for (n, s) in sent.iter().enumerate() {
        let path = env.path("spool").join(format!("{}-D", s.id));
        let mut data = BufReader::with_capacity(WRITE, File::open(&path).expect("data file"));
        let mut first = String::new();
        data.read_line(&mut first).unwrap();
        assert_eq!(first, format!("{}\n", s.id), "first line of {path:?}");
        assert_eq!(hash_rest(&mut data), s.hash, "spooled body of client {n}");
        by_subject.insert(format!("big {n}"), s.delivered);
    }
    assert_eq!(env.queued().len(), CLIENTS, "{:?}", env.spool_files());
    let spooled = started.elapsed();

    // Delivered intact: one queue run into the Maildir, each file checked
    // and removed (the run removes the spool files as it goes).
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 to read its rusage"
    )]
    let run = env.cmd().arg("-q").spawn().expect("queue run");
    let (ok, run_rss) = wait_with_peak_rss(run.id() as i32);
    assert!(ok, "masqmail -q failed\nlog: {}", env.log());
    assert!(env.queued().is_empty(), "{:?}", env.spool_files());
    let new = maildirs.join("big/new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), CLIENTS, "{files:?}");
    for f in files {
        let mut text = BufReader::with_capacity(WRITE, File::open(&f).unwrap());
        let subject = skip_headers(&mut text);
        let want = by_subject.remove(&subject);
        assert_eq!(Some(hash_rest(&mut text)), want, "{f:?} ({subject})");
        std::fs::remove_file(&f).unwrap();
    }
    assert!(by_subject.is_empty(), "not delivered: {by_subject:?}");
    eprintln!(
        "spool checked at {spooled:.1?}; queue run peak RSS {run_rss} KiB; all done in {:.1?}",
        started.elapsed()
    );
}
