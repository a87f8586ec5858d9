//! Listening sockets and the accept loop.
//!
//! [`bind_all`] binds (and listens on) every address of every
//! `listen_addresses` and `tls_listen_addresses` entry (the latter speak
//! TLS from the first byte, RFC 8314); it runs after the pid file is
//! written and before privileges are dropped. [`accept_loop`] admits each connection
//! against two limits, in this order, and hands it to the SMTP server in
//! one place ([`session`]):
//! * `max_connections`: sessions in total ([`Limits::permits`]);
//! * `max_connections_per_host`: sessions per client address
//!   ([`PerHost`]).
//!
//! A connection over either limit gets `421 4.7.0` at once and is closed
//! (on an implicit-TLS listener it is closed without a word: plain text
//! is no answer to a TLS client), and the refusal is logged (info) with
//! the peer address and the limit.
//!
//! # Security
//! A flood costs a socket and one line each, never a session: the refusal
//! is written by a small task with a 5 s write timeout, and no input is
//! read.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DaemonError;
use super::limits::{HostSlot, PerHost};
use crate::config::Config;
use crate::config::Interface;
use crate::inbound::smtp::{Peer, Reply, ServerCtx, serve, serve_implicit_tls};
use crate::tasks::{TrackGuard, Tracker};

/// The limits and the session count shared by all accept loops.
pub(crate) struct Limits {
    /// Sessions running (for the grace period at shutdown).
    pub sessions: Arc<Tracker>,
    /// `max_connections` slots.
    pub permits: Arc<Semaphore>,
    /// `max_connections_per_host` slots.
    pub hosts: Arc<PerHost>,
}

impl Limits {
    pub(crate) fn new(cfg: &Config) -> Limits {
        Limits {
            sessions: Arc::new(Tracker::default()),
            permits: Arc::new(Semaphore::new(match cfg.max_connections {
                0 => Semaphore::MAX_PERMITS,
                n => n as usize,
            })),
            hosts: Arc::new(PerHost::new(cfg.max_connections_per_host)),
        }
    }
}

/// A listening socket and how its clients speak.
pub(crate) struct Bound {
    pub listener: StdListener,
    /// `tls_listen_addresses`: TLS from the first byte.
    pub implicit_tls: bool,
}

/// Binds every address of every `listen_addresses` and
/// `tls_listen_addresses` entry; failures are logged and the entry
/// dropped (§16), but with none bound we stop, and the error names the
/// last failure.
pub(crate) fn bind_all(cfg: &Config) -> Result<Vec<Bound>, DaemonError> {
    let mut out = Vec::new();
    let mut last = String::from("no listen_addresses");
    bind_each(&cfg.listen_addresses, false, &mut out, &mut last);
    bind_each(&cfg.tls_listen_addresses, true, &mut out, &mut last);
    if out.is_empty() {
        return Err(DaemonError::NothingBound(last));
    }
    Ok(out)
}

fn bind_each(list: &[Interface], implicit_tls: bool, out: &mut Vec<Bound>, last: &mut String) {
    for iface in list {
        let addrs: Vec<SocketAddr> = match (iface.host.as_str(), iface.port).to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                *last = format!("cannot resolve {}:{}: {e}", iface.host, iface.port);
                tracing::error!("{last}");
                continue;
            }
        };
        for addr in addrs {
            match StdListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(listener) => {
                    let tls = if implicit_tls { " (implicit TLS)" } else { "" };
                    tracing::info!("listening on interface {addr}{tls}");
                    out.push(Bound {
                        listener,
                        implicit_tls,
                    });
                }
                Err(e) => {
                    *last = format!("cannot listen on {addr}: {e}");
                    tracing::error!("{last}");
                }
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Total(u32),
    PerHost(u32),
}

/// Everything an admitted session holds until it ends, whichever way.
struct Admitted {
    _permit: OwnedSemaphorePermit,
    _slot: HostSlot,
    _running: TrackGuard,
}

/// Each connection is served with the context current when it came in
/// (a SIGHUP reload changes it for the connections after).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    implicit_tls: bool,
    current: tokio::sync::watch::Receiver<Arc<ServerCtx>>,
    limits: Arc<Limits>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = Arc::clone(&current.borrow());
        let Ok(permit) = Arc::clone(&limits.permits).try_acquire_owned() else {
            let why = Refusal::Total(ctx.cfg.max_connections);
            refuse(stream, addr, &ctx, why, implicit_tls);
            continue;
        };
        let Some(slot) = limits.hosts.enter(addr.ip()) else {
            let cap = ctx.cfg.max_connections_per_host;
            refuse(stream, addr, &ctx, Refusal::PerHost(cap), implicit_tls);
            continue;
        };
        tracing::debug!(
            "connect from host {}, port {}",
            addr.ip().to_canonical(),
            addr.port()
        );
        let held = Admitted {
            _permit: permit,
            _slot: slot,
            _running: limits.sessions.enter(),
        };
        tokio::spawn(session(stream, ctx, addr, held, implicit_tls));
    }
}

/// The one place a TCP connection becomes an SMTP session.
async fn session(
    stream: TcpStream,
    ctx: Arc<ServerCtx>,
    addr: SocketAddr,
    held: Admitted,
    implicit_tls: bool,
) {
    let _ = stream.set_nodelay(true);
    if implicit_tls {
        serve_implicit_tls(stream, ctx, Peer::Tcp(addr)).await;
    } else {
        serve(stream, ctx, Peer::Tcp(addr)).await;
    }
    drop(held);
}

/// Logs the refusal and answers `421 4.7.0` (on its own task) and closes.
fn refuse(stream: TcpStream, addr: SocketAddr, ctx: &ServerCtx, why: Refusal, tls: bool) {
    let (ip, port) = (addr.ip().to_canonical(), addr.port());
    let host = &ctx.cfg.host_name;
    let reply = match why {
        Refusal::Total(max) => {
            tracing::info!(
                "connection from host {ip}, port {port} refused: max_connections ({max}) reached"
            );
            Reply::too_many_connections(host)
        }
        Refusal::PerHost(max) => {
            tracing::info!(
                "connection from host {ip}, port {port} refused: max_connections_per_host ({max}) reached for this address"
            );
            Reply::too_many_from_host(host)
        }
    };
    if tls {
        return;
    }
    let mut line = Vec::new();
    reply.encode(&mut line);
    tokio::spawn(async move {
        let mut stream = stream;
        let write = stream.write_all(&line);
        let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
    });
}
