//! Acceptance: any input (stdin, SMTP, POP3, our own notices) becomes one
//! spooled [`Message`]. This is the only writer of new spool entries and
//! the only place that says "accepted".
//!
//! `accept` returning `Ok` means the message is durable (spool commit
//! synced file and directory); nothing is acknowledged before that.
//!
//! # Security
//! Everything a caller hands in (addresses, `-F` name, headers) ends up in
//! the spool's line-based `-H` file. Addresses were parsed by the RFC 821
//! parser (no control characters); the full name is refused if it holds a
//! line break or NUL; header recipients (`-t`) that are pipes are dropped;
//! the spool encoder refuses anything that would still break a line.

use crate::address::{Address, PipePolicy, parse_address_list, parse_path};
use crate::config::Config;
use crate::message::read::RawMessage;
use crate::message::{Dsn, Header, Message, Protocol, QueueId, date};
use crate::spool::{Reservation, Spool, SpoolError};

/// Shown in `Received:` and notices.
pub const PACKAGE: &str = "MasqMail";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the door knows about a message besides its text.
#[derive(Debug, Clone)]
pub struct Submission {
    pub return_path: Address,
    /// Envelope recipients, qualified where the spec says so.
    pub recipients: Vec<Address>,
    /// `-t`: add the To:/Cc:/Bcc: addresses.
    pub recipients_from_headers: bool,
    /// `-F`: display name for a generated `From:`.
    pub full_name: Option<String>,
    pub protocol: Protocol,
    /// Peer address for network input; `None` for local submissions.
    pub received_host: Option<String>,
    /// Login of a local submitter.
    pub ident: Option<String>,
    /// Real uid of a local submitter (for `Received: … from userid N`).
    pub uid: u32,
    /// A fetched message's origin (`Message::fetched_as`).
    pub fetched_as: Option<String>,
    /// DSN requests (RFC 3461) from the SMTP transaction, kept with the
    /// message (`Message::dsn`).
    pub dsn: Dsn,
    /// A failure notice or delay warning: never refused for
    /// `queue_minfree` (a notice is small and needed most when the disk
    /// fills; issue 9).
    pub notice: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("no recipients.")]
    NoRecipients,
    #[error("{0} contains a line break or NUL")]
    Unsafe(&'static str),
    #[error("Could not write spool file: {0}")]
    Spool(#[from] SpoolError),
    /// Free space below `queue_minfree` (RELIABILITY R36): try later.
    #[error("not enough free space in the spool ({free} bytes free, {needed} needed)")]
    NoSpace { free: u64, needed: u64 },
}

/// Refuses new mail while the spool's file system has less than
/// `queue_minfree` plus `size` bytes free. Queue runs are not affected, so
/// delivering (and removing) mail frees space.
pub fn check_space(cfg: &Config, spool: &Spool, size: u64) -> Result<(), AcceptError> {
    if cfg.queue_minfree == 0 {
        return Ok(());
    }
    let needed = cfg.queue_minfree.saturating_add(size);
    match spool.free_bytes() {
        Ok(free) if free < needed => {
            tracing::warn!("refusing mail: {free} bytes free in the spool, {needed} needed");
            Err(AcceptError::NoSpace { free, needed })
        }
        // Unknown free space must not stop mail; the write will tell.
        _ => Ok(()),
    }
}

/// Spools `raw` with the envelope of `sub` after the header processing of
/// delivery.md §4.1. `transfer` is the session's message counter (ids).
pub fn accept(
    cfg: &Config,
    spool: &Spool,
    sub: Submission,
    raw: RawMessage,
    transfer: u32,
) -> Result<Message, AcceptError> {
    check_full_name(&sub)?;
    if !sub.notice {
        check_space(cfg, spool, raw.body.len() as u64)?;
    }
    let mut reservation = reserve(spool, transfer)?;
    reservation.append(&raw.body)?;
    accept_reserved(cfg, spool, sub, raw.headers, reservation)
}

/// Claims a new message id; its data file is written with
/// [`Reservation::append`] while the message arrives, and the message
/// becomes visible only through [`accept_reserved`].
///
/// An id holds the second, the pid and one of 3844 transfer numbers, so
/// one process can name at most 3844 messages a second (the format's
/// limit, masqmail's too). Past that, the reservation waits for the next
/// second instead of refusing the message.
pub fn reserve(spool: &Spool, transfer: u32) -> Result<Reservation, AcceptError> {
    let mut tries = 0;
    loop {
        let now = chrono::Local::now();
        let second = now.timestamp().max(0) as u64;
        match spool.reserve(second, std::process::id(), transfer) {
            Err(SpoolError::IdsExhausted) if tries < 3 => {
                tries += 1;
                let into = u64::from(now.timestamp_subsec_millis());
                std::thread::sleep(std::time::Duration::from_millis(1000 - into.min(999)));
            }
            result => return Ok(result?),
        }
    }
}

/// Spools a message whose body is already in `reservation`'s data file,
/// with the header fields as they came, after the header processing of
/// delivery.md §4.1. Dropping the reservation on any error removes the
/// data file: nothing half-written ever appears in the queue.
pub fn accept_reserved(
    cfg: &Config,
    spool: &Spool,
    mut sub: Submission,
    input_headers: Vec<Header>,
    reservation: Reservation,
) -> Result<Message, AcceptError> {
    check_full_name(&sub)?;
    let body_len = reservation.body_len();
    if !sub.notice {
        check_space(cfg, spool, body_len)?;
    }
    if sub.recipients_from_headers {
        for h in input_headers
            .iter()
            .filter(|h| h.is("To") || h.is("Cc") || h.is("Bcc"))
        {
            sub.recipients.extend(header_recipients(h, &cfg.host_name));
        }
    }
    if sub.recipients.is_empty() {
        tracing::warn!("no recipients found in message");
        return Err(AcceptError::NoRecipients);
    }

    tracing::debug!(
        "accepting from <{}>: {} recipient(s), {} header field(s), body {body_len} bytes",
        sub.return_path,
        sub.recipients.len(),
        input_headers.len(),
    );
    let mut headers: Vec<Header> = input_headers
        .into_iter()
        .filter(|h| !(h.is("Bcc") || h.is("Envelope-To") || h.is("Return-Path")))
        .collect();
    let has = |headers: &[Header], n: &str| headers.iter().any(|h| h.is(n));

    let now = chrono::Local::now();
    let id = reservation.id().clone();

    if !has(&headers, "From") && !has(&headers, "Sender") {
        headers.push(from_header(&sub.return_path, sub.full_name.as_deref()));
    }
    if !has(&headers, "To") && !has(&headers, "Cc") {
        headers.push(Header::new("To", "undisclosed-recipients:;"));
    }
    if !has(&headers, "Date") {
        headers.push(Header::new("Date", &date::rfc822_date(now)));
    }
    if !has(&headers, "Message-ID") {
        headers.push(Header::new(
            "Message-ID",
            &format!("<{id}@{}>", cfg.host_name),
        ));
    }
    headers.insert(0, received_header(cfg, &sub, &id, &date::rfc822_date(now)));

    let msg = Message {
        id,
        return_path: sub.return_path,
        rcpt_list: sub.recipients,
        top_done: Vec::new(),
        finished: Vec::new(),
        protocol: sub.protocol,
        received_host: sub.received_host,
        ident: sub.ident,
        data_size: body_len,
        received_time: now.timestamp(),
        warning_time: None,
        fetched_as: sub.fetched_as,
        dsn: sub.dsn,
        last_errors: Vec::new(),
        headers,
    };
    spool.commit_appended(reservation, &msg)?;
    let via = match &msg.received_host {
        Some(host) => format!("host={host} with {}", msg.protocol.spool_name()),
        None => format!("with {}", msg.protocol.spool_name()),
    };
    tracing::info!("{} <= <{}> {via}", msg.id, msg.return_path);
    Ok(msg)
}

fn check_full_name(sub: &Submission) -> Result<(), AcceptError> {
    match &sub.full_name {
        Some(name) if name.contains(['\r', '\n', '\0']) => {
            Err(AcceptError::Unsafe("the full name (-F)"))
        }
        _ => Ok(()),
    }
}

/// The addresses of one To:/Cc:/Bcc: header, qualified; pipes and anything
/// the RFC 821 parser would refuse are dropped with a warning.
fn header_recipients(h: &Header, host_name: &str) -> Vec<Address> {
    parse_address_list(h.value())
        .into_iter()
        .filter_map(|la| {
            let text = la.addr.to_string();
            match parse_path(&text, PipePolicy::Refuse) {
                Ok(a) if !a.is_null() => Some(a.qualify(host_name)),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("ignoring header recipient '{text}': {e}");
                    None
                }
            }
        })
        .collect()
}

