//! Every reply the SMTP server can give, in one table: the code, the
//! enhanced status code (RFC 3463, announced as ENHANCEDSTATUSCODES,
//! RFC 2034) and the text. A reader finds any reply text by grepping this
//! file; the session only picks constructors.
//!
//! # Security
//! Text taken from the client is never echoed except as an address that
//! the RFC 821 parser accepted or a number we parsed; refusals of command
//! syntax quote only our own keywords.

use std::fmt::Write as _;

use super::command::CommandError;

/// An enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Esc(pub u8, pub u16, pub u16);

/// One reply: a code and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `None` for the replies that RFC 2034 §3 leaves without one (the
    /// greeting, HELO/EHLO, 354).
    pub esc: Option<Esc>,
    pub lines: Vec<String>,
}

impl Reply {
    fn new(code: u16, esc: Option<Esc>, text: impl Into<String>) -> Reply {
        Reply {
            code,
            esc,
            lines: vec![text.into()],
        }
    }

    fn esc(code: u16, esc: (u8, u16, u16), text: impl Into<String>) -> Reply {
        Reply::new(code, Some(Esc(esc.0, esc.1, esc.2)), text)
    }

    /// The reply as it goes on the wire, CRLF after each line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        for (i, text) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let mut line = format!("{}{sep}", self.code);
            if let Some(Esc(c, s, d)) = self.esc {
                let _ = write!(line, "{c}.{s}.{d} ");
            }
            line.push_str(text);
            line.push_str("\r\n");
            out.extend_from_slice(line.as_bytes());
        }
    }

    /// The reply as text without line ends (tests, logs).
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    // --- connection ---------------------------------------------------

    pub fn greeting(host: &str, version: &str) -> Reply {
        Reply::new(220, None, format!("{host} MasqMail {version} ESMTP"))
    }
    pub fn bye(host: &str) -> Reply {
        Reply::esc(221, (2, 0, 0), format!("{host} closing connection"))
    }
    pub fn defer_all(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 3, 2),
            format!("{host} service temporarily unavailable."),
        )
    }
    pub fn timeout(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 4, 2),
            format!("{host} timeout, closing connection"),
        )
    }
    pub fn too_slow(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 4, 2),
            format!("{host} data arrives too slowly, closing connection"),
        )
    }
    pub fn too_many_connections(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 7, 0),
            format!("{host} too many connections, try again later"),
        )
    }
    pub fn too_many_from_host(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 7, 0),
            format!("{host} too many connections from your address, try again later"),
        )
    }

    // --- greeting and simple verbs -----------------------------------

    pub fn helo(host: &str) -> Reply {
        Reply::new(250, None, format!("{host} pretty old mailer, huh?"))
    }
    /// The EHLO reply: the first line, then one line per extension.
    pub fn ehlo(host: &str, extensions: &[String]) -> Reply {
        let mut lines = vec![format!("{host} Nice to meet you with ESMTP")];
        lines.extend(extensions.iter().cloned());
        Reply {
            code: 250,
            esc: None,
            lines,
        }
    }
    pub fn ok() -> Reply {
        Reply::esc(250, (2, 0, 0), "OK")
    }
    pub fn help() -> Reply {
        Reply {
            code: 214,
            esc: Some(Esc(2, 0, 0)),
            lines: vec![
                "supported commands:".into(),
                "HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS".into(),
                "HELP".into(),
            ],
        }
    }
    pub fn vrfy() -> Reply {
        Reply::esc(
            252,
            (2, 5, 0),
            "cannot VRFY user, but will accept message and attempt delivery",
        )
    }
    pub fn expn_unavailable() -> Reply {
        Reply::esc(502, (5, 5, 1), "EXPN not available")
    }
    pub fn auth_unavailable() -> Reply {
        Reply::esc(502, (5, 5, 1), "AUTH not available")
    }

    // --- sequence ------------------------------------------------------

    pub fn need_helo() -> Reply {
        Reply::esc(503, (5, 5, 1), "need HELO or EHLO.")
    }
    pub fn mail_given() -> Reply {
        Reply::esc(503, (5, 5, 1), "MAIL FROM: already given.")
    }
    pub fn need_mail(verb: &str) -> Reply {
        Reply::esc(503, (5, 5, 1), format!("need MAIL FROM: before {verb}"))
    }
    pub fn need_rcpt(verb: &str) -> Reply {
        Reply::esc(
            554,
            (5, 5, 1),
            format!("need RCPT TO: before {verb} (no valid recipients)"),
        )
    }
    pub fn data_after_bdat() -> Reply {
        Reply::esc(503, (5, 5, 1), "DATA not allowed after BDAT")
    }

    // --- MAIL and RCPT -------------------------------------------------

    pub fn sender_ok(addr: &str) -> Reply {
        Reply::esc(250, (2, 1, 0), format!("OK {addr} is a nice guy."))
    }
    pub fn rcpt_ok(addr: &str) -> Reply {
        Reply::esc(250, (2, 1, 5), format!("OK {addr} is our friend."))
    }
    pub fn size_exceeded() -> Reply {
        Reply::esc(552, (5, 3, 4), "Message size exceeds fixed limit.")
    }
    pub fn no_storage() -> Reply {
        Reply::esc(452, (4, 3, 1), "Insufficient system storage")
    }
    pub fn sender_too_long() -> Reply {
        Reply::esc(553, (5, 1, 7), "Address too long.")
    }
    pub fn bad_sender(why: &str) -> Reply {
        Reply::esc(501, (5, 1, 7), why.to_string())
    }
    pub fn sender_unqualified() -> Reply {
        Reply::esc(501, (5, 1, 7), "return path must be qualified.")
    }
    pub fn rcpt_too_long() -> Reply {
        Reply::esc(553, (5, 1, 3), "Address too long.")
    }
    pub fn bad_rcpt(why: &str) -> Reply {
        Reply::esc(501, (5, 1, 3), why.to_string())
    }
    pub fn empty_rcpt() -> Reply {
        Reply::esc(501, (5, 1, 3), "empty recipient address")
    }
    pub fn rcpt_unqualified() -> Reply {
        Reply::esc(501, (5, 1, 3), "recipient address must be qualified.")
    }
    pub fn too_many_rcpts() -> Reply {
        Reply::esc(452, (4, 5, 3), "too many recipients")
    }
    /// A local recipient whose local part could never name a mailbox
    /// (R13). `why` is our own text; the address itself is not echoed,
    /// since a quoted local part may hold control characters.
    pub fn bad_local_part(why: &str) -> Reply {
        Reply::esc(
            550,
            (5, 1, 3),
            format!("local part is not a valid mailbox name ({why})"),
        )
    }
    pub fn relay_denied(addr: &str) -> Reply {
        Reply::esc(550, (5, 7, 1), format!("relaying to <{addr}> denied."))
    }

    // --- content -------------------------------------------------------

    pub fn start_data() -> Reply {
        Reply::new(354, None, "okay, and do not forget the dot")
    }
    pub fn chunk_received(size: u64) -> Reply {
        Reply::esc(250, (2, 0, 0), format!("{size} octets received"))
    }
    pub fn chunk_too_large() -> Reply {
        Reply::esc(
            552,
            (5, 3, 4),
            "chunk larger than the message size limit; closing",
        )
    }
    pub fn message_too_large() -> Reply {
        Reply::esc(552, (5, 3, 4), "Error: message too large.")
    }
    pub fn headers_too_large() -> Reply {
        Reply::esc(552, (5, 3, 4), "Error: header section too large.")
    }
    pub fn accepted(id: &str) -> Reply {
        Reply::esc(250, (2, 0, 0), format!("OK id={id}"))
    }
    pub fn no_valid_rcpts() -> Reply {
        Reply::esc(554, (5, 5, 1), "no valid recipients")
    }
    pub fn spool_error() -> Reply {
        Reply::esc(451, (4, 3, 0), "Could not write spool file")
    }

    // --- STARTTLS ------------------------------------------------------

    pub fn tls_ready() -> Reply {
        Reply::esc(220, (2, 0, 0), "ready to start TLS")
    }
    pub fn tls_unavailable() -> Reply {
        Reply::esc(502, (5, 5, 1), "STARTTLS not available")
    }

    // --- AUTH (RFC 4954) ------------------------------------------------

    /// A `334` challenge: base64 text, or empty (PLAIN without an initial
    /// response).
    pub fn auth_challenge(base64: &str) -> Reply {
        Reply::new(334, None, base64)
    }
    pub fn auth_ok() -> Reply {
        Reply::esc(235, (2, 7, 0), "Authentication successful")
    }
    /// Wrong password, unknown user, or an authzid other than the user:
    /// one reply for all (the client learns nothing about who exists).
    pub fn auth_failed() -> Reply {
        Reply::esc(535, (5, 7, 8), "Authentication credentials invalid")
    }
    pub fn auth_needs_tls() -> Reply {
        Reply::esc(
            538,
            (5, 7, 11),
            "Encryption required for requested authentication mechanism (use STARTTLS)",
        )
    }
    pub fn auth_twice() -> Reply {
        Reply::esc(503, (5, 5, 1), "already authenticated")
    }
    pub fn auth_in_transaction() -> Reply {
        Reply::esc(503, (5, 5, 1), "AUTH not allowed during a mail transaction")
    }
    pub fn auth_need_ehlo() -> Reply {
        Reply::esc(503, (5, 5, 1), "need EHLO before AUTH")
    }
    pub fn auth_syntax() -> Reply {
        Reply::esc(
            501,
            (5, 5, 4),
            "syntax error: AUTH mechanism [initial-response]",
        )
    }
    pub fn auth_unknown_mechanism() -> Reply {
        Reply::esc(504, (5, 5, 4), "unrecognized authentication mechanism")
    }
    pub fn auth_cancelled() -> Reply {
        Reply::esc(501, (5, 0, 0), "authentication cancelled")
    }
    pub fn auth_bad_base64() -> Reply {
        Reply::esc(
            501,
            (5, 5, 2),
            "invalid base64 in the authentication exchange",
        )
    }
    /// `what` is our own name of the part (never the client's text).
    pub fn auth_malformed(what: &str) -> Reply {
        Reply::esc(501, (5, 5, 2), format!("malformed {what}"))
    }
    pub fn auth_line_too_long() -> Reply {
        Reply::esc(500, (5, 5, 6), "authentication exchange line is too long")
    }
    pub fn auth_too_many(host: &str) -> Reply {
        Reply::esc(
            421,
            (4, 7, 0),
            format!("{host} too many failed authentications, closing connection"),
        )
    }

    // --- command syntax ------------------------------------------------

    pub fn line_too_long() -> Reply {
        Reply::refused(&CommandError::LineTooLong)
    }

    /// The refusal of a line that is not a command we accept.
    pub fn refused(e: &CommandError) -> Reply {
        let text = match e {
            CommandError::Unrecognized => "command not recognized".to_string(),
            CommandError::Syntax(usage) => format!("syntax error: {usage}"),
            CommandError::BadParam(kw) => format!("unsupported parameter {kw}"),
            CommandError::BadValue(kw) => format!("invalid value for parameter {kw}"),
            CommandError::DuplicateParam(kw) => format!("duplicate parameter {kw}"),
            CommandError::LineTooLong => "line too long".to_string(),
            CommandError::BareCr => "bare CR in command".to_string(),
            CommandError::BareLf => "bare LF in command".to_string(),
            CommandError::Nul => "NUL in command".to_string(),
            CommandError::InvalidUtf8 => "invalid UTF-8".to_string(),
        };
        let esc = match e {
            CommandError::Unrecognized => (5, 5, 1),
            CommandError::Syntax(_)
            | CommandError::BadValue(_)
            | CommandError::DuplicateParam(_)
            | CommandError::BadParam(_) => (5, 5, 4),
            CommandError::LineTooLong
            | CommandError::BareCr
            | CommandError::BareLf
            | CommandError::Nul
            | CommandError::InvalidUtf8 => (5, 5, 2),
        };
        let code = match e {
            CommandError::Unrecognized => 500,
            CommandError::BadParam(_) => 555,
            CommandError::Syntax(_)
            | CommandError::BadValue(_)
            | CommandError::DuplicateParam(_) => 501,
            _ => 500,
        };
        Reply::esc(code, esc, text)
    }
}

