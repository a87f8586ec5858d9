//! Flushing the queue over a slow link (issue 4): `cargo bench --bench flush`.
//!
//! A proxy on 127.0.0.1 delays every chunk by 50 ms in each direction
//! (100 ms per round trip) in front of the harness's test SMTP server.
//! For N = 1, 10, 100 queued 2 KB messages, against a PIPELINING-only and
//! a CHUNKING server, in plain text and with STARTTLS + AUTH, it prints
//! the client's turns (waits for replies, from the debug log, summed over
//! its sessions), the connections the server saw and the wall time of
//! `masqmail -qo isp` (the route's `max_parallel_connections` at its
//! default). Nothing is asserted. The same runs,
//! side by side with Postfix and msmtp: `cargo bench --bench peers`.

#[path = "../tests/support/ca.rs"]
mod ca;
#[path = "common/conf.rs"]
mod conf;
#[path = "common/flush.rs"]
mod flush;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "../tests/support/sink.rs"]
mod sink;

use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");

fn main() {
    println!("| server | link | N | turns | connections | wall time |");
    println!("|---|---|---|---|---|---|");
    for chunking in [false, true] {
        for secure in [false, true] {
            let link = flush::Link::start(chunking, secure);
            for n in [1, 10, 100] {
                let f = flush::masqmail(Path::new(BIN), &link, n);
                println!(
                    "| {} | {} | {n} | {} | {} | {:.0} ms |",
                    link.server(),
                    link.link(),
                    f.turns,
                    f.connections,
                    f.wall.as_secs_f64() * 1000.0
                );
            }
        }
    }
}
