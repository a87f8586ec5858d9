//! Get files (config.md §4): one POP3 account to fetch from (`-g`, `-go`)
//! or to log into before SMTP (route `pop3_login`), plus the TLS and
//! `pass_command` options of DESIGN.md.
//!
//! Guarantees: after [`GetConf::load`] the required values (`server`,
//! `user`, `pass` or `pass_command`, `address`) are present;
//! [`GetConf::load_login`] does not require `address`, which SMTP-after-POP
//! does not use. A missing value is an error naming the file.
//!
//! # Security
//! The password is a [`Secret`]; user names and passwords may not contain
//! line breaks, as they go into POP3 command lines.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind as K};
use super::lex::tokenize;
use super::names::{G, GET, GET_AUTH_NAME, GET_PROTOCOL, GET_TLS, resolve};
use super::oauth2::{OAuth2Conf, OAuthDraft, OAuthUse};
use super::route::{AuthMech, Resolver, TlsMode};
use super::secret::Secret;
use super::values::{At, read_limited};
use super::{CommandSpec, Config};
use crate::address::Address;

/// Login method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetProtocol {
    Pop3,
    Apop,
    /// On-Demand Mail Relay (RFC 2645): SMTP to the provider, `ATRN`,
    /// then the provider delivers to us over the same connection.
    Odmr,
}

/// One get file.
#[derive(Debug, Clone)]
pub struct GetConf {
    pub file: PathBuf,
    pub protocol: GetProtocol,
    pub server: String,
    /// Default 110, or 995 with `tls = pop3s`.
    pub port: u16,
    pub resolve_list: Vec<Resolver>,
    pub user: String,
    pub pass: Option<Secret>,
    pub pass_command: Option<CommandSpec>,
    /// Envelope recipient of fetched mail, qualified with `host_name`.
    /// Always `Some` after [`GetConf::load`].
    pub address: Option<Address>,
    pub return_path: Option<Address>,
    pub do_keep: bool,
    pub do_uidl: bool,
    pub do_uidl_dele: bool,
    /// Only fetch messages strictly smaller; 0 = no limit.
    pub max_size: u64,
    pub max_size_delete: bool,
    /// 0 = no limit.
    pub max_count: u32,
    pub wrapper: Option<CommandSpec>,
    /// `None`: STLS when the server offers it.
    pub tls: Option<TlsMode>,
    pub tls_verify: bool,
    pub tls_ca_file: Option<PathBuf>,
    /// The account's mail domains: multidrop takes recipients only in
    /// these; ODMR asks `ATRN` for them.
    pub domains: Vec<String>,
    /// Deliver each message to the recipients its envelope headers name.
    pub do_multidrop: bool,
    /// The headers multidrop reads, in order.
    pub multidrop_headers: Vec<String>,
    /// Multidrop may hand a recipient that is not local to the routes.
    pub do_multidrop_relay: bool,
    /// POP3 SASL (RFC 5034) with a bearer token instead of USER/PASS:
    /// the token is `pass`/`pass_command`, or comes from `oauth2`.
    pub auth_name: Option<AuthMech>,
    pub oauth2: Option<OAuth2Conf>,
}

/// The headers multidrop reads when the get file names none.
pub const MULTIDROP_HEADERS: &[&str] = &["Envelope-To", "Delivered-To", "X-Original-To"];

impl GetConf {
    /// Reads a get file for fetching; all required values must be present.
    pub fn load(path: &Path, cfg: &Config) -> Result<GetConf, ConfigError> {
        GetConf::parse(&read_limited(path)?, path, cfg)
    }

    /// Reads a get file for SMTP-after-POP (`address` not required).
    pub fn load_login(path: &Path, cfg: &Config) -> Result<GetConf, ConfigError> {
        GetConf::parse_login(&read_limited(path)?, path, cfg)
    }

    pub fn parse(text: &[u8], path: &Path, cfg: &Config) -> Result<GetConf, ConfigError> {
        GetConf::parse_inner(text, path, cfg, true)
    }

    /// Like [`GetConf::parse`] without requiring `address`.
    pub fn parse_login(text: &[u8], path: &Path, cfg: &Config) -> Result<GetConf, ConfigError> {
        GetConf::parse_inner(text, path, cfg, false)
    }

