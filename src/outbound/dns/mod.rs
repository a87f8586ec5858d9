//! Direct delivery needs to know where a domain's mail goes: this module
//! turns a domain and a route's `resolve_list` into an ordered list of
//! hosts, each with its addresses (spec delivery.md §10.2, RFC 5321 §5.1,
//! RFC 7505).
//!
//! Guarantees:
//! * A [`Dns`] is built per queue run, so a changed `/etc/resolv.conf`
//!   (a link came up) is seen by the next run; its cache lives only as
//!   long as it does.
//! * MX hosts come sorted by preference, equal preferences in random
//!   order; each host carries its AAAA and A addresses, interleaved
//!   starting with IPv6 (RFC 8305 §4), so a broken IPv6 path costs at most
//!   one connection attempt before IPv4 is tried.
//! * Without MX records the domain's own addresses are used (implicit MX);
//!   a null MX fails at once and permanently, and is never bypassed by a
//!   later resolver.
//! * Every call of [`Dns::targets`] ends within [`DnsOptions::deadline`].
//!
//! Deviation from masqmail 1.0: names are always queried as absolute
//! names (no resolv.conf search list: a mail domain is never relative),
//! IPv6 is used, and hosts after an unresolvable most-preferred MX host
//! are still tried.
//!
//! # Security
//! Answers come from the network and may be hostile. At most
//! [`DnsOptions::max_mx`] MX hosts and [`DnsOptions::max_addrs`]
//! addresses per host are used (Postfix caps DNS answers the same way);
//! CNAME chains are followed at most [`CNAME_LIMIT`] deep and loops are
//! reported, not followed; unspecified, multicast and broadcast
//! addresses are dropped. A whole resolution is bounded by a deadline so
//! a slow server defers the message instead of hanging the queue run.

mod error;
mod lookup;
mod order;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::config::Resolver;
pub use error::DnsError;
use error::LookupFail;
use lookup::{absolute, host_addrs};
use order::{Mx, ip_literal, is_null_mx, normalize, order_addrs, order_mx};

/// CNAME chains longer than this are treated as loops (hickory follows
/// at most 8 hops as well).
pub const CNAME_LIMIT: usize = 8;

/// Limits of one [`Dns`]; the defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// Time for one query to one server.
    pub query_timeout: Duration,
    /// Tries per query and server.
    pub attempts: usize,
    /// Bound on a whole [`Dns::targets`] call.
    pub deadline: Duration,
    /// MX hosts used at most.
    pub max_mx: usize,
    /// Addresses used at most per host.
    pub max_addrs: usize,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            query_timeout: Duration::from_secs(5),
            attempts: 2,
            deadline: Duration::from_secs(60),
            max_mx: 10,
            max_addrs: 10,
        }
    }
}

/// One host to try, in the order given by [`Dns::targets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The MX exchange, the domain itself or the IP literal; no trailing dot.
    pub host: String,
    /// Never empty; IPv6 and IPv4 interleaved, IPv6 first.
    pub addrs: Vec<IpAddr>,
    /// The MX preference; `None` for implicit MX, `dns_a`, `byname` and
    /// IP literals.
    pub preference: Option<u16>,
}

/// A resolver for one queue run.
pub struct Dns {
    resolver: TokioResolver,
    opts: DnsOptions,
}

impl Dns {
    /// `servers` empty: the system configuration (`/etc/resolv.conf`);
    /// otherwise exactly these servers (UDP, TCP on truncation), without
    /// search domains and without `/etc/hosts`.
    pub fn new(servers: &[SocketAddr]) -> Result<Dns, DnsError> {
        Dns::with_options(servers, DnsOptions::default())
    }

    pub fn with_options(servers: &[SocketAddr], opts: DnsOptions) -> Result<Dns, DnsError> {
        let setup = |e: hickory_resolver::net::NetError| DnsError::Setup {
            reason: e.to_string(),
        };
        let provider = TokioRuntimeProvider::default();
        let mut builder = if servers.is_empty() {
            TokioResolver::builder(provider).map_err(setup)?
        } else {
            let ns = servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            let mut b =
                TokioResolver::builder_with_config(ResolverConfig::from_name_servers(ns), provider);
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        };
        let o: &mut ResolverOpts = builder.options_mut();
        o.timeout = opts.query_timeout;
        o.attempts = opts.attempts.max(1);
        o.try_tcp_on_error = true;
        // A queue run is short and each run gets a new resolver; a small
        // cache only saves repeated lookups of the same domain in one run.
        o.cache_size = 256;
        let resolver = builder.build().map_err(setup)?;
        Ok(Dns { resolver, opts })
    }

