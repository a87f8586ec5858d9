//! Alias expansion (delivery.md §8.1, 1.0 rules): one top-level recipient
//! in, its final recipients ("leaves") out, or a failure reason.
//!
//! Guarantees: expansion always terminates. A loop (an item equal to the
//! alias being expanded or any of its ancestors), an invalid item, a pipe
//! from an untrusted file, a chain deeper than [`MAX_DEPTH`] or more than
//! [`MAX_LEAVES`] leaves (or [`MAX_NODES`] aliases visited) fails the whole
//! top-level recipient, which the caller then bounces (§8.1 step 4, §18
//! item 2: a loop bounces, it never crashes). Leaves are deduplicated,
//! first-seen order kept.
//!
//! # Security
//! Alias files are administrator input, but a glob alias can route mail
//! from anybody into a pipe: pipes are produced only from tables marked
//! trusted at load time (R17). Nothing here runs anything.

use super::file::{AliasItem, AliasTable};
use super::forward::{self, ForwardItem, ForwardList, Forwards};
use crate::address::{Address, Locality, PipePolicy, glob_match, parse_path};

/// Longest chain of aliases followed from one top-level recipient.
pub const MAX_DEPTH: usize = 100;
/// Most leaves one top-level recipient may expand to (before dedup).
pub const MAX_LEAVES: usize = 1000;
/// Most alias lookups for one top-level recipient: bounds diamond-shaped
/// tables whose path count grows exponentially with depth.
pub const MAX_NODES: usize = 10_000;

/// What expansion needs from the configuration.
pub struct AliasContext<'a> {
    pub globalias: Option<&'a AliasTable>,
    pub alias: Option<&'a AliasTable>,
    pub locality: Locality<'a>,
    pub host_name: &'a str,
    pub caseless: bool,
    /// Where users' `.forward` files come from; `None`: not used
    /// (`forward_files = false`).
    pub forward: Option<&'a dyn Forwards>,
}

/// The result for one top-level recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    /// Final recipients: mailboxes, remote addresses, pipes (`|cmd` @
    /// `localhost`). The top-level address itself when it is no alias.
    Leaves(Vec<Address>),
    /// The recipient must fail; the text is for the log.
    Failed(String),
}

/// Expands `top` through the glob and normal alias tables.
pub fn expand(top: &Address, ctx: &AliasContext) -> Expansion {
    let mut walk = Walk {
        ctx,
        leaves: Vec::new(),
        emitted: 0,
        nodes: 0,
    };
    let mut ancestors = Vec::new();
    match walk.node(top, &mut ancestors) {
        Ok(()) => Expansion::Leaves(walk.leaves),
        Err(reason) => {
            tracing::warn!(rcpt = %top, "{reason}");
            Expansion::Failed(reason)
        }
    }
}

struct Walk<'c, 'a> {
    ctx: &'c AliasContext<'a>,
    leaves: Vec<Address>,
    emitted: usize,
    nodes: usize,
}

