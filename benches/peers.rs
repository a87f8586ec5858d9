//! Ours and the peers side by side, from one run (issue 12):
//! `cargo bench --bench peers` (`-- --quick`: fewer rounds, N = 1 and 10
//! only, so the N = 100 targets are not checked).
//!
//! Prints one Markdown table, a row per figure with its target: SMTP
//! acceptance against Postfix's smtpd, `sendmail -odq -t` against
//! Postfix's sendmail and the spawn + fsync floor, queue flush over a
//! 100 ms round trip against Postfix (`postqueue -f`) and msmtp, RSS of
//! the whole process trees, the binary's size, and POP3 fetch against
//! fetchmail. Peers come from Debian's packages; one that is missing (or
//! Postfix when we are not root) is shown as such in its cells, never
//! dropped. Postfix runs as private instances in temp directories
//! (`benches/common/postfix.rs`); nothing system-wide is touched.
//!
//! Progress goes to stderr, the table to stdout. Nothing is asserted
//! about speed; the bench fails only when our side fails.

#[path = "../tests/support/ca.rs"]
mod ca;
#[path = "common/conf.rs"]
mod conf;
#[path = "smtp/daemon.rs"]
mod daemon;
#[path = "../tests/support/dovecot.rs"]
mod dovecot;
#[path = "common/fetch.rs"]
mod fetch;
#[path = "common/flush.rs"]
mod flush;
#[path = "smtp/load.rs"]
mod load;
#[path = "common/postfix.rs"]
mod postfix;
#[path = "common/proxy.rs"]
mod proxy;
#[path = "../tests/support/sink.rs"]
mod sink;
#[path = "common/tree.rs"]
mod tree;

#[path = "peers/accept.rs"]
mod accept_rows;
#[path = "peers/fetch.rs"]
mod fetch_rows;
#[path = "peers/flush.rs"]
mod flush_rows;
#[path = "peers/submit.rs"]
mod submit_rows;
#[path = "peers/table.rs"]
mod table;

use std::path::Path;

use table::{Goal, Row, Value};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
/// The size target for the stripped binary, in bytes (4 MB).
const MAX_BINARY: f64 = 4_000_000.0;

struct Settings {
    rounds: usize,
    per_client: usize,
    submits: usize,
    flush_sizes: &'static [usize],
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let s = if quick {
        Settings {
            rounds: 1,
            per_client: 50,
            submits: 15,
            flush_sizes: &[1, 10],
        }
    } else {
        Settings {
            rounds: 3,
            per_client: 200,
            submits: 50,
            flush_sizes: &[1, 10, 100],
        }
    };
    let bin = Path::new(BIN);
    header(&s, quick);
    let mut rows = accept_rows::rows(bin, s.rounds, s.per_client);
    rows.extend(submit_rows::rows(bin, s.submits));
    rows.extend(flush_rows::rows(bin, s.flush_sizes));
    rows.extend(fetch_rows::rows(bin));
    rows.push(binary_size(bin));
    println!();
    table::print(&rows);
}

fn header(s: &Settings, quick: bool) {
    let postfix = match postfix::unavailable() {
        Some(why) => why,
        None => format!("{} (private instances)", postfix::version()),
    };
    println!(
        "masqmail vs peers{}: {BIN}",
        if quick { " (--quick)" } else { "" }
    );
    println!("  Postfix: {postfix}");
    for (name, path) in [
        ("msmtp", "/usr/bin/msmtp"),
        ("fetchmail", "/usr/bin/fetchmail"),
        ("dovecot", dovecot::DOVECOT),
    ] {
        let there = if Path::new(path).exists() {
            path
        } else {
            "not installed"
        };
        println!("  {name}: {there}");
    }
    println!(
        "  accept: {} messages of 2 KiB per client, best of {} round(s), servers taking turns; \
         `sendmail -odq -t`: median of {}; flush N = {:?}",
        s.per_client, s.rounds, s.submits, s.flush_sizes
    );
    println!("  ratio = ours / the peer the target names; times: lower is better, rates: higher");
}

fn binary_size(bin: &Path) -> Row {
    let ours = match std::fs::metadata(bin) {
        Ok(m) => {
            let b = m.len() as f64;
            Value::Num(b, format!("{:.2} MB", b / 1e6))
        }
        Err(e) => Value::Missing(e.to_string()),
    };
    let checked = ours.num();
    Row::versus(
        "binary size (release profile, stripped)",
        ours,
        Value::none(),
        Value::none(),
    )
    .target_on("ours ≤ 4 MB", Goal::AtMost(MAX_BINARY), checked)
}
