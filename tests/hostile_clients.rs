//! No client can hold a session slot or make the daemon's memory grow
//! (issue 7 "done when"; RELIABILITY R40): clients that dribble a command
//! one byte a second, clients that pipeline a flood and never read the
//! replies, and a DATA sent at 1 byte/s are all dropped by the server's
//! deadlines (`421 4.4.2`, a `dropped` log line naming the peer), while a
//! normal client is served meanwhile; an honest fast sender of a big body
//! is never taken for a slow one.
//!
//! Real binary (`-bD`), 127.0.0.1, ephemeral port, short deadlines from the
//! config. The caps are set out of the way so that only the deadlines are
//! tested (the per-host cap has its own test in daemon_lifecycle.rs).
//! Waits are on events (a reply, EOF, a reset, a log line, a file) with a
//! bound; time is asserted only as a generous upper bound that tells
//! "dropped" from "held forever".

mod support;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::smtp::Client;
use support::*;

/// `smtp_command_timeout` and `smtp_data_timeout` of these tests.
const DEADLINE: Duration = Duration::from_secs(2);
/// How much later than its deadline a connection may end and still count
/// as dropped rather than held: the deadline, one second for the farewell
/// 421 the server tries to write, and this margin for a loaded machine.
const MARGIN: Duration = Duration::from_secs(10);
const HELD: Duration = Duration::from_secs(DEADLINE.as_secs() + 1 + MARGIN.as_secs());

const DRIBBLERS: usize = 300;
const NEVER_READERS: usize = 100;
/// NOOPs each never-reader pipelines, never reading a reply: far more
/// replies (2.8 MB) than its squeezed connection ([`squeezed_connect`])
/// buffers, so the server's writes block and its write deadline fires.
const FLOOD: usize = 200_000;
const FLOOD_LINE: &[u8] = b"NOOP\r\n";

fn config(extra: &str) -> Env {
    Env::new(&format!(
        "do_queue = true\nsmtp_command_timeout = {s}s\nsmtp_data_timeout = {s}s\n\
         max_connections = 1000\nmax_connections_per_host = 0\n{extra}",
        s = DEADLINE.as_secs()
    ))
}

/// How a hostile connection ended, as the client saw it.
#[derive(Debug)]
struct Ended {
    /// From the moment the server started its deadline (as near as the
    /// client can tell) to the end of the connection.
    after: Duration,
    /// Everything the server sent.
    text: String,
    /// EOF, or the error that ended the connection.
    end: io::Result<()>,
}

/// Reads until the greeting line is complete.
fn greeting(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(smtp::TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"\r\n") {
        let n = s.read(&mut buf).expect("greeting");
        assert!(n > 0, "EOF before the greeting");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Sends `line` one byte a second, never its end, reading in between;
/// stops sending once the server says anything, and reads to the end.
/// `start` is when the greeting was read: the server's command deadline
/// runs from then.
fn dribble(s: &mut TcpStream, line: &[u8], start: Instant) -> Ended {
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let mut sent = 0;
    let end = loop {
        if start.elapsed() > HELD {
            break Err(io::Error::new(io::ErrorKind::TimedOut, "still held"));
        }
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A second without a word from the server: the next byte.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if got.is_empty() && sent < line.len() {
                    // A failed write means the server is gone: read on.
                    let _ = s.write_all(&line[sent..=sent]);
                    sent += 1;
                }
            }
            Err(e) => break Err(e),
        }
    };
    Ended {
        after: start.elapsed(),
        text: String::from_utf8_lossy(&got).into_owned(),
        end,
    }
}

