//! The SASL initial responses that carry a bearer token, shared by the
//! SMTP client (RFC 4954) and POP3 (RFC 5034): XOAUTH2 (Google's, also
//! Microsoft's) and OAUTHBEARER (RFC 7628).
//!
//! Guarantees: the response is raw bytes for the caller to base64-encode;
//! the user's `,` and `=` are escaped in the OAUTHBEARER GS2 header
//! (RFC 5801 `saslname`). The answer to a server's error challenge is
//! [`ERROR_ACK`] for OAUTHBEARER (RFC 7628 §3.2.3: a single `^A`), an
//! empty response for XOAUTH2.
//!
//! # Security
//! The token is put into the response only; it is never formatted into
//! anything else here. Callers refuse line breaks in the user name at
//! config time; the token comes from the token endpoint and is checked by
//! `refresh.rs` to be printable ASCII without spaces.

use crate::config::AuthMech;

/// OAUTHBEARER's answer to an error challenge (RFC 7628 §3.2.3).
pub const ERROR_ACK: &[u8] = b"\x01";

/// The initial client response of `mech` (a bearer mechanism).
/// `host` and `port` are the server as connected to (OAUTHBEARER only;
/// each left out when unknown).
pub fn initial_response(
    mech: AuthMech,
    user: &str,
    token: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> Vec<u8> {
    match mech {
        AuthMech::OAuthBearer => {
            let user = user.replace('=', "=3D").replace(',', "=2C");
            let mut s = format!("n,a={user},\x01");
            if let Some(h) = host {
                s.push_str(&format!("host={h}\x01"));
            }
            if let Some(p) = port {
                s.push_str(&format!("port={p}\x01"));
            }
            s.push_str(&format!("auth=Bearer {token}\x01\x01"));
            s.into_bytes()
        }
        _ => format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes(),
    }
}

/// The answer to an error challenge of a bearer mechanism.
pub fn error_answer(mech: AuthMech) -> &'static [u8] {
    match mech {
        AuthMech::OAuthBearer => ERROR_ACK,
        _ => b"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7628_example() {
        // RFC 7628 §4.1, with the line breaks of the example removed.
        let r = initial_response(
            AuthMech::OAuthBearer,
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
            Some("server.example.com"),
            Some(143),
        );
        assert_eq!(
            r,
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01\
              auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let r = initial_response(AuthMech::OAuthBearer, "a,b=c", "t", None, None);
        assert_eq!(r, b"n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01");
        let r = initial_response(AuthMech::Xoauth2, "u@x", "t", Some("h"), Some(1));
        assert_eq!(r, b"user=u@x\x01auth=Bearer t\x01\x01");
        assert_eq!(error_answer(AuthMech::OAuthBearer), b"\x01");
        assert_eq!(error_answer(AuthMech::Xoauth2), b"");
    }
}
