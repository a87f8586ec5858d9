//! Configuration: `masqmail.conf` (main), route files, get files.
//!
//! Field names are the masqmail 1.0 option names; the 0.2 spellings map to
//! the same fields through `names.rs`. Everything is validated while
//! loading, so a bad value stops masqmail at start with `file:line: what`,
//! before any mail is touched.
//!
//! # Security
//! Config files are trusted input from the administrator, but are still
//! parsed defensively (length limits, no panics): a non-root `-C` file is
//! only read after privileges were dropped (cli).

mod error;
mod get;
mod interval;
mod lex;
mod main_conf;
pub mod names;
mod oauth2;
mod rewrite;
mod route;
mod route_file;
mod secret;
pub mod shellwords;
mod values;

#[cfg(test)]
mod main_tests;
#[cfg(test)]
mod route_tests;

pub use error::{ConfigError, ConfigErrorKind};
pub use get::{GetConf, GetProtocol};
pub use interval::parse_interval;
pub use lex::{Statement, tokenize};
pub use oauth2::{OAuth2Conf, OAuthUse, Provider, is_loopback, url_host};
pub use rewrite::{AddrPattern, Replacement, RewriteMap, RewriteRule};
pub use route::{AuthMech, Resolver, Route, TlsMode, Transport};
pub use secret::Secret;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::{Address, Locality};

/// Compiled-in location of the main configuration file.
pub const DEFAULT_CONF: &str = match option_env!("MASQMAIL_CONF") {
    Some(p) => p,
    None => "/etc/masqmail/masqmail.conf",
};

/// A command from the config, split into words once at load time with shell
/// quoting rules (config.md §1.2); variables in words are expanded later,
/// word by word, never through a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The text as written, for logs (`cmd = ...`).
    pub text: String,
    /// argv[0] (an absolute path) and the arguments, unexpanded.
    pub words: Vec<String>,
}

/// `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub host: String,
    pub port: u16,
}

/// Default local delivery method (`mbox_default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalMethod {
    Mbox,
    Mda,
    Maildir,
}

/// `online_detect`: 0.2's file, pipe and mserver, and our link
/// detection (netlink, NetworkManager), which the daemon also watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineDetect {
    File,
    Pipe,
    Mserver,
    /// Online while a default route exists; its interface names the
    /// connection through `online_interfaces`.
    Netlink,
    /// The primary active connection's id names the connection.
    NetworkManager,
}

/// The main configuration, with the spec's defaults (config.md §2.1).
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (notices re-submit with `-C file`).
    pub file: PathBuf,
    pub host_name: String,
    pub run_as_user: bool,
    pub use_syslog: bool,
    pub debug_level: u32,
    /// `None`: log to stderr (an empty `log_dir`).
    pub log_dir: Option<PathBuf>,
    pub pid_dir: PathBuf,
    pub mail_dir: PathBuf,
    pub spool_dir: PathBuf,
    pub lock_dir: PathBuf,
    pub local_hosts: Vec<String>,
    pub local_addresses: Vec<Address>,
    pub not_local_addresses: Vec<Address>,
    pub listen_addresses: Vec<Interface>,
    pub do_save_envelope_to: bool,
    pub do_relay: bool,
    pub do_queue: bool,
    pub defer_all: bool,
    /// Body size limit in bytes; 0 = unlimited.
    pub max_msg_size: u64,
    pub alias_file: Option<PathBuf>,
    pub globalias_file: Option<PathBuf>,
    pub caseless_matching: bool,
    /// Ours: honour users' `~/.forward` files after alias expansion.
    pub forward_files: bool,
    pub mbox_default: LocalMethod,
    pub mbox_users: Vec<String>,
    pub mda_users: Vec<String>,
    pub maildir_users: Vec<String>,
    /// Ours: when set, the Maildir of user `u` is `<maildir_dir>/u/`
    /// (otherwise `~u/Maildir`, as in 0.2).
    pub maildir_dir: Option<PathBuf>,
    pub mda: Option<CommandSpec>,
    pub mda_fromline: bool,
    pub mda_fromhack: bool,
    pub pipe_fromline: bool,
    pub pipe_fromhack: bool,
    pub permanent_routes: Vec<PathBuf>,
    /// `query_routes.NAME` (and 0.2 `online_routes.NAME`/`connect_route.NAME`),
    /// in file order; for a NAME given twice the first definition is used.
    pub query_routes: Vec<(String, Vec<PathBuf>)>,
    pub local_nets: Vec<String>,
    pub local_net_route: Vec<PathBuf>,
    pub online_query: Option<CommandSpec>,
    pub online_detect: Option<OnlineDetect>,
    pub online_file: Option<PathBuf>,
    pub online_pipe: Option<CommandSpec>,
    pub mserver_iface: Option<Interface>,
    /// `online_interfaces`: (interface glob, connection name), first match
    /// wins; an interface that matches none is its own connection name.
    pub online_interfaces: Vec<(String, String)>,
    /// `online_metered`: the connection name used while NetworkManager's
    /// primary connection is metered.
    pub online_metered: Option<String>,
    /// `online_debounce`: how long a link must stay unchanged before the
    /// daemon acts on it.
    pub online_debounce: Duration,
    /// `get.NAME` = get file.
    pub gets: Vec<(String, PathBuf)>,
    /// `online_gets.NAME` = items (get files or get names).
    pub online_gets: Vec<(String, Vec<String>)>,
    pub remote_port: u16,
    pub ident_trusted_nets: Vec<String>,
    /// `None`: the shipped template (found relative to the binary).
    pub errmsg_file: Option<PathBuf>,
    pub warnmsg_file: Option<PathBuf>,
    pub warn_intervals: Vec<Duration>,
    pub max_defer_time: Duration,
    pub log_user: Option<Address>,
    // --- options beyond the C program (DESIGN.md) ---
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Empty: the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    pub relay_nets: Vec<ipnet::IpNet>,
    /// `relay_nets.NAME`: the networks that may relay while connection
    /// NAME is online (first definition of a NAME wins). Once any is
    /// given, `relay_nets` is no longer used (`inbound::smtp::policy`).
    pub relay_nets_by_connection: Vec<(String, Vec<ipnet::IpNet>)>,
    /// SMTP server: the Dovecot-style passwd-file of SMTP AUTH users;
    /// `None`: AUTH is not offered.
    pub smtp_auth_file: Option<PathBuf>,
    /// SMTP server: listeners that speak TLS from the first byte (RFC
    /// 8314 submission, port 465).
    pub tls_listen_addresses: Vec<Interface>,
    pub max_connections: u32,
    /// Wall-clock limit for an MDA or pipe command; the process group is
    /// killed and the recipient deferred when it is exceeded.
    pub command_time_limit: Duration,
    /// Directory of the shipped templates (failmsg.tpl, warnmsg.tpl);
    /// `None`: `tpl/` found relative to the binary.
    pub template_dir: Option<PathBuf>,
    /// Free bytes the spool's file system must keep: below it (plus the
    /// announced size) new mail is refused with a temporary error.
    pub queue_minfree: u64,
    /// SMTP server: waiting for a command (RFC 5321 §4.5.3.2.7).
    pub smtp_command_timeout: Duration,
    /// SMTP server: waiting for the next block of message data.
    pub smtp_data_timeout: Duration,
    /// SMTP server: sessions at once from one client address (0: no cap
    /// beyond `max_connections`).
    pub max_connections_per_host: u32,
    /// SMTP server: bytes per second a client must keep up while it sends
    /// message content, on top of `smtp_data_timeout` (0: no minimum).
    pub smtp_min_data_rate: u64,
}

