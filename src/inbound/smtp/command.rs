//! Parsing of one SMTP command line into a typed [`Command`] (RFC 5321
//! §4.1 plus the ESMTP parameters we announce: SIZE, 8BITMIME/BODY,
//! SMTPUTF8, CHUNKING/BDAT, DSN's RET/ENVID/NOTIFY/ORCPT).
//!
//! [`parse`] takes the line WITHOUT its line ending. It never looks at the
//! session state: whether a command is allowed now, whether a SIZE is too
//! large, whether a non-ASCII address came without SMTPUTF8 or whether a
//! path is a valid address are the session's decisions. Every refusal is a
//! [`CommandError`], and [`super::reply::Reply::refused`] is the one place that
//! maps it to the wire. [`LineSplitter`] cuts the input stream into lines
//! first (LF ends a line, a lone CR never does, overlong lines are
//! discarded with bounded memory).
//!
//! Leniency, on purpose: verbs and parameter keywords are case-insensitive;
//! leading and trailing blanks (SP, HTAB) are ignored; `MAIL FROM:` and
//! `RCPT TO:` may be followed by blanks before the path (as Postfix allows);
//! a path without angle brackets is taken up to the next blank (old
//! clients). Strictness, on purpose: unknown verbs give `500 5.5.1` (RFC 5321;
//! the C program said 501); unknown MAIL/RCPT parameters give `555 5.5.4`;
//! `DATA`, `RSET`, `QUIT` and `STARTTLS` refuse arguments (`501 5.5.4`).
//!
//! # Security
//! The line is hostile. It is refused whole, before any other parsing, if
//! it is longer than [`MAX_LINE`], holds a NUL, a CR or an LF (RELIABILITY
//! R03: a lone CR is never a line break, and the splitter upstream already
//! removed the line end), or is not UTF-8. So every `String` in a
//! [`Command`] is valid UTF-8 without control line breaks or NUL, and at most
//! [`MAX_LINE`] bytes long. Numbers are parsed with overflow checks (R05).
//! Nothing here allocates more than the line's length.

use crate::message::dsn::{Notify, Orcpt, Ret, XText};
use thiserror::Error;

use params::{mail_params, rcpt_params};

/// The longest command line accepted, INCLUDING its CRLF. RFC 5321
/// §4.5.3.1.4 gives 512 octets, but ESMTP parameters (§4.5.3.1.2: SIZE,
/// DSN's ENVID/ORCPT in xtext, SMTPUTF8 addresses) make real lines longer,
/// so we allow 2048 like other MTAs that allow "a bit more". Longer lines
/// are refused with `500 5.5.2` (R04).
pub const MAX_LINE: usize = 2048;

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO domain`: the first word of the argument.
    Helo(String),
    /// `EHLO domain`: the first word of the argument.
    Ehlo(String),
    /// `MAIL FROM:path [params]`.
    Mail {
        /// The path token as sent, e.g. `<a@b>`, `<>` or a bare `a@b`.
        from: String,
        params: MailParams,
    },
    /// `RCPT TO:path [params]`.
    Rcpt {
        /// The path token as sent, e.g. `<a@b>` (`<>` too: the session refuses it).
        to: String,
        params: RcptParams,
    },
    Data,
    /// `BDAT size [LAST]` (RFC 3030). `size` can be as large as `u64::MAX`;
    /// limits are the session's.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    /// `NOOP [string]`: the argument is ignored.
    Noop,
    Quit,
    /// `HELP [topic]`: the topic is ignored.
    Help,
    /// `VRFY string` (answered 252 by the session).
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    StartTls,
    /// `AUTH ...`: the whole argument. AUTH is not offered; the session answers 502.
    Auth(String),
}

impl Command {
    /// The verb, upper case, for logs and "bad sequence" replies.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Helo(_) => "HELO",
            Command::Ehlo(_) => "EHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Help => "HELP",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::StartTls => "STARTTLS",
            Command::Auth(_) => "AUTH",
        }
    }
}

/// `BODY=` of MAIL (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    /// Only valid with BDAT; the session decides whether to allow it.
    BinaryMime,
}

/// The parameters of MAIL we know. Each may appear once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870): the client's estimate in bytes.
    pub size: Option<u64>,
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531), a keyword without value.
    pub smtputf8: bool,
    /// DSN `RET=FULL|HDRS` (RFC 3461).
    pub ret: Option<Ret>,
    /// DSN `ENVID=xtext`, as sent.
    pub envid: Option<XText>,
}

/// The parameters of RCPT we know (DSN, RFC 3461).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=NEVER` or a comma list of SUCCESS, FAILURE, DELAY.
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, as sent.
    pub orcpt: Option<Orcpt>,
}

