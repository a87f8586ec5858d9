//! SMTP server benchmark (issue 3): `cargo bench --bench smtp`.
//!
//! Starts the release daemon (`-bD`, do_queue, real fsyncs) in a temp
//! directory and prints a table: messages/s accepted from 1 and from 10
//! concurrent clients (2 KB messages, one pipelined transaction per
//! message), and the daemon's idle and peak RSS. Nothing is asserted.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
const PER_CLIENT: usize = 200;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conf = write_conf(dir.path(), port);
    let mut daemon = Command::new(BIN)
        .arg("-C")
        .arg(&conf)
        .arg("-bD")
        .stdin(Stdio::null())
        .spawn()
        .expect("daemon");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    wait_listening(addr, &mut daemon);
    let idle = status_kb(daemon.id(), "VmRSS:");

    let one = rate(addr, 1);
    let ten = rate(addr, 10);
    let peak = status_kb(daemon.id(), "VmHWM:");
    let _ = daemon.kill();
    let _ = daemon.wait();

    println!("| SMTP server (release build, do_queue, fsync on)     | value |");
    println!("|-----------------------------------------------------|-------|");
    println!("| 2 KB messages/s accepted, 1 client                  | {one:.0} |");
    println!("| 2 KB messages/s accepted, 10 concurrent clients     | {ten:.0} |");
    println!("| daemon RSS when idle                                | {idle} KiB |");
    println!("| daemon peak RSS                                     | {peak} KiB |");
}

fn write_conf(root: &Path, port: u16) -> std::path::PathBuf {
    let conf = root.join("masqmail.conf");
    let r = root.display();
    std::fs::write(
        &conf,
        format!(
            "host_name = \"bench.example.org\"\nrun_as_user = true\ndo_queue = true\n\
             spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
             mail_dir = \"{r}/mail\"\npid_dir = \"{r}\"\nlisten_addresses = \"127.0.0.1:{port}\"\n"
        ),
    )
    .expect("write config");
    conf
}

fn wait_listening(addr: SocketAddr, daemon: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(daemon.try_wait().ok().flatten().is_none(), "daemon exited");
        assert!(Instant::now() < deadline, "daemon does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Messages per second over `clients` concurrent sessions.
fn rate(addr: SocketAddr, clients: usize) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| std::thread::spawn(move || session(addr)))
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    (clients * PER_CLIENT) as f64 / start.elapsed().as_secs_f64()
}

fn session(addr: SocketAddr) {
    let stream = TcpStream::connect(addr).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut w = stream;
    expect(&mut reader, 220);
    w.write_all(b"EHLO bench.example\r\n").expect("write");
    expect(&mut reader, 250);
    let mut body = b"Subject: bench\r\n\r\n".to_vec();
    while body.len() < 2048 {
        body.extend_from_slice(
            b"The quick brown fox jumps over the lazy dog, again and again.\r\n",
        );
    }
    for _ in 0..PER_CLIENT {
        let mut tx =
            b"MAIL FROM:<b@remote.example>\r\nRCPT TO:<alice@bench.example.org>\r\nDATA\r\n"
                .to_vec();
        w.write_all(&tx).expect("write");
        expect(&mut reader, 250);
        expect(&mut reader, 250);
        expect(&mut reader, 354);
        tx.clear();
        tx.extend_from_slice(&body);
        tx.extend_from_slice(b".\r\n");
        w.write_all(&tx).expect("write");
        expect(&mut reader, 250);
    }
    let _ = w.write_all(b"QUIT\r\n");
}

fn expect(r: &mut impl BufRead, code: u16) {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("read");
        assert!(
            line.starts_with(&code.to_string()),
            "expected {code}, got {line:?}"
        );
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
