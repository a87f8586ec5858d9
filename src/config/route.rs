//! Routes (config.md §3): one way of sending remote mail, with every
//! option of both eras and the TLS/AUTH options of DESIGN.md. This file
//! holds the types and their defaults; reading a route file is
//! `route_file.rs`, which depends on this file and not the other way round.
//!
//! Guarantees: a [`Route`] is fully typed (filters, rewrite maps, commands,
//! resolvers); [`Route::new`] gives the defaults of config.md §3.1.
//!
//! # Security
//! Route files may hold passwords (`auth_secret`); they are kept in
//! [`Secret`] and never printed. AUTH user names and secrets may not contain
//! line breaks (they go into SMTP lines); `route_file.rs` refuses them.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind as K};
use super::names::{AUTH_NAME, ROUTE_TLS};
use super::oauth2::OAuth2Conf;
use super::rewrite::{AddrPattern, RewriteMap};
use super::secret::Secret;
use super::values::At;
use super::{CommandSpec, Config, Interface};

/// Default of `max_parallel_connections`. Measured (`cargo bench --bench
/// peers`, 100 messages, 100 ms round trips, plain): 1 connection 10.5 s,
/// 4 took 3.2 s, 5 took 2.6 s, 8 took 1.9 s; Postfix took 2.2–2.8 s over
/// 20–25 (its `default_destination_concurrency_limit` is 20). Each
/// connection costs one round trip per message, so only more connections
/// go faster; 8 beats Postfix with a margin while staying well under its
/// limit.
pub const DEFAULT_PARALLEL_CONNECTIONS: u32 = 8;

/// `resolve_list` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    DnsMx,
    /// 0.2 only; 1.0 folds A lookups into `dns_mx`.
    DnsA,
    ByName,
}

impl Resolver {
    /// Parses resolver names; unknown names are `unknown resolver x`.
    pub fn parse_list(at: &At, items: &[String]) -> Result<Vec<Resolver>, ConfigError> {
        items
            .iter()
            .map(|i| match i.to_ascii_lowercase().as_str() {
                "dns_mx" => Ok(Resolver::DnsMx),
                "dns_a" => Ok(Resolver::DnsA),
                "byname" => Ok(Resolver::ByName),
                _ => Err(at.err(K::UnknownResolver { value: i.clone() })),
            })
            .collect()
    }
}

/// Route (and get) `tls`. Unset (`Option::None` in the field) means
/// STARTTLS when the server offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Explicitly plain text; only then may AUTH go over an unencrypted link.
    None,
    /// STARTTLS (or POP3 STLS) required.
    StartTls,
    /// TLS from the first byte (smtps, or pop3s for get files).
    Smtps,
}

/// `transport`: 0.2 `protocol`, or 1.0 "pipe iff `pipe` is set".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Smtp,
    Pipe,
}

/// SMTP AUTH mechanisms (`auth_name`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMech {
    Plain,
    Login,
    CramMd5,
    Xoauth2,
    /// RFC 7628.
    OAuthBearer,
}

impl AuthMech {
    /// XOAUTH2 or OAUTHBEARER: the secret is a bearer token.
    pub fn is_bearer(self) -> bool {
        matches!(self, AuthMech::Xoauth2 | AuthMech::OAuthBearer)
    }
}

