//! The crash command of issue 9: `cargo bench --bench crash`.
//!
//! 200 random kill -9 rounds of each kind, from outside the process (the
//! release binary has no crash points): R32, `masqmail -bs` taking
//! messages in a loop, killed after a random delay; R33, queue runs to an
//! SMTP sink (one connection), an mbox and a Maildir, killed after a
//! random delay and restarted until the queue is empty. Prints one table;
//! exits non-zero when anything acknowledged was lost, a spool entry is
//! invalid, or something other than the delivery in flight at a kill
//! arrived twice. The seed is printed; `CRASH_SEED=<n>` replays a run.

#[path = "../tests/crash_rounds/engine.rs"]
mod engine;
#[path = "../tests/support/sink.rs"]
mod sink;

const BIN: &str = env!("CARGO_BIN_EXE_masqmail");

fn main() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("CRASH_SEED={seed} binary={BIN}");
    let mut rng = engine::Rng::new(seed);
    let r32 = engine::r32(BIN, &mut rng, 200, 60);
    let r33 = engine::r33(BIN, &mut rng, 200, 10, 60);
    print!("{}", engine::table(&[("R32", &r32), ("R33", &r33)]));
    if !(r32.ok() && r33.ok()) {
        eprintln!("crash rounds failed; replay with CRASH_SEED={seed}");
        std::process::exit(1);
    }
}
