//! Alias files (config.md §5.1), both the normal and the glob kind: one
//! `KEY: item, item, ...` per line, parsed into an [`AliasTable`].
//!
//! Guarantees: any byte sequence loads without a panic. A line holding a NUL
//! byte or invalid UTF-8 is skipped with a warning naming `file:line`; lines
//! of any length are accepted (the C program's 255-character limit is not
//! kept). Duplicate keys are kept in file order; lookups take the first.
//!
//! # Security
//! The file is opened once and its owner and mode are taken from the open
//! descriptor (no stat/open race). A pipe item (`|cmd`) runs a command as
//! the mail user, so it is honoured only from a file that only a trusted
//! user could have written (RELIABILITY R17, CVE-2001-1173): owned by a
//! trusted uid and not group- or world-writable, in a directory that is not
//! group- or world-writable either (unless sticky). Untrusted files still
//! load: their plain addresses work, their pipes make the expansion fail.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::address::{Address, PipePolicy, parse_path};

/// One item of an alias value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasItem {
    /// `\addr`: deliver to this address without further expansion
    /// (unqualified as written; expansion qualifies it).
    Final(Address),
    /// `|cmd`: the whole item text, starting with `|`.
    Pipe(String),
    /// Anything else, as written; parsed (and qualified) at expansion time.
    Address(String),
    /// An item that can never be delivered (bad `\addr`, unterminated
    /// quote, control characters). Kept so that expanding the alias fails
    /// loudly instead of silently losing a target.
    Invalid { item: String, reason: String },
}

/// One `KEY: items` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    pub key: String,
    pub items: Vec<AliasItem>,
    /// 1-based line number, for log messages.
    pub line: u32,
}

/// A parsed alias file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTable {
    pub entries: Vec<AliasEntry>,
    /// The file it came from (for log messages).
    pub path: PathBuf,
    /// Whether `|cmd` items from this file may run (R17).
    pub pipes_trusted: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a regular file", path.display())]
    NotRegular { path: PathBuf },
}

/// Which owners make an alias file trusted for pipes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTrust {
    pub uids: Vec<u32>,
}

/// The compiled-in mail user (config.md preamble).
pub const MAIL_USER: &str = "mail";

impl FileTrust {
    /// root, the mail user (when it exists), and with `run_as_user` our
    /// own effective uid (then nobody else could run the pipes anyway).
    pub fn system(run_as_user: bool) -> FileTrust {
        let mut uids = vec![0];
        if let Ok(Some(user)) = nix::unistd::User::from_name(MAIL_USER) {
            uids.push(user.uid.as_raw());
        }
        if run_as_user {
            uids.push(nix::unistd::geteuid().as_raw());
        }
        FileTrust { uids }
    }
}

impl AliasTable {
    /// Loads `path`, trusting pipes per [`FileTrust::system`]`(false)`.
    pub fn load(path: &Path) -> Result<AliasTable, AliasError> {
        AliasTable::load_trusting(path, &FileTrust::system(false))
    }

    /// Loads `path`; `trust` decides whether its pipe items may run.
    pub fn load_trusting(path: &Path, trust: &FileTrust) -> Result<AliasTable, AliasError> {
        let io = |source| AliasError::Io {
            path: path.to_path_buf(),
            source,
        };
        // O_NONBLOCK: a FIFO planted at the path must not hang delivery.
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(AliasError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io)?;
        let pipes_trusted = match distrust(path, &meta, trust) {
            None => true,
            Some(why) => {
                tracing::warn!(file = %path.display(), "alias file not trusted for pipes: {why}");
                false
            }
        };
        Ok(AliasTable::parse(&text, path, pipes_trusted))
    }

