//! Loading `masqmail.conf` into [`Config`] (config.md §2).
//!
//! Guarantees: an `Ok` config has a valid `host_name`, every value was
//! type-checked, every command split into absolute-path argv, every address
//! parsed and qualified (with the final `host_name`, which may appear late in
//! the file). Any problem is a [`ConfigError`] with `file:line`; unknown
//! options are errors, not warnings, so a typo cannot silently change
//! behaviour.
//!
//! # Security
//! The file is trusted administrator input but is parsed without panics and
//! with size limits; `-C` files of non-root users are opened by the caller
//! after privileges were dropped.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrorKind as K};
use super::lex::tokenize;
use super::names::{M, MAIN, Opt, resolve};
use super::values::{At, read_limited};
use super::{Config, LocalMethod, OnlineDetect};

impl Config {
    /// Reads and parses the main configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_limited(path)?;
        let mut cfg = Config::parse(&bytes, path)?;
        if let Some(base) = path.parent().filter(|b| b.is_absolute()) {
            cfg.resolve_relative(base);
        }
        Ok(cfg)
    }

    /// Makes every relative path absolute against `base` (the directory of
    /// the config file), so a private installation can be described with
    /// paths relative to its own config (ours; 1.0 used them as given,
    /// i.e. relative to `/` after its chdir).
    pub fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut self.pid_dir,
            &mut self.mail_dir,
            &mut self.spool_dir,
            &mut self.lock_dir,
        ] {
            fix(p);
        }
        for p in [
            &mut self.log_dir,
            &mut self.alias_file,
            &mut self.globalias_file,
            &mut self.maildir_dir,
            &mut self.online_file,
            &mut self.errmsg_file,
            &mut self.warnmsg_file,
            &mut self.tls_cert_file,
            &mut self.tls_key_file,
            &mut self.template_dir,
            &mut self.smtp_auth_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        self.permanent_routes.iter_mut().for_each(fix);
        self.local_net_route.iter_mut().for_each(fix);
        for (_, list) in &mut self.query_routes {
            list.iter_mut().for_each(fix);
        }
        for (_, p) in &mut self.gets {
            fix(p);
        }
    }

    /// Parses main configuration text; `path` names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Config::with_host_name("");
        cfg.file = path.to_path_buf();
        let mut seen = Seen::default();
        for st in tokenize(text, path)? {
            let (opt, name) = resolve(MAIN, &st, path)?;
            let at = At {
                file: path,
                line: st.line,
                key: &st.key,
            };
            apply(&mut cfg, &mut seen, opt, name, &at, &st.value)?;
        }
        if cfg.host_name.is_empty() {
            return Err(ConfigError::new(
                path,
                0,
                K::MissingRequired { key: "host_name" },
            ));
        }
        if !seen.local_hosts {
            cfg.local_hosts = Config::with_host_name(&cfg.host_name).local_hosts;
        }
        // Qualification waits for the end: host_name may come after the lists.
        let host = cfg.host_name.clone();
        for list in [&mut cfg.local_addresses, &mut cfg.not_local_addresses] {
            *list = std::mem::take(list)
                .into_iter()
                .map(|a| a.qualify(&host))
                .collect();
        }
        cfg.log_user = cfg.log_user.take().map(|a| a.qualify(&host));
        Ok(cfg)
    }
}

/// What the file set explicitly, where a default depends on it.
#[derive(Default)]
struct Seen {
    local_hosts: bool,
}

fn bool_field(c: &mut Config, f: M) -> Option<&mut bool> {
    Some(match f {
        M::RunAsUser => &mut c.run_as_user,
        M::UseSyslog => &mut c.use_syslog,
        M::DoSaveEnvelopeTo => &mut c.do_save_envelope_to,
        M::DoRelay => &mut c.do_relay,
        M::DoQueue => &mut c.do_queue,
        M::DeferAll => &mut c.defer_all,
        M::CaselessMatching => &mut c.caseless_matching,
        M::ForwardFiles => &mut c.forward_files,
        M::MdaFromline => &mut c.mda_fromline,
        M::MdaFromhack => &mut c.mda_fromhack,
        M::PipeFromline => &mut c.pipe_fromline,
        M::PipeFromhack => &mut c.pipe_fromhack,
        _ => return None,
    })
}

