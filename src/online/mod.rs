//! Which connection is up (delivery.md §9.1–9.2, §9.4): the name that
//! selects the online route set. `-qo NAME` forces it; otherwise 1.0's
//! `online_query` command, or 0.2's `online_detect` (file, pipe, mserver).
//!
//! Guarantees: every way to ask ends in bounded time (commands and the
//! masqdialer dialogue have time limits); any failure means "offline",
//! logged, never an error that stops a queue run.
//!
//! # Security
//! Commands run without a shell, stdin from the null device; only their
//! first output line (at most 254 bytes) is read, and a name is used only
//! as a key into `query_routes`.

pub mod mserver;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{CommandSpec, Config, OnlineDetect};

/// Longest connection name taken from a command or file.
const MAX_NAME: usize = 254;

/// How long a detection command may run.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The current connection name, or `None` when offline.
pub fn connection_name(cfg: &Config, forced: Option<&str>) -> Option<String> {
    let name = match (forced, &cfg.online_query, cfg.online_detect) {
        (Some(name), _, _) => Some(name.to_string()),
        (None, Some(cmd), _) => from_command(cmd, str::trim),
        (None, None, Some(OnlineDetect::File)) => from_file(cfg),
        (None, None, Some(OnlineDetect::Pipe)) => cfg
            .online_pipe
            .as_ref()
            .and_then(|cmd| from_command(cmd, str::trim_end)),
        (None, None, Some(OnlineDetect::Mserver)) => cfg.mserver_iface.as_ref().and_then(|i| {
            match mserver::query(&i.host, i.port, mserver::TIMEOUT) {
                Ok(name) => name,
                Err(e) => {
                    tracing::warn!("mserver {}:{}: {e}", i.host, i.port);
                    None
                }
            }
        }),
        (None, None, None) => None,
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
fn from_command(cmd: &CommandSpec, trim: fn(&str) -> &str) -> Option<String> {
    let (program, args) = cmd.words.split_first()?;
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot run {}: {e}", cmd.text);
            return None;
        }
    };
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        // Bounded: a chatty command cannot fill memory.
        let _ = stdout.take(4096).read_to_end(&mut out);
    }
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    if !status.is_some_and(|s| s.success()) {
        tracing::info!("{}: not online (exit status {status:?})", cmd.text);
        return None;
    }
    if out.is_empty() {
        tracing::info!("nothing read from pipe {}", cmd.text);
        return None;
    }
    let name = first_line(&out, trim);
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
        assert_eq!(
            connection_name(&cfg, None),
            None,
            "no detection: never online"
        );
    }
}
