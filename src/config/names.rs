//! The option tables: every name masqmail accepts in a main, route or get
//! file, of both eras, with its type and the field it sets. Both spellings
//! of a renamed option point at the same field; the old one carries a
//! migration hint that is logged once per use.
//!
//! This is the single place that knows option names: the loaders look
//! names up here, unknown names get a "did you mean" from here, and the
//! tests iterate over these tables.
//!
//! # Security
//! Pure data and lookup; no I/O.

use super::error::{ConfigError, ConfigErrorKind, suggest};
use super::lex::Statement;
use super::oauth2::{OAUTH2_PROVIDER, OAuthKey};
use std::path::Path;

/// The value type of an option (config.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Number,
    Time,
    Str,
    Path,
    /// `host_name`: a host name, or `/file` holding it.
    HostName,
    List,
    Addr,
    Addrs,
    /// `host[:port]` with the given default port.
    Interface(u16),
    Interfaces,
    Command,
    Choice(&'static [&'static str]),
    Times,
    Cidrs,
    SocketAddrs,
    Resolvers,
    AddrGlobs,
    Rewrite,
    /// `online_interfaces`: `GLOB:NAME` items.
    InterfaceMap,
    /// Accepted and ignored (`do_ssl`).
    Ignored,
}

/// One accepted option name.
#[derive(Debug)]
pub struct Opt<F: 'static> {
    pub name: &'static str,
    pub field: F,
    pub ty: Ty,
    /// List items starting with `/` are replaced by the file's lines.
    pub incl: bool,
    /// Written `name.NAME` (`query_routes.NAME`).
    pub named: bool,
    /// Set for 0.2 spellings: how to say it in 1.0.
    pub old: Option<&'static str>,
}

const fn o<F>(name: &'static str, field: F, ty: Ty) -> Opt<F> {
    Opt {
        name,
        field,
        ty,
        incl: false,
        named: false,
        old: None,
    }
}
const fn incl<F>(name: &'static str, field: F, ty: Ty) -> Opt<F> {
    Opt {
        name,
        field,
        ty,
        incl: true,
        named: false,
        old: None,
    }
}
const fn named<F>(name: &'static str, field: F, ty: Ty, old: Option<&'static str>) -> Opt<F> {
    Opt {
        name,
        field,
        ty,
        incl: false,
        named: true,
        old,
    }
}
const fn old<F>(name: &'static str, field: F, ty: Ty, hint: &'static str) -> Opt<F> {
    Opt {
        name,
        field,
        ty,
        incl: false,
        named: false,
        old: Some(hint),
    }
}
const fn old_incl<F>(name: &'static str, field: F, ty: Ty, hint: &'static str) -> Opt<F> {
    Opt {
        name,
        field,
        ty,
        incl: true,
        named: false,
        old: Some(hint),
    }
}

/// Fields of the main configuration that options set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[rustfmt::skip]
pub enum M {
    HostName, RunAsUser, UseSyslog, DebugLevel, LogDir, PidDir, MailDir, SpoolDir, LockDir,
    LocalHosts, LocalAddresses, NotLocalAddresses, ListenAddresses, DoSaveEnvelopeTo, DoRelay,
    DoQueue, DeferAll, MaxMsgSize, AliasFile, GlobaliasFile, CaselessMatching, MboxDefault,
    MboxUsers, MdaUsers, MaildirUsers, MaildirDir, Mda, MdaFromline, MdaFromhack, PipeFromline,
    PipeFromhack, PermanentRoutes, QueryRoutes, LocalNets, LocalNetRoute, OnlineQuery,
    OnlineDetect, OnlineFile, OnlinePipe, MserverIface, OnlineInterfaces, OnlineMetered,
    OnlineDebounce, Get, OnlineGets, RemotePort,
    IdentTrustedNets, ErrmsgFile, WarnmsgFile, WarnIntervals, MaxDeferTime, LogUser,
    TlsCertFile, TlsKeyFile, DnsServers, RelayNets, MaxConnections, CommandTimeLimit, TemplateDir,
    QueueMinfree, SmtpCommandTimeout, SmtpDataTimeout, MaxConnectionsPerHost, SmtpMinDataRate,
    RelayNetsNamed, SmtpAuthFile, TlsListenAddresses, ForwardFiles,
}