/// Paths whose empty value means "unset" (`log_dir = ""`: log to stderr).
fn opt_path_field(c: &mut Config, f: M) -> Option<&mut Option<PathBuf>> {
    Some(match f {
        M::LogDir => &mut c.log_dir,
        M::AliasFile => &mut c.alias_file,
        M::GlobaliasFile => &mut c.globalias_file,
        M::MaildirDir => &mut c.maildir_dir,
        M::OnlineFile => &mut c.online_file,
        M::ErrmsgFile => &mut c.errmsg_file,
        M::WarnmsgFile => &mut c.warnmsg_file,
        M::TlsCertFile => &mut c.tls_cert_file,
        M::TlsKeyFile => &mut c.tls_key_file,
        M::TemplateDir => &mut c.template_dir,
        M::SmtpAuthFile => &mut c.smtp_auth_file,
        _ => return None,
    })
}

fn path_field(c: &mut Config, f: M) -> Option<&mut PathBuf> {
    Some(match f {
        M::PidDir => &mut c.pid_dir,
        M::MailDir => &mut c.mail_dir,
        M::SpoolDir => &mut c.spool_dir,
        M::LockDir => &mut c.lock_dir,
        _ => return None,
    })
}

fn string_list_field(c: &mut Config, f: M) -> Option<&mut Vec<String>> {
    Some(match f {
        M::LocalHosts => &mut c.local_hosts,
        M::MboxUsers => &mut c.mbox_users,
        M::MdaUsers => &mut c.mda_users,
        M::MaildirUsers => &mut c.maildir_users,
        M::LocalNets => &mut c.local_nets,
        _ => return None,
    })
}

