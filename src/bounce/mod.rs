//! Failure notices, delay warnings and success reports (delivery.md §12,
//! RFC 3461/3464): who gets them, which template is used, and the rendered
//! text. Spooling the notice is the queue run's job (in-process through
//! `accept`, with the null sender: `queue/notice.rs`); which recipients a
//! notice covers (their NOTIFY) is delivery's; this module imports neither
//! delivery nor the queue.
//!
//! Guarantees: a notice goes to the message's return path, or to
//! `postmaster@host_name` for the null sender; a null-sender message whose
//! failed recipients include `postmaster@host_name` produces no notice at
//! all, so a failing postmaster cannot start a bounce loop (R15); a success
//! report never goes to the null sender. Notices are submitted with the
//! null sender, so a notice that fails is reported to postmaster once and
//! then stops. A template that cannot be read is an error: the caller keeps
//! the recipients and tries again later, nothing is lost silently. Every
//! notice is a `multipart/report` (`report.rs`): the template's text, the
//! `message/delivery-status` part (`status.rs`), and the original message —
//! whole for failures (unless RET=HDRS), headers otherwise. A notice is
//! small whatever the message's size: it shows the body up to
//! [`BODY_LIMIT`] (64 KiB), cut at a line end, with a note saying how much
//! was left out (Postfix's `bounce_size_limit` does the same at 50 000
//! bytes); the headers are shown whole.
//!
//! # Security
//! Templates are administrator files (or ours). Everything else that goes
//! into a notice (addresses, headers, body, the reason) is inserted as data
//! and never expanded or executed (see [`template`]). Control characters in
//! one-line variables are replaced, so no value can add a header line.

mod report;
pub mod schedule;
mod status;
pub mod template;

use std::path::{Path, PathBuf};

use crate::address::Address;
use crate::config::Config;
use crate::message::Message;
use crate::message::dsn::{Orcpt, Ret};

pub use schedule::{expired, warning_due};
pub use template::{BODY_LIMIT, BodyExcerpt, render};

/// `${package}` in templates.
pub const PACKAGE: &str = "MasqMail";
/// `${version}` in templates.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A rendered notice, ready for submission with the null sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub recipient: Address,
    /// Headers, blank line, body; LF line ends.
    pub text: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BounceError {
    #[error("{}: cannot read notice template: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: notice template is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("no {name} found; tried {tried}")]
    NotFound { name: &'static str, tried: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Failure,
    Warning,
    Success,
}

impl Kind {
    fn file_name(self) -> &'static str {
        match self {
            Kind::Failure => "failmsg.tpl",
            Kind::Warning => "warnmsg.tpl",
            Kind::Success => "successmsg.tpl",
        }
    }
}

/// What a report says happened to a recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
    /// Delivered locally (mailbox, MDA, pipe).
    Delivered,
    /// Handed to a server or route pipe that takes no DSN requests.
    Relayed,
}

/// One recipient a notice reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The address delivery was tried for (`Final-Recipient`).
    pub rcpt: Address,
    /// The sender's ORCPT for its envelope recipient.
    pub orcpt: Option<Orcpt>,
    pub action: Action,
    /// The outcome's text (the reason); may be empty for successes.
    pub why: String,
}

/// The notice for recipients that failed permanently; `body` is the start
/// of the message body, returned (RET=FULL or no RET) up to
/// [`BODY_LIMIT`] bytes. `Ok(None)`: nobody is to be told.
pub fn failure_notice(
    cfg: &Config,
    msg: &Message,
    body: BodyExcerpt<'_>,
    failed: &[Reported],
) -> Result<Option<Notice>, BounceError> {
    notice(cfg, msg, Some(body), failed, Kind::Failure)
}

/// The warning for recipients still deferred (headers only, no body).
pub fn delay_warning(
    cfg: &Config,
    msg: &Message,
    deferred: &[Reported],
) -> Result<Option<Notice>, BounceError> {
    notice(cfg, msg, None, deferred, Kind::Warning)
}

/// The success report for recipients that asked for one (NOTIFY=SUCCESS),
/// delivered or relayed (headers only). Never sent for the null sender.
pub fn success_report(
    cfg: &Config,
    msg: &Message,
    done: &[Reported],
) -> Result<Option<Notice>, BounceError> {
    if msg.return_path.is_null() {
        return Ok(None);
    }
    notice(cfg, msg, None, done, Kind::Success)
}