pub const MBOX_DEFAULT: &[&str] = &["mbox", "mda", "maildir"];
pub const ONLINE_DETECT: &[&str] = &["file", "pipe", "mserver", "netlink", "networkmanager"];
pub const ROUTE_TLS: &[&str] = &["none", "starttls", "smtps"];
pub const GET_TLS: &[&str] = &["none", "starttls", "stls", "pop3s"];
pub const AUTH_NAME: &[&str] = &["plain", "login", "cram-md5", "xoauth2", "oauthbearer"];
/// POP3 SASL (get `auth_name`): the bearer-token mechanisms only.
pub const GET_AUTH_NAME: &[&str] = &["xoauth2", "oauthbearer"];
pub const ROUTE_PROTOCOL: &[&str] = &["smtp", "pipe"];
pub const GET_PROTOCOL: &[&str] = &["pop3", "apop", "odmr"];

/// masqmail.conf (config.md §2.1, DESIGN.md "New options").
#[rustfmt::skip]
pub static MAIN: &[Opt<M>] = &[
    o("host_name", M::HostName, Ty::HostName),
    o("run_as_user", M::RunAsUser, Ty::Bool),
    o("use_syslog", M::UseSyslog, Ty::Bool),
    o("debug_level", M::DebugLevel, Ty::Number),
    o("log_dir", M::LogDir, Ty::Path),
    o("pid_dir", M::PidDir, Ty::Path),
    o("mail_dir", M::MailDir, Ty::Path),
    o("spool_dir", M::SpoolDir, Ty::Path),
    o("lock_dir", M::LockDir, Ty::Path),
    incl("local_hosts", M::LocalHosts, Ty::List),
    incl("local_addresses", M::LocalAddresses, Ty::Addrs),
    incl("not_local_addresses", M::NotLocalAddresses, Ty::Addrs),
    incl("listen_addresses", M::ListenAddresses, Ty::Interfaces),
    o("do_save_envelope_to", M::DoSaveEnvelopeTo, Ty::Bool),
    o("do_relay", M::DoRelay, Ty::Bool),
    o("do_queue", M::DoQueue, Ty::Bool),
    o("defer_all", M::DeferAll, Ty::Bool),
    o("max_msg_size", M::MaxMsgSize, Ty::Number),
    o("alias_file", M::AliasFile, Ty::Path),
    o("globalias_file", M::GlobaliasFile, Ty::Path),
    o("caseless_matching", M::CaselessMatching, Ty::Bool),
    old("alias_local_caseless", M::CaselessMatching, Ty::Bool, "renamed to `caseless_matching`"),
    o("forward_files", M::ForwardFiles, Ty::Bool),
    o("mbox_default", M::MboxDefault, Ty::Choice(MBOX_DEFAULT)),
    incl("mbox_users", M::MboxUsers, Ty::List),
    incl("mda_users", M::MdaUsers, Ty::List),
    incl("maildir_users", M::MaildirUsers, Ty::List),
    o("maildir_dir", M::MaildirDir, Ty::Path),
    o("mda", M::Mda, Ty::Command),
    o("mda_fromline", M::MdaFromline, Ty::Bool),
    o("mda_fromhack", M::MdaFromhack, Ty::Bool),
    o("pipe_fromline", M::PipeFromline, Ty::Bool),
    o("pipe_fromhack", M::PipeFromhack, Ty::Bool),
    o("permanent_routes", M::PermanentRoutes, Ty::List),
    named("query_routes", M::QueryRoutes, Ty::List, None),
    named("online_routes", M::QueryRoutes, Ty::List, Some("renamed to `query_routes.NAME`")),
    named("connect_route", M::QueryRoutes, Ty::List, Some("use `query_routes.NAME`")),
    old("local_nets", M::LocalNets, Ty::List, "use a permanent route with `allowed_recipients`"),
    old("local_net_route", M::LocalNetRoute, Ty::List, "use `permanent_routes`"),
    o("online_query", M::OnlineQuery, Ty::Command),
    // 0.2's methods (file, pipe, mserver) get their hint from the loader.
    o("online_detect", M::OnlineDetect, Ty::Choice(ONLINE_DETECT)),
    old("online_file", M::OnlineFile, Ty::Path, "use `online_query = \"/bin/cat FILE\"`"),
    old("online_pipe", M::OnlinePipe, Ty::Command, "renamed to `online_query`"),
    old("mserver_iface", M::MserverIface, Ty::Interface(224), "use `online_query` with mservdetect"),
    incl("online_interfaces", M::OnlineInterfaces, Ty::InterfaceMap),
    o("online_metered", M::OnlineMetered, Ty::Str),
    o("online_debounce", M::OnlineDebounce, Ty::Time),
    named("get", M::Get, Ty::Path, None),
    named("online_gets", M::OnlineGets, Ty::List, None),
    old("remote_port", M::RemotePort, Ty::Number, "use `mail_host = HOST:PORT` or the route option `smtp_port`"),
    old("ident_trusted_nets", M::IdentTrustedNets, Ty::Cidrs, "ident is not supported; the value is ignored"),
    o("errmsg_file", M::ErrmsgFile, Ty::Path),
    o("warnmsg_file", M::WarnmsgFile, Ty::Path),
    incl("warn_intervals", M::WarnIntervals, Ty::Times),
    o("max_defer_time", M::MaxDeferTime, Ty::Time),
    o("log_user", M::LogUser, Ty::Addr),
    o("tls_cert_file", M::TlsCertFile, Ty::Path),
    o("tls_key_file", M::TlsKeyFile, Ty::Path),
    o("dns_servers", M::DnsServers, Ty::SocketAddrs),
    incl("relay_nets", M::RelayNets, Ty::Cidrs),
    // `relay_nets.NAME`: after the plain name, which `resolve` finds first.
    Opt { name: "relay_nets", field: M::RelayNetsNamed, ty: Ty::Cidrs, incl: true, named: true, old: None },
    o("smtp_auth_file", M::SmtpAuthFile, Ty::Path),
    incl("tls_listen_addresses", M::TlsListenAddresses, Ty::Interfaces),
    o("max_connections", M::MaxConnections, Ty::Number),
    o("command_time_limit", M::CommandTimeLimit, Ty::Time),
    o("template_dir", M::TemplateDir, Ty::Path),
    o("queue_minfree", M::QueueMinfree, Ty::Number),
    o("smtp_command_timeout", M::SmtpCommandTimeout, Ty::Time),
    o("smtp_data_timeout", M::SmtpDataTimeout, Ty::Time),
    o("max_connections_per_host", M::MaxConnectionsPerHost, Ty::Number),
    o("smtp_min_data_rate", M::SmtpMinDataRate, Ty::Number),
];

