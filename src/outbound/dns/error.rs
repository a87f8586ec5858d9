//! Why a domain could not be turned into hosts to connect to, and whether
//! that is final (bounce) or worth another try later (defer).
//!
//! Guarantees: every variant names the domain or host it is about and
//! says through [`DnsError::is_permanent`] how delivery must treat it.
//!
//! # Security
//! Reasons quoted from the resolver are resolver messages, not data from
//! the answer, so they carry no text chosen by a remote zone beyond names.

use hickory_resolver::net::{DnsError as HDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// RFC 7505: the domain states that it accepts no mail.
    #[error("{domain} does not accept mail (null MX)")]
    NullMx { domain: String },
    /// NXDOMAIN for the domain itself.
    #[error("{domain}: no such domain")]
    NoSuchDomain { domain: String },
    /// The domain exists but has neither MX nor A/AAAA records: nothing
    /// could ever receive its mail (RFC 5321 §5.1), so this is permanent.
    #[error("{domain}: no MX and no address records")]
    NoRecords { domain: String },
    /// The domain has MX records but none of the (capped) MX hosts has a
    /// usable address. Usually a fixable misconfiguration of the
    /// receiver, so it is retried until the message's maximum age.
    #[error("{domain}: no MX host has an address ({reason})")]
    NoAddresses { domain: String, reason: String },
    /// SERVFAIL, REFUSED, timeouts, network errors, truncated answers.
    #[error("{domain}: temporary DNS failure: {reason}")]
    Temporary { domain: String, reason: String },
    /// The whole resolution took longer than its deadline.
    #[error("{domain}: DNS resolution timed out after {seconds} s")]
    TimedOut { domain: String, seconds: u64 },
    /// A CNAME chain that loops or is longer than we follow.
    #[error("{name}: CNAME loop or chain longer than {limit}")]
    Loop { name: String, limit: usize },
    /// Not a syntactically valid domain name.
    #[error("'{name}' is not a valid domain name")]
    InvalidName { name: String },
    /// The route's `resolve_list` is empty.
    #[error("{domain}: no resolver configured (resolve_list is empty)")]
    NoResolver { domain: String },
    /// The system host resolver (getaddrinfo) failed; it cannot tell a
    /// missing name from a broken network, so this is not final.
    #[error("could not resolve {host}: {reason}")]
    ByName { host: String, reason: String },
    /// The resolver could not be configured (unreadable resolv.conf).
    #[error("cannot set up the DNS resolver: {reason}")]
    Setup { reason: String },
}

impl DnsError {
    /// True when retrying cannot help: bounce instead of deferring.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DnsError::NullMx { .. }
                | DnsError::NoSuchDomain { .. }
                | DnsError::NoRecords { .. }
                | DnsError::Loop { .. }
                | DnsError::InvalidName { .. }
        )
    }
}

/// A single lookup's result as the ordering code needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupFail {
    /// NXDOMAIN.
    NxDomain,
    /// The name exists, without records of that type (or a CNAME chain
    /// ended without them).
    NoData,
    /// Anything that may go away: SERVFAIL, timeout, I/O.
    Temporary(String),
}

impl From<&NetError> for LookupFail {
    fn from(e: &NetError) -> Self {
        match e {
            NetError::Dns(HDnsError::NoRecordsFound(nr)) => match nr.response_code {
                ResponseCode::NXDomain => LookupFail::NxDomain,
                ResponseCode::NoError => LookupFail::NoData,
                code => LookupFail::Temporary(format!("server answered {code}")),
            },
            NetError::Dns(HDnsError::ResponseCode(code)) => {
                LookupFail::Temporary(format!("server answered {code}"))
            }
            NetError::Timeout => LookupFail::Temporary("timed out".to_string()),
            other => LookupFail::Temporary(other.to_string()),
        }
    }
}

impl LookupFail {
    pub(crate) fn reason(&self) -> String {
        match self {
            LookupFail::NxDomain => "no such domain".to_string(),
            LookupFail::NoData => "no address records".to_string(),
            LookupFail::Temporary(r) => r.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanence_table() {
        let d = || "example.org".to_string();
        for (e, want) in [
            (DnsError::NullMx { domain: d() }, true),
            (DnsError::NoSuchDomain { domain: d() }, true),
            (DnsError::NoRecords { domain: d() }, true),
            (
                DnsError::Loop {
                    name: d(),
                    limit: 8,
                },
                true,
            ),
            (DnsError::InvalidName { name: d() }, true),
            (
                DnsError::NoAddresses {
                    domain: d(),
                    reason: String::new(),
                },
                false,
            ),
            (
                DnsError::Temporary {
                    domain: d(),
                    reason: String::new(),
                },
                false,
            ),
            (
                DnsError::TimedOut {
                    domain: d(),
                    seconds: 1,
                },
                false,
            ),
            (DnsError::NoResolver { domain: d() }, false),
            (
                DnsError::ByName {
                    host: d(),
                    reason: String::new(),
                },
                false,
            ),
            (
                DnsError::Setup {
                    reason: String::new(),
                },
                false,
            ),
        ] {
            assert_eq!(e.is_permanent(), want, "{e}");
        }
    }

    #[test]
    fn net_errors_classified() {
        assert_eq!(
            LookupFail::from(&NetError::Timeout),
            LookupFail::Temporary("timed out".into())
        );
        let servfail = NetError::Dns(HDnsError::ResponseCode(ResponseCode::ServFail));
        assert!(matches!(
            LookupFail::from(&servfail),
            LookupFail::Temporary(_)
        ));
        let q = hickory_resolver::proto::op::Query::default();
        let nx = hickory_resolver::net::NoRecords::new(q.clone(), ResponseCode::NXDomain);
        assert_eq!(
            LookupFail::from(&NetError::from(HDnsError::NoRecordsFound(nx))),
            LookupFail::NxDomain
        );
        let nodata = hickory_resolver::net::NoRecords::new(q, ResponseCode::NoError);
        assert_eq!(
            LookupFail::from(&NetError::from(HDnsError::NoRecordsFound(nodata))),
            LookupFail::NoData
        );
    }
}
