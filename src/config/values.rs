//! Typed value parsers shared by the main, route and get loaders
//! (config.md §1.2–1.4). Each takes an [`At`] (file, line, key) so that a
//! bad value becomes `file:line: what` at once.
//!
//! Stricter than the C program on purpose: a number with trailing garbage,
//! an invalid interval or a missing include file stops loading instead of
//! silently becoming 0 or a default.
//!
//! # Security
//! Included files and `host_name` files are read with a size limit, so
//! naming `/dev/zero` cannot exhaust memory. Host names are restricted to
//! host name characters because they end up in SMTP lines and headers.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrorKind as K};
use super::shellwords;
use super::{CommandSpec, Interface, parse_interval};
use crate::address::{Address, PipePolicy, parse_path};

/// Largest config, route, get or included file we read.
pub const MAX_FILE: u64 = 4 << 20;

/// Where a value came from.
pub struct At<'a> {
    pub file: &'a Path,
    pub line: u32,
    pub key: &'a str,
}

/// Reads a whole file, refusing anything larger than [`MAX_FILE`].
pub fn read_limited(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let err = |kind| ConfigError::new(path, 0, kind);
    let f = std::fs::File::open(path).map_err(|source| err(K::Unreadable { source }))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|source| err(K::Unreadable { source }))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(err(K::TooLarge { limit: MAX_FILE }));
    }
    Ok(buf)
}

