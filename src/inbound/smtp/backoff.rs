//! Failed SMTP AUTH attempts per client address, shared by all sessions of
//! a server (and kept across a SIGHUP reload): after [`Policy::free`]
//! failures each further failure's `535` is delayed, doubling from
//! [`Policy::base`] up to [`Policy::cap`]; at [`Policy::close_after`]
//! failures the session gets `421 4.7.0` and is closed, and so is every
//! later AUTH from that address until it has been quiet for
//! [`Policy::forget_after`]. A success forgets the address.
//!
//! Guarantees: the table never holds more than [`Policy::max_addresses`]
//! entries (the least recently failed one makes room); nothing here
//! sleeps or blocks — it returns the delay, the driver waits it out on a
//! tokio timer.
//!
//! # Security
//! The key is the peer address the kernel gave us, canonical (an
//! IPv4-mapped IPv6 address counts as IPv4). The delay is the same for an
//! unknown user as for a wrong password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The numbers of the back-off.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures answered at once.
    pub free: u32,
    /// The delay of the first delayed failure.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// At this many failures the session is closed with `421`.
    pub close_after: u32,
    /// An address quiet this long is forgotten.
    pub forget_after: Duration,
    /// Addresses remembered at most.
    pub max_addresses: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            free: 2,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
            close_after: 10,
            forget_after: Duration::from_secs(15 * 60),
            max_addresses: 4096,
        }
    }
}

/// What to do with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Wait this long before the reply.
    pub delay: Duration,
    /// Then close the session (`421 4.7.0`) instead of going on.
    pub close: bool,
    /// Failures of the address so far, this one included.
    pub failures: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    table: Mutex<HashMap<IpAddr, Entry>>,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(Policy::default())
    }
}

impl Backoff {
    pub fn new(policy: Policy) -> Backoff {
        Backoff {
            policy,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // A panic elsewhere while holding it leaves counts, never broken data.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `ip` has failed too often to be let try again now.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        self.table()
            .get(&ip)
            .is_some_and(|e| e.failures >= self.policy.close_after && !self.stale(e, now))
    }

    /// Records a failure of `ip`; returns its penalty.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Penalty {
        let ip = ip.to_canonical();
        let mut table = self.table();
        if !table.contains_key(&ip) && table.len() >= self.policy.max_addresses {
            self.make_room(&mut table, now);
        }
        let entry = table.entry(ip).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if self.stale(entry, now) {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        let failures = entry.failures;
        Penalty {
            delay: self.delay(failures),
            close: failures >= self.policy.close_after,
            failures,
        }
    }

    /// A success: the address starts afresh.
    pub fn succeeded(&self, ip: IpAddr) {
        self.table().remove(&ip.to_canonical());
    }

    /// Addresses remembered now (tests, memory bound).
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stale(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.last) >= self.policy.forget_after
    }

    fn delay(&self, failures: u32) -> Duration {
        let Some(over) = failures.checked_sub(self.policy.free + 1) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over.min(16)).unwrap_or(u32::MAX);
        self.policy.base.saturating_mul(factor).min(self.policy.cap)
    }

    /// Drops the stale entries, or else the least recently failed one.
    fn make_room(&self, table: &mut HashMap<IpAddr, Entry>, now: Instant) {
        table.retain(|_, e| !self.stale(e, now));
        if table.len() < self.policy.max_addresses {
            return;
        }
        if let Some(oldest) = table.iter().min_by_key(|(_, e)| e.last).map(|(ip, _)| *ip) {
            table.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn delays_grow_to_the_cap_then_close() {
        let b = Backoff::default();
        let now = Instant::now();
        let a = ip("192.0.2.1");
        let delays: Vec<u64> = (0..10).map(|_| b.failed(a, now).delay.as_secs()).collect();
        assert_eq!(delays, [0, 0, 1, 2, 4, 8, 8, 8, 8, 8]);
        assert!(b.blocked(a, now));
        assert!(b.failed(a, now).close);
        assert!(!b.blocked(ip("192.0.2.2"), now), "per address");
        // Quiet long enough: forgotten.
        let later = now + Duration::from_secs(15 * 60);
        assert!(!b.blocked(a, later));
        assert_eq!(b.failed(a, later).failures, 1);
    }

    #[test]
    fn success_forgets_and_mapped_addresses_are_the_same() {
        let b = Backoff::default();
        let now = Instant::now();
        for _ in 0..5 {
            b.failed(ip("::ffff:192.0.2.9"), now);
        }
        assert_eq!(b.failed(ip("192.0.2.9"), now).failures, 6);
        b.succeeded(ip("192.0.2.9"));
        assert!(b.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let b = Backoff::new(Policy {
            max_addresses: 100,
            ..Policy::default()
        });
        let start = Instant::now();
        for i in 0..1000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            b.failed(a, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(b.len(), 100);
        // The newest are kept.
        let newest = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 999));
        assert_eq!(b.failed(newest, start).failures, 2);
    }
}
