//! Single lookups against the resolver: a name made absolute, and the
//! AAAA plus A addresses of one host.
//!
//! Guarantees: a host's addresses are filtered and capped by
//! [`order_addrs`]; failures are classified as NXDOMAIN, no data or
//! temporary.
//!
//! # Security
//! Answer records of other types than asked are ignored; the address list
//! is capped and a cap is logged.

use std::net::IpAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::error::{DnsError, LookupFail};
use super::order::order_addrs;

/// The absolute (dotted) name, so no search list is applied.
pub(super) fn absolute(name: &str) -> Result<Name, DnsError> {
    let invalid = || DnsError::InvalidName {
        name: name.to_string(),
    };
    let mut n = Name::from_utf8(name).map_err(|_| invalid())?;
    if n.is_root() {
        return Err(invalid());
    }
    n.set_fqdn(true);
    Ok(n)
}

/// AAAA and A of one host, queried concurrently. One family failing is
/// fine when the other has addresses.
pub(super) async fn host_addrs(
    resolver: &TokioResolver,
    host: &str,
    cap: usize,
) -> Result<Vec<IpAddr>, LookupFail> {
    let fqdn = absolute(host).map_err(|_| LookupFail::NxDomain)?;
    let (six, four) = tokio::join!(
        resolver.lookup(fqdn.clone(), RecordType::AAAA),
        resolver.lookup(fqdn, RecordType::A)
    );
    let ips = |r: &Result<hickory_resolver::lookup::Lookup, _>| -> Vec<IpAddr> {
        match r {
            Ok(l) => l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let (v6, v4) = (ips(&six), ips(&four));
    if v6.is_empty() && v4.is_empty() {
        let fails: Vec<LookupFail> = [six.err(), four.err()]
            .iter()
            .flatten()
            .map(LookupFail::from)
            .collect();
        return Err(
            if let Some(t) = fails.iter().find(|f| matches!(f, LookupFail::Temporary(_))) {
                t.clone()
            } else if fails.len() == 2 && fails.iter().all(|f| *f == LookupFail::NxDomain) {
                LookupFail::NxDomain
            } else {
                LookupFail::NoData
            },
        );
    }
    let (addrs, capped) = order_addrs(&v6, &v4, cap);
    if capped {
        tracing::warn!(
            "{host}: {} addresses, using the first {}",
            v6.len() + v4.len(),
            addrs.len()
        );
    }
    Ok(addrs)
}
