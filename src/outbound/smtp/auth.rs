//! SASL for the SMTP client (RFC 4954): PLAIN, LOGIN, CRAM-MD5, XOAUTH2,
//! OAUTHBEARER (RFC 7628).
//!
//! Sans-IO: [`Sasl`] gives the `AUTH` command line and then answers each
//! `334` challenge; the session does the I/O.
//!
//! Guarantees: [`choose`] picks a configured mechanism only if the server
//! offers it, and without configuration the best offered of CRAM-MD5 >
//! PLAIN > LOGIN (XOAUTH2 and OAUTHBEARER only when asked for: their
//! secret is a token, not a password). Every line we produce is base64 or a fixed keyword, so no
//! credential can inject a command.
//!
//! # Security
//! Secrets leave this module only base64-encoded inside the lines it
//! returns; the caller decides whether the link is safe to send them (the
//! session refuses unencrypted links unless `tls = none`). Challenges are
//! untrusted: bad base64 is an error, never a panic.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use md5::Md5;

use crate::config::AuthMech;
use crate::oauth2::sasl;

/// The SASL name of a mechanism.
pub fn mech_name(m: AuthMech) -> &'static str {
    match m {
        AuthMech::Plain => "PLAIN",
        AuthMech::Login => "LOGIN",
        AuthMech::CramMd5 => "CRAM-MD5",
        AuthMech::Xoauth2 => "XOAUTH2",
        AuthMech::OAuthBearer => "OAUTHBEARER",
    }
}

/// The mechanism to use, given the configured one (`None`: best offered)
/// and the upper-cased names the server offers.
pub fn choose(wanted: Option<AuthMech>, offered: &[String]) -> Option<AuthMech> {
    let has = |m: AuthMech| offered.iter().any(|o| o == mech_name(m));
    match wanted {
        Some(m) => has(m).then_some(m),
        None => [AuthMech::CramMd5, AuthMech::Plain, AuthMech::Login]
            .into_iter()
            .find(|&m| has(m)),
    }
}

/// One authentication exchange in progress.
pub struct Sasl<'a> {
    mech: AuthMech,
    login: &'a str,
    secret: &'a str,
    /// The server's name (OAUTHBEARER `host=`).
    host: Option<&'a str>,
    step: u8,
}

impl<'a> Sasl<'a> {
    pub fn new(mech: AuthMech, login: &'a str, secret: &'a str) -> Sasl<'a> {
        Sasl {
            mech,
            login,
            secret,
            host: None,
            step: 0,
        }
    }

    /// The server's name as connected to, for OAUTHBEARER's `host=`.
    pub fn with_host(mut self, host: &'a str) -> Sasl<'a> {
        self.host = Some(host).filter(|h| !h.is_empty());
        self
    }

    /// The `AUTH` command line (CRLF included), with an initial response
    /// for PLAIN, XOAUTH2 and OAUTHBEARER.
    pub fn command(&self) -> Vec<u8> {
        let name = mech_name(self.mech);
        let line = match self.mech {
            AuthMech::Plain => {
                let ir = format!("\0{}\0{}", self.login, self.secret);
                format!("AUTH {name} {}\r\n", B64.encode(ir))
            }
            AuthMech::Xoauth2 | AuthMech::OAuthBearer => {
                let ir =
                    sasl::initial_response(self.mech, self.login, self.secret, self.host, None);
                format!("AUTH {name} {}\r\n", B64.encode(ir))
            }
            AuthMech::Login | AuthMech::CramMd5 => format!("AUTH {name}\r\n"),
        };
        line.into_bytes()
    }

    /// The answer line (CRLF included) to a `334` whose text is
    /// `challenge` (base64), or why there is none.
    pub fn answer(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        self.step += 1;
        let line = match (self.mech, self.step) {
            (AuthMech::Login, 1) => B64.encode(self.login),
            (AuthMech::Login, 2) => B64.encode(self.secret),
            (AuthMech::CramMd5, 1) => {
                let challenge = B64
                    .decode(challenge.trim_ascii())
                    .map_err(|_| "CRAM-MD5 challenge is not base64".to_string())?;
                B64.encode(format!(
                    "{} {}",
                    self.login,
                    cram_md5(self.secret, &challenge)
                ))
            }
            // RFC 7628 §3.2.3: the server sent a JSON error as a
            // challenge and expects an acknowledgement (XOAUTH2: empty;
            // OAUTHBEARER: ^A), then fails the AUTH.
            (AuthMech::Xoauth2 | AuthMech::OAuthBearer, 1) => {
                B64.encode(sasl::error_answer(self.mech))
            }
            _ => {
                return Err(format!(
                    "unexpected challenge in AUTH {}",
                    mech_name(self.mech)
                ));
            }
        };
        Ok(format!("{line}\r\n").into_bytes())
    }
}

