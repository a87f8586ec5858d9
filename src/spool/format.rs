//! The `-H` header file codec (spool.md §3), without any I/O.
//!
//! Layout: the id line; envelope lines `MF:`, `RT:` (pending list with the
//! status each has now, then one line per finished entry), `PR:`, `RH:`,
//! `ID:`, `DS: n`, `TR: n`, `TW: n`, ours `UI:`, `DE:`, `DR:` ([`dsn`]), `LE:`
//! ([`last_error`]); an empty line; headers, each first
//! line prefixed `HD:`, continuation lines (space/tab) verbatim.
//!
//! Guarantees: [`encode_header_file`] either refuses a message or writes
//! bytes that [`decode_header_file`] turns back into the same message (up
//! to the normalisation 1.0 itself applies: finished recipients live in
//! `finished` only). The decoder never panics and accepts only what the
//! format allows.
//!
//! # Security
//! The format is line-tagged, and an `RT:` line can name a `|command`
//! recipient, so one injected line would be command execution (Exim
//! CVE-2020-28021/28026). The encoder therefore refuses CR, LF and NUL in
//! every envelope value, NUL in headers, header lines that would read back
//! as records, and any address that would not parse back to itself
//! (RELIABILITY.md R09). The decoder is strict (R10): a wrong id line, a
//! missing or repeated `MF:`, a bad status character, a bad number, an
//! unparsable address, a missing `DS:`/`TR:`, NUL bytes or a truncated last
//! line make the whole file `Corrupt`, so a damaged file can never yield a
//! recipient that was not in the original.

use std::io::Write;
use std::path::Path;

use crate::address::{Address, PipePolicy, parse_path};
use std::collections::HashSet;

use crate::message::{Done, Header, Message, Protocol, QueueId};

use super::SpoolError;

mod dsn;
mod last_error;
#[cfg(test)]
mod tests;

/// Serialises `msg` as a 1.0 `-H` file.
pub fn encode_header_file(msg: &Message) -> Result<Vec<u8>, SpoolError> {
    if msg.rcpt_list.is_empty() && msg.finished.is_empty() && msg.top_done.is_empty() {
        return Err(SpoolError::Unencodable {
            field: "RT",
            why: "no recipients",
        });
    }
    let mut out =
        Vec::with_capacity(256 + msg.headers.iter().map(|h| h.raw.len() + 3).sum::<usize>());
    // Writing into a Vec cannot fail; `let _` keeps that visible.
    let _ = writeln!(out, "{}", msg.id);
    let _ = writeln!(out, "MF:{}", sender_text(&msg.return_path)?);
    for rcpt in &msg.rcpt_list {
        let status = match msg.top_state(rcpt) {
            None => ' ',
            Some(done) => status_char(done),
        };
        let _ = writeln!(out, "RT:{status}{}", recipient_text(rcpt)?);
    }
    // Envelope recipients first, then leaves; the file has one finished
    // list, so an address finished in both roles is written once. A target
    // finished while the envelope recipient of the same address still
    // waits (`root: \root, dave@remote`: root's copy delivered, dave's
    // not) goes on an `RL:` line of ours: as an `RT:` line it would read
    // back as a finished envelope recipient and drop dave. The C program
    // ignores `RL:`, so at worst it delivers root's copy again.
    let mut written: HashSet<&Address> = HashSet::new();
    for (rcpt, done) in msg.top_done.iter().chain(&msg.finished) {
        if !written.insert(rcpt) {
            continue;
        }
        let tag = if msg.top_state(rcpt).is_none() && msg.rcpt_list.contains(rcpt) {
            "RL"
        } else {
            "RT"
        };
        let _ = writeln!(out, "{tag}:{}{}", status_char(*done), recipient_text(rcpt)?);
    }
    let _ = writeln!(out, "PR:{}", msg.protocol.spool_name());
    if let Some(host) = &msg.received_host {
        let _ = writeln!(out, "RH:{}", plain_value("RH", host)?);
    }
    if let Some(ident) = &msg.ident {
        let _ = writeln!(out, "ID:{}", plain_value("ID", ident)?);
    }
    let _ = writeln!(out, "DS: {}", msg.data_size);
    let _ = writeln!(out, "TR: {}", msg.received_time);
    if let Some(tw) = msg.warning_time {
        let _ = writeln!(out, "TW: {tw}");
    }
    if let Some(origin) = &msg.fetched_as {
        let _ = writeln!(out, "UI:{}", plain_value("UI", origin)?);
    }
    dsn::encode(&mut out, msg)?;
    last_error::encode(&mut out, msg)?;
    out.push(b'\n');
    for header in &msg.headers {
        check_header(&header.raw)?;
        out.extend_from_slice(b"HD:");
        out.extend_from_slice(&header.raw);
    }
    Ok(out)
}