impl Config {
    /// The defaults for a given host name.
    pub fn with_host_name(host_name: &str) -> Config {
        let mut local_hosts = vec!["localhost".to_string()];
        if let Some((short, _)) = host_name.split_once('.') {
            local_hosts.push(short.to_string());
        }
        local_hosts.push(host_name.to_string());
        let nets = [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
        ];
        Config {
            file: PathBuf::from(DEFAULT_CONF),
            host_name: host_name.to_string(),
            run_as_user: false,
            use_syslog: false,
            debug_level: 0,
            log_dir: Some(PathBuf::from("/var/log/masqmail")),
            pid_dir: PathBuf::from("/var/run"),
            mail_dir: PathBuf::from("/var/mail"),
            spool_dir: PathBuf::from("/var/spool/masqmail"),
            lock_dir: PathBuf::from("/var/lock/masqmail"),
            local_hosts,
            local_addresses: Vec::new(),
            not_local_addresses: Vec::new(),
            listen_addresses: vec![Interface {
                host: "localhost".into(),
                port: 25,
            }],
            do_save_envelope_to: false,
            do_relay: true,
            do_queue: false,
            defer_all: false,
            max_msg_size: 0,
            alias_file: None,
            globalias_file: None,
            caseless_matching: false,
            forward_files: true,
            mbox_default: LocalMethod::Mbox,
            mbox_users: Vec::new(),
            mda_users: Vec::new(),
            maildir_users: Vec::new(),
            maildir_dir: None,
            mda: None,
            mda_fromline: false,
            mda_fromhack: false,
            pipe_fromline: false,
            pipe_fromhack: false,
            permanent_routes: Vec::new(),
            query_routes: Vec::new(),
            local_nets: Vec::new(),
            local_net_route: Vec::new(),
            online_query: None,
            online_detect: None,
            online_file: None,
            online_pipe: None,
            mserver_iface: None,
            online_interfaces: Vec::new(),
            online_metered: None,
            online_debounce: Duration::from_secs(5),
            gets: Vec::new(),
            online_gets: Vec::new(),
            remote_port: 25,
            ident_trusted_nets: Vec::new(),
            errmsg_file: None,
            warnmsg_file: None,
            warn_intervals: [3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_defer_time: Duration::from_secs(4 * 86400),
            log_user: None,
            tls_cert_file: None,
            tls_key_file: None,
            dns_servers: Vec::new(),
            relay_nets: nets.iter().filter_map(|n| n.parse().ok()).collect(),
            relay_nets_by_connection: Vec::new(),
            smtp_auth_file: None,
            tls_listen_addresses: Vec::new(),
            max_connections: 100,
            command_time_limit: Duration::from_secs(1000),
            queue_minfree: 10 * 1024 * 1024,
            smtp_command_timeout: Duration::from_secs(300),
            smtp_data_timeout: Duration::from_secs(180),
            max_connections_per_host: 10,
            smtp_min_data_rate: 500,
            template_dir: None,
        }
    }

    /// The locality view of this configuration (delivery.md §1.4).
    pub fn locality(&self) -> Locality<'_> {
        Locality {
            local_hosts: &self.local_hosts,
            local_addresses: &self.local_addresses,
            not_local_addresses: &self.not_local_addresses,
            caseless: self.caseless_matching,
        }
    }
}
