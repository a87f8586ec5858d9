//! POP3 `AUTH` (RFC 5034) with a bearer token: XOAUTH2 and OAUTHBEARER
//! (RFC 7628). Sans-IO: [`Bearer`] gives the `AUTH` line and the answer
//! to each `+` continuation; the fetch session and the SMTP-after-POP
//! login do the I/O.
//!
//! Guarantees:
//! * the initial response goes on the `AUTH` line only when the whole
//!   command, CR LF included, fits in [`MAX_COMMAND`] octets (RFC 2449
//!   §4, which RFC 5034 §4 keeps for `AUTH`); otherwise `AUTH <mech>` goes
//!   alone and the response answers the server's empty `+ ` challenge.
//!   Real access tokens (Google, Microsoft) are several hundred bytes, so
//!   they take the continuation; short ones save a round trip.
//! * a challenge after the response is the RFC 7628 §3.2.2 error (a
//!   base64 JSON object): it is answered exactly once with the
//!   mechanism's acknowledgement (OAUTHBEARER `^A`, i.e. `AQ==`; XOAUTH2 an
//!   empty line), after which the server ends the exchange with `-ERR`;
//!   any further challenge is a protocol error, so the exchange is
//!   bounded.
//! * [`offered`] reads the mechanisms of CAPA's `SASL` line; nothing else
//!   decides whether a mechanism is used (no fallback to `PASS`).
//!
//! # Security
//! The token leaves this module only inside the base64 lines it returns;
//! the caller decides whether the link is safe (TLS, or `tls = none`).
//! [`Bearer`]'s `Debug` names the mechanism only. The server's error
//! challenge is untrusted: decoded leniently, cleaned of control
//! characters and cut to [`MAX_DETAIL`] characters before it may reach a
//! log or an error.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::conn::clean;
use crate::config::AuthMech;
use crate::oauth2::sasl::{error_answer, initial_response};

/// Longest command line, CR LF included (RFC 2449 §4).
pub const MAX_COMMAND: usize = 255;
/// Most characters of a server's error challenge kept for the log.
pub const MAX_DETAIL: usize = 200;

/// The SASL name of a bearer mechanism.
pub fn mech_name(mech: AuthMech) -> &'static str {
    match mech {
        AuthMech::OAuthBearer => "OAUTHBEARER",
        AuthMech::Xoauth2 => "XOAUTH2",
        AuthMech::Plain => "PLAIN",
        AuthMech::Login => "LOGIN",
        AuthMech::CramMd5 => "CRAM-MD5",
    }
}

