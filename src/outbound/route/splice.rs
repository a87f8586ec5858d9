//! Byte-exact rewriting of the addresses of one header (delivery.md §11.1):
//! every byte outside the replaced spans (name, display names, comments,
//! quoting, separators, folding, other addresses) is kept as it was.
//!
//! Guarantees: a header whose value does not parse completely as an
//! address list is returned unchanged; no edit inserts a control byte
//! (CR, LF, NUL, …), so no line and no header field can be added.
//!
//! # Security
//! The header value is hostile; all positions come from
//! `parse_address_list`, whose spans lie within the value. Inserted texts
//! are checked here once more, whatever their origin.

use std::ops::Range;

use crate::address::{Address, ListAddress, Locality, parse_address_list};
use crate::message::Header;

/// What a rule turns an address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found<'a> {
    /// `*@domain`: keep the local part, replace (or add) the domain.
    Domain(&'a str),
    /// A full replacement: `text` as configured (display name allowed),
    /// `addr` its bare address.
    Address { text: &'a str, addr: &'a Address },
}

/// Rewrites the local addresses of `header` for which `lookup` finds a
/// replacement. Non-local addresses (domain not empty and not in
/// `local_hosts`) are never looked up.
pub(super) fn header<'a>(
    header: &Header,
    loc: &Locality,
    lookup: impl Fn(&str) -> Option<Found<'a>>,
) -> Header {
    let Some(colon) = header.raw.iter().position(|&b| b == b':') else {
        return header.clone();
    };
    let value = header.value();
    let list = parse_address_list(value);
    if list.is_empty() || !fully_parsed(value, &list) {
        return header.clone();
    }
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for la in &list {
        if !loc.is_local_domain(&la.addr.domain) {
            continue;
        }
        let Some(found) = lookup(&la.addr.local) else {
            continue;
        };
        let (range, text) = edit(value, la, found);
        if text.iter().any(|&b| b < b' ' || b == 0x7f) {
            tracing::warn!(
                "rewrite of '{}' refused: replacement holds a control character",
                la.addr
            );
            continue;
        }
        // Replacing may drop folds (LF + blank) inside the mailbox, but a
        // span holding any other control byte (a bare CR, or an LF that
        // starts a malformed line) is left alone: the header's lines stay
        // as they were.
        if value.get(range.clone()).is_none_or(|old| !only_folds(old)) {
            tracing::warn!(
                "rewrite of '{}' skipped: the address spans a line break",
                la.addr
            );
            continue;
        }
        edits.push((range, text));
    }
    if edits.is_empty() {
        return header.clone();
    }
    // Spans are relative to the value, which starts after the colon.
    let base = colon + 1;
    let mut raw = Vec::with_capacity(header.raw.len() + 64);
    let mut pos = 0;
    for (range, text) in edits {
        raw.extend_from_slice(&header.raw[pos..base + range.start]);
        raw.extend_from_slice(&text);
        pos = base + range.end;
    }
    raw.extend_from_slice(&header.raw[pos..]);
    Header { raw }
}

/// True when the only control bytes in `bytes` are TABs and LFs that
/// fold (are followed by a space or TAB).
fn only_folds(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\t' => true,
        b'\n' => matches!(bytes.get(i + 1), Some(b' ' | b'\t')),
        b if b < b' ' || b == 0x7f => false,
        _ => true,
    })
}

/// The span to replace and its new bytes, per the three cases of §11.1.
fn edit(value: &[u8], la: &ListAddress, found: Found) -> (Range<usize>, Vec<u8>) {
    match found {
        Found::Domain(domain) => domain_edit(value, la, domain),
        // A bare addr-spec item is replaced whole, trailing comments and
        // the blanks before the next comma too, as masqmail does
        // (`baz , list@x` becomes `"Real Me" <me@x>, list@x`).
        Found::Address { text, .. } if la.bare => {
            let blanks = value[la.item.end..]
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            let end = la.item.end + blanks;
            (la.item.start..end, text.as_bytes().to_vec())
        }
        // Display name, brackets or leading comment: keep them.
        Found::Address { addr, .. } => (la.spec.clone(), addr.to_string().into_bytes()),
    }
}

/// `*@domain`: append `@domain` to an unqualified address, or replace only
/// the domain bytes. When the addr-spec holds comments or whitespace
/// between its tokens (`root (x) @ host`), the domain bytes cannot be
/// told apart safely, and the whole addr-spec is written anew.
fn domain_edit(value: &[u8], la: &ListAddress, domain: &str) -> (Range<usize>, Vec<u8>) {
    let spec = &value[la.spec.clone()];
    let a = &la.addr;
    if spec == a.to_string().as_bytes() {
        return if a.domain.is_empty() {
            (la.spec.end..la.spec.end, format!("@{domain}").into_bytes())
        } else {
            (
                la.spec.end - a.domain.len()..la.spec.end,
                domain.as_bytes().to_vec(),
            )
        };
    }
    (
        la.spec.clone(),
        Address::new(a.local.clone(), domain)
            .to_string()
            .into_bytes(),
    )
}

/// True when everything outside the parsed items is separators: folding
/// whitespace, commas and comments. Otherwise the parser stopped early
/// (group syntax, a broken address) and the header is left alone (§11.1:
/// "if the header cannot be parsed it is left unchanged").
fn fully_parsed(value: &[u8], list: &[ListAddress]) -> bool {
    let mut pos = 0;
    for la in list {
        if la.item.start < pos || !separators(&value[pos..la.item.start]) {
            return false;
        }
        pos = la.item.end;
    }
    separators(&value[pos..])
}

fn separators(gap: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < gap.len() {
        match (depth, gap[i]) {
            (0, b' ' | b'\t' | b'\r' | b'\n' | b',') => {}
            (0, b'(') => depth = 1,
            (0, _) => return false,
            (_, b'\\') => i += 1,
            (_, b'(') => depth += 1,
            (_, b')') => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth == 0
}
