//! Route list values: address glob patterns for route conditions
//! (config.md §3.2–3.3) and rewrite maps (§3.4), parsed at load time.
//!
//! Guarantees: every [`Replacement::Address`] has a domain and parsed as an
//! address; every replacement text is free of control characters.
//!
//! # Security
//! Replacement texts are inserted into outgoing headers, so CR, LF and
//! other control characters are refused here: a route file value cannot
//! inject a header line.

use super::error::{ConfigError, ConfigErrorKind as K};
use super::values::At;
use crate::address::{Address, PipePolicy, glob_match, parse_path};

/// One item of `allowed_senders` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrPattern {
    /// `<>`: matches the null return path.
    NullSender,
    /// Split at the last `@`; without `@` the domain pattern is `*`.
    Glob { local: String, domain: String },
}

impl AddrPattern {
    pub fn parse(item: &str) -> AddrPattern {
        let item = item.trim();
        if item == "<>" {
            return AddrPattern::NullSender;
        }
        // 0.2 allowed `<a@b>`; the brackets carry no meaning for a glob.
        let item = item
            .strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or(item);
        match item.rsplit_once('@') {
            Some((l, d)) => AddrPattern::Glob {
                local: l.to_string(),
                domain: d.to_string(),
            },
            None => AddrPattern::Glob {
                local: item.to_string(),
                domain: "*".to_string(),
            },
        }
    }

    /// Local part glob case-sensitive, domain glob case-insensitive.
    pub fn matches(&self, addr: &Address) -> bool {
        match self {
            AddrPattern::NullSender => addr.is_null(),
            AddrPattern::Glob { local, domain } => {
                glob_match(local, &addr.local, false) && glob_match(domain, &addr.domain, true)
            }
        }
    }
}

/// The replacement of a rewrite rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// `*@domain`: keep the local part, replace the domain.
    Domain(String),
    /// A full address; `text` as written (may carry a display name).
    Address { text: String, addr: Address },
}

/// `KEY: VALUE`; KEY is a glob on the local part (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteRule {
    pub key: String,
    pub replacement: Replacement,
}

/// A rewrite map: the first rule whose key matches wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteMap(pub Vec<RewriteRule>);

impl RewriteMap {
    /// Parses list items; `rfc821` for `map_return_path_addresses`, whose
    /// values are bare paths (no display names).
    pub fn parse(at: &At, items: &[String], rfc821: bool) -> Result<RewriteMap, ConfigError> {
        let mut rules = Vec::with_capacity(items.len());
        for item in items {
            let Some((key, value)) = item.split_once(':') else {
                return Err(at.err(K::BadRewriteEntry {
                    key: at.key.to_string(),
                    value: item.clone(),
                }));
            };
            let replacement = replacement(value.trim_start(), rfc821).map_err(|k| at.err(k))?;
            rules.push(RewriteRule {
                key: key.trim().to_string(),
                replacement,
            });
        }
        Ok(RewriteMap(rules))
    }

