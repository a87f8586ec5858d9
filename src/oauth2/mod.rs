//! OAuth2 bearer tokens for SMTP AUTH and POP3 AUTH (issue 10): "give me
//! a valid access token for this configuration", and the one-time
//! authorization that obtains the refresh token (`masqmail -oauth2`).
//! Knows nothing of SMTP or POP3 beyond the SASL strings in `sasl.rs`.
//!
//! Guarantees: [`access_token`] returns the cached token when it is valid
//! for at least [`MARGIN`] more; otherwise it refreshes it at the token
//! endpoint (`grant_type=refresh_token`), stores the new tokens durably,
//! and returns the new one. Refreshes of one token file are serialised by
//! a lock file, so two deliveries never race on a rotating refresh token.
//! A token the server refused is forgotten ([`refused`]), so the next
//! attempt refreshes it rather than waiting for its expiry.
//! Every failure is an [`OAuthError`] whose text is one clear line
//! (`invalid_grant` says to run `masqmail -oauth2 NAME`); callers treat
//! all of them as temporary: a message is deferred, never bounced.
//!
//! # Security
//! Tokens are [`Secret`]s: never logged, never printed, never in argv.
//! They come only from the token endpoint (TLS with the system roots, or
//! plain HTTP on loopback) and are kept only in the token file, which
//! `token_file.rs` refuses to use when it is readable by others or owned
//! by someone else. Endpoint responses are untrusted: bounded in size,
//! parsed as JSON, and error texts from them are shown escaped and short.

mod device;
mod form;
mod http;
mod loopback;
mod refresh;
pub mod sasl;
mod token_file;

pub use device::{DeviceFlow, device_flow};
pub use loopback::{LoopbackFlow, loopback_flow};
pub use token_file::{Tokens, load as load_tokens, lock as token_file_lock, store as store_tokens};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{OAuth2Conf, Secret};

/// A cached access token is used only if it stays valid this much longer.
pub const MARGIN: Duration = Duration::from_secs(60);

/// Why no token could be had. Each text is one line for the log.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("no OAuth2 token file {path}: run masqmail -oauth2 {name}")]
    NotAuthorized { path: String, name: String },
    #[error("refresh token revoked or expired (invalid_grant): run masqmail -oauth2 {name}")]
    Revoked { name: String },
    #[error("OAuth2 token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
    #[error("OAuth2 endpoint {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("OAuth2 endpoint {url} refused: {error}{description}")]
    Refused {
        url: String,
        error: String,
        /// `: text` or empty.
        description: String,
    },
    #[error("OAuth2 authorization: {0}")]
    Flow(String),
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The server refused `used` (SMTP `535` or POP3 `-ERR` to the bearer
/// token): it is forgotten, so the next attempt refreshes instead of
/// offering the same token until its expiry. A token that is no longer
/// the stored one (another process refreshed meanwhile) is left alone.
/// Best effort: a failure is logged and the next attempt refreshes at
/// expiry as before.
pub fn refused(conf: &OAuth2Conf, used: &str) {
    let forget = || -> Result<bool, OAuthError> {
        let _lock = token_file::lock(conf)?;
        let mut tokens = token_file::load(conf)?;
        if tokens.access_token.as_ref().map(Secret::expose) != Some(used) {
            return Ok(false);
        }
        tokens.access_token = None;
        tokens.expires_at = 0;
        token_file::store(conf, &tokens)?;
        Ok(true)
    };
    match forget() {
        Ok(true) => tracing::info!(
            "{}: the server refused the OAuth2 access token; the next attempt refreshes it",
            conf.name
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!("{}: cannot forget the refused access token: {e}", conf.name),
    }
}

/// A valid access token for `conf`: the cached one, or a fresh one.
pub fn access_token(conf: &OAuth2Conf) -> Result<Secret, OAuthError> {
    let _lock = token_file::lock(conf)?;
    let tokens = token_file::load(conf)?;
    if let Some(access) = &tokens.access_token
        && tokens.expires_at > now() + MARGIN.as_secs()
    {
        tracing::debug!("{}: cached OAuth2 access token", conf.name);
        return Ok(access.clone());
    }
    tracing::info!("{}: refreshing the OAuth2 access token", conf.name);
    let fresh = refresh::refresh(conf, &tokens.refresh_token)?;
    token_file::store(conf, &fresh)?;
    fresh.access_token.ok_or_else(|| OAuthError::Http {
        url: conf.token_url.clone(),
        reason: "no access_token in the response".into(),
    })
}