/// Pipelines [`FLOOD`] commands as fast as the socket takes them and never
/// reads; waits (poll, no read) until the server closes or resets.
fn flood(s: &mut TcpStream, start: Instant) -> Ended {
    s.set_write_timeout(Some(HELD)).unwrap();
    let burst = FLOOD_LINE.repeat(FLOOD);
    let end = match s.write_all(&burst) {
        // The server reset the connection under our write: it is gone.
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
        Err(e) => Err(io::Error::new(e.kind(), "write blocked until the bound")),
        Ok(()) => wait_hangup(s, HELD.saturating_sub(start.elapsed())),
    };
    Ended {
        after: start.elapsed(),
        text: String::new(),
        end,
    }
}

/// A connection whose buffers are small, as a hostile client may choose:
/// a small MSS (the server's send buffer is sized from it: ~40 KiB instead
/// of up to 4 MB, `net.ipv4.tcp_wmem`) and a small receive buffer. With
/// the defaults the server's buffers take ~300 000 NOOP replies before a
/// write blocks: 100 such floods cost a debug build on two cores over 20 s
/// of work, and when all replies fit, the write deadline is not what ends
/// the session.
fn squeezed_connect(addr: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let set = |fd: i32, level: i32, name: i32, value: i32| {
        // SAFETY: an int option on a socket we own.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "setsockopt: {}", io::Error::last_os_error());
    };
    // SAFETY: plain socket creation; the fd is owned by the TcpStream below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: fd is a fresh socket nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    set(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, 1000);
    set(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 4096);
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sin is a valid sockaddr_in for the duration of the call.
    let r = unsafe {
        libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
    stream
}

/// Waits until the peer closes (FIN or RST) without reading anything.
fn wait_hangup(s: &TcpStream, within: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    let ms = i32::try_from(within.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        1 if pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 => Ok(()),
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "still held")),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Open file descriptors of process `pid`.
fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

fn ehlo_client(addr: SocketAddr) -> Client {
    let mut c = Client::connect(addr).expect("connect");
    assert_eq!(c.read_reply().expect("greeting").code, 220);
    assert_eq!(c.cmd("EHLO honest.example").unwrap().code, 250);
    c
}

/// 300 dribblers (the R40 count) and 100 never-readers at once; a normal client is served
/// meanwhile; every hostile connection is dropped by a deadline.
/// R40: 300 clients dribbling a command one byte a second (each byte within the command timeout) and 100 that never read replies: all dropped by the whole-command and reply-write deadlines (421 4.4.2) while an honest client is served; fds back to baseline.
#[test]
fn dribblers_and_never_readers_are_dropped_while_others_are_served() {
    let env = config("");
    let d = env.daemon(&[]);
    let baseline = fds(d.pid());
    let connected = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let spawn = |dribbler: bool| {
        let (addr, connected, closed) = (d.addr, Arc::clone(&connected), Arc::clone(&closed));
        std::thread::spawn(move || {
            let ended = if dribbler {
                let mut s = TcpStream::connect_timeout(&addr, smtp::TIMEOUT).expect("connect");
                let hello = greeting(&mut s);
                assert!(hello.starts_with("220 "), "{hello}");
                connected.fetch_add(1, Ordering::SeqCst);
                dribble(
                    &mut s,
                    b"EHLO dribbling.example.never.ending",
                    Instant::now(),
                )
            } else {
                let mut s = squeezed_connect(addr);
                connected.fetch_add(1, Ordering::SeqCst);
                flood(&mut s, Instant::now())
            };
            closed.fetch_add(1, Ordering::SeqCst);
            ended
        })
    };
    // The floods first: they take seconds to fill the buffers, while each
    // dribbler is dropped one deadline after its greeting.
    let readers: Vec<_> = (0..NEVER_READERS).map(|_| spawn(false)).collect();
    let dribblers: Vec<_> = (0..DRIBBLERS).map(|_| spawn(true)).collect();
    env.wait_for("all hostile clients connected", || {
        connected.load(Ordering::SeqCst) == DRIBBLERS + NEVER_READERS
    });

    // While they all hold their connections, an honest client is served.
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "a hostile client ended before all were connected (setup slower than the deadline)"
    );
    let start = Instant::now();
    let mut c = ehlo_client(d.addr);
    let r = c
        .send_message(
            "honest@remote.example",
            &[&format!("alice@{HOST}")],
            b"Subject: served anyway\r\n\r\nhello\r\n",
        )
        .expect("honest message");
    let served = start.elapsed();
    let open = DRIBBLERS + NEVER_READERS - closed.load(Ordering::SeqCst);
    assert_eq!(r.code, 250, "{r}");
    assert!(served < Duration::from_secs(10), "250 after {served:?}");
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    let id = r.text().split("id=").nth(1).unwrap().to_string();
    assert_eq!(env.queued(), vec![id], "the honest message is spooled");
    eprintln!("honest client served in {served:.2?} with {open} hostile connections open");

    for (i, t) in dribblers.into_iter().enumerate() {
        let e = t.join().expect("dribbler");
        assert!(e.after < HELD, "dribbler {i} held: {e:?}");
        assert!(
            e.text.starts_with("421 4.4.2 ") && e.text.ends_with("\r\n"),
            "dribbler {i}: {e:?}"
        );
        // EOF, or a reset: a byte the dribbler sent while the server was
        // closing is left unread, and TCP then answers the close with RST.
        // The whole 421 arrived first either way.
        if let Err(err) = &e.end {
            assert_eq!(
                err.kind(),
                io::ErrorKind::ConnectionReset,
                "dribbler {i}: after the 421: {e:?}"
            );
        }
    }
    let mut slowest = Duration::ZERO;
    for (i, t) in readers.into_iter().enumerate() {
        let e = t.join().expect("never-reader");
        // EOF, or the reset the server's close causes (it leaves our
        // flood unread): either way the server ended it.
        assert!(e.after < HELD, "never-reader {i} held: {e:?}");
        if let Err(err) = &e.end {
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "never-reader {i}: {e:?}"
            );
        }
        slowest = slowest.max(e.after);
    }
    eprintln!("slowest never-reader dropped after {slowest:.2?}");
    env.wait_for("a dropped line per hostile client", || {
        let log = env.log();
        count(
            &log,
            "127.0.0.1: dropped: deadline passed waiting for a command",
        ) == DRIBBLERS
            && count(
                &log,
                "127.0.0.1: dropped: deadline passed waiting for the client to read its replies",
            ) == NEVER_READERS
    });
    env.wait_for("the daemon's descriptors back to the baseline", || {
        fds(d.pid()) == baseline
    });
    // And the daemon serves on.
    let mut c = ehlo_client(d.addr);
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(d.stop().success());
}

