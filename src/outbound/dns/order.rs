//! Pure helpers for turning DNS answers into an ordered list of hosts and
//! addresses: name normalisation, MX sorting and capping, address ordering.
//!
//! Guarantees: nothing here does I/O; every output is bounded by the caps
//! passed in, whatever the size of the input.
//!
//! # Security
//! The inputs are answers from an untrusted network. Lists are truncated to
//! fixed caps before any per-item work, names are compared caselessly and
//! duplicates are dropped, so a hostile zone cannot make us resolve the same
//! host twice or hold more than `cap` entries.

use std::net::IpAddr;

/// A domain name as used for lookups: trimmed, without trailing dots,
/// lower-cased. `None` for names that are empty or only dots.
pub fn normalize(name: &str) -> Option<String> {
    let n = name.trim().trim_end_matches('.');
    if n.is_empty() || n.starts_with('.') || n.contains("..") {
        return None;
    }
    Some(n.to_ascii_lowercase())
}

/// An address literal used directly, without DNS: a bare IPv4/IPv6
/// address, `[1.2.3.4]` or `[IPv6:…]` (RFC 5321 §4.1.3).
pub fn ip_literal(target: &str) -> Option<IpAddr> {
    let t = target.trim();
    let inner = match t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) => match inner.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => {
                return inner[5..]
                    .parse::<std::net::Ipv6Addr>()
                    .ok()
                    .map(IpAddr::V6);
            }
            _ => inner,
        },
        None => t,
    };
    inner.parse().ok()
}

/// One MX record as received: preference and exchange (already
/// normalised; `""` stands for the root name ".").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    pub exchange: String,
}

/// RFC 7505 null MX: a single record whose exchange is the root.
pub fn is_null_mx(mxs: &[Mx]) -> bool {
    matches!(mxs, [only] if only.exchange.is_empty())
}

/// Sorts MX records by preference, shuffles records of equal preference
/// (RFC 5321 §5.1), drops root exchanges and duplicate hosts (keeping the
/// most preferred) and keeps at most `cap`. Returns the list and whether
/// records were dropped by the cap.
pub fn order_mx(mut mxs: Vec<Mx>, cap: usize, rng: &mut fastrand::Rng) -> (Vec<Mx>, bool) {
    // Shuffle first, then a stable sort: equal preferences keep the random
    // order, which is the uniform shuffle within each preference.
    rng.shuffle(&mut mxs);
    mxs.sort_by_key(|m| m.preference);
    let mut out: Vec<Mx> = Vec::new();
    let mut capped = false;
    for m in mxs {
        if m.exchange.is_empty() || out.iter().any(|o| o.exchange == m.exchange) {
            continue;
        }
        if out.len() == cap {
            capped = true;
            break;
        }
        out.push(m);
    }
    (out, capped)
}

/// Usable addresses for a host: without unspecified and multicast
/// addresses (nothing to connect to), without duplicates, IPv6 and IPv4
/// interleaved starting with IPv6 (RFC 8305 §4), at most `cap`. Returns
/// the list and whether the cap dropped addresses.
pub fn order_addrs(v6: &[IpAddr], v4: &[IpAddr], cap: usize) -> (Vec<IpAddr>, bool) {
    let usable = |a: &&IpAddr| !a.is_unspecified() && !a.is_multicast() && !is_broadcast(a);
    let mut six = v6.iter().filter(usable);
    let mut four = v4.iter().filter(usable);
    let mut out: Vec<IpAddr> = Vec::new();
    let mut capped = false;
    loop {
        let (a, b) = (six.next(), four.next());
        if a.is_none() && b.is_none() {
            break;
        }
        for ip in [a, b].into_iter().flatten() {
            if out.contains(ip) {
                continue;
            }
            if out.len() == cap {
                capped = true;
                continue;
            }
            out.push(*ip);
        }
        if capped {
            break;
        }
    }
    (out, capped)
}

