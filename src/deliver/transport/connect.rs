//! Getting a stream to an SMTP target (delivery.md §10.2, §10.5) and
//! running the client session on it.
//!
//! * `wrapper`: the command gets one end of a socket pair as stdin and
//!   stdout; we speak SMTP on the other end.
//! * `mail_host`: resolved with the route's `resolve_list` (an IP literal
//!   is used as is), addresses tried in order.
//! * direct: the domain's mail exchangers from [`crate::outbound::dns`].
//!
//! `auth_secret_command` runs once per target, before any connection,
//! through [`crate::exec::first_line`] with [`crate::exec::helper_limit`]
//! (30 s, or `command_time_limit` when shorter): a helper that hangs or
//! fails leaves this target's recipients pending (`Skipped`, whatever
//! `connect_error_fail` says) and the queue run goes on with the next
//! target.
//!
//! # Security
//! The secret of `auth_secret_command` is read from the first line of the
//! command's stdout and never logged; failures carry its stderr only.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::TargetKind;
use crate::address::Address;
use crate::config::Config;
use crate::config::{Resolver, Route, TlsMode};
use crate::deliver::Outcome;
use crate::deliver::runner::Runner;
use crate::exec;
use crate::outbound::dns::Dns;
use crate::outbound::smtp::{
    AuthOptions, ClientOptions, MessageResult, Outgoing, RcptResult, SessionError, Timeouts,
    send_batch_reporting,
};

/// Per address.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened with one target.
pub enum Results {
    /// No session: resolution or every connection failed.
    NotConnected { reason: String },
    /// Not attempted in this run (SMTP-after-POP login failed, §10.4, or
    /// the AUTH secret could not be had): the recipients are left as they
    /// were, with no outcome, and are tried again by a later run.
    Skipped { reason: String },
    Session {
        /// The host name or address the session ran with (logs).
        host: String,
        /// By the message's index in `msgs`; in the order they ended.
        results: Vec<(usize, MessageResult)>,
        /// Why the session ended before all messages: (permanent, text).
        error: Option<(bool, String)>,
        /// The server refused our credentials (see [`SessionError::AuthRefused`]).
        auth_refused: bool,
    },
}

impl Results {
    pub fn message(&self, n: usize) -> Option<&MessageResult> {
        match self {
            Results::Session { results, .. } => {
                results.iter().find(|(m, _)| *m == n).map(|(_, r)| r)
            }
            Results::NotConnected { .. } | Results::Skipped { .. } => None,
        }
    }
}

/// A recipient's outcome in a message result.
pub fn outcome(result: &MessageResult, rcpt: &Address) -> Outcome {
    match result.rcpts.iter().find(|(a, _)| a == rcpt).map(|(_, r)| r) {
        Some(RcptResult::Accepted) if result.dsn => Outcome::PassedOn,
        Some(RcptResult::Accepted) => Outcome::Delivered,
        Some(RcptResult::Deferred(t)) => Outcome::Deferred(t.clone()),
        Some(RcptResult::Failed(t)) => Outcome::Failed(t.clone()),
        None => Outcome::Deferred("4.3.0 no result for this recipient".into()),
    }
}

/// A message's final result as soon as it is known: (the host of the
/// session, its index in `msgs`, the result). It is also in the returned
/// [`Results`].
pub type OnDone<'a> = dyn FnMut(&str, usize, MessageResult) + 'a;

pub async fn send(
    runner: &Runner<'_>,
    route: &Route,
    kind: &TargetKind,
    label: &str,
    msgs: &[Outgoing],
    on_done: &mut OnDone<'_>,
) -> Results {
    let cfg = runner.cfg;
    if let Some(path) = &route.pop3_login
        && let Err(reason) = pop3_login(cfg, path).await
    {
        return Results::Skipped { reason };
    }
    // Before any connection: a slow helper must not hold a server waiting,
    // and it runs once per target, not once per address tried.
    let secret = match secret(cfg, route) {
        Ok(s) => s,
        Err(reason) => {
            // Skipped, not NotConnected: `connect_error_fail` must not
            // turn a broken password helper into bounces.
            tracing::warn!("route {}: {reason}", route.file.display());
            return Results::Skipped { reason };
        }
    };
    let results = send_with(runner, route, kind, label, secret.as_deref(), msgs, on_done).await;
    if let (
        Results::Session {
            auth_refused: true, ..
        },
        Some(conf),
        Some(token),
    ) = (&results, &route.oauth2, &secret)
    {
        crate::oauth2::refused(conf, token);
    }
    results
}