fn apply(
    c: &mut Config,
    seen: &mut Seen,
    opt: &Opt<M>,
    name: &str,
    at: &At,
    v: &str,
) -> Result<(), ConfigError> {
    if let Some(b) = bool_field(c, opt.field) {
        *b = at.boolean(v)?;
        return Ok(());
    }
    if let Some(p) = opt_path_field(c, opt.field) {
        *p = at.opt_path(v);
        return Ok(());
    }
    if let Some(p) = path_field(c, opt.field) {
        *p = at.path(v)?;
        return Ok(());
    }
    if let Some(l) = string_list_field(c, opt.field) {
        *l = at.list(v, opt.incl)?;
        seen.local_hosts |= opt.field == M::LocalHosts;
        return Ok(());
    }
    let paths = |v: &str| -> Result<Vec<PathBuf>, ConfigError> {
        Ok(at
            .list(v, opt.incl)?
            .into_iter()
            .map(PathBuf::from)
            .collect())
    };
    let command = |v: &str| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            at.command(v).map(Some)
        }
    };
    match opt.field {
        M::HostName => c.host_name = at.host_name(v)?,
        M::DebugLevel => c.debug_level = at.number(v)?,
        M::MaxMsgSize => c.max_msg_size = at.number(v)?,
        M::RemotePort => c.remote_port = at.number(v)?,
        M::MaxConnections => c.max_connections = at.number(v)?,
        M::MaxDeferTime => c.max_defer_time = at.interval(v)?,
        M::CommandTimeLimit => c.command_time_limit = at.interval(v)?,
        M::QueueMinfree => c.queue_minfree = at.number(v)?,
        M::SmtpCommandTimeout => c.smtp_command_timeout = at.interval(v)?,
        M::SmtpDataTimeout => c.smtp_data_timeout = at.interval(v)?,
        M::MaxConnectionsPerHost => c.max_connections_per_host = at.number(v)?,
        M::SmtpMinDataRate => c.smtp_min_data_rate = at.number(v)?,
        M::WarnIntervals => {
            c.warn_intervals = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.interval(i))
                .collect::<Result<_, _>>()?;
        }
        M::LocalAddresses | M::NotLocalAddresses => {
            let addrs = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.address(i))
                .collect::<Result<_, _>>()?;
            if opt.field == M::LocalAddresses {
                c.local_addresses = addrs;
            } else {
                c.not_local_addresses = addrs;
            }
        }
        M::LogUser => {
            c.log_user = if v.is_empty() {
                None
            } else {
                Some(at.address(v)?)
            }
        }
        M::ListenAddresses => {
            c.listen_addresses = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.interface(i, 25))
                .collect::<Result<_, _>>()?;
        }
        M::TlsListenAddresses => {
            c.tls_listen_addresses = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.interface(i, 465))
                .collect::<Result<_, _>>()?;
        }
        M::MserverIface => c.mserver_iface = Some(at.interface(v, 224)?),
        M::MboxDefault => {
            c.mbox_default = [LocalMethod::Mbox, LocalMethod::Mda, LocalMethod::Maildir]
                [at.choice(v, super::names::MBOX_DEFAULT)?];
        }
        M::OnlineDetect => {
            let methods = [
                OnlineDetect::File,
                OnlineDetect::Pipe,
                OnlineDetect::Mserver,
                OnlineDetect::Netlink,
                OnlineDetect::NetworkManager,
            ];
            let method = methods[at.choice(v, super::names::ONLINE_DETECT)?];
            if matches!(
                method,
                OnlineDetect::File | OnlineDetect::Pipe | OnlineDetect::Mserver
            ) {
                tracing::warn!(file = %at.file.display(), line = at.line, "`online_detect = {v}` is a masqmail 0.2 option: use `online_query`");
            }
            c.online_detect = Some(method);
        }
        M::OnlineInterfaces => {
            c.online_interfaces = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| interface_map(at, i))
                .collect::<Result<_, _>>()?;
        }
        M::OnlineMetered => {
            c.online_metered = Some(v.trim()).filter(|n| !n.is_empty()).map(str::to_string)
        }
        M::OnlineDebounce => c.online_debounce = at.interval(v)?,
        M::Mda => c.mda = command(v)?,
        M::OnlineQuery => c.online_query = command(v)?,
        M::OnlinePipe => c.online_pipe = command(v)?,
        M::PermanentRoutes => c.permanent_routes = paths(v)?,
        M::LocalNetRoute => c.local_net_route = paths(v)?,
        M::QueryRoutes => {
            let list = paths(v)?;
            if first_for(&c.query_routes, name, at) {
                c.query_routes.push((name.to_string(), list));
            }
        }
        M::Get => {
            let p = at.path(v)?;
            if first_for(&c.gets, name, at) {
                c.gets.push((name.to_string(), p));
            }
        }
        M::OnlineGets => {
            let list = at.list(v, opt.incl)?;
            if first_for(&c.online_gets, name, at) {
                c.online_gets.push((name.to_string(), list));
            }
        }
        M::IdentTrustedNets => {
            let items = at.list(v, opt.incl)?;
            for i in &items {
                at.cidr(i)?;
            }
            c.ident_trusted_nets = items;
        }
        M::DnsServers => {
            c.dns_servers = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.socket_addr(i, 53))
                .collect::<Result<_, _>>()?;
        }
        M::RelayNets => {
            c.relay_nets = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.cidr(i))
                .collect::<Result<_, _>>()?
        }
        M::RelayNetsNamed => {
            let nets = at
                .list(v, opt.incl)?
                .iter()
                .map(|i| at.cidr(i))
                .collect::<Result<_, _>>()?;
            if first_for(&c.relay_nets_by_connection, name, at) {
                c.relay_nets_by_connection.push((name.to_string(), nets));
            }
        }
        // Handled by the field helpers above; listed so that a new field
        // without a handler is a compile error, not a silent no-op.
        M::RunAsUser
        | M::UseSyslog
        | M::DoSaveEnvelopeTo
        | M::DoRelay
        | M::DoQueue
        | M::DeferAll
        | M::CaselessMatching
        | M::ForwardFiles
        | M::MdaFromline
        | M::MdaFromhack
        | M::PipeFromline
        | M::PipeFromhack
        | M::LogDir
        | M::AliasFile
        | M::GlobaliasFile
        | M::MaildirDir
        | M::OnlineFile
        | M::ErrmsgFile
        | M::WarnmsgFile
        | M::TlsCertFile
        | M::TlsKeyFile
        | M::TemplateDir
        | M::SmtpAuthFile
        | M::PidDir
        | M::MailDir
        | M::SpoolDir
        | M::LockDir
        | M::LocalHosts
        | M::MboxUsers
        | M::MdaUsers
        | M::MaildirUsers
        | M::LocalNets => {}
    }
    Ok(())
}

/// One `online_interfaces` entry: `GLOB:NAME`, both non-empty (interface
/// names never hold a colon, so the first one splits).
fn interface_map(at: &At, item: &str) -> Result<(String, String), ConfigError> {
    match item.split_once(':') {
        Some((glob, name)) if !glob.trim().is_empty() && !name.trim().is_empty() => {
            Ok((glob.trim().to_string(), name.trim().to_string()))
        }
        _ => Err(at.err(K::Invalid {
            key: at.key.to_string(),
            reason: format!(
                "'{item}' is not `INTERFACE:NAME` (like `wlan0:home` or `ppp*:mobile`)"
            ),
        })),
    }
}

/// `NAME.x` keys: the first definition of a NAME wins (config.md §1.1).
fn first_for<T>(list: &[(String, T)], name: &str, at: &At) -> bool {
    if list.iter().any(|(n, _)| n == name) {
        tracing::warn!(file = %at.file.display(), line = at.line, "`{}` defined again; the first definition is used", at.key);
        return false;
    }
    true
}