/// The mechanisms of the `SASL` line among CAPA's lines, upper-cased.
pub fn offered<L: AsRef<[u8]>>(capa: &[L]) -> Vec<String> {
    capa.iter()
        .map(|l| String::from_utf8_lossy(l.as_ref()).to_ascii_uppercase())
        .filter_map(|l| {
            let mut words = l.split_ascii_whitespace();
            (words.next() == Some("SASL")).then(|| words.map(str::to_string).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

/// The payload of a continuation line (`+ text`, or a bare `+`); `None`
/// for a status line (`+OK`, `-ERR`).
pub fn continuation(line: &[u8]) -> Option<&[u8]> {
    match line {
        b"+" => Some(&[]),
        [b'+', b' ', rest @ ..] => Some(rest),
        _ => None,
    }
}

/// One `AUTH` exchange in progress.
#[derive(Clone)]
pub struct Bearer {
    mech: AuthMech,
    /// The initial response, base64.
    response: String,
    /// The initial response went out (on the AUTH line or as an answer).
    sent: bool,
    /// The server's error challenge, cleaned, once acknowledged.
    detail: Option<String>,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearer")
            .field("mech", &mech_name(self.mech))
            .finish_non_exhaustive()
    }
}

impl Bearer {
    /// `user` is the SASL user (the get file's `user`); `host` and `port`
    /// the server as configured (OAUTHBEARER only).
    pub fn new(
        mech: AuthMech,
        user: &str,
        token: &str,
        host: Option<&str>,
        port: Option<u16>,
    ) -> Bearer {
        let host = host.map(|h| h.trim_start_matches('[').trim_end_matches(']'));
        Bearer {
            mech,
            response: B64.encode(initial_response(mech, user, token, host, port)),
            sent: false,
            detail: None,
        }
    }

    pub fn name(&self) -> &'static str {
        mech_name(self.mech)
    }

    /// The `AUTH` command line (without CR LF): with the initial response
    /// when it fits in [`MAX_COMMAND`], else the mechanism alone.
    pub fn command(&mut self) -> String {
        let name = self.name();
        let full = format!("AUTH {name} {}", self.response);
        if full.len() + 2 <= MAX_COMMAND {
            self.sent = true;
            full
        } else {
            format!("AUTH {name}")
        }
    }

    /// The line (without CR LF) that answers a continuation whose payload
    /// is `challenge`: the initial response if it has not gone out yet,
    /// else the acknowledgement of the error challenge; a third
    /// continuation is an error.
    pub fn answer(&mut self, challenge: &[u8]) -> Result<String, String> {
        if !self.sent {
            // The first challenge of both mechanisms is empty.
            self.sent = true;
            return Ok(self.response.clone());
        }
        if self.detail.is_some() {
            return Err(format!(
                "another challenge after the acknowledged error in AUTH {}",
                self.name()
            ));
        }
        self.detail = Some(describe(challenge));
        Ok(B64.encode(error_answer(self.mech)))
    }

    /// What the server's error challenge said (cleaned, short), if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The `-ERR` text with the error challenge, for the login error.
    pub fn failure(&self, reply: &str) -> String {
        match self.detail() {
            Some(d) => format!("{reply} (AUTH {}: {d})", self.name()),
            None => format!("{reply} (AUTH {})", self.name()),
        }
    }
}

/// The error challenge as text: its base64 decoded when it is base64,
/// else the payload as sent; cleaned and cut short.
fn describe(challenge: &[u8]) -> String {
    let raw = B64
        .decode(challenge.trim_ascii())
        .unwrap_or_else(|_| challenge.to_vec());
    clean(&raw).chars().take(MAX_DETAIL).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    #[test]
    fn a_short_initial_response_goes_on_the_auth_line() {
        let mut b = Bearer::new(AuthMech::Xoauth2, "u@x", "tok", Some("h"), Some(995));
        let line = b.command();
        let ir = line.strip_prefix("AUTH XOAUTH2 ").unwrap();
        assert_eq!(decode(ir), b"user=u@x\x01auth=Bearer tok\x01\x01");
        // The error challenge is acknowledged with an empty line (XOAUTH2).
        let json = B64.encode(r#"{"status":"401","schemes":"bearer"}"#);
        assert_eq!(b.answer(json.as_bytes()).unwrap(), "");
        assert_eq!(b.detail(), Some(r#"{"status":"401","schemes":"bearer"}"#));
        assert!(b.failure("bad").contains("401"));
        assert!(b.answer(b"").is_err(), "bounded");
    }

    #[test]
    fn a_long_token_goes_in_the_continuation() {
        let token = "t".repeat(300);
        let mut b = Bearer::new(
            AuthMech::OAuthBearer,
            "u@x",
            &token,
            Some("[::1]"),
            Some(110),
        );
        assert_eq!(b.command(), "AUTH OAUTHBEARER");
        let ir = b.answer(b"").unwrap();
        let want = format!("n,a=u@x,\x01host=::1\x01port=110\x01auth=Bearer {token}\x01\x01");
        assert_eq!(decode(&ir), want.as_bytes());
        // OAUTHBEARER acknowledges an error challenge with ^A.
        assert_eq!(b.answer(b"eyJzdGF0dXMiOiI0MDEifQ==").unwrap(), "AQ==");
        assert_eq!(b.detail(), Some(r#"{"status":"401"}"#));
        assert!(b.answer(b"").is_err());
    }

    #[test]
    fn the_line_limit_is_exact() {
        // "user=u^Aauth=Bearer <token>^A^A" is 21 bytes plus the token;
        // `AUTH XOAUTH2 ` 13 octets and CR LF 2 leave 240 base64
        // characters, i.e. 180 bytes: a token of 159 fits, 160 does not.
        let with_ir = |token_len: usize| {
            let mut b = Bearer::new(AuthMech::Xoauth2, "u", &"t".repeat(token_len), None, None);
            let line = b.command();
            assert!(line.len() + 2 <= MAX_COMMAND, "{}", line.len());
            line != "AUTH XOAUTH2"
        };
        assert!(with_ir(159));
        assert!(!with_ir(160));
    }

    #[test]
    fn hostile_challenges_are_cleaned_and_short() {
        let mut b = Bearer::new(AuthMech::Xoauth2, "u", "t", None, None);
        b.command();
        let evil = B64.encode(format!("line\r\nbreak{}", "x".repeat(1000)));
        b.answer(evil.as_bytes()).unwrap();
        let d = b.detail().unwrap();
        assert!(d.starts_with("line??break"), "{d}");
        assert_eq!(d.chars().count(), MAX_DETAIL);
        let mut b = Bearer::new(AuthMech::Xoauth2, "u", "t", None, None);
        b.command();
        b.answer(b"not base64 \x07").unwrap();
        assert_eq!(b.detail(), Some("not base64 ?"));
        assert!(!format!("{b:?}").contains("dXNlcj"), "no response in Debug");
    }

    #[test]
    fn capa_and_continuations() {
        let capa = [
            &b"USER"[..],
            b"SASL xoauth2 OAUTHBEARER",
            b"SASLX PLAIN",
            b"STLS",
        ];
        assert_eq!(offered(&capa), ["XOAUTH2", "OAUTHBEARER"]);
        assert!(offered::<&[u8]>(&[]).is_empty());
        assert_eq!(continuation(b"+ abc"), Some(&b"abc"[..]));
        assert_eq!(continuation(b"+ "), Some(&b""[..]));
        assert_eq!(continuation(b"+"), Some(&b""[..]));
        assert_eq!(continuation(b"+OK"), None);
        assert_eq!(continuation(b"+OK logged in"), None);
        assert_eq!(continuation(b"-ERR no"), None);
    }
}
