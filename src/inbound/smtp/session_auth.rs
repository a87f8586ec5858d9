//! SMTP AUTH verbs of a [`Session`] (RFC 4954; RELIABILITY R08): when
//! AUTH may be used, the `334` exchange, and the verdict.
//!
//! Order of the checks on `AUTH`: not offered (no auth file) `502 5.5.1`;
//! before EHLO `503 5.5.1`; outside TLS `538 5.7.11` (never a password in
//! clear); already authenticated `503 5.5.1`; inside a transaction `503
//! 5.5.1`; then the mechanism ([`super::super::auth`]). Credentials go out
//! as [`Step::Authenticate`]; [`Session::auth_checked`] gives `235 2.7.0`,
//! `535 5.7.8`, or `421 4.7.0` and the end of the session when the
//! address failed too often.

use super::super::auth::{self, Next, Pending};
use super::{Reply, Session, State, Step, Tx};

/// The verdict on credentials, from the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCheck {
    Accepted,
    Refused,
    /// Refused, and the client's address failed too often: close.
    TooMany,
}

impl Session {
    pub(super) fn auth(&mut self, arg: &str) -> Step {
        if !self.auth.offered {
            return Step::Reply(Reply::auth_unavailable());
        }
        let State::Greeted(greeting, tx) = &self.state else {
            return Step::Reply(Reply::auth_need_ehlo());
        };
        if !greeting.esmtp {
            return Step::Reply(Reply::auth_need_ehlo());
        }
        if !self.tls_active {
            return Step::Reply(Reply::auth_needs_tls());
        }
        if self.auth.user.is_some() {
            return Step::Reply(Reply::auth_twice());
        }
        if !matches!(tx, Tx::None) {
            return Step::Reply(Reply::auth_in_transaction());
        }
        let next = auth::start(arg);
        self.auth_next(next)
    }

    pub(super) fn auth_response(&mut self, pending: Pending, line: &[u8]) -> Step {
        let next = auth::respond(pending, line);
        self.auth_next(next)
    }

    fn auth_next(&mut self, next: Next) -> Step {
        match next {
            Next::Challenge(reply, pending) => {
                self.auth.pending = Some(pending);
                Step::Reply(reply)
            }
            Next::Refuse(reply) => {
                tracing::info!(
                    "{}: AUTH refused: {}",
                    self.peer.who(),
                    reply.lines.concat()
                );
                Step::Reply(reply)
            }
            Next::Verify(creds) => {
                self.auth.checking = Some((creds.user.clone(), creds.mechanism));
                Step::Authenticate(Box::new(creds))
            }
        }
    }

    /// The verdict on the credentials of [`Step::Authenticate`].
    pub fn auth_checked(&mut self, check: AuthCheck) -> Step {
        let Some((user, mech)) = self.auth.checking.take() else {
            // Not asked for: a driver bug, never the client's.
            return Step::Reply(Reply::auth_failed());
        };
        let who = self.peer.who();
        let shown: String = user.escape_debug().take(100).collect();
        match check {
            AuthCheck::Accepted => {
                tracing::info!("{who}: authenticated as {shown} ({})", mech.name());
                self.auth.user = Some(user);
                Step::Reply(Reply::auth_ok())
            }
            AuthCheck::Refused => {
                tracing::info!("{who}: AUTH {} failed for user {shown}", mech.name());
                Step::Reply(Reply::auth_failed())
            }
            AuthCheck::TooMany => {
                tracing::info!(
                    "{who}: AUTH {} failed for user {shown}; too many failures, closing",
                    mech.name()
                );
                Step::Close(Reply::auth_too_many(self.host()))
            }
        }
    }
}
