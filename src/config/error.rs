//! The one error type of configuration loading: `file:line: what is wrong`
//! (OpenSMTPD style). Line 0 means "the file as a whole" (unreadable file,
//! missing required option) and is printed as `file: what is wrong`.
//!
//! # Security
//! Messages quote the offending value so the administrator can find it;
//! secrets are never passed in here (their parsers cannot fail on content).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::address::AddressError;

/// A configuration error with its place.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u32,
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    pub fn new(file: &Path, line: u32, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            file: file.to_path_buf(),
            line,
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.kind)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.kind)
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong; each variant carries what the message needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    #[error("cannot read the file: {source}")]
    Unreadable {
        #[source]
        source: std::io::Error,
    },
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("could not open {} for reading (in `{key}`): {source}", include.display())]
    IncludeUnreadable {
        key: String,
        include: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("included file {} (in `{key}`): {reason}", include.display())]
    IncludeBad {
        key: String,
        include: PathBuf,
        reason: &'static str,
    },
    #[error("NUL byte in file")]
    Nul,
    #[error("value is not valid UTF-8")]
    NotUtf8,
    #[error("expected an option name, found {}", show_byte(*found))]
    ExpectedKey { found: u8 },
    #[error("option name is {len} characters long (at most 255)")]
    KeyTooLong { len: usize },
    #[error("'=' expected after `{key}`")]
    ExpectedEquals { key: String },
    #[error("value of `{key}` is {len} bytes long (at most 2047)")]
    ValueTooLong { key: String, len: usize },
    #[error("unterminated quoted value of `{key}`")]
    UnterminatedQuote { key: String },
    #[error("unknown option `{key}`{}", suggest_text(suggestion))]
    UnknownOption {
        key: String,
        suggestion: Option<&'static str>,
    },
    #[error("`{key}` needs a name after the dot (`{key}.NAME`)")]
    MissingName { key: String },
    #[error("`{key}`: cannot parse value '{value}' as a boolean (yes/no, on/off, true/false)")]
    BadBool { key: String, value: String },
    #[error("`{key}`: '{value}' is not a valid number")]
    BadNumber { key: String, value: String },
    #[error("`{key}`: '{value}' is not a valid time interval (like 30m, 4h, 2d, 1w)")]
    BadInterval { key: String, value: String },
    #[error("invalid address '{value}' in `{key}`: {reason}")]
    BadAddress {
        key: String,
        value: String,
        reason: AddressError,
    },
    #[error("`{key}`: '{value}' must be one of {expected}")]
    BadChoice {
        key: String,
        value: String,
        expected: String,
    },
    #[error("unknown resolver {value}")]
    UnknownResolver { value: String },
    #[error("missing required option `{key}`")]
    MissingRequired { key: &'static str },
    #[error("`{key}`: bad command '{value}': {reason}")]
    BadCommand {
        key: String,
        value: String,
        reason: String,
    },
    #[error("`{key}`: bad interface '{value}': {reason}")]
    BadInterface {
        key: String,
        value: String,
        reason: &'static str,
    },
    #[error("`{key}`: '{value}' is not a network in CIDR notation (like 192.168.0.0/16)")]
    BadCidr { key: String, value: String },
    #[error("`{key}`: '{value}' is not an IP address with optional port")]
    BadSocketAddr { key: String, value: String },
    #[error("`{key}`: bad host name '{value}'")]
    BadHostName { key: String, value: String },
    #[error("`{key}`: rewrite entry '{value}' has no ':' (expected `pattern: replacement`)")]
    BadRewriteEntry { key: String, value: String },
    #[error("replacement address '{value}' lacks domain")]
    ReplacementLacksDomain { value: String },
    #[error("invalid replacement address '{value}': {reason}")]
    BadReplacement { value: String, reason: String },
    #[error("`{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

fn suggest_text(s: &Option<&'static str>) -> String {
    s.map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

/// The known name closest to `key`, if it is close enough to be a typo.
pub fn suggest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (key.chars().count() / 4).max(2);
    known
        .map(|n| (distance(key, n), n))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Edit distance with adjacent transpositions (optimal string alignment),
/// so `mail_dri` is one step from `mail_dir`. Inputs are keys (≤ 255
/// ASCII characters), so the quadratic table is small.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * w + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut v = (d[(i - 1) * w + j] + 1)
                    .min(d[i * w + j - 1] + 1)
                    .min(d[(i - 1) * w + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    v = v.min(d[(i - 2) * w + j - 2] + 1);
                }
                v
            };
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        for (a, b, want) in [
            ("mail_dri", "mail_dir", 1),
            ("mail_dir", "mail_dir", 0),
            ("", "abc", 3),
            ("spool", "spoil", 1),
            ("hostname", "host_name", 1),
        ] {
            assert_eq!(distance(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn suggestions() {
        let known = ["mail_dir", "spool_dir", "host_name", "do_relay"];
        for (key, want) in [
            ("mail_dri", Some("mail_dir")),
            ("hostname", Some("host_name")),
            ("spool_dirs", Some("spool_dir")),
            ("completely_else", None),
            ("x", None),
        ] {
            assert_eq!(suggest(key, known.iter().copied()), want, "{key}");
        }
    }

    #[test]
    fn display() {
        let e = ConfigError::new(
            Path::new("/etc/m.conf"),
            7,
            ConfigErrorKind::UnknownOption {
                key: "mail_dri".into(),
                suggestion: Some("mail_dir"),
            },
        );
        assert_eq!(
            e.to_string(),
            "/etc/m.conf:7: unknown option `mail_dri` (did you mean `mail_dir`?)"
        );
        let e = ConfigError::new(
            Path::new("m.conf"),
            0,
            ConfigErrorKind::MissingRequired { key: "host_name" },
        );
        assert_eq!(e.to_string(), "m.conf: missing required option `host_name`");
    }
}
