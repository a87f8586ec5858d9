//! Benchmarks for the local path (issue 2): run with `cargo bench --bench local`.
//!
//! Prints a table:
//! * `masqmail -odq -t` with a 2 KB message, 50 runs: median and p90 wall
//!   time, peak RSS of the process, fsyncs are not counted here (see strace);
//! * delivery of 1,000 queued local messages to one mbox with `-q`.
//!
//! Everything runs in a temp directory with `run_as_user`; nothing is
//! asserted: numbers are for the closing notes and for comparing changes.

#[path = "common/conf.rs"]
mod conf;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = conf::write(dir.path(), "");
    let message = two_kb_message();

    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        submit(&conf, &message, &["-odq", "-t"]);
        times.push(t.elapsed());
    }
    times.sort();
    let peak_rss_kb = children_peak_rss_kb();

    // 1,000 queued messages, then one -q run.
    for _ in 0..950 {
        submit(&conf, &message, &["-odq", "-t"]);
    }
    let t = Instant::now();
    let status = Command::new(BIN)
        .arg("-C")
        .arg(&conf)
        .arg("-q")
        .status()
        .expect("run -q");
    let flush = t.elapsed();
    assert!(status.success(), "queue run failed");
    let delivered = std::fs::read(dir.path().join("mail/alice"))
        .map(|m| {
            m.windows(6).filter(|w| w == b"\nFrom ").count() + usize::from(m.starts_with(b"From "))
        })
        .unwrap_or(0);
    let left = std::fs::read_dir(dir.path().join("spool"))
        .map(|d| d.count())
        .unwrap_or(0);

    println!("| benchmark (release build)                         | value |");
    println!("|---------------------------------------------------|-------|");
    println!(
        "| `masqmail -odq -t`, 2 KB, 50 runs: median         | {} |",
        ms(times[24])
    );
    println!(
        "| `masqmail -odq -t`, 2 KB, 50 runs: p90            | {} |",
        ms(times[44])
    );
    println!(
        "| `masqmail -odq -t`: peak RSS                      | {} KiB |",
        peak_rss_kb
    );
    println!(
        "| `-q`: deliver 1,000 queued messages to one mbox   | {} |",
        ms(flush)
    );
    println!(
        "| `-q`: messages/s                                  | {:.0} |",
        1000.0 / flush.as_secs_f64()
    );
    println!("| messages in the mbox after the run                | {delivered} |");
    println!("| files left in the spool after the run             | {left} |");
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn two_kb_message() -> Vec<u8> {
    let mut m = b"From: bench@bench.example.org\nTo: alice\nSubject: benchmark\n\n".to_vec();
    while m.len() < 2048 {
        m.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.\n");
    }
    m.truncate(2047);
    m.push(b'\n');
    m
}

fn submit(conf: &Path, message: &[u8], args: &[&str]) {
    conf::submit(Path::new(BIN), conf, args, message);
}

/// Largest resident set of any waited-for child, in KiB (Linux reports KiB).
fn children_peak_rss_kb() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss
}