impl At<'_> {
    pub fn err(&self, kind: K) -> ConfigError {
        ConfigError::new(self.file, self.line, kind)
    }

    fn key(&self) -> String {
        self.key.to_string()
    }

    /// Must begin with yes/on/true or no/off/false, any case (§1.2).
    pub fn boolean(&self, v: &str) -> Result<bool, ConfigError> {
        let l = v.to_ascii_lowercase();
        if ["yes", "on", "true"].iter().any(|p| l.starts_with(p)) {
            Ok(true)
        } else if ["no", "off", "false"].iter().any(|p| l.starts_with(p)) {
            Ok(false)
        } else {
            Err(self.err(K::BadBool {
                key: self.key(),
                value: v.to_string(),
            }))
        }
    }

    /// Plain decimal digits that fit `T`; anything else is an error.
    pub fn number<T: FromStr>(&self, v: &str) -> Result<T, ConfigError> {
        let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| v.parse().ok()).flatten().ok_or_else(|| {
            self.err(K::BadNumber {
                key: self.key(),
                value: v.to_string(),
            })
        })
    }

    pub fn interval(&self, v: &str) -> Result<Duration, ConfigError> {
        parse_interval(v).ok_or_else(|| {
            self.err(K::BadInterval {
                key: self.key(),
                value: v.to_string(),
            })
        })
    }

    /// A path that must be given.
    pub fn path(&self, v: &str) -> Result<PathBuf, ConfigError> {
        if v.is_empty() {
            return Err(self.err(K::Invalid {
                key: self.key(),
                reason: "empty path".into(),
            }));
        }
        Ok(PathBuf::from(v))
    }

    /// A path whose empty value means "unset".
    pub fn opt_path(&self, v: &str) -> Option<PathBuf> {
        (!v.is_empty()).then(|| PathBuf::from(v))
    }

    /// Index of `v` in `choices` (case-insensitive).
    pub fn choice(&self, v: &str, choices: &[&str]) -> Result<usize, ConfigError> {
        choices
            .iter()
            .position(|c| c.eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                self.err(K::BadChoice {
                    key: self.key(),
                    value: v.to_string(),
                    expected: choices.join(", "),
                })
            })
    }

    /// A 1.0 list (§1.3): split on `;`, items stripped, empties dropped;
    /// with `incl`, an item starting with `/` is replaced by the file's lines.
    pub fn list(&self, v: &str, incl: bool) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for item in v.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            if incl && item.starts_with('/') {
                out.extend(self.include(Path::new(item))?);
            } else {
                out.push(item.to_string());
            }
        }
        Ok(out)
    }

    /// The items of an included file: one per line, stripped; empty lines
    /// and `#` lines skipped. Not recursive: an item starting with `/` in
    /// the file is an item like any other, so a file including itself
    /// cannot loop.
    fn include(&self, path: &Path) -> Result<Vec<String>, ConfigError> {
        let bytes = read_limited(path).map_err(|e| match e.kind {
            K::Unreadable { source } => self.err(K::IncludeUnreadable {
                key: self.key(),
                include: path.to_path_buf(),
                source,
            }),
            _ => self.err(K::IncludeBad {
                key: self.key(),
                include: path.to_path_buf(),
                reason: "file too large",
            }),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            self.err(K::IncludeBad {
                key: self.key(),
                include: path.to_path_buf(),
                reason: "not valid UTF-8",
            })
        })?;
        if text.contains('\0') {
            return Err(self.err(K::IncludeBad {
                key: self.key(),
                include: path.to_path_buf(),
                reason: "NUL byte",
            }));
        }
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect())
    }

    /// `host[:port]`, `[v6]:port`, or a bare IPv6 address.
    pub fn interface(&self, v: &str, default_port: u16) -> Result<Interface, ConfigError> {
        let bad = |reason| {
            self.err(K::BadInterface {
                key: self.key(),
                value: v.to_string(),
                reason,
            })
        };
        let (host, port) = if let Some(rest) = v.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after {
                "" => (h, None),
                _ => (
                    h,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("junk after ']'"))?,
                    ),
                ),
            }
        } else if v.matches(':').count() > 1 {
            (v, None)
        } else {
            match v.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (v, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
        {
            return Err(bad("invalid character in host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(bad("port must be a number from 1 to 65535")),
            },
        };
        Ok(Interface {
            host: host.to_string(),
            port,
        })
    }

    /// A command split into words once (§1.2). For `wrapper` commands the
    /// `2>/dev/null` of 0.2 examples is dropped: stderr goes to the log.
    pub fn command(&self, v: &str) -> Result<CommandSpec, ConfigError> {
        let mut text = v.trim();
        if self.key == "wrapper"
            && let Some(stripped) = text.strip_suffix("2>/dev/null")
        {
            tracing::warn!(file = %self.file.display(), line = self.line, "`wrapper`: dropping `2>/dev/null`; stderr goes to the log");
            text = stripped.trim_end();
        }
        let bad = |reason: String| {
            self.err(K::BadCommand {
                key: self.key(),
                value: v.to_string(),
                reason,
            })
        };
        let words = shellwords::split(text).map_err(|e| bad(e.to_string()))?;
        match words.first() {
            None => Err(bad("empty command".into())),
            Some(w) if !w.starts_with('/') => {
                Err(bad(format!("program '{w}' must be an absolute path")))
            }
            Some(_) => Ok(CommandSpec {
                text: text.to_string(),
                words,
            }),
        }
    }

    /// A network in CIDR notation; a bare address is a host network.
    pub fn cidr(&self, v: &str) -> Result<ipnet::IpNet, ConfigError> {
        v.parse::<ipnet::IpNet>()
            .or_else(|_| v.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                self.err(K::BadCidr {
                    key: self.key(),
                    value: v.to_string(),
                })
            })
    }

    /// `ip[:port]` (`[v6]:port`, or a bare v6 address); port `default_port`.
    pub fn socket_addr(&self, v: &str, default_port: u16) -> Result<SocketAddr, ConfigError> {
        v.parse::<SocketAddr>()
            .or_else(|_| {
                v.parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, default_port))
            })
            .map_err(|_| {
                self.err(K::BadSocketAddr {
                    key: self.key(),
                    value: v.to_string(),
                })
            })
    }

    /// An RFC 821 address, left unqualified (the caller qualifies).
    pub fn address(&self, v: &str) -> Result<Address, ConfigError> {
        parse_path(v, PipePolicy::Refuse).map_err(|reason| {
            self.err(K::BadAddress {
                key: self.key(),
                value: v.to_string(),
                reason,
            })
        })
    }

    /// A host name, or with a leading `/` the first line of that file (§1.4).
    pub fn host_name(&self, v: &str) -> Result<String, ConfigError> {
        let name = if v.starts_with('/') {
            let bytes = read_limited(Path::new(v)).map_err(|e| match e.kind {
                K::Unreadable { source } => self.err(K::IncludeUnreadable {
                    key: self.key(),
                    include: PathBuf::from(v),
                    source,
                }),
                _ => self.err(K::IncludeBad {
                    key: self.key(),
                    include: PathBuf::from(v),
                    reason: "file too large",
                }),
            })?;
            let text = String::from_utf8_lossy(&bytes);
            text.lines().next().unwrap_or("").trim().to_string()
        } else {
            v.to_string()
        };
        self.check_host(&name)?;
        Ok(name)
    }

    /// Letters, digits, `-._`, and `[]:` for address literals; at most 255.
    pub fn check_host(&self, name: &str) -> Result<(), ConfigError> {
        let ok = !name.is_empty()
            && name.len() <= 255
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '[' | ']' | ':'));
        if ok {
            Ok(())
        } else {
            Err(self.err(K::BadHostName {
                key: self.key(),
                value: name.to_string(),
            }))
        }
    }

    /// Refuses CR and LF, for values that go into protocol lines.
    pub fn single_line(&self, v: &str) -> Result<String, ConfigError> {
        if v.contains(['\r', '\n']) {
            return Err(self.err(K::Invalid {
                key: self.key(),
                reason: "value must not contain a line break".into(),
            }));
        }
        Ok(v.to_string())
    }
}
