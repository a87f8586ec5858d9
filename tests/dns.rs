//! Direct-delivery resolution (masqmail::outbound::dns) against the test DNS server:
//! MX order and shuffle, implicit MX, null MX, NXDOMAIN, SERVFAIL, slow
//! and huge answers, CNAME loops, address families, resolve_list methods.

mod support;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use masqmail::config::Resolver;
use masqmail::outbound::dns::{Dns, DnsError, DnsOptions, Target};
use support::dns::{DnsServer, Record};

const MX: &[Resolver] = &[Resolver::DnsMx];

fn dns(server: &DnsServer) -> Dns {
    let opts = DnsOptions {
        query_timeout: Duration::from_secs(1),
        attempts: 1,
        deadline: Duration::from_secs(10),
        ..DnsOptions::default()
    };
    Dns::with_options(&[server.addr()], opts).expect("resolver")
}

fn hosts(t: &[Target]) -> Vec<(&str, Option<u16>)> {
    t.iter().map(|t| (t.host.as_str(), t.preference)).collect()
}

fn addrs(t: &Target) -> Vec<String> {
    t.addrs.iter().map(IpAddr::to_string).collect()
}

#[tokio::test]
async fn mx_sorted_by_preference_with_addresses() {
    let s = DnsServer::start(vec![
        Record::mx("d.test", 20, "mx2.d.test"),
        Record::mx("d.test", 10, "mx1.d.test."),
        Record::mx("d.test", 30, "mx3.d.test"),
        Record::a("mx1.d.test", "192.0.2.1"),
        Record::a("mx2.d.test", "192.0.2.2"),
        Record::aaaa("mx3.d.test", "2001:db8::3"),
    ]);
    let t = dns(&s).targets("d.test", MX).await.expect("targets");
    assert_eq!(
        hosts(&t),
        [
            ("mx1.d.test", Some(10)),
            ("mx2.d.test", Some(20)),
            ("mx3.d.test", Some(30))
        ]
    );
    assert_eq!(addrs(&t[0]), ["192.0.2.1"]);
    assert_eq!(addrs(&t[2]), ["2001:db8::3"]);
}

