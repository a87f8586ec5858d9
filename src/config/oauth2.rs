//! OAuth2 settings of a route or get file (issue 10): the provider's
//! endpoints (presets for Google and Microsoft, any other by URL), the
//! client registration, the scope and the token file.
//!
//! Guarantees: an [`OAuth2Conf`] has a client id, a token endpoint and a
//! scope; every endpoint is `https://`, or `http://` on a loopback address
//! only (a test endpoint on this machine), so no token or client secret
//! crosses a network in clear. It exists only together with `auth_name =
//! xoauth2 | oauthbearer`, an `auth_login` (the SASL user) and no other
//! secret (`auth_secret`, `auth_secret_command`, `pass`, `pass_command`).
//!
//! # Security
//! The client secret (an installed application's, not really secret, but
//! still never printed) is a [`Secret`]. The tokens themselves are never in
//! a config file: they live in the token file, which `oauth2::token_file`
//! guards.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind as K};
use super::secret::Secret;
use super::values::At;

/// `oauth2_provider` values.
pub const OAUTH2_PROVIDER: &[&str] = &["google", "microsoft", "custom"];

/// The oauth2_* options, shared by route and get files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthKey {
    Provider,
    ClientId,
    ClientSecret,
    TokenUrl,
    DeviceUrl,
    AuthUrl,
    Scope,
    TokenFile,
}

/// Who will use the token: the scope presets differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthUse {
    Smtp,
    Pop3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
    Custom,
}

/// A complete OAuth2 configuration.
#[derive(Debug, Clone)]
pub struct OAuth2Conf {
    /// The route or get file, as the user names it to `masqmail -oauth2`.
    pub name: String,
    pub provider: Provider,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub token_url: String,
    /// Device authorization endpoint (RFC 8628); when set, `-oauth2` uses
    /// the device flow.
    pub device_url: Option<String>,
    /// Authorization endpoint for the loopback redirect flow (RFC 8252).
    pub auth_url: Option<String>,
    pub scope: String,
    pub token_file: PathBuf,
}

const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
const GOOGLE_AUTH: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const MS_BASE: &str = "https://login.microsoftonline.com/common/oauth2/v2.0";

/// The options as read, before the file is complete.
#[derive(Debug, Default)]
pub struct OAuthDraft {
    provider: Option<Provider>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    token_url: Option<String>,
    device_url: Option<String>,
    auth_url: Option<String>,
    scope: Option<String>,
    token_file: Option<PathBuf>,
    /// The first line with an oauth2_* option (0: none).
    line: u32,
}

impl OAuthDraft {
    /// Takes one oauth2_* option.
    pub fn set(&mut self, key: OAuthKey, at: &At, v: &str) -> Result<(), ConfigError> {
        if self.line == 0 {
            self.line = at.line;
        }
        let url = |v: &str| check_url(at, v).map(|()| Some(v.to_string()));
        match key {
            OAuthKey::Provider => {
                self.provider = Some(
                    [Provider::Google, Provider::Microsoft, Provider::Custom]
                        [at.choice(v, OAUTH2_PROVIDER)?],
                )
            }
            OAuthKey::ClientId => self.client_id = Some(at.single_line(v)?),
            OAuthKey::ClientSecret => self.client_secret = Some(Secret::new(at.single_line(v)?)),
            OAuthKey::TokenUrl => self.token_url = url(v)?,
            OAuthKey::DeviceUrl => self.device_url = url(v)?,
            OAuthKey::AuthUrl => self.auth_url = url(v)?,
            OAuthKey::Scope => self.scope = Some(at.single_line(v)?),
            OAuthKey::TokenFile => self.token_file = at.opt_path(v),
        }
        Ok(())
    }

