//! Delivery of big messages in bounded memory: the body stays in the
//! spool's data file and every target streams it (src/deliver/step.rs,
//! src/spool/body.rs, src/outbound/smtp/feed.rs).
//!
//! * Three 64 MiB messages are queued through the daemon (`do_queue =
//!   true`; stdin submission reads a message into memory, SMTP does not),
//!   each for an mbox user, a Maildir user and a remote address that a
//!   permanent route sends to a streaming SMTP sink. One `masqmail -q`
//!   delivers all nine copies; its peak RSS (`ru_maxrss` from `wait4`)
//!   stays below [`RSS_LIMIT_KIB`], and every copy is intact.
//! * One 64 MiB message through the daemon's instant delivery (`do_queue =
//!   false`) to a Maildir and the sink: the daemon's VmHWM stays below the
//!   same limit.
//!
//! Bodies are generated line by line (many lines start with a dot, some
//! with `From `), hashed as they are written; the checks stream every file
//! and delete it once hashed, and the sink hashes what it decodes without
//! keeping it.

mod support;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::big::{Hash64, Rng, end_data, pool, status_kib};
use support::smtp::Client;
use support::*;

/// Decoded body bytes per message (the last line may go a little over).
const BODY: u64 = 64 * 1024 * 1024;
const WRITE: usize = 64 * 1024;
/// The bound on a process's peak RSS.
const RSS_LIMIT_KIB: u64 = 48 * 1024;
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);
/// Every this many lines, one starts with `From ` (quoted in the mbox).
const FROM_EVERY: u64 = 997;

/// The hashes a message's body must have where it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    /// As spooled, and as the sink decodes it.
    plain: (u64, u64),
    /// In a Maildir file: plus the extra empty line.
    maildir: (u64, u64),
    /// In the mbox: `From ` lines quoted, plus the extra empty line.
    mbox: (u64, u64),
}

/// Sends one message of [`BODY`] bytes to the daemon at `addr` for
/// `rcpts`, with subject `big <n>`; returns its queue id and hashes.
fn send_big(addr: SocketAddr, n: usize, rcpts: &[String], pool: &[u8]) -> (String, Expect) {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut c = Client::from_duplex(stream);
    assert_eq!(c.read_reply().expect("greeting").code, 220);
    assert_eq!(c.cmd("EHLO big.example").unwrap().code, 250);
    let r = c.cmd(&format!("MAIL FROM:<sender@{HOST}>")).unwrap();
    assert_eq!(r.code, 250, "{r}");
    for rcpt in rcpts {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert_eq!(r.code, 250, "{rcpt}: {r}");
    }
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    let mut wire = format!("Subject: big {n}\r\n\r\n").into_bytes();
    let (mut plain, mut quoted) = (Hash64::new(), Hash64::new());
    let mut rng = Rng(0x1234_5678_9abc_def1 ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9));
    let (mut body, mut lines) = (0u64, 0u64);
    let mut line = Vec::with_capacity(128);
    while body < BODY {
        let r = rng.next();
        line.clear();
        lines += 1;
        if lines % FROM_EVERY == 0 {
            line.extend_from_slice(format!("From line {lines}").as_bytes());
        } else {
            let len = (r % 100) as usize;
            let at = ((r >> 8) % (pool.len() - len) as u64) as usize;
            line.extend_from_slice(&pool[at..at + len]);
        }
        if line.first() == Some(&b'.') {
            wire.push(b'.');
        }
        wire.extend_from_slice(&line);
        wire.extend_from_slice(b"\r\n");
        line.push(b'\n');
        plain.update(&line);
        if line.starts_with(b"From ") {
            quoted.update(b">");
        }
        quoted.update(&line);
        body += line.len() as u64;
        if wire.len() >= WRITE {
            c.send(&wire).expect("body write");
            wire.clear();
        }
    }
    let id = end_data(&mut c, wire, &format!("message {n}"));
    let expect = Expect {
        plain: plain.clone().finish(),
        maildir: {
            plain.update(b"\n");
            plain.finish()
        },
        mbox: {
            quoted.update(b"\n");
            quoted.finish()
        },
    };
    (id, expect)
}

/// A message where it arrived: its subject and its body's hash.
type Arrived = (String, (u64, u64));

/// A minimal SMTP server that decodes DATA line by line and keeps only
/// the subject and the body's hash of each message.
struct StreamingSink {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Arrived>>>,
}