/// Why a line is not a command we accept. [`super::reply::Reply::refused`] maps each to the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// The verb is not one we know.
    #[error("command not recognized")]
    Unrecognized,
    /// The verb is known but its arguments are malformed; the text says what is expected.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// A MAIL/RCPT parameter keyword we do not support (upper-cased).
    #[error("unsupported parameter {0}")]
    BadParam(String),
    /// A known parameter with a missing, superfluous or malformed value.
    #[error("invalid value for parameter {0}")]
    BadValue(&'static str),
    /// A parameter given twice.
    #[error("duplicate parameter {0}")]
    DuplicateParam(&'static str),
    /// The line (plus CRLF) is longer than [`MAX_LINE`].
    #[error("line too long")]
    LineTooLong,
    /// A CR inside the line.
    #[error("bare CR in command")]
    BareCr,
    /// An LF inside the line (only if the splitter let one through).
    #[error("bare LF in command")]
    BareLf,
    #[error("NUL in command")]
    Nul,
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

/// Parse one command line given without its line ending.
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    // Whole-line checks first: they hold for every verb.
    if line.len() > MAX_LINE - 2 {
        return Err(CommandError::LineTooLong);
    }
    if line.contains(&0) {
        return Err(CommandError::Nul);
    }
    if line.contains(&b'\r') {
        return Err(CommandError::BareCr);
    }
    if line.contains(&b'\n') {
        return Err(CommandError::BareLf);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::InvalidUtf8)?;
    let line = line.trim_matches(is_blank);
    let (verb, rest) = match line.find(is_blank) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_blank)),
        None => (line, ""),
    };
    if verb.len() > 8 {
        return Err(CommandError::Unrecognized);
    }
    match verb.to_ascii_uppercase().as_str() {
        "HELO" => Ok(Command::Helo(first_word(rest, "HELO domain")?)),
        "EHLO" => Ok(Command::Ehlo(first_word(rest, "EHLO domain")?)),
        "MAIL" => {
            let (from, params) = path_and_params(rest, "FROM:", "MAIL FROM:<address>")?;
            Ok(Command::Mail {
                from,
                params: mail_params(params)?,
            })
        }
        "RCPT" => {
            let (to, params) = path_and_params(rest, "TO:", "RCPT TO:<address>")?;
            Ok(Command::Rcpt {
                to,
                params: rcpt_params(params)?,
            })
        }
        "DATA" => no_args(rest, Command::Data, "DATA"),
        "BDAT" => bdat(rest),
        "RSET" => no_args(rest, Command::Rset, "RSET"),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(rest, Command::Quit, "QUIT"),
        "HELP" => Ok(Command::Help),
        "VRFY" => Ok(Command::Vrfy(non_empty(rest, "VRFY string")?)),
        "EXPN" => Ok(Command::Expn(non_empty(rest, "EXPN string")?)),
        "STARTTLS" => no_args(rest, Command::StartTls, "STARTTLS"),
        "AUTH" => Ok(Command::Auth(rest.to_string())),
        _ => Err(CommandError::Unrecognized),
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn first_word(rest: &str, usage: &'static str) -> Result<String, CommandError> {
    match rest.split(is_blank).next() {
        Some(w) if !w.is_empty() => Ok(w.to_string()),
        _ => Err(CommandError::Syntax(usage)),
    }
}

fn non_empty(rest: &str, usage: &'static str) -> Result<String, CommandError> {
    if rest.is_empty() {
        return Err(CommandError::Syntax(usage));
    }
    Ok(rest.to_string())
}

fn no_args(rest: &str, cmd: Command, usage: &'static str) -> Result<Command, CommandError> {
    if !rest.is_empty() {
        return Err(CommandError::Syntax(usage));
    }
    Ok(cmd)
}

/// `BDAT size [LAST]`: size is decimal digits only (no sign) and fits u64.
fn bdat(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "BDAT <size> [LAST]";
    let mut words = rest.split(is_blank).filter(|w| !w.is_empty());
    let size = words
        .next()
        .and_then(decimal)
        .ok_or(CommandError::Syntax(USAGE))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax(USAGE)),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Bdat { size, last })
}

/// Decimal digits only, no sign, no overflow.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Split `FROM:<path> params` (or `TO:`) into the path token and the rest.
fn path_and_params<'a>(
    rest: &'a str,
    keyword: &'static str,
    usage: &'static str,
) -> Result<(String, &'a str), CommandError> {
    let after = match rest.get(..keyword.len()) {
        Some(k) if k.eq_ignore_ascii_case(keyword) => &rest[keyword.len()..],
        _ => return Err(CommandError::Syntax(usage)),
    };
    let after = after.trim_start_matches(is_blank);
    let end = path_end(after).ok_or(CommandError::Syntax(usage))?;
    let (path, params) = after.split_at(end);
    if path.is_empty() {
        return Err(CommandError::Syntax(usage));
    }
    Ok((path.to_string(), params))
}

/// Byte index just past the path token, or None if a `<...>` is not closed
/// or is followed by something other than a blank.
fn path_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'<') {
        return Some(s.find(is_blank).unwrap_or(s.len()));
    }
    // Inside <...>: a quoted local part may hold blanks and '>'; a
    // backslash inside quotes escapes the next byte.
    let mut quoted = false;
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'>' if !quoted => {
                return match b.get(i + 1) {
                    None | Some(b' ') | Some(b'\t') => Some(i + 1),
                    Some(_) => None,
                };
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[path = "command_params.rs"]
mod params;

#[path = "command_line.rs"]
mod line;
pub use line::{LineSplitter, NextLine};

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "command_refusal_tests.rs"]
mod refusal_tests;
