//! strace for the fault and ordering tests (RELIABILITY R34, R35): run
//! the real binary under `strace -f`, or attach to a running daemon, with
//! optional fault injection, and parse the trace into calls.
//!
//! # Security
//! Traces only processes the test started itself.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One finished syscall of a trace.
#[derive(Debug, Clone)]
pub struct Call {
    pub line: usize,
    pub pid: u32,
    pub name: String,
    pub args: String,
    pub ret: Option<i64>,
    /// strace failed this call on purpose (`(INJECTED)`).
    pub injected: bool,
}

impl Call {
    /// The fd argument of a one-fd call such as `fsync(5)`.
    pub fn fd_arg(&self) -> Option<i64> {
        self.args.split(',').next()?.trim().parse().ok()
    }

    pub fn is_sync(&self) -> bool {
        self.name == "fsync" || self.name == "fdatasync"
    }
}

/// Parses `<pid> name(args) = ret ...` lines. A call that another
/// thread interrupted (`<unfinished ...>`, then `<... name resumed>`) is
/// joined again and counted at the line where it finished.
pub fn parse(trace: &str) -> Vec<Call> {
    let mut pending: std::collections::HashMap<u32, String> = std::collections::HashMap::new();
    let mut calls = Vec::new();
    for (line, l) in trace.lines().enumerate() {
        let Some((pid, rest)) = l.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid, start.trim_end().to_string());
            continue;
        }
        let joined;
        let rest = if rest.starts_with("<... ") {
            let (Some(start), Some((_, tail))) =
                (pending.remove(&pid), rest.split_once("resumed>"))
            else {
                continue;
            };
            joined = format!("{start}{tail}");
            joined.as_str()
        } else {
            rest
        };
        let Some((call, ret)) = rest.rsplit_once(" = ") else {
            continue;
        };
        let Some((name, args)) = call
            .trim_end()
            .strip_suffix(')')
            .and_then(|c| c.split_once('('))
        else {
            continue;
        };
        let Some(ret_value) = ret.split_whitespace().next() else {
            continue;
        };
        calls.push(Call {
            line,
            pid,
            name: name.to_string(),
            args: args.trim_end_matches(", ").to_string(),
            ret: ret_value.parse().ok(),
            injected: ret.contains("(INJECTED)"),
        });
    }
    calls
}

/// False, with a printed reason, when strace cannot run here.
pub fn available() -> bool {
    match Command::new("strace").arg("-V").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIPPED: strace not installed (.ci/run installs it)");
            false
        }
    }
}

/// `strace -f -qq -o <trace> <args…>`, ready for the traced program.
pub fn command(trace: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-o"]).arg(trace).args(args);
    c
}

/// An strace attached to every thread of a running process; detached
/// (strace ends, the process goes on) by [`Attached::detach`] or on drop.
pub struct Attached {
    child: Child,
    pid: i32,
}

/// Attaches `strace -f -p pid <args…>` and waits until every thread of
/// `pid` is traced.
pub fn attach(pid: i32, trace: &Path, args: &[&str]) -> Attached {
    let child = command(trace, args)
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strace");
    let a = Attached { child, pid };
    a.wait_tracers(true);
    a
}

impl Attached {
    /// Polls until every thread's TracerPid is set (or, `false`, clear).
    fn wait_tracers(&self, traced: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The process is gone: nothing to wait for.
            let Ok(dir) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
                return;
            };
            let tasks: Vec<bool> = dir
                .filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
                .map(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("TracerPid:"))
                        .is_some_and(|v| v.trim() != "0")
                })
                .collect();
            if !tasks.is_empty() && tasks.iter().all(|t| *t == traced) {
                return;
            }
            assert!(Instant::now() < deadline, "strace attach/detach stuck");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to strace: it detaches from every thread and exits.
    pub fn detach(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        self.wait_tracers(false);
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// R35: an fd whose fsync failed is never fsynced again and taken as
/// success. A directory fd may be synced again only after entries were
/// removed through it (the refused commit's files taken back: that sync
/// makes the removal durable, it proves nothing about the commit).
/// Returns the offending pair of calls, if any.
pub fn resynced_after_error(calls: &[Call]) -> Option<(Call, Call)> {
    for failed in calls.iter().filter(|c| c.is_sync() && c.ret == Some(-1)) {
        let fd = failed.fd_arg()?;
        let mut removed_through_it = false;
        for later in calls.iter().filter(|c| c.line > failed.line) {
            let reopened = later.ret == Some(fd) && later.name.starts_with("open");
            let closed = later.name == "close" && later.fd_arg() == Some(fd);
            if reopened || closed {
                break;
            }
            if later.name.starts_with("unlink") && later.fd_arg() == Some(fd) {
                removed_through_it = true;
            }
            let synced = later.is_sync() && later.fd_arg() == Some(fd) && later.ret == Some(0);
            if synced && !removed_through_it {
                return Some((failed.clone(), later.clone()));
            }
        }
    }
    None
}