/// One route file.
#[derive(Debug, Clone)]
pub struct Route {
    /// The file; also the route's name in logs.
    pub file: PathBuf,
    pub protocol: Transport,
    pub mail_host: Option<Interface>,
    /// Port for direct (MX) delivery; default the main `remote_port` (25).
    pub smtp_port: u16,
    pub resolve_list: Vec<Resolver>,
    pub connect_error_fail: bool,
    /// Default: the main `host_name`.
    pub helo_name: String,
    pub do_correct_helo: bool,
    pub instant_helo: bool,
    pub do_pipelining: bool,
    /// Ours (issue 12): connections a flush may open at once to a host
    /// that offers PIPELINING but not CHUNKING; 1 is one connection.
    pub max_parallel_connections: u32,
    /// `None`: the best mechanism the server offers.
    pub auth_name: Option<AuthMech>,
    pub auth_login: Option<String>,
    pub auth_secret: Option<Secret>,
    pub auth_secret_command: Option<CommandSpec>,
    pub wrapper: Option<CommandSpec>,
    pub pipe: Option<CommandSpec>,
    pub pipe_fromline: bool,
    pub pipe_fromhack: bool,
    pub last_route: bool,
    // 1.0 conditions (§3.2)
    pub allowed_senders: Vec<AddrPattern>,
    pub denied_senders: Vec<AddrPattern>,
    pub allowed_recipients: Vec<AddrPattern>,
    pub denied_recipients: Vec<AddrPattern>,
    pub allowed_from_hdrs: Vec<AddrPattern>,
    pub denied_from_hdrs: Vec<AddrPattern>,
    // 0.2 conditions (§3.3)
    pub allowed_mail_locals: Vec<String>,
    pub not_allowed_mail_locals: Vec<String>,
    pub allowed_return_paths: Vec<AddrPattern>,
    pub not_allowed_return_paths: Vec<AddrPattern>,
    pub allowed_rcpt_domains: Vec<String>,
    pub not_allowed_rcpt_domains: Vec<String>,
    // rewriting (§3.4)
    pub map_return_path_addresses: RewriteMap,
    pub map_h_from_addresses: RewriteMap,
    pub map_h_sender_addresses: RewriteMap,
    pub map_h_reply_to_addresses: RewriteMap,
    pub map_h_mail_followup_to_addresses: RewriteMap,
    pub map_outgoing_addresses: RewriteMap,
    pub set_h_from_domain: Option<String>,
    pub set_h_reply_to_domain: Option<String>,
    pub set_return_path_domain: Option<String>,
    pub expand_h_sender_domain: bool,
    pub expand_h_sender_address: bool,
    /// `expand_h_sender_address` was written in the file. Its 0.2 default
    /// (true) would rewrite `Sender:` for every 1.0 route, which 1.0 never
    /// does; the rewriter honours the option only when it was written.
    pub expand_h_sender_address_set: bool,
    pub pop3_login: Option<PathBuf>,
    // DESIGN.md
    pub tls: Option<TlsMode>,
    pub tls_verify: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Issue 10: the bearer token comes from this provider, refreshed by
    /// masqmail (`oauth2::access_token`).
    pub oauth2: Option<OAuth2Conf>,
}

impl Route {
    /// The defaults of a route for `cfg`.
    pub fn new(file: &Path, cfg: &Config) -> Route {
        Route {
            file: file.to_path_buf(),
            protocol: Transport::Smtp,
            mail_host: None,
            smtp_port: cfg.remote_port,
            resolve_list: vec![Resolver::DnsMx, Resolver::ByName],
            connect_error_fail: false,
            helo_name: cfg.host_name.clone(),
            do_correct_helo: false,
            instant_helo: false,
            do_pipelining: true,
            max_parallel_connections: DEFAULT_PARALLEL_CONNECTIONS,
            auth_name: None,
            auth_login: None,
            auth_secret: None,
            auth_secret_command: None,
            wrapper: None,
            pipe: None,
            pipe_fromline: false,
            pipe_fromhack: false,
            last_route: false,
            allowed_senders: Vec::new(),
            denied_senders: Vec::new(),
            allowed_recipients: Vec::new(),
            denied_recipients: Vec::new(),
            allowed_from_hdrs: Vec::new(),
            denied_from_hdrs: Vec::new(),
            allowed_mail_locals: Vec::new(),
            not_allowed_mail_locals: Vec::new(),
            allowed_return_paths: Vec::new(),
            not_allowed_return_paths: Vec::new(),
            allowed_rcpt_domains: Vec::new(),
            not_allowed_rcpt_domains: Vec::new(),
            map_return_path_addresses: RewriteMap::default(),
            map_h_from_addresses: RewriteMap::default(),
            map_h_sender_addresses: RewriteMap::default(),
            map_h_reply_to_addresses: RewriteMap::default(),
            map_h_mail_followup_to_addresses: RewriteMap::default(),
            map_outgoing_addresses: RewriteMap::default(),
            set_h_from_domain: None,
            set_h_reply_to_domain: None,
            set_return_path_domain: None,
            expand_h_sender_domain: false,
            expand_h_sender_address: true,
            expand_h_sender_address_set: false,
            pop3_login: None,
            tls: None,
            tls_verify: true,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            oauth2: None,
        }
    }

    /// The route's name in logs: its file path.
    pub fn name(&self) -> &Path {
        &self.file
    }
}

pub(super) fn auth_mech(at: &At, v: &str) -> Result<AuthMech, ConfigError> {
    Ok([
        AuthMech::Plain,
        AuthMech::Login,
        AuthMech::CramMd5,
        AuthMech::Xoauth2,
        AuthMech::OAuthBearer,
    ][at.choice(v, AUTH_NAME)?])
}

pub(super) fn route_tls(at: &At, v: &str) -> Result<TlsMode, ConfigError> {
    Ok([TlsMode::None, TlsMode::StartTls, TlsMode::Smtps][at.choice(v, ROUTE_TLS)?])
}