/// Fields of a route that options set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[rustfmt::skip]
pub enum R {
    Protocol, MailHost, SmtpPort, ResolveList, ConnectErrorFail, HeloName, DoCorrectHelo,
    InstantHelo, DoPipelining, AuthName, AuthLogin, AuthSecret, AuthSecretCommand, Wrapper, Pipe,
    PipeFromline, PipeFromhack, LastRoute, AllowedSenders, DeniedSenders, AllowedRecipients,
    DeniedRecipients, AllowedFromHdrs, DeniedFromHdrs, AllowedMailLocals, NotAllowedMailLocals,
    AllowedReturnPaths, NotAllowedReturnPaths, AllowedRcptDomains, NotAllowedRcptDomains,
    MapReturnPath, MapHFrom, MapHSender, MapHReplyTo, MapHMailFollowupTo, MapOutgoing,
    SetHFromDomain, SetHReplyToDomain, SetReturnPathDomain, ExpandHSenderDomain,
    ExpandHSenderAddress, Pop3Login, DoSsl, Tls, TlsVerify, TlsCaFile, TlsCertFile, TlsKeyFile,
    OAuth2(OAuthKey), MaxParallelConnections,
}

/// Route files (config.md §3.1, DESIGN.md "New options").
#[rustfmt::skip]
pub static ROUTE: &[Opt<R>] = &[
    old("protocol", R::Protocol, Ty::Choice(ROUTE_PROTOCOL), "the transport is `pipe` iff `pipe` is set"),
    o("mail_host", R::MailHost, Ty::Interface(25)),
    o("smtp_port", R::SmtpPort, Ty::Number),
    incl("resolve_list", R::ResolveList, Ty::Resolvers),
    o("connect_error_fail", R::ConnectErrorFail, Ty::Bool),
    o("helo_name", R::HeloName, Ty::HostName),
    o("do_correct_helo", R::DoCorrectHelo, Ty::Bool),
    o("instant_helo", R::InstantHelo, Ty::Bool),
    o("do_pipelining", R::DoPipelining, Ty::Bool),
    o("max_parallel_connections", R::MaxParallelConnections, Ty::Number),
    o("auth_name", R::AuthName, Ty::Choice(AUTH_NAME)),
    o("auth_login", R::AuthLogin, Ty::Str),
    o("auth_secret", R::AuthSecret, Ty::Str),
    o("auth_secret_command", R::AuthSecretCommand, Ty::Command),
    o("wrapper", R::Wrapper, Ty::Command),
    o("pipe", R::Pipe, Ty::Command),
    o("pipe_fromline", R::PipeFromline, Ty::Bool),
    o("pipe_fromhack", R::PipeFromhack, Ty::Bool),
    o("last_route", R::LastRoute, Ty::Bool),
    incl("allowed_senders", R::AllowedSenders, Ty::AddrGlobs),
    incl("denied_senders", R::DeniedSenders, Ty::AddrGlobs),
    incl("allowed_recipients", R::AllowedRecipients, Ty::AddrGlobs),
    incl("denied_recipients", R::DeniedRecipients, Ty::AddrGlobs),
    incl("allowed_from_hdrs", R::AllowedFromHdrs, Ty::AddrGlobs),
    incl("denied_from_hdrs", R::DeniedFromHdrs, Ty::AddrGlobs),
    old_incl("allowed_mail_locals", R::AllowedMailLocals, Ty::List, "use `allowed_senders`"),
    old_incl("not_allowed_mail_locals", R::NotAllowedMailLocals, Ty::List, "use `denied_senders`"),
    old_incl("allowed_return_paths", R::AllowedReturnPaths, Ty::AddrGlobs, "use `allowed_senders`"),
    old_incl("not_allowed_return_paths", R::NotAllowedReturnPaths, Ty::AddrGlobs, "use `denied_senders`"),
    old_incl("allowed_rcpt_domains", R::AllowedRcptDomains, Ty::List, "use `allowed_recipients = \"*@DOMAIN\"`"),
    old_incl("not_allowed_rcpt_domains", R::NotAllowedRcptDomains, Ty::List, "use `denied_recipients = \"*@DOMAIN\"`"),
    incl("map_return_path_addresses", R::MapReturnPath, Ty::Rewrite),
    incl("map_h_from_addresses", R::MapHFrom, Ty::Rewrite),
    incl("map_h_sender_addresses", R::MapHSender, Ty::Rewrite),
    incl("map_h_reply_to_addresses", R::MapHReplyTo, Ty::Rewrite),
    incl("map_h_mail_followup_to_addresses", R::MapHMailFollowupTo, Ty::Rewrite),
    incl("map_outgoing_addresses", R::MapOutgoing, Ty::Rewrite),
    old("set_h_from_domain", R::SetHFromDomain, Ty::Str, "use `map_h_from_addresses = \"*: *@DOMAIN\"`"),
    old("set_h_reply_to_domain", R::SetHReplyToDomain, Ty::Str, "use `map_h_reply_to_addresses = \"*: *@DOMAIN\"`"),
    old("set_return_path_domain", R::SetReturnPathDomain, Ty::Str, "use `map_return_path_addresses = \"*: *@DOMAIN\"`"),
    old("expand_h_sender_domain", R::ExpandHSenderDomain, Ty::Bool, "use `map_h_sender_addresses`"),
    old("expand_h_sender_address", R::ExpandHSenderAddress, Ty::Bool, "use `map_h_sender_addresses`"),
    o("pop3_login", R::Pop3Login, Ty::Path),
    old("do_ssl", R::DoSsl, Ty::Ignored, "it is ignored; see `tls`"),
    o("tls", R::Tls, Ty::Choice(ROUTE_TLS)),
    o("tls_verify", R::TlsVerify, Ty::Bool),
    o("tls_ca_file", R::TlsCaFile, Ty::Path),
    o("tls_cert_file", R::TlsCertFile, Ty::Path),
    o("tls_key_file", R::TlsKeyFile, Ty::Path),
    o("oauth2_provider", R::OAuth2(OAuthKey::Provider), Ty::Choice(OAUTH2_PROVIDER)),
    o("oauth2_client_id", R::OAuth2(OAuthKey::ClientId), Ty::Str),
    o("oauth2_client_secret", R::OAuth2(OAuthKey::ClientSecret), Ty::Str),
    o("oauth2_token_url", R::OAuth2(OAuthKey::TokenUrl), Ty::Str),
    o("oauth2_device_url", R::OAuth2(OAuthKey::DeviceUrl), Ty::Str),
    o("oauth2_auth_url", R::OAuth2(OAuthKey::AuthUrl), Ty::Str),
    o("oauth2_scope", R::OAuth2(OAuthKey::Scope), Ty::Str),
    o("oauth2_token_file", R::OAuth2(OAuthKey::TokenFile), Ty::Path),
];

