//! The DSN envelope lines of a `-H` file (ours; RFC 3461 requests):
//!
//! ```text
//! DE:RET=HDRS ENVID=QQ314159
//! DR:NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+40example.org <bob@example.org>
//! ```
//!
//! `DE:` holds the message's `RET`/`ENVID`, `DR:` one envelope recipient's
//! `NOTIFY`/`ORCPT` followed by the recipient exactly as its `RT:` line
//! writes it, so each `DR:` names its `RT:` recipient and no other. Values
//! are kept as the client sent them (xtext), so no value holds a space.
//! The C program ignores unknown tags (spool.md §3), reads and delivers
//! the message, and drops these lines when it rewrites the file.
//!
//! # Security
//! Same rules as the rest of the codec (R09, R10): the encoder writes only
//! values that read back unchanged and refuses `DR:` lines for addresses
//! that have no `RT:` line or are pipes; the decoder refuses anything it
//! does not understand, and a `DR:` for an address without `RT:` line.

use std::io::Write;

use crate::address::{Address, PipePolicy, parse_path};
use crate::message::Message;
use crate::message::dsn::{Dsn, Notify, Orcpt, RcptDsn, Ret, XText};

use super::{SpoolError, recipient_text};

fn unencodable(why: &'static str) -> SpoolError {
    SpoolError::Unencodable { field: "DSN", why }
}

/// A value that reads back as the same word: printable, no space.
fn word(text: String) -> Result<String, SpoolError> {
    if text.is_empty() || !text.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(unencodable("value is not printable ASCII without spaces"));
    }
    Ok(text)
}

/// Appends the `DE:` and `DR:` lines of `msg` (none for mail without DSN
/// requests).
pub(super) fn encode(out: &mut Vec<u8>, msg: &Message) -> Result<(), SpoolError> {
    let dsn = &msg.dsn;
    let mut params = Vec::new();
    if let Some(ret) = dsn.ret {
        params.push(format!("RET={ret}"));
    }
    if let Some(envid) = &dsn.envid {
        check(XText::new(envid.as_str()).as_ref() == Ok(envid))?;
        params.push(word(format!("ENVID={envid}"))?);
    }
    if !params.is_empty() {
        let _ = writeln!(out, "DE:{}", params.join(" "));
    }
    for (rcpt, rd) in &dsn.rcpts {
        let known = msg.rcpt_list.contains(rcpt)
            || msg
                .top_done
                .iter()
                .chain(&msg.finished)
                .any(|(a, _)| a == rcpt);
        if !known || rcpt.is_pipe() {
            return Err(unencodable(
                "DR: for an address that is not an RT: recipient",
            ));
        }
        let mut line = String::from("DR:");
        if let Some(n) = rd.notify {
            line.push_str(&format!("NOTIFY={n} "));
        }
        if let Some(o) = &rd.orcpt {
            check(Orcpt::parse(&o.to_string()).as_ref() == Ok(o))?;
            line.push_str(&word(format!("ORCPT={o}"))?);
            line.push(' ');
        }
        line.push_str(&recipient_text(rcpt)?);
        let _ = writeln!(out, "{line}");
    }
    Ok(())
}

fn check(round_trips: bool) -> Result<(), SpoolError> {
    if round_trips {
        Ok(())
    } else {
        Err(unencodable("value would not read back unchanged"))
    }
}

/// Reads one `DE:` value into `dsn`.
pub(super) fn decode_de(dsn: &mut Dsn, seen: &mut bool, value: &str) -> Result<(), &'static str> {
    if std::mem::replace(seen, true) {
        return Err("more than one DE: line");
    }
    for param in value.split(' ') {
        match param.split_once('=') {
            Some(("RET", v)) if dsn.ret.is_none() => {
                dsn.ret = Some(Ret::parse(v).map_err(|_| "bad RET in DE:")?);
            }
            Some(("ENVID", v)) if dsn.envid.is_none() => {
                dsn.envid = Some(XText::new(v).map_err(|_| "bad ENVID in DE:")?);
            }
            _ => return Err("bad parameter in DE:"),
        }
    }
    Ok(())
}

/// Reads one `DR:` value into `dsn`: parameters, then the recipient.
pub(super) fn decode_dr(dsn: &mut Dsn, value: &str) -> Result<(), &'static str> {
    let mut rd = RcptDsn::default();
    let mut rest = value;
    while !rest.starts_with('<') {
        let (param, tail) = rest.split_once(' ').ok_or("DR: line without an address")?;
        match param.split_once('=') {
            Some(("NOTIFY", v)) if rd.notify.is_none() => {
                rd.notify = Some(Notify::parse(v).map_err(|_| "bad NOTIFY in DR:")?);
            }
            Some(("ORCPT", v)) if rd.orcpt.is_none() => {
                rd.orcpt = Some(Orcpt::parse(v).map_err(|_| "bad ORCPT in DR:")?);
            }
            _ => return Err("bad parameter in DR:"),
        }
        rest = tail;
    }
    let addr: Address =
        parse_path(rest, PipePolicy::Refuse).map_err(|_| "unparsable address in DR:")?;
    if addr.is_null() || rd.is_empty() {
        return Err("DR: line without an address or parameters");
    }
    if dsn.rcpt(&addr).is_some() {
        return Err("more than one DR: line for an address");
    }
    dsn.rcpts.push((addr, rd));
    Ok(())
}

/// Every `DR:` must name an `RT:` recipient.
pub(super) fn check_recipients(
    dsn: &Dsn,
    rcpt_list: &[Address],
    finished: &[(Address, crate::message::Done)],
) -> Result<(), &'static str> {
    let known = |a: &Address| rcpt_list.contains(a) || finished.iter().any(|(f, _)| f == a);
    if dsn.rcpts.iter().all(|(a, _)| known(a)) {
        Ok(())
    } else {
        Err("DR: line for an address without RT: line")
    }
}

#[cfg(test)]
#[path = "dsn_tests.rs"]
mod tests;
