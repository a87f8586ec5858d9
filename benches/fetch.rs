//! Fetching over a slow link (issue 8): `cargo bench --bench fetch`.
//!
//! A private Dovecot (tests/support/dovecot.rs) holds 100 messages of
//! 2 KB; a proxy on 127.0.0.1 delays every chunk by 50 ms in each
//! direction (100 ms per round trip). `masqmail -g isp` (Dovecot announces
//! PIPELINING) and Debian's `fetchmail` fetch and delete them through it;
//! the Maildir is refilled with the same 100 messages before each run.
//! Printed: the turns counted at the proxy (a turn is one flight of the
//! server's: data from the server after the client has sent something, or
//! the greeting — so a fetch's waits for the server, as tests/fetch.rs
//! counts them) and the wall time; a first row without the delay shows
//! the time masqmail spends itself (a durable spool commit per message,
//! then the local deliveries). Nothing is asserted but that every message
//! was fetched and deleted. `BENCH_PROXY_TRACE=1` prints every chunk the
//! proxy forwards.

#[path = "../tests/support/ca.rs"]
mod ca;
#[path = "common/conf.rs"]
mod conf;
#[path = "../tests/support/dovecot.rs"]
mod dovecot;
#[path = "common/fetch.rs"]
mod fetch;
#[path = "common/proxy.rs"]
mod proxy;

use std::path::Path;
use std::time::Duration;

use dovecot::{Dovecot, Options};
use fetch::{N, fetchmail};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");

fn main() {
    if !dovecot::installed() {
        println!("dovecot not installed (apt-get install dovecot-pop3d): nothing to measure");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let plain = Dovecot::start(Options::default());
    let tls = Dovecot::start(Options {
        tls: Some((ca.cert_pem.clone(), ca.key_pem.clone())),
    });
    let bin = Path::new(BIN);
    println!("{N} messages of 2 KB, 50 ms each way:\n");
    println!("| client | link | turns | wall time |");
    println!("|---|---|---|---|");
    let (turns, wall) = fetch::masqmail(bin, &plain, None, false);
    row(
        "masqmail -g (PIPELINING)",
        "no delay (baseline)",
        turns,
        wall,
    );
    let (turns, wall) = fetch::masqmail(bin, &plain, None, true);
    row("masqmail -g (PIPELINING)", "plain, USER/PASS", turns, wall);
    let (turns, wall) = fetch::masqmail(bin, &tls, Some(&ca.ca_pem), true);
    row("masqmail -g (PIPELINING)", "STLS, USER/PASS", turns, wall);
    match fetchmail(&plain) {
        Some((turns, wall)) => row("fetchmail", "plain, USER/PASS", turns, wall),
        None => println!("| fetchmail | plain, USER/PASS | not installed | |"),
    }
}

fn row(client: &str, link: &str, turns: u32, wall: Duration) {
    println!(
        "| {client} | {link} | {turns} | {:.0} ms |",
        wall.as_secs_f64() * 1000.0
    );
}
