//! Mail addresses: the `Address` value, the RFC 821 path parser used for the
//! command line, SMTP, aliases, config and spool, shell-style globs, and the
//! locality rules of delivery.md §1.
//!
//! # Security
//! Every address that reaches the spool went through [`parse_path`]: it
//! refuses control characters (CR, LF, NUL), so no address can inject a line
//! into a spool header file. Pipe addresses (`|cmd`) are refused unless the
//! caller explicitly allows them (alias items and spool `RT:` lines only).

mod glob;
mod list;
mod mailbox;
mod path;

pub use glob::glob_match;
pub use list::{ListAddress, parse_address_list};
pub use mailbox::{MAX_LOCAL_PART, check_local_part};
pub use path::{AddressError, PipePolicy, parse_path};

use std::fmt;

/// An address as masqmail keeps it: local part and domain, both verbatim.
///
/// The null sender has both parts empty. A pipe recipient produced by alias
/// expansion has a local part starting with `|` (the command) and the domain
/// `localhost` (delivery.md §8.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    pub fn new(local: impl Into<String>, domain: impl Into<String>) -> Self {
        Address {
            local: local.into(),
            domain: domain.into(),
        }
    }

    /// The null return path `<>`.
    pub fn null() -> Self {
        Address::default()
    }

    pub fn is_null(&self) -> bool {
        self.local.is_empty() && self.domain.is_empty()
    }

    pub fn is_pipe(&self) -> bool {
        self.local.starts_with('|')
    }

    /// Gives an unqualified (domain-less) address the domain `host`.
    /// The null sender and pipes are never qualified.
    pub fn qualify(mut self, host: &str) -> Self {
        if self.domain.is_empty() && !self.is_null() && !self.is_pipe() {
            self.domain = host.to_string();
        }
        self
    }

    /// `local@domain` compared the way masqmail lists compare: local part
    /// exact (or caseless), domain always caseless.
    pub fn same_as(&self, other: &Address, caseless_local: bool) -> bool {
        let local = if caseless_local {
            self.local.eq_ignore_ascii_case(&other.local)
        } else {
            self.local == other.local
        };
        local && self.domain.eq_ignore_ascii_case(&other.domain)
    }
}

impl fmt::Display for Address {
    /// `local@domain`, `local` when unqualified, empty for the null sender.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain.is_empty() {
            f.write_str(&self.local)
        } else {
            write!(f, "{}@{}", self.local, self.domain)
        }
    }
}

/// What delivery needs to know to call an address local (delivery.md §1.4).
pub struct Locality<'a> {
    pub local_hosts: &'a [String],
    pub local_addresses: &'a [Address],
    pub not_local_addresses: &'a [Address],
    pub caseless: bool,
}

impl Locality<'_> {
    /// Domain empty or matching `local_hosts`; ignores the address lists.
    /// Header rewriting uses this narrower notion ("really local").
    pub fn is_local_domain(&self, domain: &str) -> bool {
        domain.is_empty() || self.local_hosts.iter().any(|p| glob_match(p, domain, true))
    }

    pub fn is_local(&self, addr: &Address) -> bool {
        if addr.domain.is_empty() {
            return true;
        }
        if self.is_local_domain(&addr.domain) {
            !self
                .not_local_addresses
                .iter()
                .any(|a| a.same_as(addr, self.caseless))
        } else {
            self.local_addresses
                .iter()
                .any(|a| a.same_as(addr, self.caseless))
        }
    }
}
