//! Which connection is up (delivery.md §9.1–9.2, §9.4): the name that
//! selects the online route set. `-qo NAME` forces it; otherwise 1.0's
//! `online_query` command, or `online_detect`: 0.2's file, pipe and
//! mserver, or link detection ([`link`]: `netlink`, `networkmanager`),
//! which the daemon also watches for changes. With none of them, the last
//! `-qo NAME` of this boot until `--offline` ([`told`]). This module only answers;
//! the daemon decides what a change means.
//!
//! Guarantees: every way to ask ends in bounded time (commands get
//! [`exec::helper_limit`], the masqdialer dialogue has its own time
//! limit); any failure means "offline", logged, never an error that stops
//! a queue run.
//!
//! # Security
//! Commands are run by [`crate::exec::first_line`]: no shell, stdin from
//! the null device, only `PATH` in the environment, our own identity;
//! only their first output line (at most 254 bytes of it) is used, and a
//! name is used only as a key into `query_routes`. Link detection: see
//! [`link`].

pub mod link;
pub mod mserver;
mod netlink;
mod nm;
pub mod told;

use crate::config::{CommandSpec, Config, OnlineDetect};
use crate::exec::{self, ExecError};

/// Longest connection name taken from a command or file.
const MAX_NAME: usize = 254;

/// The current connection name, or `None` when offline.
pub fn connection_name(cfg: &Config, forced: Option<&str>) -> Option<String> {
    let name = match (forced, &cfg.online_query, cfg.online_detect) {
        (Some(name), _, _) => Some(name.to_string()),
        (None, Some(cmd), _) => from_command(cfg, cmd, str::trim),
        (None, None, Some(OnlineDetect::File)) => from_file(cfg),
        (None, None, Some(OnlineDetect::Pipe)) => cfg
            .online_pipe
            .as_ref()
            .and_then(|cmd| from_command(cfg, cmd, str::trim_end)),
        (None, None, Some(OnlineDetect::Mserver)) => cfg.mserver_iface.as_ref().and_then(|i| {
            match mserver::query(&i.host, i.port, mserver::TIMEOUT) {
                Ok(name) => name,
                Err(e) => {
                    tracing::warn!("mserver {}:{}: {e}", i.host, i.port);
                    None
                }
            }
        }),
        (None, None, Some(OnlineDetect::Netlink)) => netlink::current().map(|s| s.name(cfg)),
        (None, None, Some(OnlineDetect::NetworkManager)) => nm::current().map(|s| s.name(cfg)),
        (None, None, None) => told::read(cfg),
    };
    // `route::route_files` logs the name it uses.
    name
}

fn from_file(cfg: &Config) -> Option<String> {
    let path = cfg.online_file.as_ref()?;
    match std::fs::read(path) {
        Ok(bytes) => first_line(&bytes, str::trim_end),
        Err(_) => {
            tracing::info!("not online.");
            None
        }
    }
}

/// Runs `cmd`; its first output line names the connection if it exits 0.
fn from_command(cfg: &Config, cmd: &CommandSpec, trim: fn(&str) -> &str) -> Option<String> {
    let limit = exec::helper_limit(cfg.command_time_limit);
    let line = match exec::first_line(cmd, limit, None) {
        Ok(line) => line,
        Err(ExecError::NoLine) => {
            tracing::info!("nothing read from pipe {}", cmd.text);
            return None;
        }
        Err(e @ (ExecError::Exit { .. } | ExecError::Signal { .. })) => {
            tracing::info!("{}: not online ({e})", cmd.text);
            return None;
        }
        Err(e) => {
            tracing::warn!("cannot run {}: {e}", cmd.text);
            return None;
        }
    };
    let name = first_line(line.as_bytes(), trim);
    if name.is_none() {
        tracing::info!("only whitespace connection name");
    }
    name
}

fn first_line(bytes: &[u8], trim: fn(&str) -> &str) -> Option<String> {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = &line[..line.len().min(MAX_NAME)];
    let text = String::from_utf8_lossy(line);
    let name = trim(&text);
    (!name.trim().is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(words: &[&str]) -> CommandSpec {
        CommandSpec {
            text: words.join(" "),
            words: words.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn forced_name_wins() {
        let mut cfg = Config::with_host_name("h");
        cfg.online_query = Some(spec(&["/bin/false"]));
        assert_eq!(connection_name(&cfg, Some("isp")).as_deref(), Some("isp"));
    }

    #[test]
    fn online_query_first_line_trimmed_and_exit_status() {
        let mut cfg = Config::with_host_name("h");
        cfg.online_query = Some(spec(&["/bin/sh", "-c", "printf '  isp  \\nother\\n'"]));
        assert_eq!(connection_name(&cfg, None).as_deref(), Some("isp"));
        cfg.online_query = Some(spec(&["/bin/sh", "-c", "echo isp; exit 1"]));
        assert_eq!(connection_name(&cfg, None), None);
        cfg.online_query = Some(spec(&["/bin/sh", "-c", "echo '   '"]));
        assert_eq!(connection_name(&cfg, None), None);
        cfg.online_query = Some(spec(&["/bin/true"]));
        assert_eq!(connection_name(&cfg, None), None);
        cfg.online_query = Some(spec(&["/nonexistent/cmd"]));
        assert_eq!(connection_name(&cfg, None), None);
    }

    #[test]
    fn a_hung_query_is_offline_at_the_deadline() {
        let mut cfg = Config::with_host_name("h");
        cfg.command_time_limit = Duration::from_millis(300);
        cfg.online_query = Some(spec(&["/bin/sh", "-c", "echo isp; exec sleep 1000"]));
        assert_eq!(connection_name(&cfg, None), None);
    }

    #[test]
    fn online_file_and_pipe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::with_host_name("h");
        cfg.online_detect = Some(OnlineDetect::File);
        cfg.online_file = Some(dir.path().join("online"));
        assert_eq!(connection_name(&cfg, None), None, "missing file: offline");
        std::fs::write(dir.path().join("online"), "dsl \n").expect("write");
        assert_eq!(connection_name(&cfg, None).as_deref(), Some("dsl"));
        cfg.online_detect = Some(OnlineDetect::Pipe);
        cfg.online_pipe = Some(spec(&["/bin/echo", "lte"]));
        assert_eq!(connection_name(&cfg, None).as_deref(), Some("lte"));
        cfg.online_detect = None;
        cfg.lock_dir = dir.path().to_path_buf();
        assert_eq!(
            connection_name(&cfg, None),
            None,
            "no detection and nothing recorded: offline"
        );
        told::record(&cfg, "home").expect("record");
        assert_eq!(connection_name(&cfg, None).as_deref(), Some("home"));
    }
}
