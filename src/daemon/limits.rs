//! Admission control of the accept loop: the per-client-address cap
//! (`max_connections_per_host`).
//!
//! [`PerHost`] counts the running sessions of each client address
//! (canonical form, so `::ffff:192.0.2.1` and `192.0.2.1` are one client);
//! [`PerHost::enter`] either admits a connection and returns a guard that
//! gives its slot back when dropped (however the session ends: QUIT, error,
//! timeout, panic, or the task being dropped at the end of the grace
//! period) or refuses it. Entries at zero are removed, so the map holds
//! only clients that have a session right now: its size is bounded by
//! `max_connections`, whatever the number of addresses seen.
//!
//! # Security
//! Trusts the kernel's peer address only. The cap keeps one client address
//! from taking every `max_connections` slot; it cannot tell apart clients
//! behind one NAT address, hence the generous default (10).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Sessions per client address, behind a mutex (held for a map lookup
/// only, never across an await).
#[derive(Debug)]
pub(crate) struct PerHost {
    cap: u32,
    running: Mutex<HashMap<IpAddr, u32>>,
}

/// One admitted session's slot; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed when the guard is dropped"]
pub(crate) struct HostSlot {
    hosts: Arc<PerHost>,
    ip: IpAddr,
}

impl PerHost {
    /// `cap` sessions per address at most; 0 means no cap.
    pub(crate) fn new(cap: u32) -> PerHost {
        PerHost {
            cap,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one more session from `ip`, or `None` when `ip` already has
    /// `cap` sessions running.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<HostSlot> {
        let ip = ip.to_canonical();
        let mut running = self.lock();
        let n = running.entry(ip).or_insert(0);
        if self.cap != 0 && *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(HostSlot {
            hosts: Arc::clone(self),
            ip,
        })
    }

    /// The clients with sessions running now and their session counts
    /// (for the log at shutdown), sorted by address.
    pub(crate) fn snapshot(&self) -> Vec<(IpAddr, u32)> {
        let mut v: Vec<_> = self.lock().iter().map(|(&ip, &n)| (ip, n)).collect();
        v.sort();
        v
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
        // The map is consistent after every statement; a panic elsewhere
        // while it was held leaves nothing half-done.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let mut running = self.hosts.lock();
        if let Some(n) = running.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cap_per_address_and_slots_come_back() {
        let hosts = Arc::new(PerHost::new(2));
        let a1 = hosts.enter(ip("192.0.2.1")).expect("first");
        let _a2 = hosts.enter(ip("192.0.2.1")).expect("second");
        assert!(hosts.enter(ip("192.0.2.1")).is_none(), "third refused");
        // the IPv4-mapped spelling is the same client
        assert!(hosts.enter(ip("::ffff:192.0.2.1")).is_none());
        // other clients are not affected
        let _b = hosts.enter(ip("192.0.2.2")).expect("other client");
        drop(a1);
        let _a3 = hosts.enter(ip("192.0.2.1")).expect("slot freed");
        assert_eq!(
            hosts.snapshot(),
            [(ip("192.0.2.1"), 2), (ip("192.0.2.2"), 1)]
        );
    }

    #[test]
    fn zero_means_no_cap_and_empty_entries_go() {
        let hosts = Arc::new(PerHost::new(0));
        let slots: Vec<_> = (0..50)
            .map(|_| hosts.enter(ip("2001:db8::1")).expect("no cap"))
            .collect();
        assert_eq!(hosts.snapshot(), [(ip("2001:db8::1"), 50)]);
        drop(slots);
        assert!(hosts.snapshot().is_empty(), "no entry for idle clients");
    }
}