/// A client in DATA with its 354, on its own stream clone for raw bytes.
fn in_data(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(smtp::TIMEOUT)).unwrap();
    let raw = stream.try_clone().unwrap();
    let mut c = Client::from_duplex(stream);
    assert_eq!(c.read_reply().expect("greeting").code, 220);
    assert_eq!(c.cmd("EHLO slow.example").unwrap().code, 250);
    assert_eq!(c.cmd("MAIL FROM:<slow@remote.example>").unwrap().code, 250);
    let r = c.cmd(&format!("RCPT TO:<alice@{HOST}>")).unwrap();
    assert_eq!(r.code, 250, "{r}");
    // The server says nothing after the 354: nothing is left in `c`.
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    raw
}

/// Spool entries of a message: data and header files, and temp files.
fn message_files(env: &Env) -> Vec<String> {
    env.spool_files()
        .into_iter()
        .filter(|n| n.ends_with("-H") || n.ends_with("-D") || n.ends_with(".tmp"))
        .collect()
}

/// DATA at 1 byte/s with `smtp_min_data_rate = 500`: each byte comes well
/// within `smtp_data_timeout`, but the transfer as a whole is too slow.
/// R40: DATA at 1 byte/s: dropped by smtp_min_data_rate, nothing spooled.
#[test]
fn data_at_one_byte_a_second_is_dropped_and_nothing_is_spooled() {
    let env = config("smtp_min_data_rate = 500");
    let d = env.daemon(&[]);
    let mut s = in_data(d.addr);
    let e = dribble(
        &mut s,
        b"Subject: slow\r\n\r\none byte a second, never ending\r\n",
        Instant::now(),
    );
    assert!(e.after < HELD, "held: {e:?}");
    assert!(
        e.text.starts_with("421 4.4.2 ") && e.text.contains("too slowly") && e.end.is_ok(),
        "{e:?}"
    );
    env.wait_for("the drop in the log", || {
        let log = env.log();
        log.contains("127.0.0.1: dropped: message data slower than smtp_min_data_rate")
            && log.contains("127.0.0.1: message abandoned before its end; nothing was spooled")
    });
    assert_eq!(message_files(&env), Vec::<String>::new());
    assert!(d.stop().success());
}

