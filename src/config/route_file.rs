//! Reading a route file (config.md §3.1): tokenize, resolve each option
//! name (both eras), set its field from the text value, then check the
//! options that depend on each other. The types are in `route.rs`.
//!
//! Guarantees: a route with any invalid entry is an error, never a
//! half-read route. The transport is `pipe` iff a pipe command is set (or
//! 0.2 `protocol = pipe`, which then requires `pipe`).
//!
//! # Security
//! Route files may hold passwords (`auth_secret`); they go straight into a
//! [`Secret`], which is never printed. Values that end up in SMTP lines
//! (`helo_name`, `auth_login`, `auth_secret`) are refused when they contain
//! line breaks.

use std::path::{Path, PathBuf};

use super::Config;
use super::error::{ConfigError, ConfigErrorKind as K};
use super::lex::tokenize;
use super::names::{Opt, R, ROUTE, ROUTE_PROTOCOL, resolve};
use super::oauth2::{OAuthDraft, OAuthUse};
use super::rewrite::{AddrPattern, RewriteMap};
use super::route::{AuthMech, Resolver, Route, Transport, auth_mech, route_tls};
use super::secret::Secret;
use super::values::{At, read_limited};

impl Route {
    /// Reads and parses a route file.
    pub fn load(path: &Path, cfg: &Config) -> Result<Route, ConfigError> {
        let bytes = read_limited(path)?;
        let mut route = Route::parse(&bytes, path, cfg)?;
        // Like masqmail.conf: relative paths are taken relative to the
        // file that names them (ours; 1.0 used them as given).
        if let Some(base) = path.parent().filter(|b| b.is_absolute()) {
            for p in [
                &mut route.tls_ca_file,
                &mut route.tls_cert_file,
                &mut route.tls_key_file,
                &mut route.pop3_login,
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
            if let Some(o) = route.oauth2.as_mut()
                && o.token_file.is_relative()
            {
                o.token_file = base.join(&o.token_file);
            }
        }
        Ok(route)
    }

    /// Parses route file text; `path` names the route and its errors.
    pub fn parse(text: &[u8], path: &Path, cfg: &Config) -> Result<Route, ConfigError> {
        let mut r = Route::new(path, cfg);
        let mut explicit: Option<(Transport, u32)> = None;
        let mut oauth2 = OAuthDraft::default();
        for st in tokenize(text, path)? {
            let (opt, _) = resolve(ROUTE, &st, path)?;
            let at = At {
                file: path,
                line: st.line,
                key: &st.key,
            };
            if opt.field == R::Protocol {
                let t = [Transport::Smtp, Transport::Pipe][at.choice(&st.value, ROUTE_PROTOCOL)?];
                explicit = Some((t, st.line));
                continue;
            }
            if let R::OAuth2(key) = opt.field {
                oauth2.set(key, &at, &st.value)?;
                continue;
            }
            apply(&mut r, opt, &at, &st.value, cfg.remote_port)?;
        }
        r.protocol = match explicit {
            Some((Transport::Pipe, line)) if r.pipe.is_none() => {
                return Err(ConfigError::new(
                    path,
                    line,
                    K::MissingRequired { key: "pipe" },
                ));
            }
            Some((t, _)) => t,
            None if r.pipe.is_some() => Transport::Pipe,
            None => Transport::Smtp,
        };
        if r.auth_secret.is_some() && r.auth_secret_command.is_some() {
            let reason = "`auth_secret` and `auth_secret_command` exclude each other".to_string();
            return Err(ConfigError::new(
                path,
                0,
                K::Invalid {
                    key: "auth_secret_command".into(),
                    reason,
                },
            ));
        }
        r.oauth2 = oauth2.finish(path, OAuthUse::Smtp, &cfg.spool_dir)?;
        check_oauth2(&r)?;
        Ok(r)
    }
}

/// OAuth2 needs a bearer mechanism and a SASL user, and replaces the
/// other secrets.
fn check_oauth2(r: &Route) -> Result<(), ConfigError> {
    if r.oauth2.is_none() {
        return Ok(());
    }
    let invalid = |key: &str, reason: &str| {
        Err(ConfigError::new(
            &r.file,
            0,
            K::Invalid {
                key: key.into(),
                reason: reason.into(),
            },
        ))
    };
    if !r.auth_name.is_some_and(AuthMech::is_bearer) {
        return invalid(
            "auth_name",
            "oauth2_* options need `auth_name = xoauth2` or `oauthbearer`",
        );
    }
    if r.auth_login.is_none() {
        return Err(ConfigError::new(
            &r.file,
            0,
            K::MissingRequired { key: "auth_login" },
        ));
    }
    if r.auth_secret.is_some() || r.auth_secret_command.is_some() {
        return invalid(
            "oauth2_client_id",
            "oauth2_* options exclude `auth_secret` and `auth_secret_command`",
        );
    }
    Ok(())
}

fn bool_field(r: &mut Route, f: R) -> Option<&mut bool> {
    Some(match f {
        R::ConnectErrorFail => &mut r.connect_error_fail,
        R::DoCorrectHelo => &mut r.do_correct_helo,
        R::InstantHelo => &mut r.instant_helo,
        R::DoPipelining => &mut r.do_pipelining,
        R::PipeFromline => &mut r.pipe_fromline,
        R::PipeFromhack => &mut r.pipe_fromhack,
        R::LastRoute => &mut r.last_route,
        R::ExpandHSenderDomain => &mut r.expand_h_sender_domain,
        R::ExpandHSenderAddress => &mut r.expand_h_sender_address,
        R::TlsVerify => &mut r.tls_verify,
        _ => return None,
    })
}

fn pattern_field(r: &mut Route, f: R) -> Option<&mut Vec<AddrPattern>> {
    Some(match f {
        R::AllowedSenders => &mut r.allowed_senders,
        R::DeniedSenders => &mut r.denied_senders,
        R::AllowedRecipients => &mut r.allowed_recipients,
        R::DeniedRecipients => &mut r.denied_recipients,
        R::AllowedFromHdrs => &mut r.allowed_from_hdrs,
        R::DeniedFromHdrs => &mut r.denied_from_hdrs,
        R::AllowedReturnPaths => &mut r.allowed_return_paths,
        R::NotAllowedReturnPaths => &mut r.not_allowed_return_paths,
        _ => return None,
    })
}

fn string_list_field(r: &mut Route, f: R) -> Option<&mut Vec<String>> {
    Some(match f {
        R::AllowedMailLocals => &mut r.allowed_mail_locals,
        R::NotAllowedMailLocals => &mut r.not_allowed_mail_locals,
        R::AllowedRcptDomains => &mut r.allowed_rcpt_domains,
        R::NotAllowedRcptDomains => &mut r.not_allowed_rcpt_domains,
        _ => return None,
    })
}

fn map_field(r: &mut Route, f: R) -> Option<&mut RewriteMap> {
    Some(match f {
        R::MapReturnPath => &mut r.map_return_path_addresses,
        R::MapHFrom => &mut r.map_h_from_addresses,
        R::MapHSender => &mut r.map_h_sender_addresses,
        R::MapHReplyTo => &mut r.map_h_reply_to_addresses,
        R::MapHMailFollowupTo => &mut r.map_h_mail_followup_to_addresses,
        R::MapOutgoing => &mut r.map_outgoing_addresses,
        _ => return None,
    })
}

fn opt_string_field(r: &mut Route, f: R) -> Option<&mut Option<String>> {
    Some(match f {
        R::SetHFromDomain => &mut r.set_h_from_domain,
        R::SetHReplyToDomain => &mut r.set_h_reply_to_domain,
        R::SetReturnPathDomain => &mut r.set_return_path_domain,
        _ => return None,
    })
}

fn opt_path_field(r: &mut Route, f: R) -> Option<&mut Option<PathBuf>> {
    Some(match f {
        R::Pop3Login => &mut r.pop3_login,
        R::TlsCaFile => &mut r.tls_ca_file,
        R::TlsCertFile => &mut r.tls_cert_file,
        R::TlsKeyFile => &mut r.tls_key_file,
        _ => return None,
    })
}

/// Sets the field of `opt` from `v`.
/// `remote_port` is the main config's default port for `mail_host`.
fn apply(
    r: &mut Route,
    opt: &Opt<R>,
    at: &At,
    v: &str,
    remote_port: u16,
) -> Result<(), ConfigError> {
    if let Some(b) = bool_field(r, opt.field) {
        *b = at.boolean(v)?;
        if opt.field == R::ExpandHSenderAddress {
            r.expand_h_sender_address_set = true;
        }
        return Ok(());
    }
    if let Some(p) = pattern_field(r, opt.field) {
        *p = at
            .list(v, opt.incl)?
            .iter()
            .map(|i| AddrPattern::parse(i))
            .collect();
        return Ok(());
    }
    if let Some(l) = string_list_field(r, opt.field) {
        *l = at.list(v, opt.incl)?;
        return Ok(());
    }
    if let Some(m) = map_field(r, opt.field) {
        let items = at.list(v, opt.incl)?;
        *m = RewriteMap::parse(at, &items, opt.field == R::MapReturnPath)?;
        return Ok(());
    }
    if let Some(s) = opt_string_field(r, opt.field) {
        *s = (!v.is_empty()).then(|| v.to_string());
        return Ok(());
    }
    if let Some(p) = opt_path_field(r, opt.field) {
        *p = at.opt_path(v);
        return Ok(());
    }
    let command = |v: &str| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            at.command(v).map(Some)
        }
    };
    match opt.field {
        R::MailHost => {
            r.mail_host = if v.is_empty() {
                None
            } else {
                Some(at.interface(v, remote_port)?)
            }
        }
        R::SmtpPort => r.smtp_port = at.number(v)?,
        R::MaxParallelConnections => {
            r.max_parallel_connections = at.number(v)?;
            if r.max_parallel_connections == 0 {
                return Err(at.err(K::Invalid {
                    key: "max_parallel_connections".into(),
                    reason: "must be at least 1 (1 = one connection)".into(),
                }));
            }
        }
        R::ResolveList => r.resolve_list = Resolver::parse_list(at, &at.list(v, opt.incl)?)?,
        R::HeloName => {
            at.check_host(v)?;
            r.helo_name = v.to_string();
        }
        R::AuthName => {
            r.auth_name = if v.is_empty() {
                None
            } else {
                Some(auth_mech(at, v)?)
            }
        }
        R::AuthLogin => r.auth_login = Some(at.single_line(v)?),
        R::AuthSecret => r.auth_secret = Some(Secret::new(at.single_line(v)?)),
        R::AuthSecretCommand => r.auth_secret_command = command(v)?,
        R::Wrapper => r.wrapper = command(v)?,
        R::Pipe => r.pipe = command(v)?,
        R::Tls => r.tls = Some(route_tls(at, v)?),
        R::DoSsl => {}
        // Protocol is handled by the caller; the rest by the helpers above.
        R::Protocol
        | R::ConnectErrorFail
        | R::DoCorrectHelo
        | R::InstantHelo
        | R::DoPipelining
        | R::PipeFromline
        | R::PipeFromhack
        | R::LastRoute
        | R::ExpandHSenderDomain
        | R::ExpandHSenderAddress
        | R::TlsVerify
        | R::AllowedSenders
        | R::DeniedSenders
        | R::AllowedRecipients
        | R::DeniedRecipients
        | R::AllowedFromHdrs
        | R::DeniedFromHdrs
        | R::AllowedReturnPaths
        | R::NotAllowedReturnPaths
        | R::AllowedMailLocals
        | R::NotAllowedMailLocals
        | R::AllowedRcptDomains
        | R::NotAllowedRcptDomains
        | R::MapReturnPath
        | R::MapHFrom
        | R::MapHSender
        | R::MapHReplyTo
        | R::MapHMailFollowupTo
        | R::MapOutgoing
        | R::SetHFromDomain
        | R::SetHReplyToDomain
        | R::SetReturnPathDomain
        | R::Pop3Login
        | R::TlsCaFile
        | R::TlsCertFile
        | R::TlsKeyFile
        | R::OAuth2(_) => {}
    }
    Ok(())
}
