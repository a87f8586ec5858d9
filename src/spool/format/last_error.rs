//! The `LE:` envelope lines of a `-H` file (ours, issue 10): each waiting
//! envelope recipient's last deferral reason, for `mailq`.
//!
//! ```text
//! LE:1700000000 <bob@example.org> 4.2.0 mailbox busy
//! ```
//!
//! Unix time, one space, the recipient exactly as its `RT:` line writes it,
//! one space, the reason ([`LastError`]'s clean text: printable ASCII,
//! single spaces). Written only for pending envelope recipients that are
//! not pipes: a recipient's line goes with the first update after it is
//! finished. The C program ignores unknown tags (spool.md §3) and drops the
//! lines when it rewrites the file.
//!
//! # Security
//! The reason is untrusted text (a server's reply, a command's output);
//! [`LastError`] can only hold a clean one, so no line break reaches the
//! file. The reader is strict (R10): a bad time, an address without `RT:`
//! line, a text that is not clean, or a second line for one address make
//! the file corrupt. An `LE:` line never adds a recipient.

use std::io::Write;

use crate::address::Address;
use crate::message::{Done, LastError, Message};

use super::{SpoolError, recipient_text};

/// Appends the `LE:` lines of `msg`'s pending recipients.
pub(super) fn encode(out: &mut Vec<u8>, msg: &Message) -> Result<(), SpoolError> {
    for e in &msg.last_errors {
        let pending = msg.rcpt_list.contains(&e.rcpt) && msg.top_state(&e.rcpt).is_none();
        if !pending || e.rcpt.is_pipe() {
            continue;
        }
        let _ = writeln!(
            out,
            "LE:{} {} {}",
            e.time,
            recipient_text(&e.rcpt)?,
            e.text()
        );
    }
    Ok(())
}

/// One `LE:` value as read, resolved against the recipients in
/// [`resolve`] (the `RT:` lines may come later in a file we did not write).
pub(super) struct Raw {
    time: i64,
    rest: String,
}

pub(super) fn decode(value: &str) -> Result<Raw, &'static str> {
    let (time, rest) = value.split_once(' ').ok_or("LE: line without address")?;
    if time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad time in LE:");
    }
    let time = time.parse().map_err(|_| "bad time in LE:")?;
    Ok(Raw {
        time,
        rest: rest.to_string(),
    })
}

/// Each raw line's recipient: the `RT:` address whose text, then a space,
/// begins the rest of the line (the longest, should two do).
pub(super) fn resolve(
    raws: Vec<Raw>,
    rcpt_list: &[Address],
    finished: &[(Address, Done)],
) -> Result<Vec<LastError>, &'static str> {
    let known: Vec<(String, &Address)> = rcpt_list
        .iter()
        .chain(finished.iter().map(|(a, _)| a))
        .filter(|a| !a.is_pipe())
        .filter_map(|a| Some((recipient_text(a).ok()? + " ", a)))
        .collect();
    let mut out: Vec<LastError> = Vec::with_capacity(raws.len());
    for raw in raws {
        let (prefix, rcpt) = known
            .iter()
            .filter(|(t, _)| raw.rest.starts_with(t.as_str()))
            .max_by_key(|(t, _)| t.len())
            .ok_or("LE: line for an address without RT: line")?;
        if out.iter().any(|e| e.rcpt == **rcpt) {
            return Err("more than one LE: line for an address");
        }
        let text = &raw.rest[prefix.len()..];
        let e = LastError::parse((*rcpt).clone(), raw.time, text).ok_or("bad text in LE:")?;
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "last_error_tests.rs"]
mod tests;