/// Fields of a get file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[rustfmt::skip]
pub enum G {
    Protocol, Server, Port, ResolveList, User, Pass, PassCommand, Address, ReturnPath, DoKeep,
    DoUidl, DoUidlDele, MaxSize, MaxSizeDelete, MaxCount, Wrapper, DoSsl, Tls, TlsVerify, TlsCaFile,
    Domains, DoMultidrop, MultidropHeaders, DoMultidropRelay, AuthName, OAuth2(OAuthKey),
}

/// Get files (config.md §4, DESIGN.md "New options").
#[rustfmt::skip]
pub static GET: &[Opt<G>] = &[
    o("protocol", G::Protocol, Ty::Choice(GET_PROTOCOL)),
    o("server", G::Server, Ty::HostName),
    o("port", G::Port, Ty::Number),
    incl("resolve_list", G::ResolveList, Ty::Resolvers),
    o("user", G::User, Ty::Str),
    o("pass", G::Pass, Ty::Str),
    o("pass_command", G::PassCommand, Ty::Command),
    o("address", G::Address, Ty::Addr),
    o("return_path", G::ReturnPath, Ty::Addr),
    o("do_keep", G::DoKeep, Ty::Bool),
    o("do_uidl", G::DoUidl, Ty::Bool),
    o("do_uidl_dele", G::DoUidlDele, Ty::Bool),
    o("max_size", G::MaxSize, Ty::Number),
    o("max_size_delete", G::MaxSizeDelete, Ty::Bool),
    o("max_count", G::MaxCount, Ty::Number),
    o("wrapper", G::Wrapper, Ty::Command),
    old("do_ssl", G::DoSsl, Ty::Ignored, "it is ignored; see `tls`"),
    o("tls", G::Tls, Ty::Choice(GET_TLS)),
    o("tls_verify", G::TlsVerify, Ty::Bool),
    o("tls_ca_file", G::TlsCaFile, Ty::Path),
    incl("domains", G::Domains, Ty::List),
    o("do_multidrop", G::DoMultidrop, Ty::Bool),
    incl("multidrop_headers", G::MultidropHeaders, Ty::List),
    o("do_multidrop_relay", G::DoMultidropRelay, Ty::Bool),
    o("auth_name", G::AuthName, Ty::Choice(GET_AUTH_NAME)),
    o("oauth2_provider", G::OAuth2(OAuthKey::Provider), Ty::Choice(OAUTH2_PROVIDER)),
    o("oauth2_client_id", G::OAuth2(OAuthKey::ClientId), Ty::Str),
    o("oauth2_client_secret", G::OAuth2(OAuthKey::ClientSecret), Ty::Str),
    o("oauth2_token_url", G::OAuth2(OAuthKey::TokenUrl), Ty::Str),
    o("oauth2_device_url", G::OAuth2(OAuthKey::DeviceUrl), Ty::Str),
    o("oauth2_auth_url", G::OAuth2(OAuthKey::AuthUrl), Ty::Str),
    o("oauth2_scope", G::OAuth2(OAuthKey::Scope), Ty::Str),
    o("oauth2_token_file", G::OAuth2(OAuthKey::TokenFile), Ty::Path),
];

