//! A parallel flush (issue 12): the messages for one host spread over up
//! to the route's `max_parallel_connections` connections, each a normal
//! session (greeting, EHLO, STARTTLS and AUTH as configured, pipelined
//! messages, QUIT), when that saves round trips.
//!
//! The first connection is opened as always; its EHLO decides. More
//! connections are opened only when the server offers PIPELINING but not
//! CHUNKING (with CHUNKING one connection sends any number of messages in
//! 3 turns), `do_pipelining` is on, and there are at least
//! [`PER_CONNECTION`] messages for each. They open one after the other:
//! the next only once the one before was greeted with a 2xx, and none
//! after a refusal (`421` greeting, failed connect, TLS or AUTH) or after
//! a `421`/`452` to a MAIL or RCPT. All connections take messages from one
//! queue ([`Shared`]) as they are ready for another, so a slow connection
//! sends fewer. A message refused with `421`/`452` before any of its text
//! went out is given back to the queue while another connection still
//! takes messages, and that connection takes no more; what nobody took in
//! the end is tried once more over one new connection, after all others
//! closed, else it keeps its deferral.
//!
//! Guarantees: each message's result is reported through `on_done` the
//! moment its own reply arrives, from whichever connection (R33); a
//! message is reported at most once and never sent twice by us in one run
//! (only a message whose text was never sent is given back). All
//! connections run on the calling task, so reports never overlap.
//!
//! # Security
//! The extra connections go to the very address the first one reached,
//! with the same TLS policy, name check and credentials.

use std::cell::RefCell;
use std::net::SocketAddr;

use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::connect::{CONNECT_TIMEOUT, OnDone, Results};
use crate::config::Route;
use crate::outbound::smtp::reply::Caps;
use crate::outbound::smtp::source::Shared;
use crate::outbound::smtp::{
    ClientOptions, MessageResult, Opened, Outgoing, SessionError, Stats, start,
};

/// Fewest messages per connection worth a connection's own greeting,
/// EHLO (and TLS, AUTH) turns.
pub const PER_CONNECTION: usize = 2;

/// Connections the route allows to one host at once: 1 on a route the
/// user limited — `max_parallel_connections = 1`, `do_pipelining = no`,
/// a `wrapper` (one command, one stream), or SMTP-after-POP
/// (`pop3_login`: what one login lets through is the provider's call).
pub fn allowed(route: &Route) -> usize {
    let limited = route.wrapper.is_some() || route.pop3_login.is_some() || !route.do_pipelining;
    if limited {
        1
    } else {
        usize::try_from(route.max_parallel_connections)
            .unwrap_or(1)
            .max(1)
    }
}

/// Extra connections worth opening after the first one's EHLO.
fn extras(allowed: usize, n: usize, caps: &Caps, opts: &ClientOptions) -> usize {
    if allowed <= 1 || !opts.pipelining || !caps.pipelining || caps.chunking {
        return 0;
    }
    (n / PER_CONNECTION).min(allowed).saturating_sub(1)
}

/// How far the opening of extra connections got.
#[derive(Clone, Copy, Default)]
struct Gate {
    /// Extra connections greeted so far (they open in order).
    greeted: usize,
    /// Open no more.
    stop: bool,
}

/// One session's share: (results by index, why it broke off, counters).
type Share = (Vec<(usize, MessageResult)>, Option<SessionError>, Stats);

/// Runs the first connection on `stream` (to `addr`) and, when it pays,
/// more connections to `addr` beside it.
pub async fn session(
    stream: TcpStream,
    addr: SocketAddr,
    opts: &ClientOptions,
    host: String,
    msgs: &[Outgoing],
    on_done: &mut OnDone<'_>,
    allowed: usize,
) -> Results {
    let first = match start(stream, opts, &mut || {}).await {
        Ok(o) => o,
        Err(e) => {
            return Results::Session {
                host,
                results: Vec::new(),
                error: Some((e.is_permanent(), e.to_string())),
                auth_refused: matches!(e, SessionError::AuthRefused(_)),
            };
        }
    };
    let extras = extras(allowed, msgs.len(), &first.caps, opts);
    let report = RefCell::new(on_done);
    let shared = Shared::new(msgs.len());
    let (gate, _) = watch::channel(Gate::default());
    let lane = shared.lane();
    let mut first_report = |m, r| (report.borrow_mut())(&host, m, r);
    let first_run = async {
        let share = first.send(opts, msgs, &lane, &mut first_report).await;
        lane.leave();
        share
    };
    let extra_runs =
        (1..=extras).map(|i| extra(i, addr, opts, &host, msgs, &shared, &gate, &report));
    let (first_share, extra_shares) = tokio::join!(first_run, join_all(extra_runs));
    let mut shares: Vec<Share> = vec![first_share];
    shares.extend(extra_shares.into_iter().flatten());
    let left = shared.drain();
    if !left.is_empty() {
        // Given back after every other connection had quit: one more
        // connection, alone, for them.
        tracing::info!(
            "{host}: {} message(s) again over a new connection",
            left.len()
        );
        let again = Shared::of(msgs.len(), left);
        let mut rep = |m, r| (report.borrow_mut())(&host, m, r);
        if let Some(opened) = open(addr, opts, &mut || {}).await {
            let lane = again.lane();
            shares.push(opened.send(opts, msgs, &lane, &mut rep).await);
        }
    }
    let turns: u32 = shares.iter().map(|s| s.2.round_trips).sum();
    for (_, _, stats) in &shares {
        tracing::debug!("session with {host}: {} round trip(s)", stats.round_trips);
    }
    if shares.len() > 1 {
        tracing::info!(
            "{host}: {} messages over {} connections, {turns} round trip(s) in all",
            msgs.len(),
            shares.len()
        );
    }
    let mut error = None;
    let mut results = Vec::with_capacity(msgs.len());
    for (share, aborted, _) in shares {
        results.extend(share);
        if error.is_none() {
            error = aborted.map(|e| (false, e.to_string()));
        }
    }
    if error.is_none() && results.len() < msgs.len() {
        let why = "4.4.2 the server limited the number of connections";
        error = Some((false, why.to_string()));
    }
    Results::Session {
        host,
        results,
        error,
        auth_refused: false,
    }
}

