//! `.forward` files: their syntax, what expansion asks of them
//! ([`Forwards`]), and how a command or file item of a user's `.forward`
//! travels as a delivery target ([`ForwardTarget`]).
//!
//! Syntax (like sendmail's and Postfix's): items separated by commas or
//! line ends; a line starting with `#` and blank lines are ignored; an item
//! may be quoted (`"|/usr/bin/procmail -a x"`). An item is `\user` (that
//! user's own mailbox, no further `.forward`), `|command`, `/absolute/file`
//! or an address (local or remote; a local one is expanded again).
//!
//! Guarantees: [`parse`] never panics; a file over [`MAX_SIZE`] bytes, with
//! more than [`MAX_ITEMS`] items, a NUL byte or invalid UTF-8 is refused as
//! a whole (the caller then delivers to the mailbox: a half-read `.forward`
//! could silently drop a target).
//!
//! A command or file item becomes a pipe-like target `|~USER:|command` or
//! `|~USER:/file`: local by construction, written to and read back from
//! the spool unchanged, and distinct per user (two users forwarding to the
//! same `|procmail` are two targets). Expansion refuses alias pipes that
//! start with `|~` (never a valid command: `~` is neither an absolute path
//! nor a plain name), so such a target comes only from a `.forward`.
//!
//! # Security
//! The text is the user's: nothing here trusts it beyond its syntax. Whose
//! identity a target runs with is decided by delivery (deliver/forward.rs)
//! from the user named in the target, which expansion took from the
//! passwd entry whose home held the file, never from the file's content.

use std::path::Path;

use super::file::{AliasItem, parse_items};
use crate::address::Address;

/// Largest `.forward` read; a larger one is refused.
pub const MAX_SIZE: u64 = 64 * 1024;
/// Most items one `.forward` may hold.
pub const MAX_ITEMS: usize = 256;

/// The marker that opens a `.forward` command or file target.
pub const TARGET_MARK: &str = "|~";

/// One item of a `.forward` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardItem {
    /// `\user`: deliver to this mailbox, no further lookups.
    Final(Address),
    /// `|command`: the text after the `|`.
    Pipe(String),
    /// `/path`: append to this file in mbox format.
    File(String),
    /// Anything else, parsed and qualified at expansion time.
    Address(String),
    /// An item that can never be delivered; expansion fails loudly.
    Invalid { item: String, reason: String },
}

/// A user's `.forward`, as expansion uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardList {
    /// The passwd name whose home held the file.
    pub user: String,
    /// The file (for log messages).
    pub origin: std::path::PathBuf,
    pub items: Vec<ForwardItem>,
}

/// Where expansion finds `.forward` files: the real home directories
/// (alias/forward_file.rs) or, in unit tests, a table.
pub trait Forwards {
    /// The trusted, non-empty `.forward` of the local address `addr`;
    /// `None` when there is none (or it was refused, which the
    /// implementation logs): the address is then a mailbox.
    fn lookup(&self, addr: &Address) -> Option<ForwardList>;
}

/// Parses `.forward` text; the error says why the whole file is refused.
pub fn parse(text: &[u8]) -> Result<Vec<ForwardItem>, String> {
    if text.len() as u64 > MAX_SIZE {
        return Err(format!("larger than {MAX_SIZE} bytes"));
    }
    if text.contains(&0) {
        return Err("contains a NUL byte".into());
    }
    let text = std::str::from_utf8(text).map_err(|_| "is not valid UTF-8".to_string())?;
    let mut items = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        items.extend(parse_items(line).into_iter().map(item));
        if items.len() > MAX_ITEMS {
            return Err(format!("has more than {MAX_ITEMS} items"));
        }
    }
    Ok(items)
}

fn item(a: AliasItem) -> ForwardItem {
    match a {
        AliasItem::Final(addr) => ForwardItem::Final(addr),
        AliasItem::Pipe(text) => {
            let command = text.strip_prefix('|').unwrap_or(&text).trim_start();
            if command.is_empty() {
                ForwardItem::Invalid {
                    item: text.clone(),
                    reason: "empty command".into(),
                }
            } else {
                ForwardItem::Pipe(command.to_string())
            }
        }
        AliasItem::Address(text) if text.starts_with('/') => ForwardItem::File(text),
        AliasItem::Address(text) => ForwardItem::Address(text),
        AliasItem::Invalid { item, reason } => ForwardItem::Invalid { item, reason },
    }
}

/// A command or file item of `user`'s `.forward`, as a delivery target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardTarget<'a> {
    Pipe { user: &'a str, command: &'a str },
    File { user: &'a str, path: &'a Path },
}

impl<'a> ForwardTarget<'a> {
    /// The target a leaf stands for, if it is a `.forward` target.
    pub fn of(leaf: &'a Address) -> Option<ForwardTarget<'a>> {
        let rest = leaf.local.strip_prefix(TARGET_MARK)?;
        let (user, what) = rest.split_once(':')?;
        if user.is_empty() {
            return None;
        }
        if let Some(command) = what.strip_prefix('|') {
            Some(ForwardTarget::Pipe { user, command })
        } else if what.starts_with('/') {
            Some(ForwardTarget::File {
                user,
                path: Path::new(what),
            })
        } else {
            None
        }
    }

    pub fn user(&self) -> &'a str {
        match self {
            ForwardTarget::Pipe { user, .. } | ForwardTarget::File { user, .. } => user,
        }
    }
}

/// The leaf for `|command` in `user`'s `.forward`.
pub fn pipe_leaf(user: &str, command: &str) -> Address {
    Address::new(format!("{TARGET_MARK}{user}:|{command}"), "localhost")
}

/// The leaf for `/path` in `user`'s `.forward`.
pub fn file_leaf(user: &str, path: &str) -> Address {
    Address::new(format!("{TARGET_MARK}{user}:{path}"), "localhost")
}

#[cfg(test)]
#[path = "forward_tests.rs"]
mod tests;