impl StreamingSink {
    fn start() -> StreamingSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let g = Arc::clone(&g);
                std::thread::spawn(move || {
                    let _ = sink_session(stream, &g);
                });
            }
        });
        StreamingSink { addr, got }
    }

    fn received(&self) -> Vec<Arrived> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn sink_session(stream: TcpStream, got: &Mutex<Vec<Arrived>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::with_capacity(WRITE, stream);
    let mut line = Vec::with_capacity(256);
    w.write_all(b"220 sink.test ESMTP\r\n")?;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let verb = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let reply: &[u8] = if verb.starts_with("EHLO") {
            b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n"
        } else if verb.starts_with("MAIL") || verb.starts_with("RCPT") || verb.starts_with("RSET") {
            b"250 ok\r\n"
        } else if verb.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n")?;
            let (subject, hash) = sink_data(&mut r, &mut line)?;
            got.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((subject, hash));
            b"250 2.0.0 queued\r\n"
        } else if verb.starts_with("QUIT") {
            return w.write_all(b"221 bye\r\n");
        } else {
            b"500 what\r\n"
        };
        w.write_all(reply)?;
    }
}

/// Reads DATA up to the dot line: the Subject and the hash of the body
/// (dots unstuffed, CR LF as LF).
fn sink_data(r: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Arrived> {
    let (mut subject, mut in_body, mut hash) = (String::new(), false, Hash64::new());
    loop {
        line.clear();
        if r.read_until(b'\n', line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.as_slice() == b".\r\n" {
            return Ok((subject, hash.finish()));
        }
        let text = line.strip_prefix(b".").unwrap_or(line);
        let text = text.strip_suffix(b"\r\n").expect("CR LF line ends");
        if in_body {
            hash.update(text);
            hash.update(b"\n");
        } else if text.is_empty() {
            in_body = true;
        } else if let Some(s) = text.strip_prefix(b"Subject: ") {
            subject = String::from_utf8_lossy(s).into_owned();
        }
    }
}

/// Waits for the child `pid`: (exited 0, peak RSS in KiB).
fn wait_with_peak_rss(pid: i32) -> (bool, u64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unwaited child; both pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss as u64)
}

/// Hashes the body of a Maildir file (after its header section) and
/// returns (subject, hash); the file is removed.
fn maildir_file(path: &Path) -> Arrived {
    let mut r = BufReader::with_capacity(WRITE, File::open(path).expect("maildir file"));
    let mut line = String::new();
    let mut subject = String::new();
    loop {
        line.clear();
        assert!(
            r.read_line(&mut line).expect("header") > 0,
            "no body in {path:?}"
        );
        if line == "\n" {
            break;
        }
        if let Some(s) = line.strip_prefix("Subject: ") {
            subject = s.trim_end().to_string();
        }
    }
    let mut hash = Hash64::new();
    let mut buf = vec![0u8; WRITE];
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    std::fs::remove_file(path).expect("remove");
    (subject, hash.finish())
}

/// Every file of `<maildir>/new`, hashed and removed.
fn maildir_all(dir: &Path) -> Vec<Arrived> {
    let files: Vec<_> = std::fs::read_dir(dir.join("new"))
        .expect("maildir new/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.iter().map(|f| maildir_file(f)).collect()
}

/// The messages of an mbox, split at `From ` lines (every other `From `
/// was quoted): (subject, hash of the body up to the next separator);
/// the file is removed.
fn mbox_all(path: &Path) -> Vec<Arrived> {
    let mut r = BufReader::with_capacity(WRITE, File::open(path).expect("mbox"));
    let mut out = Vec::new();
    let mut current: Option<(String, bool, Hash64)> = None;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).expect("read mbox");
        if n == 0 || line.starts_with(b"From ") {
            if let Some((subject, _, hash)) = current.take() {
                out.push((subject, hash.finish()));
            }
            if n == 0 {
                break;
            }
            current = Some((String::new(), false, Hash64::new()));
            continue;
        }
        let (subject, in_body, hash) = current.as_mut().expect("mbox starts with From ");
        if *in_body {
            hash.update(&line);
        } else if line.as_slice() == b"\n" {
            *in_body = true;
        } else if let Some(s) = line.strip_prefix(b"Subject: ") {
            *subject = String::from_utf8_lossy(s).trim_end().to_string();
        }
    }
    std::fs::remove_file(path).expect("remove mbox");
    out
}