/// Extra connection `i` (from 1): waits until connection `i - 1` was
/// greeted, then opens and takes messages while there are any.
#[allow(clippy::too_many_arguments)]
async fn extra(
    i: usize,
    addr: SocketAddr,
    opts: &ClientOptions,
    host: &str,
    msgs: &[Outgoing],
    shared: &Shared,
    gate: &watch::Sender<Gate>,
    report: &RefCell<&mut OnDone<'_>>,
) -> Option<Share> {
    let stop = || gate.send_modify(|g| g.stop = true);
    let mut rx = gate.subscribe();
    let go = rx
        .wait_for(|g| g.stop || g.greeted + 1 >= i)
        .await
        .ok()?
        .stop;
    if go || shared.limited() || shared.remaining() < PER_CONNECTION {
        stop();
        return None;
    }
    let mut greeted = || gate.send_modify(|g| g.greeted = g.greeted.max(i));
    let Some(opened) = open(addr, opts, &mut greeted).await else {
        stop();
        return None;
    };
    let lane = shared.lane();
    let mut rep = |m, r| (report.borrow_mut())(host, m, r);
    let share = opened.send(opts, msgs, &lane, &mut rep).await;
    lane.leave();
    if shared.limited() {
        stop();
    }
    Some(share)
}

/// A new connection to `addr`, opened up to AUTH; a failure is logged.
async fn open<'s>(
    addr: SocketAddr,
    opts: &ClientOptions,
    greeted: &mut (dyn FnMut() + Send),
) -> Option<Opened<'s>> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("another connection to {addr} failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::info!("another connection to {addr} failed: timed out");
            return None;
        }
    };
    let _ = stream.set_nodelay(true);
    match start(stream, opts, greeted).await {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::info!("another connection to {addr} refused: {e}; no more opened");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn limited_routes_keep_one_connection() {
        let cfg = Config::with_host_name("h.example");
        let route = |f: &dyn Fn(&mut Route)| {
            let mut r = Route::new(std::path::Path::new("r"), &cfg);
            f(&mut r);
            allowed(&r)
        };
        assert_eq!(route(&|_| {}), 8);
        assert_eq!(route(&|r| r.max_parallel_connections = 7), 7);
        assert_eq!(route(&|r| r.max_parallel_connections = 1), 1);
        assert_eq!(route(&|r| r.do_pipelining = false), 1);
        assert_eq!(route(&|r| r.pop3_login = Some("g".into())), 1);
        let parsed = Route::parse(b"wrapper = /bin/cat", std::path::Path::new("r"), &cfg);
        assert_eq!(parsed.map(|r| allowed(&r)).ok(), Some(1));
    }

    #[test]
    fn extras_only_for_pipelining_without_chunking() {
        let opts = |pipelining| ClientOptions {
            helo_name: "h".into(),
            pipelining,
            instant_helo: false,
            tls: None,
            tls_config: None,
            server_name: "s".into(),
            auth: None,
            timeouts: Default::default(),
        };
        let caps = |pipelining, chunking| Caps {
            pipelining,
            chunking,
            ..Caps::default()
        };
        for (allowed, n, pipe, chunk, on, want) in [
            (4, 100, true, false, true, 3),
            (4, 6, true, false, true, 2),
            (4, 3, true, false, true, 0),
            (4, 1, true, false, true, 0),
            (1, 100, true, false, true, 0),
            (4, 100, true, true, true, 0),
            (4, 100, false, false, true, 0),
            (4, 100, true, false, false, 0),
        ] {
            assert_eq!(
                extras(allowed, n, &caps(pipe, chunk), &opts(on)),
                want,
                "{allowed} {n} {pipe} {chunk} {on}"
            );
        }
    }
}