    /// Parses alias file text; `origin` names it in warnings.
    pub fn parse(text: &[u8], origin: &Path, pipes_trusted: bool) -> AliasTable {
        let mut entries = Vec::new();
        for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
            if raw.first() == Some(&b'#') || raw.trim_ascii().is_empty() {
                continue;
            }
            let text = match std::str::from_utf8(raw) {
                Ok(t) if !raw.contains(&0) => t,
                _ => {
                    tracing::warn!(
                        "{}:{line}: NUL byte or invalid UTF-8, line ignored",
                        origin.display()
                    );
                    continue;
                }
            };
            match parse_line(text) {
                Some((key, items)) => entries.push(AliasEntry { key, items, line }),
                None => {
                    tracing::warn!("{}:{line}: no 'key:' found, line ignored", origin.display())
                }
            }
        }
        AliasTable {
            entries,
            path: origin.to_path_buf(),
            pipes_trusted,
        }
    }

    /// First entry whose key satisfies `matches`.
    pub fn find(&self, matches: impl Fn(&str) -> bool) -> Option<&AliasEntry> {
        self.entries.iter().find(|e| matches(&e.key))
    }
}

/// Why the file must not be trusted for pipes, if it must not.
fn distrust(path: &Path, meta: &std::fs::Metadata, trust: &FileTrust) -> Option<String> {
    if !trust.uids.contains(&meta.uid()) {
        return Some(format!("owned by uid {}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    // Whoever may write the directory may replace the file.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(d) if d.mode() & 0o022 != 0 && d.mode() & 0o1000 == 0 => Some(format!(
            "directory {} is writable by group or others",
            dir.display()
        )),
        Ok(d) if !trust.uids.contains(&d.uid()) => Some(format!(
            "directory {} owned by uid {}",
            dir.display(),
            d.uid()
        )),
        Ok(_) => None,
        Err(e) => Some(format!("cannot check directory {}: {e}", dir.display())),
    }
}

/// Splits `KEY: items` (§5.1). `None` when there is no colon or no key.
fn parse_line(line: &str) -> Option<(String, Vec<AliasItem>)> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim_end();
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), parse_items(value)))
}

/// The comma-separated items of one alias value or `.forward` line.
pub(super) fn parse_items(value: &str) -> Vec<AliasItem> {
    let mut items = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let (item, quoted, next) = split_item(rest);
        rest = next.trim_start();
        match item {
            Err(reason) => items.push(AliasItem::Invalid {
                item: quoted.to_string(),
                reason: reason.into(),
            }),
            // An empty unquoted item is a stray comma (`a: b, c,`), not a target.
            Ok(text) if text.is_empty() && !quoted.starts_with('"') => {}
            Ok(text) => items.push(classify(text)),
        }
    }
    items
}

/// Takes one item off the front of `s`. Returns the unquoted item text (or
/// why it is unusable), the raw text it came from, and what follows the
/// separating comma.
fn split_item(s: &str) -> (Result<String, &'static str>, &str, &str) {
    let Some(body) = s.strip_prefix('"') else {
        let (raw, next) = s.split_once(',').unwrap_or((s, ""));
        return (Ok(raw.trim_end().to_string()), raw, next);
    };
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => text.push(e),
                None => break,
            },
            '"' => {
                // Text after the closing quote up to the comma is ignored.
                let after = &body[i + 1..];
                let (_, next) = after.split_once(',').unwrap_or((after, ""));
                let raw = &s[..1 + i + 1];
                return (Ok(text.trim_end().to_string()), raw, next);
            }
            _ => text.push(c),
        }
    }
    (Err("unterminated quoted item"), s.trim_end(), "")
}

fn classify(text: String) -> AliasItem {
    if let Some(addr) = text.strip_prefix('\\') {
        return match parse_path(addr, PipePolicy::Refuse) {
            Ok(a) if a.is_null() => AliasItem::Invalid {
                item: text,
                reason: "null address".into(),
            },
            Ok(a) => AliasItem::Final(a),
            Err(e) => AliasItem::Invalid {
                reason: e.to_string(),
                item: text,
            },
        };
    }
    if text.starts_with('|') {
        // The parser only checks control characters here; the command text
        // is kept whole (it is split into words at delivery time).
        return match parse_path(&text, PipePolicy::Allow) {
            Ok(a) => AliasItem::Pipe(a.local),
            Err(e) => AliasItem::Invalid {
                reason: e.to_string(),
                item: text,
            },
        };
    }
    AliasItem::Address(text)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
