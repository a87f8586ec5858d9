//! A message as masqmail keeps it: the envelope (what the spool's `-H` file
//! records), the header lines exactly as they will be sent, and the body.
//!
//! Headers are kept as raw bytes (8-bit clean, LF line ends, folding
//! preserved) so that nothing is ever re-serialised: rewriting splices bytes.

pub mod date;
pub mod id;
pub mod read;

pub use id::QueueId;

use crate::address::Address;

/// How the message came in (spool `PR:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Local,
    Smtp,
    Esmtp,
    /// 0.2 `bsmtp`, `pop3`, `apop` and anything unknown read from a spool.
    Pop3,
    Apop,
    Bsmtp,
    Unknown,
}

impl Protocol {
    /// The spelling masqmail 1.0 writes into `PR:`.
    pub fn spool_name(self) -> &'static str {
        match self {
            Protocol::Local => "local",
            Protocol::Smtp => "SMTP",
            Protocol::Esmtp => "ESMTP",
            Protocol::Pop3 => "pop3",
            Protocol::Apop => "apop",
            Protocol::Bsmtp => "bsmtp",
            Protocol::Unknown => "unknown",
        }
    }
}

/// Final state of a recipient, as the spool records it (`X`, `F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Delivered,
    Failed,
}

/// One header field: the full text of its lines (name, colon, value,
/// continuation lines), each line ending in LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub raw: Vec<u8>,
}

impl Header {
    /// Builds a header from `Name: value` (value may contain folded lines).
    pub fn new(name: &str, value: &str) -> Header {
        let mut raw = format!("{name}: {value}").into_bytes();
        if raw.last() != Some(&b'\n') {
            raw.push(b'\n');
        }
        Header { raw }
    }

    /// The field name (text before the first colon), without whitespace.
    pub fn name(&self) -> &[u8] {
        let end = self.raw.iter().position(|&b| b == b':').unwrap_or(self.raw.len());
        self.raw[..end].trim_ascii()
    }

    /// Exact, caseless comparison of the field name (delivery.md §18.10:
    /// never by prefix).
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// Everything after the colon, including folding, without the final LF.
    pub fn value(&self) -> &[u8] {
        let start = self.raw.iter().position(|&b| b == b':').map_or(self.raw.len(), |i| i + 1);
        let mut v = &self.raw[start..];
        if let Some(stripped) = v.strip_suffix(b"\n") {
            v = stripped;
        }
        v
    }
}

/// A message with its envelope. `rcpt_list` are the envelope recipients in
/// their original order; `finished` holds every address that reached a
/// final state (including alias expansions and `log_user`), which is
/// authoritative: an address listed there is never delivered again
/// (spool.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: QueueId,
    pub return_path: Address,
    pub rcpt_list: Vec<Address>,
    pub finished: Vec<(Address, Done)>,
    pub protocol: Protocol,
    pub received_host: Option<String>,
    pub ident: Option<String>,
    /// Body size in bytes (`DS:`).
    pub data_size: u64,
    /// Unix time of reception (`TR:`).
    pub received_time: i64,
    /// Unix time of the last delay warning (`TW:`).
    pub warning_time: Option<i64>,
    pub headers: Vec<Header>,
}

impl Message {
    /// The final state recorded for `addr`, if any.
    pub fn finished_state(&self, addr: &Address) -> Option<Done> {
        self.finished.iter().find(|(a, _)| a == addr).map(|&(_, d)| d)
    }

    /// Records a final state once; later records for the same address are ignored.
    pub fn mark(&mut self, addr: &Address, done: Done) {
        if self.finished_state(addr).is_none() {
            self.finished.push((addr.clone(), done));
        }
    }

    /// True when every envelope recipient is finished.
    pub fn is_complete(&self) -> bool {
        self.rcpt_list.iter().all(|r| self.finished_state(r).is_some())
    }

    /// Recipients still to be delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Address> {
        self.rcpt_list.iter().filter(|r| self.finished_state(r).is_none())
    }

    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.is(name))
    }
}
