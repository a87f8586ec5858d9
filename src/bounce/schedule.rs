//! When deferred mail gets a delay warning (delivery.md §12.3) and when it
//! expires into a failure (§12.2). Pure functions of Unix times.
//!
//! Guarantees: a clock that went backwards (now before reception) never
//! expires a message nor warns about it; intervals too large for `i64`
//! seconds simply never come due.
//!
//! # Security
//! Times come from the spool (`TR:`, `TW:`), which only masqmail writes;
//! arithmetic saturates, so a corrupt value cannot overflow.

use std::time::Duration;

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A warning is due when the message is older than some interval `i` and
/// no warning was sent yet, or the last one was sent before age `i`. So at
/// most one warning per interval boundary crossed.
pub fn warning_due(received: i64, warned: Option<i64>, now: i64, intervals: &[Duration]) -> bool {
    let age = now.saturating_sub(received);
    intervals.iter().map(|&i| secs(i)).any(|i| {
        age > i
            && match warned {
                None => true,
                Some(tw) => tw.saturating_sub(received) < i,
            }
    })
}

/// A deferred recipient fails once the message is `max_defer` old.
pub fn expired(received: i64, now: i64, max_defer: Duration) -> bool {
    now.saturating_sub(received) >= secs(max_defer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const T0: i64 = 1_700_000_000;

    fn hours(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|h| Duration::from_secs(h * 3600)).collect()
    }

    #[test]
    fn warnings() {
        let iv = hours(&[1, 4, 8]);
        for (age, warned_at_age, want) in [
            (0, None, false),
            (H, None, false), // age must exceed the interval
            (H + 1, None, true),
            (H + 1, Some(H + 1), false), // just warned
            (2 * H, Some(H + 1), false),
            (4 * H, Some(H + 1), false),
            (4 * H + 1, Some(H + 1), true),  // crossed the 4h boundary
            (4 * H + 1, Some(4 * H), false), // warned exactly at 4h: TW-TR < 4h is false
            (5 * H, Some(4 * H - 1), true),
            (8 * H + 1, Some(4 * H + 1), true),
            (100 * H, Some(8 * H + 1), false), // past the last interval: no more
            (100 * H, None, true),
            (-5 * H, None, false), // clock went backwards
        ] {
            let got = warning_due(T0, warned_at_age.map(|a| T0 + a), T0 + age, &iv);
            assert_eq!(got, want, "age {age} warned {warned_at_age:?}");
        }
        assert!(!warning_due(T0, None, T0 + 1000 * H, &[]));
        assert!(!warning_due(
            T0,
            None,
            i64::MAX,
            &[Duration::from_secs(u64::MAX)]
        ));
        assert!(warning_due(i64::MIN, None, i64::MAX, &hours(&[1])));
    }

    #[test]
    fn expiry() {
        let four_days = Duration::from_secs(4 * 86400);
        for (age, want) in [
            (0, false),
            (4 * 86400 - 1, false),
            (4 * 86400, true),
            (4 * 86400 + 1, true),
            (-86400, false),
        ] {
            assert_eq!(expired(T0, T0 + age, four_days), want, "age {age}");
        }
        assert!(expired(T0, T0, Duration::ZERO));
        assert!(!expired(T0, i64::MAX, Duration::from_secs(u64::MAX)));
    }
}