    fn parse_inner(
        text: &[u8],
        path: &Path,
        cfg: &Config,
        need_address: bool,
    ) -> Result<GetConf, ConfigError> {
        let mut g = GetConf {
            file: path.to_path_buf(),
            protocol: GetProtocol::Pop3,
            server: String::new(),
            port: 0,
            resolve_list: vec![Resolver::DnsA, Resolver::ByName],
            user: String::new(),
            pass: None,
            pass_command: None,
            address: None,
            return_path: None,
            do_keep: false,
            do_uidl: false,
            do_uidl_dele: false,
            max_size: 0,
            max_size_delete: false,
            max_count: 0,
            wrapper: None,
            tls: None,
            tls_verify: true,
            tls_ca_file: None,
            domains: Vec::new(),
            do_multidrop: false,
            multidrop_headers: MULTIDROP_HEADERS.iter().map(|h| h.to_string()).collect(),
            do_multidrop_relay: false,
            auth_name: None,
            oauth2: None,
        };
        let mut oauth2 = OAuthDraft::default();
        for st in tokenize(text, path)? {
            let (opt, _) = resolve(GET, &st, path)?;
            let at = At {
                file: path,
                line: st.line,
                key: &st.key,
            };
            match opt.field {
                G::OAuth2(key) => oauth2.set(key, &at, &st.value)?,
                field => apply(&mut g, field, &at, &st.value, opt.incl)?,
            }
        }
        g.oauth2 = oauth2.finish(path, OAuthUse::Pop3, &cfg.spool_dir)?;
        if g.oauth2.is_some() {
            let invalid = |key: &str, reason: &str| {
                let kind = K::Invalid {
                    key: key.into(),
                    reason: reason.into(),
                };
                Err(ConfigError::new(path, 0, kind))
            };
            if g.auth_name.is_none() {
                return invalid(
                    "auth_name",
                    "oauth2_* options need `auth_name = xoauth2` or `oauthbearer`",
                );
            }
            if g.pass.is_some() || g.pass_command.is_some() {
                return invalid(
                    "oauth2_client_id",
                    "oauth2_* options exclude `pass` and `pass_command`",
                );
            }
            if g.protocol != GetProtocol::Pop3 {
                return invalid("oauth2_client_id", "OAuth2 is for `protocol = pop3` only");
            }
        }
        let missing = |key| Err(ConfigError::new(path, 0, K::MissingRequired { key }));
        if g.server.is_empty() {
            return missing("server");
        }
        if g.user.is_empty() {
            return missing("user");
        }
        if g.pass.is_none() && g.pass_command.is_none() && g.oauth2.is_none() {
            return missing("pass");
        }
        let odmr = g.protocol == GetProtocol::Odmr;
        if need_address && !odmr && g.address.is_none() {
            return missing("address");
        }
        if (odmr || g.do_multidrop) && g.domains.is_empty() {
            return missing("domains");
        }
        if g.port == 0 {
            g.port = match (odmr, g.tls == Some(TlsMode::Smtps)) {
                (false, true) => 995,
                (false, false) => 110,
                (true, _) => 366,
            };
        }
        g.address = g.address.map(|a| a.qualify(&cfg.host_name));
        g.return_path = g.return_path.map(|a| a.qualify(&cfg.host_name));
        Ok(g)
    }
}

fn apply(g: &mut GetConf, f: G, at: &At, v: &str, incl: bool) -> Result<(), ConfigError> {
    let command = |v: &str| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            at.command(v).map(Some)
        }
    };
    match f {
        G::Protocol => {
            g.protocol = [GetProtocol::Pop3, GetProtocol::Apop, GetProtocol::Odmr]
                [at.choice(v, GET_PROTOCOL)?]
        }
        G::Server => {
            // Unlike `host_name`, never a `/file`: just a host name.
            at.check_host(v)?;
            g.server = v.to_string();
        }
        G::Port => g.port = at.number(v)?,
        G::ResolveList => g.resolve_list = Resolver::parse_list(at, &at.list(v, incl)?)?,
        G::User => g.user = at.single_line(v)?,
        G::Pass => g.pass = Some(Secret::new(at.single_line(v)?)),
        G::PassCommand => g.pass_command = command(v)?,
        G::Address => g.address = Some(at.address(v)?).filter(|a| !a.is_null()),
        G::ReturnPath => {
            g.return_path = if v.is_empty() {
                None
            } else {
                Some(at.address(v)?)
            }
        }
        G::DoKeep => g.do_keep = at.boolean(v)?,
        G::DoUidl => g.do_uidl = at.boolean(v)?,
        G::DoUidlDele => g.do_uidl_dele = at.boolean(v)?,
        G::MaxSize => g.max_size = at.number(v)?,
        G::MaxSizeDelete => g.max_size_delete = at.boolean(v)?,
        G::MaxCount => g.max_count = at.number(v)?,
        G::Wrapper => g.wrapper = command(v)?,
        G::DoSsl => {}
        G::Tls => {
            let modes = [
                TlsMode::None,
                TlsMode::StartTls,
                TlsMode::StartTls,
                TlsMode::Smtps,
            ];
            g.tls = Some(modes[at.choice(v, GET_TLS)?]);
        }
        G::TlsVerify => g.tls_verify = at.boolean(v)?,
        G::TlsCaFile => g.tls_ca_file = at.opt_path(v),
        G::Domains => {
            g.domains = at.list(v, incl)?;
            for d in &g.domains {
                at.check_host(d)?;
            }
        }
        G::DoMultidrop => g.do_multidrop = at.boolean(v)?,
        G::MultidropHeaders => g.multidrop_headers = at.list(v, incl)?,
        G::DoMultidropRelay => g.do_multidrop_relay = at.boolean(v)?,
        G::AuthName => {
            g.auth_name = match v.is_empty() {
                true => None,
                false => {
                    Some([AuthMech::Xoauth2, AuthMech::OAuthBearer][at.choice(v, GET_AUTH_NAME)?])
                }
            }
        }
        // Taken by the caller.
        G::OAuth2(_) => {}
    }
    Ok(())
}
