use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const N: usize = 10;

/// The first sync holds until the other `N - 1` committers wait behind
/// it, so the batch is formed by construction, not by timing.
fn first_sync_waits_for_all(g: &GroupSync, calls: &AtomicUsize) -> bool {
    let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
    if first {
        while g.waiting() < N - 1 {
            std::thread::yield_now();
        }
    }
    first
}

/// Runs `N` committers released together; `fail_first` makes the first
/// sync fail. Returns each committer's result and the number of syncs.
fn batch(fail_first: bool) -> (Vec<io::Result<()>>, usize, Arc<GroupSync>) {
    let g = Arc::new(GroupSync::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (g, calls, start) = (Arc::clone(&g), Arc::clone(&calls), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let ticket = g.ticket();
                g.sync(ticket, || {
                    if first_sync_waits_for_all(&g, &calls) && fail_first {
                        return Err(io::Error::from_raw_os_error(libc::EIO));
                    }
                    Ok(())
                })
            })
        })
        .collect();
    let results = threads
        .into_iter()
        .map(|t| t.join().expect("committer thread"))
        .collect();
    (results, calls.load(Ordering::SeqCst), g)
}

#[test]
fn a_lone_committer_syncs_once_per_commit() {
    let g = GroupSync::new();
    let mut calls = 0;
    for _ in 0..3 {
        g.sync(g.ticket(), || {
            calls += 1;
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(calls, 3);
}

#[test]
fn committers_arriving_during_a_sync_share_the_next_one() {
    let (results, calls, _) = batch(false);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    // The leader's own sync, then one for the nine that waited.
    assert_eq!(calls, 2);
}

#[test]
fn a_failed_sync_fails_everyone_it_may_have_covered() {
    let (results, calls, g) = batch(true);
    assert_eq!(calls, 2);
    // The leader's sync failed; the nine waiters' entries were pending
    // while it failed, so the second sync's success proves nothing.
    for r in &results {
        let e = r.as_ref().expect_err("no Ok after a failed sync");
        assert!(e.to_string().contains("Input/output error"), "{e}");
    }
    // A commit that starts after the failure is judged by its own sync.
    let mut synced = false;
    g.sync(g.ticket(), || {
        synced = true;
        Ok(())
    })
    .unwrap();
    assert!(synced);
}

#[test]
fn a_ticket_taken_before_an_unrelated_failure_is_refused() {
    let g = GroupSync::new();
    let ticket = g.ticket();
    let failed = g.sync(g.ticket(), || Err(io::Error::from_raw_os_error(libc::EIO)));
    assert!(failed.is_err());
    // Our renames happened before that failing sync ended: refused.
    assert!(g.sync(ticket, || Ok(())).is_err());
}

#[test]
fn a_panicking_leader_ends_its_generation() {
    let g = Arc::new(GroupSync::new());
    let ticket = g.ticket();
    let g2 = Arc::clone(&g);
    let led = std::thread::spawn(move || g2.sync(g2.ticket(), || panic!("sync panicked")));
    assert!(led.join().is_err());
    // Not stuck: the next committer leads, and the panic counts as a
    // failure for a ticket older than it.
    assert!(g.sync(g.ticket(), || Ok(())).is_ok());
    assert!(g.sync(ticket, || Ok(())).is_err());
}