/// `From: <rp>` or `From: "<name>" <<rp>>` (delivery.md §4.1).
fn from_header(rp: &Address, full_name: Option<&str>) -> Header {
    match full_name {
        Some(name) => {
            let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
            Header::new("From", &format!("\"{quoted}\" <{rp}>"))
        }
        None => Header::new("From", &rp.to_string()),
    }
}

/// The `Received:` header of delivery.md §4.1, first in the message.
fn received_header(cfg: &Config, sub: &Submission, id: &QueueId, date: &str) -> Header {
    let for_clause = match sub.recipients.as_slice() {
        [one] => format!("\n\tfor <{one}>"),
        _ => String::new(),
    };
    let value = match &sub.received_host {
        None => format!(
            "by {} ({PACKAGE} {VERSION}, from userid {})\n\tid {id}{for_clause}; {date}",
            cfg.host_name, sub.uid
        ),
        // A network client that authenticated (SMTP AUTH, inside TLS):
        // RFC 3848's `ESMTPSA`, and who it proved to be.
        Some(peer) if let Some(user) = &sub.ident => format!(
            "from {peer} (authenticated as {user})\n\tby {} with {}SA ({PACKAGE} {VERSION})\n\tid {id}{for_clause}; {date}",
            cfg.host_name,
            sub.protocol.spool_name()
        ),
        Some(peer) => format!(
            "from {peer}\n\tby {} with {} ({PACKAGE} {VERSION})\n\tid {id}{for_clause}; {date}",
            cfg.host_name,
            sub.protocol.spool_name()
        ),
    };
    Header::new("Received", &value)
}
