//! Who may send where (delivery.md §13 relay rule, RELIABILITY R12).
//!
//! * A local recipient is always accepted.
//! * A non-local recipient needs a trusted client (a local `-bs` user, a
//!   peer inside the relay networks of this moment, or a client that
//!   authenticated with SMTP AUTH) **and**, with `do_relay = false`, a
//!   local return path (the C rule).
//! * The relay networks ([`relay_nets`]): with no `relay_nets.NAME` in the
//!   configuration, `relay_nets` as always; once any is given, the
//!   loopback addresses (127.0.0.1, ::1) plus the entry of the connection
//!   online now, so a laptop on a foreign network (same private ranges as
//!   at home) relays for nobody but itself and authenticated clients.
//! * From an untrusted client, a local recipient whose local part carries
//!   routing syntax (`%`, `!`, a quoted `@`) is refused too: we never route
//!   by it, and refusing keeps such addresses from looking like a relay.
//! * An ODMR provider (after `ATRN`, RFC 2645) may deliver only to the
//!   domains we asked for (compared without case), whatever `local_hosts`
//!   and `relay_nets` say, and never to sender-routed local parts.
//! * A local recipient whose local part could never name a mailbox is
//!   refused at RCPT (RELIABILITY R13, [`mailbox_name`]) instead of being
//!   accepted and bounced later.
//!
//! # Security
//! This is the open-relay guard: the C program trusted whoever could
//! connect. Peers are compared by their canonical IP (IPv4-mapped IPv6
//! addresses count as IPv4).

use std::net::IpAddr;

use ipnet::IpNet;

use super::peer::Peer;
use crate::address::Address;
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptVerdict {
    Accept,
    /// The reason, for the log.
    Refuse(&'static str),
}

/// What a session knows beyond the peer's address.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// The networks that may relay for this session ([`relay_nets`]).
    pub relay_nets: &'a [IpNet],
    /// The client authenticated with SMTP AUTH.
    pub authenticated: bool,
}

/// The networks that may relay while `connection` is online (`None`:
/// offline or unknown); see the module doc.
pub fn relay_nets(cfg: &Config, connection: Option<&str>) -> Vec<IpNet> {
    if !per_connection(cfg) {
        return cfg.relay_nets.clone();
    }
    let mut nets: Vec<IpNet> = ["127.0.0.1/32", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    if let Some((_, own)) =
        connection.and_then(|name| cfg.relay_nets_by_connection.iter().find(|(n, _)| n == name))
    {
        nets.extend(own.iter().copied());
    }
    nets
}

/// Whether relaying depends on the connection (`relay_nets.NAME` given).
pub fn per_connection(cfg: &Config) -> bool {
    !cfg.relay_nets_by_connection.is_empty()
}

/// True for a local `-bs` user, a peer inside the relay networks, or an
/// authenticated client.
pub fn trusted(peer: &Peer, trust: &Trust) -> bool {
    match peer {
        Peer::Local { .. } => true,
        Peer::Tcp(addr) => trust.authenticated || in_nets(trust.relay_nets, addr.ip()),
        // The provider is whoever answered; ATRN decides, not its address.
        Peer::Odmr { .. } => false,
    }
}

fn in_nets(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|net| net.contains(&ip))
}

/// The decision for one `RCPT TO`.
pub fn check_rcpt(
    cfg: &Config,
    peer: &Peer,
    trust: &Trust,
    from: &Address,
    rcpt: &Address,
) -> RcptVerdict {
    if let Peer::Odmr { domains, .. } = peer {
        return check_odmr(domains, rcpt);
    }
    let locality = cfg.locality();
    let trusted = trusted(peer, trust);
    if locality.is_local(rcpt) {
        if !trusted && rcpt.local.contains(['%', '!', '@']) {
            return RcptVerdict::Refuse("sender-routed address from an untrusted client");
        }
        return RcptVerdict::Accept;
    }
    if !trusted {
        return RcptVerdict::Refuse("client not in relay_nets and not authenticated");
    }
    if !(cfg.do_relay || from.is_null() || locality.is_local(from)) {
        return RcptVerdict::Refuse("do_relay is off and neither address is local");
    }
    RcptVerdict::Accept
}

/// Checks the local part of a local recipient before it is accepted
/// (RELIABILITY R13): refused is exactly what local delivery refuses
/// itself ([`check_local_part`]: empty, `.`, `..`, a `/`, a control
/// character, a leading `-`, more than 64 bytes).
///
/// Alias keys are not consulted: the alias file parser takes any key, but
/// a key holding such a name could only be reached by local submission,
/// never over SMTP. Alias *targets* with these values are refused by
/// delivery itself (5.1.3, nothing created).
///
/// [`check_local_part`]: crate::address::check_local_part
pub fn mailbox_name(local: &str) -> Result<(), &'static str> {
    crate::address::check_local_part(local)
}