#[tokio::test]
async fn equal_preferences_come_in_both_orders() {
    let s = DnsServer::start(vec![
        Record::mx("eq.test", 10, "a.eq.test"),
        Record::mx("eq.test", 10, "b.eq.test"),
        Record::mx("eq.test", 5, "first.eq.test"),
        Record::a("a.eq.test", "192.0.2.1"),
        Record::a("b.eq.test", "192.0.2.2"),
        Record::a("first.eq.test", "192.0.2.3"),
    ]);
    let d = dns(&s);
    let mut seen = HashSet::new();
    for _ in 0..60 {
        let t = d.targets("eq.test", MX).await.expect("targets");
        assert_eq!(t[0].host, "first.eq.test");
        seen.insert(t[1].host.clone());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[tokio::test]
async fn no_mx_falls_back_to_the_domains_own_addresses() {
    let s = DnsServer::start(vec![
        Record::a("plain.test", "192.0.2.7"),
        Record::aaaa("plain.test", "2001:db8::7"),
    ]);
    let t = dns(&s).targets("plain.test", MX).await.expect("targets");
    assert_eq!(hosts(&t), [("plain.test", None)]);
    assert_eq!(addrs(&t[0]), ["2001:db8::7", "192.0.2.7"]);
}

#[tokio::test]
async fn ipv6_and_ipv4_are_interleaved_ipv6_first() {
    let s = DnsServer::start(vec![
        Record::mx("both.test", 1, "mx.both.test"),
        Record::a("mx.both.test", "192.0.2.1"),
        Record::a("mx.both.test", "192.0.2.2"),
        Record::aaaa("mx.both.test", "2001:db8::1"),
        Record::aaaa("mx.both.test", "2001:db8::2"),
    ]);
    let t = dns(&s).targets("both.test", MX).await.expect("targets");
    assert_eq!(
        addrs(&t[0]),
        ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"]
    );
}

#[tokio::test]
async fn null_mx_fails_permanently_even_with_byname_next() {
    let s = DnsServer::start(vec![
        Record::null_mx("nomail.test"),
        Record::a("nomail.test", "192.0.2.1"),
    ]);
    let list = [Resolver::DnsMx, Resolver::DnsA, Resolver::ByName];
    let e = dns(&s)
        .targets("nomail.test", &list)
        .await
        .expect_err("null MX");
    assert!(matches!(e, DnsError::NullMx { .. }), "{e}");
    assert!(e.is_permanent());
}

#[tokio::test]
async fn nxdomain_is_permanent() {
    let s = DnsServer::start(vec![Record::a("other.test", "192.0.2.1")]);
    let e = dns(&s)
        .targets("missing.test", MX)
        .await
        .expect_err("nxdomain");
    assert!(matches!(e, DnsError::NoSuchDomain { .. }), "{e}");
    assert!(e.is_permanent());
}

#[tokio::test]
async fn servfail_is_temporary() {
    let s = DnsServer::start(vec![Record::servfail("broken.test")]);
    let e = dns(&s)
        .targets("broken.test", MX)
        .await
        .expect_err("servfail");
    assert!(matches!(e, DnsError::Temporary { .. }), "{e}");
    assert!(!e.is_permanent());
}

/// R40: a DNS answer that is too slow defers, no hang.
#[tokio::test]
async fn slow_server_defers_within_the_query_timeout() {
    let s = DnsServer::start(vec![
        Record::delay("slow.test", Duration::from_secs(30)),
        Record::a("slow.test", "192.0.2.1"),
    ]);
    let start = Instant::now();
    let e = dns(&s).targets("slow.test", MX).await.expect_err("timeout");
    assert!(!e.is_permanent(), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

/// R40: a deadline bounds the whole resolution.
#[tokio::test]
async fn the_deadline_bounds_a_whole_resolution() {
    let s = DnsServer::start(vec![Record::delay("slow.test", Duration::from_secs(30))]);
    let opts = DnsOptions {
        query_timeout: Duration::from_secs(20),
        deadline: Duration::from_millis(800),
        ..DnsOptions::default()
    };
    let d = Dns::with_options(&[s.addr()], opts).expect("resolver");
    let start = Instant::now();
    let e = d.targets("slow.test", MX).await.expect_err("deadline");
    assert!(matches!(e, DnsError::TimedOut { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

/// R40: 5000 MX records are capped.
#[tokio::test]
async fn five_thousand_mx_records_are_capped() {
    let s = DnsServer::start(vec![Record::many_mx("huge.test", 5000)]);
    let t = dns(&s).targets("huge.test", MX).await.expect("targets");
    assert_eq!(t.len(), 10);
    let prefs: Vec<u16> = t.iter().filter_map(|t| t.preference).collect();
    let mut sorted = prefs.clone();
    sorted.sort_unstable();
    assert_eq!(prefs, sorted);
    assert!(t.iter().all(|t| t.addrs.len() == 1));
}

/// R40: thousands of A records are capped.
#[tokio::test]
async fn thousands_of_addresses_are_capped() {
    let s = DnsServer::start(vec![
        Record::mx("wide.test", 10, "mx.wide.test"),
        Record::many_a("mx.wide.test", 3000),
    ]);
    let t = dns(&s).targets("wide.test", MX).await.expect("targets");
    assert_eq!(t[0].addrs.len(), 10);
}

/// R40: CNAME loops and long chains are detected.
#[tokio::test]
async fn cname_loops_and_long_chains_fail_permanently() {
    let mut recs = vec![
        Record::cname("loop.test", "loop2.test"),
        Record::cname("loop2.test", "loop.test"),
    ];
    for i in 0..20 {
        recs.push(Record::cname(
            &format!("c{i}.test"),
            &format!("c{}.test", i + 1),
        ));
    }
    recs.push(Record::a("c20.test", "192.0.2.1"));
    let s = DnsServer::start(recs);
    let d = dns(&s);
    for name in ["loop.test", "c0.test"] {
        let start = Instant::now();
        let e = d.targets(name, MX).await.expect_err(name);
        assert!(matches!(e, DnsError::Loop { .. }), "{name}: {e}");
        assert!(e.is_permanent());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn short_cname_chains_are_followed() {
    let s = DnsServer::start(vec![
        Record::mx("alias.test", 10, "mail.alias.test"),
        Record::cname("mail.alias.test", "real.test"),
        Record::a("real.test", "192.0.2.9"),
    ]);
    let t = dns(&s).targets("alias.test", MX).await.expect("targets");
    assert_eq!(addrs(&t[0]), ["192.0.2.9"]);
}

#[tokio::test]
async fn mx_hosts_without_addresses_are_skipped_then_deferred() {
    let s = DnsServer::start(vec![
        Record::mx("half.test", 10, "gone.half.test"),
        Record::mx("half.test", 20, "ok.half.test"),
        Record::a("ok.half.test", "192.0.2.1"),
        Record::mx("none.test", 10, "gone.none.test"),
    ]);
    let d = dns(&s);
    let t = d.targets("half.test", MX).await.expect("targets");
    assert_eq!(hosts(&t), [("ok.half.test", Some(20))]);
    let e = d.targets("none.test", MX).await.expect_err("no addresses");
    assert!(matches!(e, DnsError::NoAddresses { .. }), "{e}");
    assert!(!e.is_permanent());
}

#[tokio::test]
async fn dns_a_ignores_mx_and_dns_mx_uses_it() {
    let s = DnsServer::start(vec![
        Record::mx("both.test", 10, "mx.both.test"),
        Record::a("mx.both.test", "192.0.2.1"),
        Record::a("both.test", "192.0.2.2"),
        Record::mx("mxonly.test", 10, "mx.both.test"),
    ]);
    let d = dns(&s);
    let t = d
        .targets("both.test", &[Resolver::DnsA])
        .await
        .expect("dns_a");
    assert_eq!(
        (hosts(&t), addrs(&t[0])),
        (vec![("both.test", None)], vec!["192.0.2.2".to_string()])
    );
    let t = d.targets("both.test", MX).await.expect("dns_mx");
    assert_eq!(hosts(&t), [("mx.both.test", Some(10))]);
    // The first method that yields addresses wins; dns_a alone finds none.
    let e = d
        .targets("mxonly.test", &[Resolver::DnsA])
        .await
        .expect_err("no A");
    assert!(matches!(e, DnsError::NoRecords { .. }), "{e}");
    let list = [Resolver::DnsA, Resolver::DnsMx];
    let t = d.targets("mxonly.test", &list).await.expect("then dns_mx");
    assert_eq!(hosts(&t), [("mx.both.test", Some(10))]);
}

#[tokio::test]
async fn trailing_dots_and_case_are_normalised() {
    let s = DnsServer::start(vec![
        Record::mx("dot.test", 10, "MX.Dot.Test."),
        Record::a("mx.dot.test", "192.0.2.1"),
    ]);
    let d = dns(&s);
    for name in ["dot.test", "dot.test.", "DOT.Test."] {
        let t = d.targets(name, MX).await.expect(name);
        assert_eq!(hosts(&t), [("mx.dot.test", Some(10))], "{name}");
    }
    for bad in ["", ".", "a..b"] {
        let e = d.targets(bad, MX).await.expect_err(bad);
        assert!(matches!(e, DnsError::InvalidName { .. }), "{bad}: {e}");
    }
}

#[tokio::test]
async fn ip_literals_skip_dns() {
    let s = DnsServer::start(vec![]);
    let d = dns(&s);
    for (lit, want) in [
        ("[192.0.2.5]", "192.0.2.5"),
        ("192.0.2.6", "192.0.2.6"),
        ("[IPv6:2001:db8::5]", "2001:db8::5"),
    ] {
        let t = d.targets(lit, MX).await.expect(lit);
        assert_eq!(addrs(&t[0]), [want]);
    }
    assert_eq!(s.queries(), 0);
}

#[tokio::test]
async fn byname_uses_the_system_resolver() {
    let s = DnsServer::start(vec![]);
    let t = dns(&s)
        .targets("localhost", &[Resolver::ByName])
        .await
        .expect("localhost");
    assert!(!t[0].addrs.is_empty());
    assert!(t[0].addrs.iter().all(IpAddr::is_loopback), "{t:?}");
    assert_eq!(s.queries(), 0);
}

#[tokio::test]
async fn nxdomain_from_dns_is_kept_when_byname_also_fails() {
    let s = DnsServer::start(vec![]);
    let list = [Resolver::DnsMx, Resolver::ByName];
    let e = dns(&s)
        .targets("no-such-host.invalid", &list)
        .await
        .expect_err("unknown");
    assert!(matches!(e, DnsError::NoSuchDomain { .. }), "{e}");
}
