//! Who may send where (delivery.md §13 relay rule, RELIABILITY R12).
//!
//! * A local recipient is always accepted.
//! * A non-local recipient needs a trusted client (a local `-bs` user, or
//!   a peer inside `relay_nets`) **and**, with `do_relay = false`, a local
//!   return path (the C rule).
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

use super::peer::Peer;
use crate::address::Address;
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptVerdict {
    Accept,
    /// The reason, for the log.
    Refuse(&'static str),
}

/// True for a local `-bs` user or a peer inside `relay_nets`.
pub fn trusted(cfg: &Config, peer: &Peer) -> bool {
    match peer {
        Peer::Local { .. } => true,
        Peer::Tcp(addr) => in_nets(cfg, addr.ip()),
        // The provider is whoever answered; ATRN decides, not its address.
        Peer::Odmr { .. } => false,
    }
}

fn in_nets(cfg: &Config, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    cfg.relay_nets.iter().any(|net| net.contains(&ip))
}

/// The decision for one `RCPT TO`.
pub fn check_rcpt(cfg: &Config, peer: &Peer, from: &Address, rcpt: &Address) -> RcptVerdict {
    if let Peer::Odmr { domains, .. } = peer {
        return check_odmr(domains, rcpt);
    }
    let locality = cfg.locality();
    let trusted = trusted(cfg, peer);
    if locality.is_local(rcpt) {
        if !trusted && rcpt.local.contains(['%', '!', '@']) {
            return RcptVerdict::Refuse("sender-routed address from an untrusted client");
        }
        return RcptVerdict::Accept;
    }
    if !trusted {
        return RcptVerdict::Refuse("client not in relay_nets");
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
        let peer = Peer::Tcp(format!("{peer}:1025").parse().expect("peer"));
        let a = |s: &str| parse_path(s, PipePolicy::Refuse).expect("address");
        check_rcpt(c, &peer, &a(from), &a(rcpt))
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
        assert_eq!(
            check_rcpt(&c, &peer, &a("jo@local.example"), &a("u@far.example")),
            RcptVerdict::Accept
        );
    }
}
