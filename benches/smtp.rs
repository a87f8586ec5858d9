//! SMTP server benchmark (issues 3 and 7): `cargo bench --bench smtp`.
//!
//! Starts the release daemon (`-bD`, `do_queue = true`, `max_msg_size =
//! 0`, real fsyncs) in a temp directory and prints one table row per
//! figure:
//! * 2 KiB messages/s accepted from 1 and from 10 concurrent clients, over
//!   one connection per client and over a new connection per message;
//! * the daemon's idle RSS and its peak RSS over those rows;
//! * a big run on a fresh daemon: 20 clients each send one 200 MiB message
//!   at once; its wall time, aggregate MiB/s, the daemon's peak RSS
//!   (`VmHWM`) and how many clients got 250. The spool (4 GiB) is removed
//!   right after.
//!
//! After each 2 KiB row's timed rounds, one untimed round under `strace
//! -c` gives its fsyncs per message (issue 12; left out without strace).
//! `MASQMAIL_BENCH_SMALL_ONLY=1` skips the big run (4 GiB of disk).
//!
//! `MASQMAIL_BENCH_BASELINE=/path/to/masqmail` runs every row against that
//! binary too (e.g. one built from the commit before the server rewrite)
//! and prints both side by side with the ratio new / baseline. Throughput
//! rows are the best of [`ROUNDS`] rounds, the binaries taking turns, so
//! that noise from other processes hits both alike.
//!
//! During a big run the daemon is killed if its RSS passes a cap (half of
//! `MemAvailable` at start, or `MASQMAIL_BENCH_RSS_CAP_MIB`): a server that
//! holds messages in memory must not push a shared machine into the OOM
//! killer. Nothing about time is asserted; the bench exits 1 only when the
//! binary under test failed to accept a big message.

#[path = "smtp/daemon.rs"]
mod daemon;
#[path = "smtp/fsyncs.rs"]
mod fsyncs;
#[path = "smtp/load.rs"]
mod load;
#[path = "common/tree.rs"]
mod tree;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use daemon::Daemon;
use load::Connections;

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
const ROUNDS: usize = 7;
const BIG_CLIENTS: usize = 20;
const BIG_MIB: usize = 200;

struct Row {
    figure: String,
    cells: Vec<Cell>,
}

/// One binary's figure: the number behind the ratio, and its text.
struct Cell {
    value: f64,
    text: String,
}

fn main() {
    let mut bins = vec![PathBuf::from(BIN)];
    bins.extend(std::env::var_os("MASQMAIL_BENCH_BASELINE").map(PathBuf::from));
    let cap_kb = rss_cap_kb();
    header(&bins, cap_kb);

    let mut rows = small_rows(&bins);
    if std::env::var_os("MASQMAIL_BENCH_SMALL_ONLY").is_some() {
        print_table(&bins, &rows);
        return;
    }
    let mut failed = false;
    let big: Vec<_> = bins.iter().map(|b| big_run(b, cap_kb)).collect();
    for (i, (run, _)) in big.iter().enumerate() {
        if let Some(why) = &run.failure {
            eprintln!("big run, {}: {why}", bins[i].display());
            failed |= i == 0;
        }
    }
    let total_mib = (BIG_CLIENTS * BIG_MIB) as f64;
    let label = format!("{BIG_CLIENTS} × {BIG_MIB} MiB at once");
    rows.push(row(format!("{label}: wall time"), &big, |(r, _)| {
        let s = r.wall.as_secs_f64();
        (s, format!("{s:.1} s"))
    }));
    rows.push(row(format!("{label}: aggregate MiB/s"), &big, |(r, _)| {
        let v = total_mib / r.wall.as_secs_f64();
        (v, format!("{v:.0}"))
    }));
    rows.push(row(
        format!("{label}: daemon peak RSS"),
        &big,
        |(_, peak)| match peak {
            Peak::Hwm(kb) => (*kb as f64, format!("{} MiB", kb / 1024)),
            Peak::Killed(kb) => (f64::NAN, format!("> {} MiB (killed)", kb / 1024)),
        },
    ));
    rows.push(row(
        format!("{label}: clients answered 250"),
        &big,
        |(r, _)| (f64::NAN, format!("{}/{BIG_CLIENTS}", r.accepted)),
    ));
    print_table(&bins, &rows);
    if failed {
        std::process::exit(1);
    }
}

fn header(bins: &[PathBuf], cap_kb: u64) {
    println!("SMTP server: release build, fsync on, do_queue = true, max_msg_size = 0");
    println!("  new:      {}", bins[0].display());
    if let Some(b) = bins.get(1) {
        println!("  baseline: {} (MASQMAIL_BENCH_BASELINE)", b.display());
    }
    println!(
        "  2 KiB rows: {} messages per client, best of {ROUNDS} rounds, binaries taking turns",
        load::PER_CLIENT
    );
    println!(
        "  big run: {BIG_CLIENTS} clients each send one {BIG_MIB} MiB message at once \
         (fresh daemon, RSS cap {} MiB)",
        cap_kb / 1024
    );
    println!();
}