/// Finds the option of `st.key` in `table`. For `name.NAME` options the
/// NAME is returned too. Logs the migration hint of an old spelling.
pub fn resolve<'s, F>(
    table: &'static [Opt<F>],
    st: &'s Statement,
    file: &Path,
) -> Result<(&'static Opt<F>, &'s str), ConfigError> {
    let err = |kind| ConfigError::new(file, st.line, kind);
    let key = st.key.as_str();
    let found = table.iter().find_map(|opt| {
        if opt.named {
            let rest = key.strip_prefix(opt.name)?;
            if rest.is_empty() {
                return Some(Err(ConfigErrorKind::MissingName {
                    key: key.to_string(),
                }));
            }
            let name = rest.strip_prefix('.').filter(|n| !n.is_empty())?;
            Some(Ok((opt, name)))
        } else {
            (opt.name == key).then_some(Ok((opt, "")))
        }
    });
    match found {
        Some(Ok((opt, name))) => {
            if let Some(hint) = opt.old {
                tracing::warn!(file = %file.display(), line = st.line, "`{key}` is a masqmail 0.2 option: {hint}");
            }
            Ok((opt, name))
        }
        Some(Err(kind)) => Err(err(kind)),
        None => {
            let suggestion = suggest(key, table.iter().map(|o| o.name));
            Err(err(ConfigErrorKind::UnknownOption {
                key: key.to_string(),
                suggestion,
            }))
        }
    }
}