fn status_char(done: Done) -> char {
    match done {
        Done::Delivered => 'X',
        Done::Failed => 'F',
    }
}

fn sender_text(addr: &Address) -> Result<String, SpoolError> {
    let text = format!("<{addr}>");
    round_trips(&text, addr, PipePolicy::Refuse, "MF")?;
    Ok(text)
}

/// `<local@domain>`, or `|command` for pipes (1.0 writes them bare).
fn recipient_text(addr: &Address) -> Result<String, SpoolError> {
    if addr.is_null() {
        return Err(SpoolError::Unencodable {
            field: "RT",
            why: "empty recipient address",
        });
    }
    let text = if addr.is_pipe() {
        addr.local.clone()
    } else {
        format!("<{addr}>")
    };
    round_trips(&text, addr, PipePolicy::Allow, "RT")?;
    Ok(text)
}

/// Refuses any address that the reader would not parse back to itself:
/// this catches line breaks and NULs, but also quoting, brackets and pipe
/// commands with a domain or outer whitespace.
fn round_trips(
    text: &str,
    addr: &Address,
    pipes: PipePolicy,
    field: &'static str,
) -> Result<(), SpoolError> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(SpoolError::Unencodable {
            field,
            why: "line break or NUL in address",
        });
    }
    match parse_path(text, pipes) {
        Ok(back) if back == *addr => Ok(()),
        _ => Err(SpoolError::Unencodable {
            field,
            why: "address would not read back unchanged",
        }),
    }
}

/// `RH:`/`ID:` values: one line, no outer whitespace (the reader trims).
fn plain_value<'a>(field: &'static str, value: &'a str) -> Result<&'a str, SpoolError> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(SpoolError::Unencodable {
            field,
            why: "line break or NUL",
        });
    }
    if value.trim() != value {
        return Err(SpoolError::Unencodable {
            field,
            why: "leading or trailing whitespace",
        });
    }
    Ok(value)
}

/// A header must end in LF, contain no NUL, and every line after the first
/// must be a continuation line; anything else would read back as a record.
fn check_header(raw: &[u8]) -> Result<(), SpoolError> {
    let unencodable = |why| {
        Err(SpoolError::Unencodable {
            field: "header",
            why,
        })
    };
    if raw.last() != Some(&b'\n') {
        return unencodable("does not end in a line feed");
    }
    if raw.contains(&0) {
        return unencodable("contains NUL");
    }
    for (i, &b) in raw[..raw.len() - 1].iter().enumerate() {
        if b == b'\n' && !matches!(raw[i + 1], b' ' | b'\t') {
            return unencodable("line after a line feed is not a continuation line");
        }
    }
    Ok(())
}

