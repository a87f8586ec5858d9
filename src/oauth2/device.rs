//! The device authorization grant (RFC 8628): ask the device endpoint for
//! a user code, let the caller show it, poll the token endpoint until the
//! user has approved, refused, or the code expired.
//!
//! Guarantees: polls no faster than the endpoint's `interval` (default
//! 5 s, at least 1 s), adds 5 s on `slow_down` (§3.5), keeps waiting on
//! `authorization_pending`, and stops with a clear error on
//! `access_denied`, `expired_token`, any other error, or when
//! `expires_in` has passed.
//!
//! # Security
//! The device code is a credential: it goes only to the token endpoint and
//! is never shown. The user code and verification URI are meant for the
//! user and are handed to the caller (escaped, bounded) to print.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{post_form, shown};
use super::refresh::{Answer, grant, refused};
use super::{OAuthError, Tokens};
use crate::config::OAuth2Conf;

/// What the user must do: open `verification_uri`, enter `user_code`.
#[derive(Debug, Clone)]
pub struct DeviceFlow {
    pub verification_uri: String,
    /// The URI with the code filled in, when the provider gives one.
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    /// How long the code is valid.
    pub expires_in: Duration,
}

/// Runs the device flow; `show` is called once with what to tell the user.
pub fn device_flow(
    conf: &OAuth2Conf,
    show: &mut dyn FnMut(&DeviceFlow),
) -> Result<Tokens, OAuthError> {
    let Some(url) = conf.device_url.as_deref() else {
        return Err(OAuthError::Flow("no oauth2_device_url".into()));
    };
    let (status, v) = post_form(
        url,
        &[("client_id", &conf.client_id), ("scope", &conf.scope)],
    )?;
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| shown(Some(&Value::from(s))))
    };
    let number = |k: &str| match v.get(k) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let device_code = v.get("device_code").and_then(Value::as_str);
    // Google says verification_url, RFC 8628 verification_uri.
    let uri = text("verification_uri").or_else(|| text("verification_url"));
    let (Some(device_code), Some(user_code), Some(uri)) = (device_code, text("user_code"), uri)
    else {
        let why = match text("error") {
            Some(e) => format!("{e}: {}", text("error_description").unwrap_or_default()),
            None => format!("HTTP {status}: no device_code, user_code and verification_uri"),
        };
        return Err(OAuthError::Http {
            url: url.to_string(),
            reason: why,
        });
    };
    let flow = DeviceFlow {
        verification_uri: uri,
        verification_uri_complete: text("verification_uri_complete"),
        user_code,
        expires_in: Duration::from_secs(number("expires_in").unwrap_or(900)),
    };
    show(&flow);
    let deadline = Instant::now() + flow.expires_in;
    let mut interval = Duration::from_secs(number("interval").unwrap_or(5).max(1));
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
    ];
    loop {
        if Instant::now() + interval > deadline {
            return Err(OAuthError::Flow(
                "the user code expired before approval".into(),
            ));
        }
        std::thread::sleep(interval);
        match grant(conf, &form, None)? {
            Answer::Tokens(t) => return Ok(t),
            Answer::Error { error, .. } if error == "authorization_pending" => {}
            Answer::Error { error, .. } if error == "slow_down" => {
                interval += Duration::from_secs(5);
            }
            Answer::Error { error, .. } if error == "access_denied" => {
                return Err(OAuthError::Flow(
                    "the user refused the authorization".into(),
                ));
            }
            Answer::Error { error, .. } if error == "expired_token" => {
                return Err(OAuthError::Flow(
                    "the user code expired before approval".into(),
                ));
            }
            Answer::Error { error, description } => {
                return Err(refused(conf, error, description));
            }
        }
    }
}