/// The 2 KiB throughput rows and the RSS of the daemons that served them.
fn small_rows(bins: &[PathBuf]) -> Vec<Row> {
    let daemons: Vec<Daemon> = bins.iter().map(|b| Daemon::start(b)).collect();
    let idle: Vec<u64> = daemons.iter().map(|d| d.status_kb("VmRSS:")).collect();
    let mut rows = Vec::new();
    for (figure, clients, how) in [
        (
            "2 KiB msgs/s, 1 client, one connection",
            1,
            Connections::Persistent,
        ),
        (
            "2 KiB msgs/s, 10 clients, one connection each",
            10,
            Connections::Persistent,
        ),
        (
            "2 KiB msgs/s, 1 client, new connection per message",
            1,
            Connections::PerMessage,
        ),
        (
            "2 KiB msgs/s, 10 clients, new connection per message",
            10,
            Connections::PerMessage,
        ),
    ] {
        let mut best = vec![0.0f64; daemons.len()];
        for round in 0..ROUNDS {
            // Take turns: the first binary of a round does not always win
            // the quiet moment.
            for k in 0..daemons.len() {
                let i = (k + round) % daemons.len();
                let rate = match load::rate(daemons[i].addr, clients, load::PER_CLIENT, how) {
                    Ok(rate) => rate,
                    // The baseline may refuse mail past 3844 messages a
                    // second (its id format); that round counts as nothing.
                    Err(why) if i > 0 => {
                        eprintln!(
                            "{figure}, round {round}, {}: failed: {why}",
                            bins[i].display()
                        );
                        continue;
                    }
                    Err(why) => {
                        eprintln!("{}", daemons[i].log_tail(40));
                        panic!("{figure}, {}: {why}", bins[i].display());
                    }
                };
                eprintln!("{figure}, round {round}, {}: {rate:.0}", bins[i].display());
                best[i] = best[i].max(rate);
            }
        }
        rows.push(row(figure.to_string(), &best, |v| (*v, format!("{v:.0}"))));
        let per_message: Vec<Option<f64>> = daemons
            .iter()
            .map(|d| {
                let counting = fsyncs::attach(d.pid())?;
                let result = load::rate(d.addr, clients, load::PER_CLIENT, how);
                let calls = counting.finish();
                result.ok()?;
                Some(calls as f64 / (clients * load::PER_CLIENT) as f64)
            })
            .collect();
        if per_message.iter().any(Option::is_some) {
            let figure = "  fsyncs per message (strace -c, one untimed round)".to_string();
            rows.push(row(figure, &per_message, |v| match v {
                Some(v) => (*v, format!("{v:.2}")),
                None => (f64::NAN, "–".into()),
            }));
        }
    }
    let peak: Vec<u64> = daemons.iter().map(|d| d.status_kb("VmHWM:")).collect();
    rows.push(row("daemon RSS when idle".into(), &idle, kib));
    rows.push(row(
        "daemon peak RSS over the 2 KiB rows".into(),
        &peak,
        kib,
    ));
    rows
}

fn kib(kb: &u64) -> (f64, String) {
    (*kb as f64, format!("{kb} KiB"))
}

enum Peak {
    Hwm(u64),
    /// Killed at the RSS cap; the last RSS seen.
    Killed(u64),
}

/// The big run on a fresh daemon, whose spool is removed afterwards.
fn big_run(bin: &Path, cap_kb: u64) -> (load::BigRun, Peak) {
    let started = std::time::Instant::now();
    let d = Daemon::start(bin);
    let pid = d.pid();
    let done = AtomicBool::new(false);
    let killed_at = AtomicU64::new(0);
    let run = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let rss = daemon::status_kb(pid, "VmRSS:");
                if rss > cap_kb {
                    killed_at.store(rss, Ordering::Relaxed);
                    let pid = nix::unistd::Pid::from_raw(pid as i32);
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let run = load::big(d.addr, BIG_CLIENTS, BIG_MIB);
        done.store(true, Ordering::Relaxed);
        run
    });
    let peak = match killed_at.load(Ordering::Relaxed) {
        0 => Peak::Hwm(d.status_kb("VmHWM:")),
        kb => Peak::Killed(kb),
    };
    let spooled = d.spool_bytes();
    drop(d);
    eprintln!(
        "big run, {}: {} MiB spooled, removed ({:.0} s with removal)",
        bin.display(),
        spooled >> 20,
        started.elapsed().as_secs_f64()
    );
    (run, peak)
}

/// `MASQMAIL_BENCH_RSS_CAP_MIB`, or half of what is available now.
fn rss_cap_kb() -> u64 {
    if let Some(mib) = std::env::var("MASQMAIL_BENCH_RSS_CAP_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return mib * 1024;
    }
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(8 << 20);
    available / 2
}

fn row<T>(figure: String, per_bin: &[T], cell: impl Fn(&T) -> (f64, String)) -> Row {
    let cells = per_bin
        .iter()
        .map(|x| {
            let (value, text) = cell(x);
            Cell { value, text }
        })
        .collect();
    Row { figure, cells }
}

fn print_table(bins: &[PathBuf], rows: &[Row]) {
    if bins.len() == 1 {
        println!("| figure | value |");
        println!("|---|---:|");
    } else {
        println!("| figure | new | baseline | new / baseline |");
        println!("|---|---:|---:|---:|");
    }
    for r in rows {
        let mut line = format!("| {} |", r.figure);
        for c in &r.cells {
            line += &format!(" {} |", c.text);
        }
        if let [new, base] = &r.cells[..] {
            let ratio = new.value / base.value;
            if ratio.is_finite() {
                line += &format!(" {ratio:.2} |");
            } else {
                line += " – |";
            }
        }
        println!("{line}");
    }
}