/// Parses a `-H` file of message `id`; `path` is used in errors only.
pub fn decode_header_file(id: &QueueId, bytes: &[u8], path: &Path) -> Result<Message, SpoolError> {
    let corrupt = |line: usize, what| SpoolError::Corrupt {
        path: path.to_path_buf(),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        what,
    };
    if bytes.is_empty() {
        return Err(corrupt(1, "empty file"));
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(corrupt(line_of(bytes, pos), "NUL byte"));
    }
    // Every line, the last included, must end in LF; else the file was
    // truncated mid-line, and half a line could change its meaning.
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Err(corrupt(
            line_of(bytes, bytes.len() - 1),
            "last line has no line feed (truncated?)",
        ));
    };
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    match lines.next() {
        Some((_, first)) if first == id.as_str().as_bytes() => {}
        _ => return Err(corrupt(1, "first line is not the message id")),
    }

    let mut env = Envelope::default();
    let mut end_of_envelope = None;
    for (n, line) in lines.by_ref() {
        if line.is_empty() {
            end_of_envelope = Some(n);
            break;
        }
        let line =
            std::str::from_utf8(line).map_err(|_| corrupt(n, "envelope line is not UTF-8"))?;
        env.line(line).map_err(|what| corrupt(n, what))?;
    }
    let Some(end) = end_of_envelope else {
        return Err(corrupt(
            body.split(|&b| b == b'\n').count() + 1,
            "no empty line after the envelope",
        ));
    };

    let mut headers: Vec<Header> = Vec::new();
    for (n, line) in lines {
        if line.len() >= 3 && line[..3].eq_ignore_ascii_case(b"HD:") {
            let mut raw = line[3..].to_vec();
            raw.push(b'\n');
            headers.push(Header { raw });
        } else if matches!(line.first(), Some(b' ' | b'\t')) {
            let Some(last) = headers.last_mut() else {
                return Err(corrupt(n, "continuation line before the first header"));
            };
            last.raw.extend_from_slice(line);
            last.raw.push(b'\n');
        } else {
            return Err(corrupt(
                n,
                "line is neither a header nor a continuation line",
            ));
        }
    }

    env.finish(id, headers).map_err(|what| corrupt(end, what))
}

/// 1-based line number of byte offset `pos`.
fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Envelope fields as they are read, before the required ones are checked.
#[derive(Default)]
struct Envelope {
    sender: Option<Address>,
    rcpt_list: Vec<Address>,
    finished: Vec<(Address, Done)>,
    /// `RL:` lines: finished as delivery targets only.
    leaves_only: Vec<(Address, Done)>,
    any_rcpt: bool,
    protocol: Option<Protocol>,
    host: Option<String>,
    ident: Option<String>,
    size: Option<u64>,
    received: Option<i64>,
    warned: Option<i64>,
    fetched_as: Option<String>,
    dsn: crate::message::Dsn,
    dsn_seen: bool,
    last_errors: Vec<last_error::Raw>,
}