/// A refusal as (code, enhanced code, text), for the parser's tests.
#[cfg(test)]
pub(crate) fn wire(e: &CommandError) -> (u16, String, String) {
    let r = Reply::refused(e);
    let esc = r
        .esc
        .map(|Esc(c, s, d)| format!("{c}.{s}.{d}"))
        .unwrap_or_default();
    (r.code, esc, r.lines.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(Reply::ok().to_text(), "250 2.0.0 OK\n");
        assert_eq!(
            Reply::ehlo("h", &["PIPELINING".into(), "HELP".into()]).to_text(),
            "250-h Nice to meet you with ESMTP\n250-PIPELINING\n250 HELP\n"
        );
        assert_eq!(
            Reply::help().to_text(),
            "214-2.0.0 supported commands:\n\
             214-2.0.0 HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS\n\
             214 2.0.0 HELP\n"
        );
        assert_eq!(
            Reply::start_data().to_text(),
            "354 okay, and do not forget the dot\n"
        );
    }

    #[test]
    fn command_errors() {
        for (e, want) in [
            (
                CommandError::Unrecognized,
                "500 5.5.1 command not recognized\n",
            ),
            (
                CommandError::Syntax("MAIL FROM:<path>"),
                "501 5.5.4 syntax error: MAIL FROM:<path>\n",
            ),
            (
                CommandError::BadParam("FOO".into()),
                "555 5.5.4 unsupported parameter FOO\n",
            ),
            (
                CommandError::BadValue("SIZE"),
                "501 5.5.4 invalid value for parameter SIZE\n",
            ),
            (
                CommandError::DuplicateParam("SIZE"),
                "501 5.5.4 duplicate parameter SIZE\n",
            ),
            (CommandError::LineTooLong, "500 5.5.2 line too long\n"),
            (CommandError::BareCr, "500 5.5.2 bare CR in command\n"),
            (CommandError::BareLf, "500 5.5.2 bare LF in command\n"),
            (CommandError::Nul, "500 5.5.2 NUL in command\n"),
            (CommandError::InvalidUtf8, "500 5.5.2 invalid UTF-8\n"),
        ] {
            assert_eq!(Reply::refused(&e).to_text(), want, "{e:?}");
        }
    }
}