/// An ODMR provider's recipient: in one of the `ATRN` domains, and no
/// routing syntax in the local part (as for any untrusted client).
fn check_odmr(domains: &[String], rcpt: &Address) -> RcptVerdict {
    let domain = rcpt.domain.trim_end_matches('.');
    if !domains
        .iter()
        .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(domain))
    {
        return RcptVerdict::Refuse("domain not asked for with ATRN");
    }
    if rcpt.local.contains(['%', '!', '@']) {
        return RcptVerdict::Refuse("sender-routed address from an ODMR provider");
    }
    RcptVerdict::Accept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{PipePolicy, parse_path};

    fn cfg() -> Config {
        let mut c = Config::with_host_name("local.example");
        c.relay_nets = vec!["127.0.0.1/32".parse().expect("net")];
        c
    }

    fn verdict(c: &Config, peer: &str, from: &str, rcpt: &str) -> RcptVerdict {
        verdict_as(c, peer, false, from, rcpt)
    }

    fn verdict_as(c: &Config, peer: &str, auth: bool, from: &str, rcpt: &str) -> RcptVerdict {
        let peer = Peer::Tcp(format!("{peer}:1025").parse().expect("peer"));
        let a = |s: &str| parse_path(s, PipePolicy::Refuse).expect("address");
        let trust = Trust {
            relay_nets: &c.relay_nets,
            authenticated: auth,
        };
        check_rcpt(c, &peer, &trust, &a(from), &a(rcpt))
    }

    /// Issue 11: an authenticated client relays from anywhere; the
    /// sender-routing guard does not apply to it either.
    #[test]
    fn authenticated_clients_relay() {
        let c = cfg();
        assert_eq!(
            verdict_as(&c, "198.51.100.4", true, "a@x.example", "u@far.example"),
            RcptVerdict::Accept
        );
        assert!(matches!(
            verdict_as(&c, "198.51.100.4", false, "a@x.example", "u@far.example"),
            RcptVerdict::Refuse(_)
        ));
    }

    /// Issue 11: `relay_nets.NAME` replaces `relay_nets`; loopback always.
    #[test]
    fn relay_nets_per_connection() {
        let mut c = cfg();
        let show = |nets: Vec<IpNet>| nets.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(show(relay_nets(&c, Some("home"))), ["127.0.0.1/32"]);
        assert!(!per_connection(&c));
        c.relay_nets_by_connection =
            vec![("home".into(), vec!["192.168.1.0/24".parse().expect("net")])];
        assert!(per_connection(&c));
        assert_eq!(
            show(relay_nets(&c, Some("home"))),
            ["127.0.0.1/32", "::1/128", "192.168.1.0/24"]
        );
        for other in [Some("hotel"), Some("HOME"), None] {
            assert_eq!(
                show(relay_nets(&c, other)),
                ["127.0.0.1/32", "::1/128"],
                "{other:?}"
            );
        }
    }

    #[test]
    fn relay_matrix() {
        let c = cfg();
        let outside = "127.0.0.2";
        let inside = "127.0.0.1";
        // from outside: only plain local recipients
        assert_eq!(
            verdict(&c, outside, "a@x.example", "u@local.example"),
            RcptVerdict::Accept
        );
        assert_eq!(
            verdict(&c, outside, "a@x.example", "U@LOCAL.EXAMPLE"),
            RcptVerdict::Accept
        );
        for rcpt in [
            "u@external.example",
            "u%external.example@local.example",
            "external.example!u@local.example",
            "@local.example:u@external.example",
            "\"u@external.example\"@local.example",
            "u@[192.0.2.1]",
        ] {
            assert!(
                matches!(
                    verdict(&c, outside, "a@local.example", rcpt),
                    RcptVerdict::Refuse(_)
                ),
                "{rcpt}"
            );
        }
        // IPv4-mapped IPv6 is the same peer
        assert_eq!(
            verdict(
                &c,
                "[::ffff:127.0.0.1]",
                "a@x.example",
                "u@external.example"
            ),
            RcptVerdict::Accept
        );
        // from inside: relaying allowed (do_relay defaults to true)
        assert_eq!(
            verdict(&c, inside, "a@x.example", "u@external.example"),
            RcptVerdict::Accept
        );
        assert_eq!(
            verdict(&c, inside, "a@x.example", "u%v@local.example"),
            RcptVerdict::Accept
        );
    }

    #[test]
    fn do_relay_off_needs_a_local_address() {
        let mut c = cfg();
        c.do_relay = false;
        let inside = "127.0.0.1";
        assert!(matches!(
            verdict(&c, inside, "a@x.example", "u@y.example"),
            RcptVerdict::Refuse(_)
        ));
        assert_eq!(
            verdict(&c, inside, "a@local.example", "u@y.example"),
            RcptVerdict::Accept
        );
        assert_eq!(
            verdict(&c, inside, "a@x.example", "u@local.example"),
            RcptVerdict::Accept
        );
    }

    /// R13: the names delivery could never deliver safely.
    #[test]
    fn mailbox_names() {
        let long = "a".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            "../../x",
            "a/b",
            "/etc/passwd",
            "-oQ/tmp",
            "-x",
            "a\tb",
            "a\u{1}b",
            &long,
        ] {
            assert!(mailbox_name(bad).is_err(), "{bad:?}");
        }
        let max = "a".repeat(64);
        for good in ["u", "first.last", ".hidden", "a-b", "a+tag", "a..b", &max] {
            assert_eq!(mailbox_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn local_bs_users_are_trusted() {
        let c = cfg();
        let peer = Peer::Local {
            login: "jo".into(),
            uid: 1000,
        };
        let a = |s: &str| parse_path(s, PipePolicy::Refuse).expect("address");
        let trust = Trust {
            relay_nets: &[],
            authenticated: false,
        };
        assert_eq!(
            check_rcpt(
                &c,
                &peer,
                &trust,
                &a("jo@local.example"),
                &a("u@far.example")
            ),
            RcptVerdict::Accept
        );
    }
}