    /// The hosts to try for `domain`, in order, following `resolvers`
    /// (a route's `resolve_list`): each method is tried in turn until one
    /// yields addresses, and only that method's hosts are returned. A null
    /// MX stops at once. When all fail, the error of the first DNS method
    /// is returned (it tells NXDOMAIN from SERVFAIL; getaddrinfo cannot).
    pub async fn targets(
        &self,
        domain: &str,
        resolvers: &[Resolver],
    ) -> Result<Vec<Target>, DnsError> {
        if let Some(ip) = ip_literal(domain) {
            return Ok(vec![Target {
                host: ip.to_string(),
                addrs: vec![ip],
                preference: None,
            }]);
        }
        let name = normalize(domain).ok_or_else(|| DnsError::InvalidName {
            name: domain.to_string(),
        })?;
        let deadline = self.opts.deadline;
        match tokio::time::timeout(deadline, self.by_list(&name, resolvers)).await {
            Ok(r) => r,
            Err(_) => Err(DnsError::TimedOut {
                domain: name,
                seconds: deadline.as_secs(),
            }),
        }
    }

    async fn by_list(&self, name: &str, resolvers: &[Resolver]) -> Result<Vec<Target>, DnsError> {
        let mut first_err: Option<DnsError> = None;
        for r in resolvers {
            let res = match r {
                Resolver::DnsMx => self.mx_targets(name).await,
                Resolver::DnsA => self.own_addrs(name, None).await.map(|t| vec![t]),
                Resolver::ByName => self.byname(name).await.map(|t| vec![t]),
            };
            match res {
                Ok(t) => return Ok(t),
                Err(e @ (DnsError::NullMx { .. } | DnsError::InvalidName { .. })) => return Err(e),
                Err(e) => {
                    tracing::debug!("{name}: resolver {r:?} failed: {e}");
                    let replace = match &first_err {
                        None => true,
                        Some(DnsError::ByName { .. }) => !matches!(e, DnsError::ByName { .. }),
                        Some(_) => false,
                    };
                    if replace {
                        first_err = Some(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or_else(|| DnsError::NoResolver {
            domain: name.to_string(),
        }))
    }

    /// `dns_mx`: MX hosts, or the domain's own addresses without MX.
    async fn mx_targets(&self, name: &str) -> Result<Vec<Target>, DnsError> {
        let fqdn = absolute(name)?;
        let mxs: Vec<Mx> = match self.resolver.mx_lookup(fqdn).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some(Mx {
                        preference: mx.preference,
                        exchange: normalize(&mx.exchange.to_ascii()).unwrap_or_default(),
                    }),
                    _ => None,
                })
                .collect(),
            Err(e) => match LookupFail::from(&e) {
                LookupFail::NxDomain => {
                    return Err(DnsError::NoSuchDomain {
                        domain: name.to_string(),
                    });
                }
                LookupFail::NoData => Vec::new(),
                LookupFail::Temporary(reason) => {
                    return Err(DnsError::Temporary {
                        domain: name.to_string(),
                        reason: format!("MX lookup: {reason}"),
                    });
                }
            },
        };
        if mxs.is_empty() {
            // RFC 5321 §5.1: no MX records, the domain is its own exchange.
            return self.own_addrs(name, None).await.map(|t| vec![t]);
        }
        if is_null_mx(&mxs) {
            return Err(DnsError::NullMx {
                domain: name.to_string(),
            });
        }
        let total = mxs.len();
        let (mxs, capped) = order_mx(mxs, self.opts.max_mx, &mut fastrand::Rng::new());
        if capped {
            tracing::warn!(
                "{name}: {total} MX records, using the {} most preferred",
                mxs.len()
            );
        }
        self.resolve_hosts(name, mxs).await
    }

    /// Resolves MX hosts concurrently; keeps the MX order, drops hosts
    /// without addresses.
    async fn resolve_hosts(&self, domain: &str, mxs: Vec<Mx>) -> Result<Vec<Target>, DnsError> {
        let mut set = tokio::task::JoinSet::new();
        for (i, mx) in mxs.iter().enumerate() {
            let resolver = self.resolver.clone();
            let (host, cap) = (mx.exchange.clone(), self.opts.max_addrs);
            set.spawn(async move { (i, host_addrs(&resolver, &host, cap).await) });
        }
        let mut results: Vec<Option<Result<Vec<IpAddr>, LookupFail>>> = vec![None; mxs.len()];
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(r);
            }
        }
        let mut targets = Vec::new();
        let mut first_reason = None;
        for (mx, r) in mxs.into_iter().zip(results) {
            match r {
                Some(Ok(addrs)) if !addrs.is_empty() => targets.push(Target {
                    host: mx.exchange,
                    addrs,
                    preference: Some(mx.preference),
                }),
                other => {
                    let reason = match other {
                        Some(Err(f)) => f.reason(),
                        _ => "no usable address".to_string(),
                    };
                    tracing::info!("could not resolve {}: {reason}", mx.exchange);
                    first_reason.get_or_insert_with(|| format!("{}: {reason}", mx.exchange));
                }
            }
        }
        if targets.is_empty() {
            return Err(DnsError::NoAddresses {
                domain: domain.to_string(),
                reason: first_reason.unwrap_or_default(),
            });
        }
        Ok(targets)
    }

    /// `dns_a` and implicit MX: the name's own AAAA and A records.
    async fn own_addrs(&self, name: &str, preference: Option<u16>) -> Result<Target, DnsError> {
        absolute(name)?;
        match host_addrs(&self.resolver, name, self.opts.max_addrs).await {
            Ok(addrs) if !addrs.is_empty() => Ok(Target {
                host: name.to_string(),
                addrs,
                preference,
            }),
            Ok(_) | Err(LookupFail::NoData) => Err(match self.cname_loop(name).await {
                Some(e) => e,
                None => DnsError::NoRecords {
                    domain: name.to_string(),
                },
            }),
            Err(LookupFail::NxDomain) => Err(DnsError::NoSuchDomain {
                domain: name.to_string(),
            }),
            Err(LookupFail::Temporary(reason)) => Err(DnsError::Temporary {
                domain: name.to_string(),
                reason,
            }),
        }
    }

    /// When a name has no records, tells whether that is because its
    /// CNAME chain loops or is too long (the resolver reports both as
    /// "no records"). Walks the chain one CNAME query at a time.
    async fn cname_loop(&self, name: &str) -> Option<DnsError> {
        let mut seen: Vec<String> = vec![name.to_string()];
        let mut current = name.to_string();
        while seen.len() <= CNAME_LIMIT {
            let fqdn = absolute(&current).ok()?;
            let lookup = self.resolver.lookup(fqdn, RecordType::CNAME).await.ok()?;
            let next = lookup.answers().iter().find_map(|r| match &r.data {
                RData::CNAME(c) => normalize(&c.0.to_ascii()),
                _ => None,
            })?;
            if seen.contains(&next) {
                break;
            }
            seen.push(next.clone());
            current = next;
        }
        Some(DnsError::Loop {
            name: name.to_string(),
            limit: CNAME_LIMIT,
        })
    }

    /// `byname`: the system host resolver (getaddrinfo, with /etc/hosts).
    async fn byname(&self, name: &str) -> Result<Target, DnsError> {
        let fail = |reason: String| DnsError::ByName {
            host: name.to_string(),
            reason,
        };
        let found = tokio::net::lookup_host((name, 0))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) =
            found.map(|s| s.ip()).take(1000).partition(|a| a.is_ipv6());
        let (addrs, _) = order_addrs(&v6, &v4, self.opts.max_addrs);
        if addrs.is_empty() {
            return Err(fail("no usable address".to_string()));
        }
        Ok(Target {
            host: name.to_string(),
            addrs,
            preference: None,
        })
    }
}