impl Envelope {
    fn line(&mut self, line: &str) -> Result<(), &'static str> {
        let (Some(tag), Some(value)) = (line.get(..3), line.get(3..)) else {
            return Err("envelope line without a tag");
        };
        if !tag.ends_with(':') {
            return Err("envelope line without a tag");
        }
        match tag.to_ascii_uppercase().as_str() {
            "MF:" => {
                let addr = parse_path(value, PipePolicy::Refuse)
                    .map_err(|_| "unparsable sender address")?;
                set_once(&mut self.sender, addr, "more than one MF: line")
            }
            "RT:" => self.recipient(value),
            "RL:" => self.leaf(value),
            "PR:" => set_once(
                &mut self.protocol,
                protocol(value.trim()),
                "more than one PR: line",
            ),
            "RH:" => set_once(
                &mut self.host,
                value.trim().to_string(),
                "more than one RH: line",
            ),
            "ID:" => set_once(
                &mut self.ident,
                value.trim().to_string(),
                "more than one ID: line",
            ),
            "DS:" => {
                let n = value.trim().parse().map_err(|_| "bad number in DS:")?;
                set_once(&mut self.size, n, "more than one DS: line")
            }
            "TR:" => {
                let n = value.trim().parse().map_err(|_| "bad number in TR:")?;
                set_once(&mut self.received, n, "more than one TR: line")
            }
            "TW:" => {
                let n = value.trim().parse().map_err(|_| "bad number in TW:")?;
                set_once(&mut self.warned, n, "more than one TW: line")
            }
            "UI:" => set_once(
                &mut self.fetched_as,
                value.trim().to_string(),
                "more than one UI: line",
            ),
            "DE:" => dsn::decode_de(&mut self.dsn, &mut self.dsn_seen, value),
            "DR:" => dsn::decode_dr(&mut self.dsn, value),
            "LE:" => {
                self.last_errors.push(last_error::decode(value)?);
                Ok(())
            }
            _ => {
                tracing::warn!(tag, "unknown tag in spool header file ignored");
                Ok(())
            }
        }
    }

    /// `RT:` + status character + address. `X`/`F` lines go to the
    /// finished list only (first record wins), as 1.0 reads them.
    fn recipient(&mut self, value: &str) -> Result<(), &'static str> {
        let mut chars = value.chars();
        let status = chars.next().ok_or("RT: line without status and address")?;
        let addr = parse_path(chars.as_str(), PipePolicy::Allow)
            .map_err(|_| "unparsable recipient address")?;
        if addr.is_null() {
            return Err("empty recipient address");
        }
        self.any_rcpt = true;
        let done = match status {
            ' ' => {
                self.rcpt_list.push(addr);
                return Ok(());
            }
            'X' => Done::Delivered,
            'F' => Done::Failed,
            _ => return Err("bad recipient status character"),
        };
        if !self.finished.iter().any(|(a, _)| *a == addr) {
            self.finished.push((addr, done));
        }
        Ok(())
    }

    /// `RL:` + `X`/`F` + address: a delivery target finished while the
    /// envelope recipient of the same address is still pending.
    fn leaf(&mut self, value: &str) -> Result<(), &'static str> {
        let mut chars = value.chars();
        let done = match chars.next() {
            Some('X') => Done::Delivered,
            Some('F') => Done::Failed,
            _ => return Err("bad RL: status character"),
        };
        let addr =
            parse_path(chars.as_str(), PipePolicy::Allow).map_err(|_| "unparsable RL: address")?;
        if addr.is_null() {
            return Err("empty RL: address");
        }
        if !self.leaves_only.iter().any(|(a, _)| *a == addr) {
            self.leaves_only.push((addr, done));
        }
        Ok(())
    }

    fn finish(self, id: &QueueId, headers: Vec<Header>) -> Result<Message, &'static str> {
        let return_path = self.sender.ok_or("no MF: line")?;
        if !self.any_rcpt {
            return Err("no RT: line");
        }
        dsn::check_recipients(&self.dsn, &self.rcpt_list, &self.finished)?;
        let last_errors = last_error::resolve(self.last_errors, &self.rcpt_list, &self.finished)?;
        Ok(Message {
            id: id.clone(),
            return_path,
            rcpt_list: self.rcpt_list,
            // The file's finished list (`RT:` X/F lines) holds addresses
            // finished both as envelope recipients and as targets; `RL:`
            // lines add targets only.
            top_done: self.finished.clone(),
            finished: {
                let mut all = self.finished;
                for (a, d) in self.leaves_only {
                    if !all.iter().any(|(b, _)| *b == a) {
                        all.push((a, d));
                    }
                }
                all
            },
            // spool.md §3.1 says PR: occurs once, but an absent one harms
            // nothing: the message is simply not local.
            protocol: self.protocol.unwrap_or(Protocol::Unknown),
            received_host: self.host,
            ident: self.ident,
            data_size: self.size.ok_or("no DS: line")?,
            received_time: self.received.ok_or("no TR: line")?,
            warning_time: self.warned,
            fetched_as: self.fetched_as,
            dsn: self.dsn,
            last_errors,
            headers,
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, dup: &'static str) -> Result<(), &'static str> {
    if slot.is_some() {
        return Err(dup);
    }
    *slot = Some(value);
    Ok(())
}

/// 1.0 matches protocol names caselessly by prefix (spool.md §3.1, §10).
fn protocol(value: &str) -> Protocol {
    let lower = value.to_ascii_lowercase();
    [
        ("local", Protocol::Local),
        ("bsmtp", Protocol::Bsmtp),
        ("smtp", Protocol::Smtp),
        ("esmtp", Protocol::Esmtp),
        ("pop3", Protocol::Pop3),
        ("apop", Protocol::Apop),
    ]
    .into_iter()
    .find(|(name, _)| lower.starts_with(name))
    .map_or(Protocol::Unknown, |(_, p)| p)
}
