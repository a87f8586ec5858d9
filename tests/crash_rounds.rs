//! Issue 9, the crash command in small (R32, R33): the same random kill -9
//! rounds as `cargo bench --bench crash`, bounded for CI. Only counts are
//! checked, never times. The seed is printed; `CRASH_SEED=<n>` replays it.

#[path = "crash_rounds/engine.rs"]
mod engine;
mod support;

use support::sink;

fn seed() -> u64 {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("CRASH_SEED={seed}");
    seed
}

/// R32: 25 `-bs` sessions killed at random: every acknowledged message is
/// spooled intact, only the one in flight may be spooled without its 250.
#[test]
fn r32_random_kills_during_smtp_lose_nothing() {
    let seed = seed();
    let mut rng = engine::Rng::new(seed);
    let t = engine::r32(support::BIN, &mut rng, 25, 80);
    println!("{}", engine::table(&[("R32", &t)]));
    assert!(t.ok(), "seed {seed}\n{}", engine::table(&[("R32", &t)]));
    assert!(t.acknowledged > 0, "some message was acknowledged");
}

/// R33: 25 queue runs killed at random: nothing lost, each kill leaves at
/// most one message half done per SMTP connection of the run (a parallel
/// flush has several), and only those arrive twice.
#[test]
fn r33_random_kills_during_queue_runs_lose_nothing() {
    let seed = seed();
    let mut rng = engine::Rng::new(seed);
    let t = engine::r33(support::BIN, &mut rng, 25, 10, 120);
    println!("{}", engine::table(&[("R33", &t)]));
    assert!(t.ok(), "seed {seed}\n{}", engine::table(&[("R33", &t)]));
}
