//! The token endpoint (RFC 6749 §5): the refresh grant, and the answer
//! parsing shared by every grant (device code, authorization code).
//!
//! Guarantees: a success has an `access_token` of printable ASCII without
//! spaces (it goes into a SASL line) and an expiry (`expires_in`, default
//! one hour when the endpoint gives none); a refresh that returns no new
//! refresh token keeps the old one. `invalid_grant` on a refresh is
//! [`OAuthError::Revoked`]; any other refusal is [`OAuthError::Refused`]
//! with the endpoint's error code and (escaped) description.
//!
//! # Security
//! The client secret is sent only in the form body; tokens from the answer
//! go straight into [`Secret`]s.

use serde_json::Value;

use super::http::{post_form, shown};
use super::{OAuthError, Tokens, now};
use crate::config::{OAuth2Conf, Secret};

/// What an endpoint answered to a grant: tokens, or its `error` code and
/// description.
pub enum Answer {
    Tokens(Tokens),
    Error { error: String, description: String },
}

/// Refreshes with `refresh_token`.
pub fn refresh(conf: &OAuth2Conf, refresh_token: &Secret) -> Result<Tokens, OAuthError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    match grant(conf, &form, Some(refresh_token))? {
        Answer::Tokens(t) => Ok(t),
        Answer::Error { error, .. } if error == "invalid_grant" => Err(OAuthError::Revoked {
            name: conf.name.clone(),
        }),
        Answer::Error { error, description } => Err(refused(conf, error, description)),
    }
}

pub fn refused(conf: &OAuth2Conf, error: String, description: String) -> OAuthError {
    OAuthError::Refused {
        url: conf.token_url.clone(),
        error,
        description: match description.is_empty() {
            true => String::new(),
            false => format!(": {description}"),
        },
    }
}

/// POSTs a grant (`form` plus the client id and secret) to the token
/// endpoint. `old_refresh` is kept when the answer has no new one.
pub fn grant(
    conf: &OAuth2Conf,
    form: &[(&str, &str)],
    old_refresh: Option<&Secret>,
) -> Result<Answer, OAuthError> {
    let mut form = form.to_vec();
    form.push(("client_id", &conf.client_id));
    if let Some(s) = &conf.client_secret {
        form.push(("client_secret", s.expose()));
    }
    let (status, v) = post_form(&conf.token_url, &form)?;
    parse(conf, status, &v, old_refresh)
}

/// The answer of the token endpoint with HTTP `status` and JSON `v`.
fn parse(
    conf: &OAuth2Conf,
    status: u16,
    v: &Value,
    old_refresh: Option<&Secret>,
) -> Result<Answer, OAuthError> {
    if let Some(error) = v.get("error") {
        return Ok(Answer::Error {
            error: shown(Some(error)),
            description: shown(v.get("error_description")),
        });
    }
    let bad = |reason: &str| OAuthError::Http {
        url: conf.token_url.clone(),
        reason: format!("HTTP {status}: {reason}"),
    };
    if status != 200 {
        return Err(bad("no error code in the answer"));
    }
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| token_ok(t))
        .ok_or_else(|| bad("no usable access_token in the answer"))?;
    let refresh = match v.get("refresh_token").and_then(Value::as_str) {
        Some(r) if token_ok(r) => Secret::new(r),
        Some(_) => return Err(bad("unusable refresh_token in the answer")),
        None => old_refresh
            .cloned()
            .ok_or_else(|| bad("no refresh_token in the answer"))?,
    };
    // Some endpoints send the number as a string.
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(3600);
    Ok(Answer::Tokens(Tokens {
        refresh_token: refresh,
        access_token: Some(Secret::new(access)),
        expires_at: now().saturating_add(expires_in),
    }))
}

/// Printable ASCII, no space, not empty, bounded.
fn token_ok(t: &str) -> bool {
    !t.is_empty() && t.len() <= 16 * 1024 && t.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf() -> OAuth2Conf {
        OAuth2Conf {
            name: "r".into(),
            provider: crate::config::Provider::Custom,
            client_id: "c".into(),
            client_secret: None,
            token_url: "https://t".into(),
            device_url: None,
            auth_url: None,
            scope: "s".into(),
            token_file: "/nonexistent/t".into(),
        }
    }

    #[test]
    fn answers() {
        let c = conf();
        let old = Secret::new("old");
        let ok = json!({"access_token": "A", "expires_in": "120"});
        let Answer::Tokens(t) = parse(&c, 200, &ok, Some(&old)).unwrap() else {
            panic!("tokens expected")
        };
        assert_eq!(t.refresh_token.expose(), "old");
        assert!(t.expires_at >= now() + 119 && t.expires_at <= now() + 121);
        assert!(
            parse(&c, 200, &ok, None).is_err(),
            "no refresh token at all"
        );

        let err = json!({"error": "invalid_grant", "error_description": "Token\nrevoked"});
        let Answer::Error { error, description } = parse(&c, 400, &err, None).unwrap() else {
            panic!("error expected")
        };
        assert_eq!(
            (error.as_str(), description.as_str()),
            ("invalid_grant", "Token?revoked")
        );

        for bad in [
            json!({"access_token": "has space", "refresh_token": "r"}),
            json!({"access_token": "", "refresh_token": "r"}),
            json!({"access_token": 5, "refresh_token": "r"}),
            json!({"access_token": "a", "refresh_token": "r\r\n"}),
        ] {
            assert!(parse(&c, 200, &bad, None).is_err(), "{bad}");
        }
        assert!(parse(&c, 500, &json!({}), None).is_err());
    }
}