async fn send_with(
    runner: &Runner<'_>,
    route: &Route,
    kind: &TargetKind,
    label: &str,
    secret: Option<&str>,
    msgs: &[Outgoing],
    on_done: &mut OnDone<'_>,
) -> Results {
    let cfg = runner.cfg;
    match kind {
        TargetKind::Wrapper => {
            let Some(spec) = &route.wrapper else {
                return not_connected("no wrapper command");
            };
            let stream = match crate::wrapper::spawn(spec) {
                Ok(s) => s,
                Err(e) => {
                    return not_connected(format!("Failed to launch connection wrapper: {e}"));
                }
            };
            let opts = match options(cfg, route, label, secret) {
                Ok(o) => o,
                Err(e) => return not_connected(e),
            };
            session(stream, &opts, label.to_string(), msgs, on_done).await
        }
        TargetKind::Host { host, port } => {
            let addrs = match super::literal(host, *port) {
                Some(a) => vec![a],
                None => match resolve_host(cfg, route, host, *port).await {
                    Ok(a) => a,
                    Err(e) => return not_connected(format!("Could not resolve host {host}: {e}")),
                },
            };
            connect_and_send(cfg, route, host, &addrs, secret, msgs, on_done).await
        }
        TargetKind::Domain { domain } => {
            let dns = match Dns::new(&cfg.dns_servers) {
                Ok(d) => d,
                Err(e) => return not_connected(e.to_string()),
            };
            let targets = match dns.targets(domain, &route.resolve_list).await {
                Ok(t) => t,
                Err(e) if e.is_permanent() => {
                    return Results::Session {
                        host: domain.clone(),
                        results: Vec::new(),
                        error: Some((true, format!("5.1.2 {e}"))),
                        auth_refused: false,
                    };
                }
                Err(e) => return not_connected(format!("4.4.3 {e}")),
            };
            let mut last = String::from("no address");
            let mut auth_refused = false;
            for t in &targets {
                let addrs: Vec<SocketAddr> = t
                    .addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, route.smtp_port))
                    .collect();
                match connect_and_send(cfg, route, &t.host, &addrs, secret, msgs, on_done).await {
                    Results::NotConnected { reason } => last = reason,
                    // A temporary refusal before any message (421
                    // greeting, dropped connection): the next MX may
                    // take it (RFC 5321 §5.1).
                    Results::Session {
                        results,
                        error: Some((false, reason)),
                        auth_refused: refused,
                        ..
                    } if results.is_empty() => {
                        last = reason;
                        auth_refused |= refused;
                    }
                    done => return done,
                }
            }
            if auth_refused {
                // Every exchanger refused or failed; a refused token is
                // still worth forgetting.
                return Results::Session {
                    host: domain.clone(),
                    results: Vec::new(),
                    error: Some((false, last)),
                    auth_refused,
                };
            }
            not_connected(last)
        }
    }
}

/// SMTP-after-POP (§15.5): the get file's login before connecting.
async fn pop3_login(cfg: &Config, path: &std::path::Path) -> Result<(), String> {
    let get = crate::privs::as_root(|| crate::config::GetConf::load_login(path, cfg))
        .map_err(|e| format!("pop3_login: {e}"))?;
    crate::pop3::login(&get, exec::helper_limit(cfg.command_time_limit))
        .await
        .map_err(|e| format!("SMTP-after-POP login failed: {e}"))
}

fn not_connected(reason: impl Into<String>) -> Results {
    Results::NotConnected {
        reason: reason.into(),
    }
}

async fn connect_and_send(
    cfg: &Config,
    route: &Route,
    host: &str,
    addrs: &[SocketAddr],
    secret: Option<&str>,
    msgs: &[Outgoing],
    on_done: &mut OnDone<'_>,
) -> Results {
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let mut opts = match options(cfg, route, host, secret) {
                    Ok(o) => o,
                    Err(e) => return not_connected(e),
                };
                // do_correct_helo: the address this connection comes from,
                // as an address literal (no reverse lookup).
                if route.do_correct_helo
                    && let Ok(local) = stream.local_addr()
                {
                    opts.helo_name = match local.ip().to_canonical() {
                        std::net::IpAddr::V4(v4) => format!("[{v4}]"),
                        std::net::IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
                    };
                }
                let allowed = super::parallel::allowed(route);
                if allowed > 1 {
                    let host = host.to_string();
                    return super::parallel::session(
                        stream, *addr, &opts, host, msgs, on_done, allowed,
                    )
                    .await;
                }
                return session(stream, &opts, host.to_string(), msgs, on_done).await;
            }
            Ok(Err(e)) => {
                tracing::info!("connection to {addr} failed: {e}");
                last = format!("Could not connect to {host}:{}: {e}", addr.port());
            }
            Err(_) => {
                tracing::info!("connection to {addr} failed: timed out");
                last = format!("Could not connect to {host}:{}: timed out", addr.port());
            }
        }
    }
    not_connected(last)
}