fn is_broadcast(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V4(v4) if v4.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(p: u16, e: &str) -> Mx {
        Mx {
            preference: p,
            exchange: e.to_string(),
        }
    }

    #[test]
    fn normalize_table() {
        for (input, want) in [
            ("Example.ORG", Some("example.org")),
            ("example.org.", Some("example.org")),
            ("example.org..", Some("example.org")),
            (" a.b ", Some("a.b")),
            ("", None),
            (".", None),
            ("..", None),
            (".example", None),
            ("a..b", None),
        ] {
            assert_eq!(normalize(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn ip_literal_table() {
        for (input, want) in [
            ("192.0.2.1", Some("192.0.2.1")),
            ("[192.0.2.1]", Some("192.0.2.1")),
            ("[IPv6:2001:db8::1]", Some("2001:db8::1")),
            ("[ipv6:::1]", Some("::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[IPv6:192.0.2.1]", None),
            ("1.2.3", None),
            ("1.2.3.4.example", None),
            ("[example.org]", None),
            ("[", None),
            ("example.org", None),
        ] {
            let got = ip_literal(input).map(|a| a.to_string());
            assert_eq!(got.as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn null_mx_only_when_alone() {
        assert!(is_null_mx(&[mx(0, "")]));
        assert!(is_null_mx(&[mx(10, "")]));
        assert!(!is_null_mx(&[mx(0, ""), mx(10, "mx.example")]));
        assert!(!is_null_mx(&[mx(0, "mx.example")]));
        assert!(!is_null_mx(&[]));
    }

    #[test]
    fn mx_sorted_deduped_root_dropped() {
        let mut rng = fastrand::Rng::with_seed(7);
        let input = vec![mx(20, "b"), mx(10, "a"), mx(0, ""), mx(30, "a"), mx(5, "c")];
        let (out, capped) = order_mx(input, 10, &mut rng);
        assert!(!capped);
        let names: Vec<_> = out
            .iter()
            .map(|m| (m.preference, m.exchange.as_str()))
            .collect();
        assert_eq!(names, [(5, "c"), (10, "a"), (20, "b")]);
    }

    #[test]
    fn mx_cap_keeps_most_preferred() {
        let mut rng = fastrand::Rng::with_seed(1);
        let input: Vec<Mx> = (0..5000u16)
            .rev()
            .map(|i| mx(i, &format!("h{i}")))
            .collect();
        let (out, capped) = order_mx(input, 10, &mut rng);
        assert!(capped);
        let prefs: Vec<u16> = out.iter().map(|m| m.preference).collect();
        assert_eq!(prefs, (0..10).collect::<Vec<u16>>());
    }

    #[test]
    fn mx_equal_preferences_shuffled() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let (out, _) = order_mx(vec![mx(10, "a"), mx(10, "b"), mx(5, "z")], 10, &mut rng);
            assert_eq!(out[0].exchange, "z");
            seen.insert(out[1].exchange.clone());
        }
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn addrs_interleaved_filtered_capped() {
        let p = |s: &str| -> IpAddr { s.parse().unwrap() };
        let v6 = [p("2001:db8::1"), p("::"), p("ff02::1"), p("2001:db8::2")];
        let v4 = [
            p("192.0.2.1"),
            p("0.0.0.0"),
            p("192.0.2.1"),
            p("255.255.255.255"),
            p("192.0.2.2"),
        ];
        let (out, capped) = order_addrs(&v6, &v4, 10);
        assert!(!capped);
        let s: Vec<String> = out.iter().map(|a| a.to_string()).collect();
        assert_eq!(s, ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"]);

        let many: Vec<IpAddr> = (0..4000u32)
            .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
            .collect();
        let (out, capped) = order_addrs(&[], &many, 10);
        assert!(capped);
        assert_eq!(out.len(), 10);
        assert_eq!(out[0].to_string(), "10.0.0.0");
        let (out, capped) = order_addrs(&[], &[], 10);
        assert!(out.is_empty() && !capped);
    }
}
