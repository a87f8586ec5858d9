//! A message as masqmail keeps it: the envelope (what the spool's `-H` file
//! records), the header lines exactly as they will be sent, and the body.
//!
//! Headers are kept as raw bytes (8-bit clean, LF line ends, folding
//! preserved) so that nothing is ever re-serialised: rewriting splices bytes.

pub mod date;
pub mod dsn;
pub mod id;
pub mod last_error;
pub mod read;
pub mod stream;

pub use dsn::Dsn;
pub use id::QueueId;
pub use last_error::LastError;

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
        let end = self
            .raw
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(self.raw.len());
        self.raw[..end].trim_ascii()
    }

    /// Exact, caseless comparison of the field name (delivery.md §18.10:
    /// never by prefix).
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// Everything after the colon, including folding, without the final LF.
    pub fn value(&self) -> &[u8] {
        let start = self
            .raw
            .iter()
            .position(|&b| b == b':')
            .map_or(self.raw.len(), |i| i + 1);
        let mut v = &self.raw[start..];
        if let Some(stripped) = v.strip_suffix(b"\n") {
            v = stripped;
        }
        v
    }
}

/// A message with its envelope.
///
/// Two lists record progress, mirroring the two sections of `RT:` lines in
/// the spool (spool.md §3.1):
/// * `rcpt_list` are the envelope recipients still pending when the
///   message was read, in their original order; `top_done` records the ones
///   that reached a final state since (a top-level recipient is delivered
///   when all its alias expansions are, failed when all are finished but not
///   all delivered). They are written as the first section, status char
///   from `top_done`.
/// * `finished` holds every address that reached a final state, alias
///   expansions and `log_user` included. It is authoritative for leaves:
///   an address listed there is never delivered again.
///
/// They differ exactly when an alias expands to its own address
/// (`root: \root, carol`): `root` the mailbox may be delivered while
/// `root` the recipient still waits for `carol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: QueueId,
    pub return_path: Address,
    pub rcpt_list: Vec<Address>,
    pub top_done: Vec<(Address, Done)>,
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
    /// A fetched message's origin, `<user>@<server> <uid>` (`UI:`, ours;
    /// the C program ignores the tag): the fetch treats the UID as known
    /// while the message is in the spool, so a crash between the spool
    /// commit and the UIDL file's update never fetches it twice.
    pub fetched_as: Option<String>,
    /// DSN requests (RFC 3461; `DE:`/`DR:`, ours: the C program ignores
    /// the tags).
    pub dsn: Dsn,
    /// Each waiting envelope recipient's last deferral reason (`LE:`, ours:
    /// the C program ignores the tag); written for pending recipients
    /// only, so a finished recipient's entry goes with the next update.
    pub last_errors: Vec<LastError>,
    pub headers: Vec<Header>,
}

fn state_of(list: &[(Address, Done)], addr: &Address) -> Option<Done> {
    list.iter().find(|(a, _)| a == addr).map(|&(_, d)| d)
}

impl Message {
    /// The final state recorded for `addr` as a delivery target (leaf).
    pub fn finished_state(&self, addr: &Address) -> Option<Done> {
        state_of(&self.finished, addr)
    }

    /// The final state of envelope recipient `addr` (first `RT:` section).
    pub fn top_state(&self, addr: &Address) -> Option<Done> {
        state_of(&self.top_done, addr)
    }

    /// Records a leaf's final state once; later records are ignored.
    pub fn mark(&mut self, addr: &Address, done: Done) {
        if self.finished_state(addr).is_none() {
            self.finished.push((addr.clone(), done));
        }
    }

    /// Records an envelope recipient's final state once.
    pub fn mark_top(&mut self, addr: &Address, done: Done) {
        if self.top_state(addr).is_none() {
            self.top_done.push((addr.clone(), done));
        }
    }

    /// Forgets a final state recorded in this run (a failure whose notice
    /// could not be spooled: the recipient is retried instead).
    pub fn unmark(&mut self, addr: &Address, done: Done) {
        self.finished.retain(|(a, d)| !(a == addr && *d == done));
    }

    /// [`Message::unmark`] for an envelope recipient.
    pub fn unmark_top(&mut self, addr: &Address, done: Done) {
        self.top_done.retain(|(a, d)| !(a == addr && *d == done));
    }

    /// True when every envelope recipient is finished.
    pub fn is_complete(&self) -> bool {
        self.rcpt_list.iter().all(|r| self.top_state(r).is_some())
    }

    /// Envelope recipients still to be delivered.
    pub fn pending(&self) -> impl Iterator<Item = &Address> {
        self.rcpt_list
            .iter()
            .filter(|r| self.top_state(r).is_none())
    }

    /// The last deferral reason recorded for envelope recipient `rcpt`.
    pub fn last_error(&self, rcpt: &Address) -> Option<&LastError> {
        self.last_errors.iter().find(|e| e.rcpt == *rcpt)
    }

    /// Records `rcpt`'s deferral reason at `time`, replacing an older one.
    pub fn set_last_error(&mut self, rcpt: &Address, time: i64, why: &str) {
        self.last_errors.retain(|e| e.rcpt != *rcpt);
        self.last_errors
            .push(LastError::new(rcpt.clone(), time, why));
    }

    pub fn header(&self, name: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.is(name))
    }
}