    /// The configuration, or `None` when no oauth2_* option was written.
    /// `file` names the route or get file; the default token file is
    /// `<spool_dir>/oauth2/<file name>`.
    pub fn finish(
        self,
        file: &Path,
        used_by: OAuthUse,
        spool_dir: &Path,
    ) -> Result<Option<OAuth2Conf>, ConfigError> {
        if self.line == 0 {
            return Ok(None);
        }
        let err = |key: &'static str| ConfigError::new(file, self.line, K::MissingRequired { key });
        let provider = self.provider.unwrap_or(Provider::Custom);
        let client_id = self.client_id.ok_or_else(|| err("oauth2_client_id"))?;
        let (token, device, auth, scope) = match (provider, used_by) {
            (Provider::Google, _) => (
                Some(GOOGLE_TOKEN.to_string()),
                // Google's device flow does not grant the mail scope.
                None,
                Some(GOOGLE_AUTH.to_string()),
                Some("https://mail.google.com/".to_string()),
            ),
            (Provider::Microsoft, u) => (
                Some(format!("{MS_BASE}/token")),
                Some(format!("{MS_BASE}/devicecode")),
                Some(format!("{MS_BASE}/authorize")),
                Some(
                    match u {
                        OAuthUse::Smtp => "https://outlook.office.com/SMTP.Send offline_access",
                        OAuthUse::Pop3 => {
                            "https://outlook.office.com/POP.AccessAsUser.All offline_access"
                        }
                    }
                    .to_string(),
                ),
            ),
            (Provider::Custom, _) => (None, None, None, None),
        };
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| err("oauth2_token_file"))?;
        Ok(Some(OAuth2Conf {
            name: file.display().to_string(),
            provider,
            client_id,
            client_secret: self.client_secret,
            token_url: self
                .token_url
                .or(token)
                .ok_or_else(|| err("oauth2_token_url"))?,
            device_url: self.device_url.or(device),
            auth_url: self.auth_url.or(auth),
            scope: self.scope.or(scope).ok_or_else(|| err("oauth2_scope"))?,
            token_file: self
                .token_file
                .unwrap_or_else(|| spool_dir.join("oauth2").join(name)),
        }))
    }
}

/// `https://…`, or `http://` with a loopback host.
fn check_url(at: &At, v: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| {
        at.err(K::Invalid {
            key: at.key.to_string(),
            reason: reason.to_string(),
        })
    };
    if v.chars().any(|c| c.is_control() || c == ' ') {
        return Err(invalid("a URL has no spaces or control characters"));
    }
    if let Some(rest) = v.strip_prefix("https://") {
        return match rest.is_empty() {
            true => Err(invalid("the URL has no host")),
            false => Ok(()),
        };
    }
    match v.strip_prefix("http://").map(url_host) {
        Some(host) if is_loopback(host) => Ok(()),
        Some(_) => Err(invalid(
            "plain http:// is allowed only for loopback addresses",
        )),
        None => Err(invalid("not an https:// URL")),
    }
}

/// The host of a URL after its scheme (`[::1]` without brackets).
pub fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> At<'static> {
        At {
            file: Path::new("/r"),
            line,
            key: "oauth2_token_url",
        }
    }

    #[test]
    fn urls() {
        for ok in [
            "https://oauth2.googleapis.com/token",
            "http://127.0.0.1:8080/token",
            "http://[::1]/t",
            "http://localhost/t",
        ] {
            assert!(check_url(&at(1), ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.org/token",
            "http://127.0.0.1.evil.org/t",
            "ftp://x",
            "https://",
            "https://a b",
            "http://user@example.org/",
        ] {
            assert!(check_url(&at(1), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn presets_and_required() {
        let spool = Path::new("/var/spool/masqmail");
        let mut d = OAuthDraft::default();
        d.set(OAuthKey::Provider, &at(3), "microsoft").unwrap();
        d.set(OAuthKey::ClientId, &at(4), "cid").unwrap();
        let c = d
            .finish(Path::new("/etc/r/ms"), OAuthUse::Pop3, spool)
            .unwrap()
            .unwrap();
        assert!(c.device_url.unwrap().ends_with("/devicecode"));
        assert!(c.scope.contains("POP.AccessAsUser.All"));
        assert_eq!(c.token_file, spool.join("oauth2/ms"));

        let mut d = OAuthDraft::default();
        d.set(OAuthKey::Provider, &at(3), "google").unwrap();
        d.set(OAuthKey::ClientId, &at(4), "cid").unwrap();
        let c = d
            .finish(Path::new("g"), OAuthUse::Smtp, spool)
            .unwrap()
            .unwrap();
        assert_eq!(c.device_url, None, "Google: loopback flow");
        assert_eq!(c.scope, "https://mail.google.com/");

        let mut d = OAuthDraft::default();
        d.set(OAuthKey::ClientId, &at(7), "cid").unwrap();
        let e = d.finish(Path::new("c"), OAuthUse::Smtp, spool).unwrap_err();
        assert!(e.to_string().contains("oauth2_token_url"), "{e}");
        assert!(
            OAuthDraft::default()
                .finish(Path::new("c"), OAuthUse::Smtp, spool)
                .unwrap()
                .is_none()
        );
    }
}
