//! The SASL side of SMTP AUTH (RFC 4954) on the server: the mechanisms
//! PLAIN (RFC 4616) and LOGIN, as a pure exchange: the `AUTH` argument
//! and each client response in, a `334` challenge, the credentials to
//! verify, or a refusal out. Whether AUTH may be used now, and what a
//! verification means, is the session's business.
//!
//! Replies (RFC 4954 §4, §6): `*` cancels with `501 5.0.0`; a response
//! that is not base64 gets `501 5.5.2` and ends the exchange; an unknown
//! mechanism `504 5.5.4`; a PLAIN message that is not `authzid NUL authcid
//! NUL passwd` (more or fewer NULs, an empty user or password, a user that
//! is not UTF-8) `501 5.5.2`.
//!
//! # Security
//! Every response is hostile: it comes bounded by the line splitter
//! (`MAX_LINE`), so decoded credentials are smaller than that. The
//! password never appears in a `Debug` output, a log line or a reply.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::auth_file::AuthTable;
use super::reply::Reply;

/// The mechanisms we offer, as EHLO names them.
pub const MECHANISMS: &str = "PLAIN LOGIN";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// What a client claims: to be checked against the auth file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub mechanism: Mechanism,
    /// PLAIN's authorization identity; empty when not given. Anything
    /// other than empty or `user` fails the authentication: we do not
    /// let one user act for another.
    pub authzid: String,
    pub user: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("mechanism", &self.mechanism)
            .field("authzid", &self.authzid)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// Checks them against `table`: the password, and no authorization
    /// identity but the user's own. Slow: run it on a blocking thread.
    pub fn check(&self, table: &AuthTable) -> bool {
        // Verified first, whatever the authzid: the same work either way.
        let verified = table.verify(&self.user, &self.password);
        verified && (self.authzid.is_empty() || self.authzid == self.user)
    }
}

/// Where an exchange stands while the client owes a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// PLAIN without an initial response: `334 ` was sent.
    Plain,
    /// LOGIN: `334 VXNlcm5hbWU6` (Username:) was sent.
    LoginUser,
    /// LOGIN: `334 UGFzc3dvcmQ6` (Password:) was sent.
    LoginPassword(String),
}

/// The next move of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send this `334`; the client owes the response `Pending`.
    Challenge(Reply, Pending),
    /// Check these credentials.
    Verify(Credentials),
    /// The exchange failed: send this.
    Refuse(Reply),
}

/// The `AUTH` argument: a mechanism and maybe an initial response.
pub fn start(arg: &str) -> Next {
    let mut words = arg.split([' ', '\t']).filter(|w| !w.is_empty());
    let (Some(mech), initial, None) = (words.next(), words.next(), words.next()) else {
        return Next::Refuse(Reply::auth_syntax());
    };
    let mechanism = if mech.eq_ignore_ascii_case("PLAIN") {
        Mechanism::Plain
    } else if mech.eq_ignore_ascii_case("LOGIN") {
        Mechanism::Login
    } else {
        return Next::Refuse(Reply::auth_unknown_mechanism());
    };
    match (mechanism, initial) {
        (Mechanism::Plain, None) => Next::Challenge(Reply::auth_challenge(""), Pending::Plain),
        (Mechanism::Login, None) => Next::Challenge(
            Reply::auth_challenge(&STANDARD.encode("Username:")),
            Pending::LoginUser,
        ),
        // RFC 4954 §4: `=` is an empty initial response; `*` is no
        // response at all, so it cancels like a `*` line.
        (_, Some(ir)) => respond(
            match mechanism {
                Mechanism::Plain => Pending::Plain,
                Mechanism::Login => Pending::LoginUser,
            },
            ir.as_bytes(),
        ),
    }
}

/// A client response line (without its line end) to `pending`.
pub fn respond(pending: Pending, line: &[u8]) -> Next {
    if line == b"*" {
        return Next::Refuse(Reply::auth_cancelled());
    }
    let decoded = if line == b"=" {
        Vec::new()
    } else {
        match STANDARD.decode(line) {
            Ok(d) => d,
            Err(_) => return Next::Refuse(Reply::auth_bad_base64()),
        }
    };
    match pending {
        Pending::Plain => plain(&decoded),
        Pending::LoginUser => match login_user(decoded) {
            Some(user) => Next::Challenge(
                Reply::auth_challenge(&STANDARD.encode("Password:")),
                Pending::LoginPassword(user),
            ),
            None => Next::Refuse(Reply::auth_malformed("LOGIN user name")),
        },
        Pending::LoginPassword(user) if !decoded.is_empty() && !decoded.contains(&0) => {
            Next::Verify(Credentials {
                mechanism: Mechanism::Login,
                authzid: String::new(),
                user,
                password: decoded,
            })
        }
        Pending::LoginPassword(_) => Next::Refuse(Reply::auth_malformed("LOGIN password")),
    }
}

/// `authzid NUL authcid NUL passwd`, exactly two NULs (RFC 4616 §2).
fn plain(msg: &[u8]) -> Next {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Next::Refuse(Reply::auth_malformed("PLAIN message"));
    };
    let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user)) else {
        return Next::Refuse(Reply::auth_malformed("PLAIN message"));
    };
    if user.is_empty() || password.is_empty() {
        return Next::Refuse(Reply::auth_malformed("PLAIN message"));
    }
    Next::Verify(Credentials {
        mechanism: Mechanism::Plain,
        authzid: authzid.to_string(),
        user: user.to_string(),
        password: password.to_vec(),
    })
}

fn login_user(decoded: Vec<u8>) -> Option<String> {
    let user = String::from_utf8(decoded).ok()?;
    (!user.is_empty() && !user.contains('\0')).then_some(user)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