impl Walk<'_, '_> {
    /// Expands `addr`, whose chain of aliases above it is `ancestors`.
    fn node(&mut self, addr: &Address, ancestors: &mut Vec<Address>) -> Result<(), String> {
        let ctx = self.ctx;
        if !ctx.locality.is_local(addr) {
            return self.leaf(addr.clone());
        }
        let Some((table, entry)) = lookup(addr, ctx) else {
            return match ctx.forward.and_then(|f| f.lookup(addr)) {
                Some(list) => self.forward(addr, &list, ancestors),
                None => self.leaf(addr.clone()),
            };
        };
        self.nodes += 1;
        if ancestors.len() >= MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(format!(
                "alias '{addr}': expansion too deep or too large, giving up"
            ));
        }
        if entry.items.is_empty() {
            // An empty alias would swallow the mail without a trace.
            return Err(format!(
                "alias '{addr}' expands to nothing ({}:{})",
                table.path.display(),
                entry.line
            ));
        }
        ancestors.push(addr.clone());
        for item in &entry.items {
            match item {
                AliasItem::Final(a) => self.leaf(a.clone().qualify(ctx.host_name))?,
                // Never a valid command; the mark of `.forward` targets.
                AliasItem::Pipe(cmd) if cmd.starts_with(forward::TARGET_MARK) => {
                    return Err(format!(
                        "alias '{addr}' expands to invalid command '{cmd}' ({}:{})",
                        table.path.display(),
                        entry.line
                    ));
                }
                AliasItem::Pipe(cmd) if table.pipes_trusted => {
                    self.leaf(Address::new(cmd.clone(), "localhost"))?
                }
                AliasItem::Pipe(_) => {
                    return Err(format!(
                        "pipe alias in untrusted file {} (line {})",
                        table.path.display(),
                        entry.line
                    ));
                }
                AliasItem::Invalid { item, reason } => {
                    return Err(format!(
                        "alias '{addr}' expands to invalid address '{item}': {reason}"
                    ));
                }
                AliasItem::Address(text) => {
                    let child = match parse_path(text, PipePolicy::Refuse) {
                        Ok(a) if a.is_null() => return Err(invalid(addr, text, "null address")),
                        Ok(a) => a.qualify(ctx.host_name),
                        Err(e) => return Err(invalid(addr, text, &e.to_string())),
                    };
                    if ancestors.iter().any(|a| a.same_as(&child, ctx.caseless)) {
                        return Err(format!("alias: detected loop, hence ignoring '{child}'"));
                    }
                    self.node(&child, ancestors)?;
                }
            }
        }
        ancestors.pop();
        Ok(())
    }

    /// Expands `addr` through its user's `.forward` (`list`): the same
    /// bounds and loop rule as an alias, except that the user's own
    /// address in the file means the mailbox (the usual "keep a copy").
    fn forward(
        &mut self,
        addr: &Address,
        list: &ForwardList,
        ancestors: &mut Vec<Address>,
    ) -> Result<(), String> {
        let ctx = self.ctx;
        self.nodes += 1;
        if ancestors.len() >= MAX_DEPTH || self.nodes > MAX_NODES {
            return Err(format!(
                "{}: expansion too deep or too large, giving up",
                list.origin.display()
            ));
        }
        ancestors.push(addr.clone());
        for item in &list.items {
            match item {
                ForwardItem::Final(a) => self.leaf(a.clone().qualify(ctx.host_name))?,
                ForwardItem::Pipe(cmd) => self.leaf(forward::pipe_leaf(&list.user, cmd))?,
                ForwardItem::File(path) => self.leaf(forward::file_leaf(&list.user, path))?,
                ForwardItem::Invalid { item, reason } => {
                    return Err(format!(
                        "{}: invalid item '{item}': {reason}",
                        list.origin.display()
                    ));
                }
                ForwardItem::Address(text) => {
                    let child = match parse_path(text, PipePolicy::Refuse) {
                        Ok(a) if !a.is_null() => a.qualify(ctx.host_name),
                        Ok(_) => return Err(invalid(addr, text, "null address")),
                        Err(e) => return Err(invalid(addr, text, &e.to_string())),
                    };
                    if child.same_as(addr, ctx.caseless) {
                        self.leaf(child)?;
                    } else if ancestors.iter().any(|a| a.same_as(&child, ctx.caseless)) {
                        return Err(format!(
                            "{}: detected loop, hence ignoring '{child}'",
                            list.origin.display()
                        ));
                    } else {
                        self.node(&child, ancestors)?;
                    }
                }
            }
        }
        ancestors.pop();
        Ok(())
    }

    fn leaf(&mut self, addr: Address) -> Result<(), String> {
        self.emitted += 1;
        if self.emitted > MAX_LEAVES {
            return Err(format!(
                "alias expansion yields more than {MAX_LEAVES} recipients, giving up"
            ));
        }
        if !self
            .leaves
            .iter()
            .any(|l| l.same_as(&addr, self.ctx.caseless))
        {
            self.leaves.push(addr);
        }
        Ok(())
    }
}

fn invalid(alias: &Address, item: &str, reason: &str) -> String {
    format!("alias '{alias}' expands to invalid address '{item}': {reason}")
}

/// The glob table against `local@domain` first, then the normal table
/// against the local part (config.md §5.2, §5.3).
fn lookup<'t>(
    addr: &Address,
    ctx: &AliasContext<'t>,
) -> Option<(&'t AliasTable, &'t super::file::AliasEntry)> {
    let caseless = ctx.caseless || addr.local.eq_ignore_ascii_case("postmaster");
    if let Some(glob) = ctx.globalias {
        let whole = if addr.domain.is_empty() {
            format!("{}@{}", addr.local, ctx.host_name)
        } else {
            addr.to_string()
        };
        if let Some(e) = glob.find(|key| glob_match(key, &whole, caseless)) {
            return Some((glob, e));
        }
    }
    let table = ctx.alias?;
    let entry = table.find(|key| {
        if caseless {
            key.eq_ignore_ascii_case(&addr.local)
        } else {
            key == addr.local
        }
    })?;
    Some((table, entry))
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
