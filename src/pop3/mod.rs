//! The POP3 client (delivery.md §15): for now the login used by
//! SMTP-after-POP (route `pop3_login`, §15.5); the fetch (`-g`) builds on
//! the same connection layer.
//!
//! * [`conn`]: getting a stream (TCP, `wrapper`, pop3s), bounded line
//!   reading, `+OK`/`-ERR` status lines, the STLS upgrade.
//! * [`login`]: greeting, STLS per the get file's TLS policy, APOP,
//!   USER/PASS or SASL; the connection is then closed without QUIT.
//! * [`sasl`]: `AUTH XOAUTH2` / `AUTH OAUTHBEARER` (RFC 5034, RFC 7628)
//!   with a bearer token, sans-IO, for the login and the fetch.
//!
//! # Security
//! The server is untrusted: every line is bounded, every wait has a
//! timeout, reply text is cleaned of control characters before it reaches
//! a log or an error. Passwords and tokens go out only over TLS unless
//! the get file says `tls = none` explicitly; APOP, which sends a digest
//! and not the password, is allowed in clear (see [`login`]). A get file
//! with `auth_name` logs in with SASL only: its token is never sent as a
//! `PASS`.

pub mod conn;
pub mod login;
pub mod sasl;

use std::path::PathBuf;

pub use conn::{Conn, Status};
pub use login::login;

/// Why a POP3 session failed. `server` is always `host:port` (or the
/// wrapper command) so that a log line says which account broke.
#[derive(Debug, thiserror::Error)]
pub enum Pop3Error {
    /// No address for the server name.
    #[error("could not resolve {server}: {reason}")]
    Resolve { server: String, reason: String },
    /// Every address failed (the last reason is kept).
    #[error("could not connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("{server}: failed to launch connection wrapper {command}: {source}")]
    Wrapper {
        server: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The greeting was not `+OK`.
    #[error("{server}: bad greeting: {text}")]
    Greeting { server: String, text: String },
    /// TLS could not be set up: no usable configuration, STLS refused or
    /// not offered when required, handshake failure.
    #[error("{server}: TLS: {reason}")]
    Tls { server: String, reason: String },
    /// The server answered `-ERR` to USER, PASS or APOP (its text), or
    /// APOP was asked for and the greeting has no timestamp.
    #[error("{server}: login as {user} failed: {reply}")]
    Login {
        server: String,
        user: String,
        reply: String,
    },
    /// USER/PASS or AUTH without TLS and without an explicit
    /// `tls = none`; `what` is "password" or "OAuth2 token".
    #[error(
        "{server}: refusing to send the {what} over an unencrypted connection (the get file does not say tls = none)"
    )]
    Cleartext { server: String, what: &'static str },
    /// The get file's `auth_name` is not among the mechanisms of the
    /// server's CAPA `SASL` line (`offered`, possibly empty).
    #[error(
        "{server}: the server does not offer SASL {mech} (CAPA SASL: {offered}); not logging in"
    )]
    Mechanism {
        server: String,
        mech: &'static str,
        offered: String,
    },
    #[error("{server}: timed out {what}")]
    Timeout { server: String, what: String },
    #[error("{server}: connection closed {what}")]
    Closed { server: String, what: String },
    #[error("{server}: {what}: {source}")]
    Io {
        server: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The server broke the protocol (overlong line, ...).
    #[error("{server}: protocol error: {reason}")]
    Protocol { server: String, reason: String },
    /// The password could not be had (`pass_command` failed or printed
    /// nothing); `file` is the get file.
    #[error("{}: {reason}", file.display())]
    Secret { file: PathBuf, reason: String },
}