    /// The replacement of the first rule matching `local`.
    pub fn lookup(&self, local: &str) -> Option<&Replacement> {
        self.0
            .iter()
            .find(|r| glob_match(&r.key, local, false))
            .map(|r| &r.replacement)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn replacement(value: &str, rfc821: bool) -> Result<Replacement, K> {
    let bad = |reason: &str| K::BadReplacement {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if value.chars().any(char::is_control) {
        return Err(bad("control character"));
    }
    if let Some(domain) = value.strip_prefix("*@") {
        // Validate the domain through the path parser with a dummy local part.
        return match parse_path(&format!("x@{domain}"), PipePolicy::Refuse) {
            Ok(a) if a.domain == domain => Ok(Replacement::Domain(domain.to_string())),
            Ok(_) => Err(bad("invalid domain")),
            Err(e) => Err(bad(&e.to_string())),
        };
    }
    let inner = if rfc821 {
        value
    } else {
        angle_addr(value).map_err(bad)?
    };
    let addr = parse_path(inner, PipePolicy::Refuse).map_err(|e| bad(&e.to_string()))?;
    if addr.domain.is_empty() {
        return Err(K::ReplacementLacksDomain {
            value: value.to_string(),
        });
    }
    Ok(Replacement::Address {
        text: value.to_string(),
        addr,
    })
}

/// The address inside `Name <addr>`, or the whole value if there are no
/// angle brackets.
fn angle_addr(value: &str) -> Result<&str, &'static str> {
    let Some(open) = value.find('<') else {
        return Ok(value);
    };
    let rest = &value[open..];
    let close = rest.find('>').ok_or("missing '>'")?;
    if !rest[close + 1..].trim().is_empty() {
        return Err("text after '>'");
    }
    Ok(&rest[..=close])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(items: &[&str], rfc821: bool) -> Result<RewriteMap, String> {
        let at = At {
            file: Path::new("r"),
            line: 3,
            key: "map_h_from_addresses",
        };
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        RewriteMap::parse(&at, &items, rfc821).map_err(|e| e.to_string())
    }

    #[test]
    fn replacements() {
        let m = parse(
            &[
                "john: John Smith <js@x.example>",
                "* : *@out.example",
                "bob:bob@y.example",
            ],
            false,
        )
        .unwrap();
        let want = [
            (
                "john",
                Replacement::Address {
                    text: "John Smith <js@x.example>".into(),
                    addr: Address::new("js", "x.example"),
                },
            ),
            ("*", Replacement::Domain("out.example".into())),
            (
                "bob",
                Replacement::Address {
                    text: "bob@y.example".into(),
                    addr: Address::new("bob", "y.example"),
                },
            ),
        ];
        assert_eq!(m.0.len(), 3);
        for (rule, (k, r)) in m.0.iter().zip(want) {
            assert_eq!((rule.key.as_str(), &rule.replacement), (k, &r));
        }
        assert_eq!(m.lookup("john"), Some(&m.0[0].replacement));
        assert_eq!(m.lookup("mary"), Some(&m.0[1].replacement));
    }

    #[test]
    fn errors() {
        for (items, rfc821, want) in [
            (
                &["x: js"][..],
                false,
                "r:3: replacement address 'js' lacks domain",
            ),
            (
                &["x: J <js>"],
                false,
                "r:3: replacement address 'J <js>' lacks domain",
            ),
            (
                &["x: a b@c"],
                false,
                "r:3: invalid replacement address 'a b@c': unexpected character after local part",
            ),
            (
                &["x: J <js@a"],
                false,
                "r:3: invalid replacement address 'J <js@a': missing '>'",
            ),
            (
                &["x: J <a@b.c> z"],
                false,
                "r:3: invalid replacement address 'J <a@b.c> z': text after '>'",
            ),
            (
                &["x: J <a@b.c>"],
                true,
                "r:3: invalid replacement address 'J <a@b.c>': excess '>' at end of string",
            ),
            (
                &["x: *@"],
                false,
                "r:3: invalid replacement address '*@': empty domain",
            ),
            (
                &["x: a@b\nBcc: c@d"],
                false,
                "r:3: invalid replacement address 'a@b\nBcc: c@d': control character",
            ),
            (
                &["no colon"],
                false,
                "r:3: `map_h_from_addresses`: rewrite entry 'no colon' has no ':' (expected `pattern: replacement`)",
            ),
        ] {
            assert_eq!(parse(items, rfc821).unwrap_err(), want, "{items:?}");
        }
    }

    #[test]
    fn patterns() {
        let a = Address::new("web1", "Mail.Example.com");
        for (item, addr, want) in [
            ("<>", Address::null(), true),
            ("<>", a.clone(), false),
            (
                "web*@example.com",
                Address::new("web1", "EXAMPLE.com"),
                true,
            ),
            ("*@*example.com", a.clone(), true),
            ("Web1", a.clone(), false),
            ("web1", a.clone(), true),
            ("<web1@mail.example.com>", a.clone(), true),
            ("a@b@c", Address::new("a@b", "c"), true),
        ] {
            assert_eq!(
                AddrPattern::parse(item).matches(&addr),
                want,
                "{item} {addr}"
            );
        }
    }
}
