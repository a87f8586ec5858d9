//! A latency proxy on 127.0.0.1 for the benchmarks: every chunk read from
//! one side is written to the other `delay` later, in both directions
//! (so 2 × `delay` per round trip), in order.
//!
//! It counts connections and the server's flights: data from the server
//! after the client has sent something, or the greeting. For a client
//! that waits for each reply that is its number of waits; a client that
//! keeps sending while replies come back (PIPELINING, CHUNKING) can see
//! more flights than it waited for. `BENCH_PROXY_TRACE=1` prints every
//! chunk forwarded.
//!
//! # Trust
//! Bench-only: it trusts both ends and gives up a connection on the
//! first error.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The delay the benches use: 50 ms each way, 100 ms per round trip.
pub const DELAY: Duration = Duration::from_millis(50);

pub struct Proxy {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    turns: AtomicU32,
    connections: AtomicU32,
}

/// Which way the last chunk of a connection went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    None,
    ToServer,
    ToClient,
}

impl Proxy {
    pub fn start(target: SocketAddr, delay: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let counts = Arc::new(Counts::default());
        let c = Arc::clone(&counts);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                c.connections.fetch_add(1, Ordering::Relaxed);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let last = Arc::new(Mutex::new(Dir::None));
                for (from, to, dir) in [
                    (client.try_clone(), server.try_clone(), Dir::ToServer),
                    (server.try_clone(), client.try_clone(), Dir::ToClient),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        pipe(from, to, dir, delay, Arc::clone(&last), Arc::clone(&c));
                    }
                }
            }
        });
        Proxy { addr, counts }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Server flights since the start or the last [`Proxy::reset`].
    pub fn turns(&self) -> u32 {
        self.counts.turns.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u32 {
        self.counts.connections.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.counts.turns.store(0, Ordering::Relaxed);
        self.counts.connections.store(0, Ordering::Relaxed);
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    delay: Duration,
    last: Arc<Mutex<Dir>>,
    counts: Arc<Counts>,
) {
    let trace = std::env::var_os("BENCH_PROXY_TRACE").is_some();
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
                    counts.turns.fetch_add(1, Ordering::Relaxed);
                }
                if trace {
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
