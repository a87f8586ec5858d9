//! The load: SMTP clients on threads, each speaking plain bytes to the
//! daemon and checking every reply code.
//!
//! * [`rate`]: 2 KiB messages, `per_client` per client ([`PER_CLIENT`] in
//!   `benches/smtp.rs`), either over one
//!   connection per client (MAIL, RCPT, DATA pipelined) or over a new
//!   connection per message, as LAN clients send (connect, EHLO, MAIL,
//!   RCPT, DATA, QUIT);
//! * [`big`]: each client sends one large message whose body it generates
//!   block by block, so nothing of it is ever stored on the client side.

#![allow(dead_code)] // benches/peers.rs uses only part of it

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const PER_CLIENT: usize = 500;

const ENVELOPE: &[u8] =
    b"MAIL FROM:<b@remote.example>\r\nRCPT TO:<alice@bench.example.org>\r\nDATA\r\n";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// One connection per client for all its messages.
    Persistent,
    /// A new connection (with EHLO and QUIT) per message.
    PerMessage,
}

/// Messages per second accepted over `clients` concurrent clients sending
/// `per_client` messages each, or the first client's failure.
pub fn rate(
    addr: SocketAddr,
    clients: usize,
    per_client: usize,
    how: Connections,
) -> Result<f64, String> {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| std::thread::spawn(move || small_client(addr, per_client, how)))
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| Err("client panicked".into()))?;
    }
    Ok((clients * per_client) as f64 / start.elapsed().as_secs_f64())
}

fn small_client(addr: SocketAddr, per_client: usize, how: Connections) -> Result<(), String> {
    let mut msg = b"Subject: bench\r\n\r\n".to_vec();
    while msg.len() < 2048 {
        msg.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    msg.extend_from_slice(b".\r\n");
    let mut conn = None;
    for n in 0..per_client {
        let (r, w) = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(open(addr, Duration::from_secs(60))?),
        };
        let fail = |e: String| format!("message {n}: {e}");
        w.write_all(ENVELOPE).map_err(|e| fail(e.to_string()))?;
        for code in [250, 250, 354] {
            expect(r, code).map_err(fail)?;
        }
        w.write_all(&msg).map_err(|e| fail(e.to_string()))?;
        expect(r, 250).map_err(fail)?;
        if how == Connections::PerMessage {
            w.write_all(b"QUIT\r\n").map_err(|e| fail(e.to_string()))?;
            expect(r, 221).map_err(fail)?;
            conn = None;
        }
    }
    if let Some((_, mut w)) = conn {
        let _ = w.write_all(b"QUIT\r\n");
    }
    Ok(())
}

/// What one big run measured.
pub struct BigRun {
    pub wall: Duration,
    /// Clients whose message was answered 250.
    pub accepted: usize,
    /// The first failure, if any client had one.
    pub failure: Option<String>,
}

/// `clients` clients each send one message of `mib` MiB at once.
pub fn big(addr: SocketAddr, clients: usize, mib: usize) -> BigRun {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| std::thread::spawn(move || big_client(addr, mib)))
        .collect();
    let results: Vec<Result<(), String>> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| Err("client panicked".into())))
        .collect();
    BigRun {
        wall: start.elapsed(),
        accepted: results.iter().filter(|r| r.is_ok()).count(),
        failure: results.into_iter().find_map(Result::err),
    }
}

fn big_client(addr: SocketAddr, mib: usize) -> Result<(), String> {
    // Writes may stall while the daemon fsyncs other clients' gigabytes.
    let (mut r, mut w) = open(addr, Duration::from_secs(900))?;
    w.write_all(ENVELOPE).map_err(|e| e.to_string())?;
    for code in [250, 250, 354] {
        expect(&mut r, code)?;
    }
    // 1,024 lines of 64 bytes: one 64 KiB block, written `mib * 16` times.
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n";
    let block: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    w.write_all(b"Subject: big\r\n\r\n")
        .map_err(|e| e.to_string())?;
    for _ in 0..mib * 16 {
        w.write_all(&block).map_err(|e| e.to_string())?;
    }
    w.write_all(b".\r\nQUIT\r\n").map_err(|e| e.to_string())?;
    expect(&mut r, 250)
}

type Conn = (BufReader<TcpStream>, TcpStream);

/// Connects, reads the greeting and says EHLO.
fn open(addr: SocketAddr, timeout: Duration) -> Result<Conn, String> {
    let w = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    w.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    w.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(w.try_clone().map_err(|e| e.to_string())?);
    expect(&mut r, 220)?;
    (&w).write_all(b"EHLO bench.example\r\n")
        .map_err(|e| e.to_string())?;
    expect(&mut r, 250)?;
    Ok((r, w))
}

/// Reads one (possibly multi-line) reply and checks its code.
fn expect(r: &mut impl BufRead, code: u16) -> Result<(), String> {
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => return Err(format!("expected {code}, got EOF")),
            Ok(_) => {}
            Err(e) => return Err(format!("expected {code}, got {e}")),
        }
        if !line.starts_with(&code.to_string()) {
            return Err(format!("expected {code}, got {:?}", line.trim_end()));
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}