/// HMAC-MD5 of `challenge` keyed with `secret`, as lower-case hex.
fn cram_md5(secret: &str, challenge: &[u8]) -> String {
    // HMAC takes keys of any length; the error case cannot happen.
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(challenge);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn choosing() {
        use AuthMech::*;
        let cases: &[(Option<AuthMech>, &[&str], Option<AuthMech>)] = &[
            (None, &["LOGIN", "PLAIN", "CRAM-MD5"], Some(CramMd5)),
            (None, &["LOGIN", "PLAIN"], Some(Plain)),
            (None, &["LOGIN"], Some(Login)),
            (None, &["XOAUTH2"], None),
            (None, &[], None),
            (Some(Xoauth2), &["XOAUTH2", "PLAIN"], Some(Xoauth2)),
            (None, &["OAUTHBEARER"], None),
            (Some(OAuthBearer), &["OAUTHBEARER"], Some(OAuthBearer)),
            (Some(Login), &["PLAIN"], None),
        ];
        for (wanted, offered, want) in cases {
            assert_eq!(
                choose(*wanted, &names(offered)),
                *want,
                "{wanted:?} {offered:?}"
            );
        }
    }

    #[test]
    fn rfc2195_example() {
        // RFC 2195 section 2.
        let ch = B64.encode("<1896.697170952@postoffice.reston.mci.net>");
        let mut s = Sasl::new(AuthMech::CramMd5, "tim", "tanstaaftanstaaf");
        assert_eq!(s.command(), b"AUTH CRAM-MD5\r\n");
        let ans = s.answer(ch.as_bytes()).unwrap();
        let dec = B64.decode(ans.trim_ascii()).unwrap();
        assert_eq!(dec, b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert!(s.answer(b"x").is_err());
        let mut s = Sasl::new(AuthMech::CramMd5, "tim", "x");
        assert!(s.answer(b"!!not base64").is_err());
    }

    #[test]
    fn plain_login_xoauth2() {
        let s = Sasl::new(AuthMech::Plain, "u", "p\r\nQUIT");
        let cmd = String::from_utf8(s.command()).unwrap();
        let b = cmd.strip_prefix("AUTH PLAIN ").unwrap().trim_end();
        assert_eq!(B64.decode(b).unwrap(), b"\0u\0p\r\nQUIT");
        assert_eq!(cmd.matches("\r\n").count(), 1);

        let mut s = Sasl::new(AuthMech::Login, "u", "p");
        assert_eq!(s.command(), b"AUTH LOGIN\r\n");
        assert_eq!(s.answer(b"VXNlcm5hbWU6").unwrap(), b"dQ==\r\n");
        assert_eq!(s.answer(b"UGFzc3dvcmQ6").unwrap(), b"cA==\r\n");
        assert!(s.answer(b"").is_err());

        let mut s = Sasl::new(AuthMech::Xoauth2, "u@x", "tok");
        let cmd = String::from_utf8(s.command()).unwrap();
        let b = cmd.strip_prefix("AUTH XOAUTH2 ").unwrap().trim_end();
        assert_eq!(
            B64.decode(b).unwrap(),
            b"user=u@x\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(s.answer(b"eyJzdGF0dXMiOiI0MDEifQ==").unwrap(), b"\r\n");

        let mut s = Sasl::new(AuthMech::OAuthBearer, "u@x", "tok").with_host("smtp.x");
        let cmd = String::from_utf8(s.command()).unwrap();
        let b = cmd.strip_prefix("AUTH OAUTHBEARER ").unwrap().trim_end();
        assert_eq!(
            B64.decode(b).unwrap(),
            b"n,a=u@x,\x01host=smtp.x\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(s.answer(b"eyJzdGF0dXMiOiI0MDEifQ==").unwrap(), b"AQ==\r\n");
        assert!(s.answer(b"").is_err());
    }
}