/// An env whose daemon takes big messages, with a Maildir user `md`, an
/// mbox user `mb` and a permanent route to `sink` for everything remote.
fn big_env(do_queue: bool, sink: &StreamingSink) -> Env {
    let env = Env::new(&format!("do_queue = {do_queue}\nmax_msg_size = 0"));
    let maildirs = env.path("maildirs");
    std::fs::create_dir(&maildirs).unwrap();
    let route = env.path("sink.route");
    std::fs::write(
        &route,
        format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!(
        "maildir_users = \"md\"\nmaildir_dir = \"{}\"\npermanent_routes = \"{}\"",
        maildirs.display(),
        route.display()
    ));
    env
}

fn rcpts() -> Vec<String> {
    vec![
        format!("mb@{HOST}"),
        format!("md@{HOST}"),
        "far@remote.example".to_string(),
    ]
}

#[test]
fn a_queue_run_streams_three_64_mib_messages_to_mbox_maildir_and_smtp() {
    let started = Instant::now();
    let sink = StreamingSink::start();
    let env = big_env(true, &sink);
    let d = env.daemon(&[]);
    let pool = pool();
    let mut want: HashMap<String, Expect> = HashMap::new();
    for n in 0..3 {
        let (_, expect) = send_big(d.addr, n, &rcpts(), &pool);
        want.insert(format!("big {n}"), expect);
    }
    assert!(d.stop().success());
    assert_eq!(env.queued().len(), 3, "{:?}", env.spool_files());
    let queued = started.elapsed();

    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 to read its rusage"
    )]
    let run = env.cmd().arg("-q").spawn().expect("queue run");
    let (ok, peak) = wait_with_peak_rss(run.id() as i32);
    assert!(ok, "masqmail -q failed\nlog: {}", env.log());
    assert!(
        env.queued().is_empty(),
        "{:?}\n{}",
        env.spool_files(),
        env.log()
    );
    let ran = started.elapsed();

    let sorted = |mut v: Vec<Arrived>| {
        v.sort();
        v
    };
    let expected = |f: fn(&Expect) -> (u64, u64)| {
        let v: Vec<_> = want.iter().map(|(s, e)| (s.clone(), f(e))).collect();
        sorted(v)
    };
    assert_eq!(sorted(sink.received()), expected(|e| e.plain), "SMTP");
    assert_eq!(
        sorted(maildir_all(&env.path("maildirs/md"))),
        expected(|e| e.maildir),
        "Maildir"
    );
    assert_eq!(
        sorted(mbox_all(&env.path("mail/mb"))),
        expected(|e| e.mbox),
        "mbox"
    );
    eprintln!(
        "3 × {} MiB queued in {queued:.1?}, delivered by -q in {:.1?} (peak RSS {peak} KiB), checked by {:.1?}",
        BODY >> 20,
        ran - queued,
        started.elapsed()
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "-q peak RSS {peak} KiB, limit {RSS_LIMIT_KIB} KiB"
    );
}

#[test]
fn instant_delivery_in_the_daemon_streams_a_64_mib_message() {
    let started = Instant::now();
    let sink = StreamingSink::start();
    let env = big_env(false, &sink);
    let d = env.daemon(&[]);
    let rcpts = vec![format!("md@{HOST}"), "far@remote.example".to_string()];
    let (id, expect) = send_big(d.addr, 0, &rcpts, &pool());
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.queued().contains(&id) {
        assert!(
            Instant::now() < deadline,
            "not delivered\nlog: {}",
            env.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = status_kib(d.pid(), "VmHWM:");
    assert!(d.stop().success());
    assert_eq!(
        sink.received(),
        vec![("big 0".to_string(), expect.plain)],
        "SMTP"
    );
    assert_eq!(
        maildir_all(&env.path("maildirs/md")),
        vec![("big 0".to_string(), expect.maildir)]
    );
    eprintln!(
        "{} MiB received and delivered by the daemon in {:.1?}; daemon VmHWM {peak} KiB",
        BODY >> 20,
        started.elapsed()
    );
    assert!(
        peak < RSS_LIMIT_KIB,
        "daemon peak RSS {peak} KiB, limit {RSS_LIMIT_KIB} KiB"
    );
}
