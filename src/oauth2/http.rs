//! POSTing a form to an OAuth2 endpoint and reading its JSON answer, with
//! ureq (blocking) on our rustls provider (ring) and the system roots.
//!
//! Guarantees: `https://` only, except plain `http://` to a loopback
//! address (checked again here, whatever the config said); no redirects
//! (a token request is never re-sent elsewhere); one deadline for the
//! whole exchange; the answer is read up to [`MAX_BODY`] bytes. HTTP error
//! statuses are returned, not turned into errors, because OAuth2 errors
//! (`invalid_grant`, `authorization_pending`) come as 400 with a JSON body.
//!
//! # Security
//! The form (refresh token, client secret, device code) is sent only to
//! the configured endpoint over TLS verified against the system roots (or
//! loopback). Nothing of the request or the answer is logged here; ureq's
//! own `log` records are not routed to masqmail's log.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::OAuthError;
use crate::config::{is_loopback, url_host};

/// Endpoint answers are small JSON objects.
const MAX_BODY: u64 = 256 * 1024;
const DEADLINE: Duration = Duration::from_secs(30);

/// POSTs `form` to `url`: (HTTP status, the JSON object answered).
pub fn post_form(url: &str, form: &[(&str, &str)]) -> Result<(u16, Value), OAuthError> {
    let fail = |reason: String| OAuthError::Http {
        url: url.to_string(),
        reason,
    };
    let loopback = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => is_loopback(url_host(rest)),
        (None, Some(rest)) if is_loopback(url_host(rest)) => true,
        _ => {
            return Err(fail(
                "only https:// (or http:// on loopback) is allowed".into(),
            ));
        }
    };
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(DEADLINE))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("masqmail/", env!("CARGO_PKG_VERSION")));
    if loopback {
        // A proxy from the environment must not see a loopback exchange.
        config = config.proxy(None);
    } else {
        config = config.tls_config(tls_config().map_err(fail)?);
    }
    let agent = config.build().new_agent();
    let mut resp = agent
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| fail(format!("HTTP {status}: {e}")))?;
    match serde_json::from_str::<Value>(&body) {
        Ok(v @ Value::Object(_)) => Ok((status, v)),
        _ => Err(fail(format!(
            "HTTP {status}: the answer is not a JSON object"
        ))),
    }
}

/// rustls with ring and the system's roots.
fn tls_config() -> Result<TlsConfig, String> {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        return Err("no system root certificates".into());
    }
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .unversioned_rustls_crypto_provider(crate::tls::provider())
        .build())
}

/// A short, escaped piece of endpoint text for a log line.
pub fn shown(v: Option<&Value>) -> String {
    let s = v.and_then(Value::as_str).unwrap_or("");
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