async fn session<S>(
    stream: S,
    opts: &ClientOptions,
    host: String,
    msgs: &[Outgoing],
    on_done: &mut OnDone<'_>,
) -> Results
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut report = |n, result| on_done(&host, n, result);
    match send_batch_reporting(stream, opts, msgs, &mut report).await {
        Ok(batch) => {
            tracing::debug!(
                "session with {host}: {} round trip(s)",
                batch.stats.round_trips
            );
            Results::Session {
                host,
                results: batch.results.into_iter().enumerate().collect(),
                error: batch.aborted.map(|e| (false, e.to_string())),
                auth_refused: false,
            }
        }
        Err(e) => Results::Session {
            host,
            results: Vec::new(),
            error: Some((e.is_permanent(), e.to_string())),
            auth_refused: matches!(e, SessionError::AuthRefused(_)),
        },
    }
}

/// `mail_host` addresses via the route's methods (`byname` = getaddrinfo,
/// the DNS methods = A/AAAA of the name).
async fn resolve_host(
    cfg: &Config,
    route: &Route,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, String> {
    let dns_first = route.resolve_list.iter().any(|r| *r != Resolver::ByName);
    if dns_first
        && let Ok(dns) = Dns::new(&cfg.dns_servers)
        && let Ok(t) = dns.targets(host, &[Resolver::DnsA]).await
    {
        return Ok(t
            .iter()
            .flat_map(|t| t.addrs.iter().map(|ip| SocketAddr::new(*ip, port)))
            .collect());
    }
    tokio::net::lookup_host((host, port))
        .await
        .map(Iterator::collect)
        .map_err(|e| e.to_string())
}

/// Client options from the route (TLS policy and files, AUTH secret).
fn options(
    cfg: &Config,
    route: &Route,
    server_name: &str,
    secret: Option<&str>,
) -> Result<ClientOptions, String> {
    let tls_config = match route.tls {
        Some(TlsMode::None) => None,
        mode => match crate::tls::client_config(
            route.tls_ca_file.as_deref(),
            route.tls_verify,
            route
                .tls_cert_file
                .as_deref()
                .zip(route.tls_key_file.as_deref()),
        ) {
            Ok(c) => Some(c),
            // Opportunistic STARTTLS without usable roots: plain text (and
            // no AUTH, which the client refuses without TLS).
            Err(e) if mode.is_none() => {
                tracing::warn!("route {}: TLS unavailable: {e}", route.file.display());
                None
            }
            Err(e) => return Err(e.to_string()),
        },
    };
    let auth = match (&route.auth_login, secret) {
        (Some(login), Some(secret)) => Some(AuthOptions {
            mech: route.auth_name,
            login: login.clone(),
            secret: secret.to_string(),
        }),
        _ => None,
    };
    let helo_name = if route.helo_name.is_empty() {
        cfg.host_name.clone()
    } else {
        route.helo_name.clone()
    };
    Ok(ClientOptions {
        helo_name,
        pipelining: route.do_pipelining,
        instant_helo: route.instant_helo,
        tls: route.tls,
        tls_config,
        server_name: server_name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        auth,
        timeouts: Timeouts::default(),
    })
}

/// The OAuth2 access token, `auth_secret`, or the first line of
/// `auth_secret_command`'s output.
/// The command is killed at [`exec::helper_limit`]; any failure is a
/// temporary failure of this route only. The error names the command and
/// carries its stderr, never its stdout.
fn secret(cfg: &Config, route: &Route) -> Result<Option<String>, String> {
    if let Some(o) = &route.oauth2 {
        // Issue 10: refreshed when needed; any failure defers (Skipped).
        return crate::oauth2::access_token(o)
            .map(|t| Some(t.expose().to_string()))
            .map_err(|e| e.to_string());
    }
    if let Some(s) = &route.auth_secret {
        return Ok(Some(s.expose().to_string()));
    }
    let Some(cmd) = &route.auth_secret_command else {
        return Ok(None);
    };
    // Blocks this thread: the runtime runs one delivery target at a time
    // (transport.rs), so nothing else waits on it.
    let limit = exec::helper_limit(cfg.command_time_limit);
    exec::first_line(cmd, limit, None).map(Some).map_err(|e| {
        let stderr = match e.output() {
            "" => String::new(),
            out => format!(": {out}"),
        };
        format!("auth_secret_command {}: {e}{stderr}", cmd.text)
    })
}