fn notice(
    cfg: &Config,
    msg: &Message,
    body: Option<BodyExcerpt<'_>>,
    reported: &[Reported],
    kind: Kind,
) -> Result<Option<Notice>, BounceError> {
    if reported.is_empty() {
        return Ok(None);
    }
    let rcpts: Vec<Address> = reported.iter().map(|r| r.rcpt.clone()).collect();
    let rcpts = rcpts.as_slice();
    let Some(recipient) = notice_recipient(cfg, msg, rcpts) else {
        return Ok(None);
    };
    // RET=HDRS: the body is in no part, the template's `@msg_body` included.
    let body = body.filter(|_| msg.dsn.ret != Some(Ret::Hdrs));
    let reason = reasons(reported);
    let reason = reason.as_str();
    let template = load_template(cfg, kind)?;
    // For the null sender `${return_path}` names the notice's recipient
    // (postmaster), so that `To: ${return_path}` is never empty.
    let return_path = if msg.return_path.is_null() {
        &recipient
    } else {
        &msg.return_path
    };
    let vars = |name: &str| -> Option<String> {
        let line = |s: &str| one_line(s);
        Some(match name {
            "uid" => msg.id.to_string(),
            "received_host" => line(msg.received_host.as_deref().unwrap_or("")),
            "ident" => line(msg.ident.as_deref().unwrap_or("")),
            "return_path_local" => line(&msg.return_path.local),
            "return_path_domain" => line(&msg.return_path.domain),
            "return_path" => line(&return_path.to_string()),
            "host_name" => line(&cfg.host_name),
            "package" => PACKAGE.to_string(),
            "version" => VERSION.to_string(),
            "err_msg" => multi_line(reason),
            _ => return None,
        })
    };
    let rendered = render(&template, &vars, rcpts, &msg.headers, body);
    let now = chrono::Utc::now().timestamp();
    let retry_until = (kind == Kind::Warning).then(|| {
        let max = i64::try_from(cfg.max_defer_time.as_secs()).unwrap_or(i64::MAX);
        msg.received_time.saturating_add(max)
    });
    let status = status::delivery_status(&cfg.host_name, msg, reported, retry_until, now);
    let original = match body {
        Some(b) => report::Original::Full(&msg.headers, b),
        None => report::Original::Headers(&msg.headers),
    };
    let tag = format!("{}/{}", msg.id, cfg.host_name);
    let text = report::assemble(&rendered, &status, original, &tag);
    tracing::debug!(id = %msg.id, to = %recipient, kind = ?kind, "notice rendered");
    Ok(Some(Notice { recipient, text }))
}

/// The `${err_msg}` text: each distinct reason once, in order.
fn reasons(reported: &[Reported]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for r in reported {
        if !r.why.is_empty() && !out.contains(&r.why.as_str()) {
            out.push(&r.why);
        }
    }
    out.join("\n")
}

/// The return path, or postmaster for the null sender; `None` when the
/// null-sender message failed for postmaster itself.
fn notice_recipient(cfg: &Config, msg: &Message, rcpts: &[Address]) -> Option<Address> {
    if !msg.return_path.is_null() {
        return Some(msg.return_path.clone());
    }
    let postmaster = Address::new("postmaster", cfg.host_name.clone());
    if rcpts
        .iter()
        .any(|r| r.clone().qualify(&cfg.host_name).same_as(&postmaster, true))
    {
        tracing::warn!(id = %msg.id, "{} == <{postmaster}>: postmaster address failed", msg.id);
        return None;
    }
    Some(postmaster)
}

/// Control characters (CR, LF, ...) become `?`: a one-line value stays on
/// its line, even inside a header.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The reason may span lines (§12.4 reason texts); keep LF and TAB only.
fn multi_line(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// The shipped templates, built in: a binary installed without its `tpl/`
/// directory (`cargo install`, a copied file) still sends notices instead
/// of keeping failed mail queued forever.
const BUILT_IN: [(&str, &str); 3] = [
    ("failmsg.tpl", include_str!("../../tpl/failmsg.tpl")),
    ("warnmsg.tpl", include_str!("../../tpl/warnmsg.tpl")),
    ("successmsg.tpl", include_str!("../../tpl/successmsg.tpl")),
];

/// The template text: a configured file (an error when it is missing),
/// else a shipped file found near the binary, else the built-in copy.
fn load_template(cfg: &Config, kind: Kind) -> Result<String, BounceError> {
    let path = match template_path(cfg, kind) {
        Ok(path) => path,
        Err(BounceError::NotFound { name, tried }) => {
            tracing::debug!("no {name} found (tried {tried}); using the built-in one");
            let text = BUILT_IN
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, t)| t);
            return Ok(text.to_string());
        }
        Err(e) => return Err(e),
    };
    let bytes = std::fs::read(&path).map_err(|source| BounceError::Unreadable {
        path: path.clone(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| BounceError::NotUtf8 { path })
}

/// Which template to read, in this order:
/// 1. `errmsg_file` / `warnmsg_file` when set;
/// 2. `<template_dir>/failmsg.tpl` (`warnmsg.tpl`) when `template_dir` is set;
/// 3. next to the running binary, the first that exists of
///    `<exe_dir>/../share/masqmail/tpl/` (installed under a prefix),
///    `<exe_dir>/tpl/` (unpacked tree) and `<exe_dir>/../../tpl/` (the
///    source tree, for `target/debug/masqmail`).
///
/// Set paths are used as they are: a configured file that is missing is
/// an error, not a reason to pick another template.
fn template_path(cfg: &Config, kind: Kind) -> Result<PathBuf, BounceError> {
    let configured = match kind {
        Kind::Failure => &cfg.errmsg_file,
        Kind::Warning => &cfg.warnmsg_file,
        // masqmail has no success reports, so no setting names one.
        Kind::Success => &None,
    };
    if let Some(p) = configured {
        return Ok(p.clone());
    }
    if let Some(dir) = &cfg.template_dir {
        return Ok(dir.join(kind.file_name()));
    }
    let exe = std::env::current_exe().ok();
    find_near_exe(exe.as_deref(), kind.file_name())
}

fn find_near_exe(exe: Option<&Path>, name: &'static str) -> Result<PathBuf, BounceError> {
    let Some(dir) = exe.and_then(Path::parent) else {
        return Err(BounceError::NotFound {
            name,
            tried: "nothing (own executable unknown)".into(),
        });
    };
    let candidates = [
        dir.join("../share/masqmail/tpl"),
        dir.join("tpl"),
        dir.join("../../tpl"),
    ]
    .map(|d| d.join(name));
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried = candidates
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(BounceError::NotFound { name, tried })
}

#[cfg(test)]
mod tests;