/// A body that stops after 100 KiB (past the 64 KiB that open the spool's
/// temporary data file): dropped after `smtp_data_timeout`, and the
/// temporary file goes with the transaction.
/// R40: DATA stalled: dropped at the data deadline, no temp file.
#[test]
fn data_stalled_after_a_partial_body_leaves_no_temp_file() {
    let env = config("smtp_min_data_rate = 500");
    let d = env.daemon(&[]);
    let mut s = in_data(d.addr);
    let mut part = b"Subject: stalled\r\n\r\n".to_vec();
    while part.len() < 100 * 1024 {
        part.extend_from_slice(b"a line of a body that will never end properly\r\n");
    }
    s.write_all(&part).unwrap();
    env.wait_for("the temporary data file", || {
        message_files(&env).iter().any(|n| n.ends_with("-D.tmp"))
    });
    let start = Instant::now();
    let mut got = Vec::new();
    let end = s.read_to_end(&mut got).map(|_| ());
    let text = String::from_utf8_lossy(&got);
    assert!(start.elapsed() < HELD, "held for {:?}", start.elapsed());
    assert!(
        text.starts_with("421 4.4.2 ") && text.contains("timeout") && end.is_ok(),
        "{text:?} {end:?}"
    );
    env.wait_for("the drop in the log", || {
        env.log()
            .contains("127.0.0.1: dropped: deadline passed waiting for message data")
    });
    env.wait_for("no message files left", || message_files(&env).is_empty());
    assert!(d.stop().success());
}

/// The minimum rate never hits an honest client: a fast 5 MB body under the
/// same deadlines is accepted and spooled whole.
/// R40: the minimum rate never hits an honest fast sender.
#[test]
fn fast_five_megabyte_body_is_not_taken_for_slow() {
    let env = config("smtp_min_data_rate = 500");
    let d = env.daemon(&[]);
    let mut body = Vec::with_capacity(5_100_000);
    let mut n = 0;
    while body.len() < 5_000_000 {
        body.extend_from_slice(
            format!("line {n:07} of a five megabyte body .........\n").as_bytes(),
        );
        n += 1;
    }
    let mut c = ehlo_client(d.addr);
    let mut message = b"Subject: fast\n\n".to_vec();
    message.extend_from_slice(&body);
    let r = c
        .send_message("fast@remote.example", &[&format!("alice@{HOST}")], &message)
        .expect("fast message");
    assert_eq!(r.code, 250, "{r}");
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    let id = r.text().split("id=").nth(1).unwrap().to_string();
    let data = std::fs::read(env.path("spool").join(format!("{id}-D"))).unwrap();
    let mut want = format!("{id}\n").into_bytes();
    want.extend_from_slice(&body);
    assert!(
        data == want,
        "the spooled body differs ({} bytes)",
        data.len()
    );
    assert!(!env.log().contains("dropped"), "{}", env.log());
    assert!(d.stop().success());
}
