//! Running an MDA (`mda`) or an alias pipe (`|cmd`) for one recipient
//! (delivery.md §7.3–7.7; RELIABILITY R16, R17, R22).
//!
//! Guarantees:
//! * The command is split into words first; MDA words are then expanded
//!   one by one, so a variable's value is always exactly one argv element.
//! * No shell is involved; the environment is exactly §7.6; the working
//!   directory is `/`; the command runs in a process group of its own.
//! * stdin gets the content from a thread while stdout and stderr are
//!   drained into a capture bounded at [`MAX_CAPTURE`] bytes; a command
//!   that stops reading (EPIPE) is judged by its exit status alone.
//! * After `command_time_limit` the whole process group is killed with
//!   SIGKILL and the recipient is deferred.
//! * Exit 0 delivers, 75 or death by a signal defers (R22 overrides §7.7),
//!   anything else fails with the sysexits text and the captured output.
//!
//! # Security
//! Run by root, the command gets the recipient's identity (MDA, when the
//! recipient is a passwd user other than root) or the mail user's (alias
//! pipes always): never root. A command name without `/` is looked up in a
//! fixed [`SAFE_PATH`], never in the invoking user's `PATH`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid};

use crate::address::Address;
use crate::config::{CommandSpec, Config};
use crate::deliver::Outcome;
use crate::deliver::content::Content;
use crate::message::Message;
use crate::privs;
use crate::vars;

mod words;

pub use words::{SplitError, split_words};

/// Bytes of command output kept for the failure reason.
pub const MAX_CAPTURE: usize = 1024;

/// Where a bare command name is looked up.
pub const SAFE_PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// How long stragglers may hold the output pipe after the command exited.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// The §7.5 variables and §7.6 environment for one recipient.
#[derive(Debug, Clone)]
pub struct Vars {
    vars: Vec<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
}

impl Vars {
    /// `rcpt` is the address being delivered (after alias expansion),
    /// `original` the top-level recipient it came from.
    pub fn new(cfg: &Config, msg: &Message, rcpt: &Address, original: &Address) -> Vars {
        let rp = &msg.return_path;
        let host = msg.received_host.clone().unwrap_or_default();
        let vars = vec![
            ("uid", msg.id.as_str().to_string()),
            ("received_host", host.clone()),
            ("ident", msg.ident.clone().unwrap_or_default()),
            ("return_path_local", rp.local.clone()),
            ("return_path_domain", rp.domain.clone()),
            ("return_path", rp.to_string()),
            ("rcpt_local", rcpt.local.clone()),
            ("rcpt_domain", rcpt.domain.clone()),
            ("rcpt", rcpt.to_string()),
        ];
        let env = vec![
            ("SENDER", rp.to_string()),
            ("RETURN_PATH", rp.to_string()),
            ("SENDER_DOMAIN", rp.domain.clone()),
            ("SENDER_LOCAL", rp.local.clone()),
            ("RECEIVED_HOST", host),
            ("DOMAIN", original.domain.clone()),
            ("LOCAL_PART", original.local.clone()),
            ("USER", original.local.clone()),
            ("LOGNAME", original.local.clone()),
            ("MESSAGE_ID", msg.id.as_str().to_string()),
            ("QUALIFY_DOMAIN", cfg.host_name.clone()),
        ];
        Vars { vars, env }
    }

    pub fn lookup(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// The complete environment of the command.
    pub fn environment(&self) -> &[(&'static str, String)] {
        &self.env
    }
}

/// Runs the `mda` command for a recipient whose local part (after alias
/// expansion) is `rcpt_local`.
pub fn run_mda(
    cfg: &Config,
    spec: &CommandSpec,
    content: &Content,
    vars: &Vars,
    rcpt_local: &str,
) -> Outcome {
    let argv = expand(spec, vars);
    let recipient = || {
        privs::lookup_user(rcpt_local)
            .filter(|u| !u.uid.is_root())
            .map(|u| (u.uid, u.gid))
    };
    let identity = match command_identity(cfg, recipient) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        &spec.text,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
    )
}

/// Runs a route's `pipe` command for one recipient (§10.7): split words,
/// each expanded with the recipient's variables; as root it runs as the
/// mail user.
pub fn run_route_pipe(cfg: &Config, spec: &CommandSpec, content: &Content, vars: &Vars) -> Outcome {
    let argv = expand(spec, vars);
    if argv.iter().any(String::is_empty) {
        return Outcome::Failed(format!(
            "5.3.0 command '{}' expands to an empty word",
            spec.text
        ));
    }
    let identity = match command_identity(cfg, || None) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        &spec.text,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
    )
}

/// Runs an alias pipe: `command` is the text after `|`, split with shell
/// rules and not expanded (§7.3).
pub fn run_pipe(cfg: &Config, command: &str, content: &Content, vars: &Vars) -> Outcome {
    let argv = match split_words(command) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("5.3.0 cannot parse command '{command}': {e}")),
    };
    let identity = match command_identity(cfg, || None) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        command,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
    )
}

/// Identity changes happen only for a real root without `run_as_user`.
/// The words of `spec`, each expanded on its own (§7.4).
fn expand(spec: &CommandSpec, vars: &Vars) -> Vec<String> {
    spec.words
        .iter()
        .map(|w| vars::expand_word(w, &|n| vars.lookup(n)))
        .collect()
}

/// Whom a command runs as: nobody in particular (`None`, the caller's
/// identity) unless we are root; then `preferred` (a recipient), else the
/// mail user — never root.
fn command_identity(
    cfg: &Config,
    preferred: impl FnOnce() -> Option<(Uid, Gid)>,
) -> Result<Option<(Uid, Gid)>, Outcome> {
    if !as_root(cfg) {
        return Ok(None);
    }
    match preferred() {
        Some(id) => Ok(Some(id)),
        None => mail_identity().map(Some),
    }
}

/// Started by root (or a daemon that dropped to the mail user but kept
/// root as its saved uid): commands get a chosen identity.
fn as_root(cfg: &Config) -> bool {
    !cfg.run_as_user
        && (nix::unistd::getuid().is_root()
            || nix::unistd::getresuid().is_ok_and(|ids| ids.saved.is_root()))
}

fn mail_identity() -> Result<(Uid, Gid), Outcome> {
    match privs::mail_user() {
        Ok((uid, _)) if uid.is_root() => Err(Outcome::Deferred(
            "4.3.0 the mail user is root; refusing to run a command as root".into(),
        )),
        Ok(id) => Ok(id),
        Err(e) => Err(Outcome::Deferred(format!("4.3.0 {e}"))),
    }
}

/// The program to execute: absolute as given, or found in [`SAFE_PATH`].
fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.starts_with('/') {
        return Ok(PathBuf::from(program));
    }
    if program.is_empty() {
        return Err("empty command name".into());
    }
    if program.contains('/') {
        return Err(format!(
            "command '{program}' must be an absolute path or a plain name"
        ));
    }
    SAFE_PATH
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("command '{program}' not found in {}", SAFE_PATH.join(":")))
}

/// Spawns, feeds, supervises and judges one command.
fn run(
    argv: &[String],
    text: &str,
    content: &Content,
    env: &[(&'static str, String)],
    identity: Option<(Uid, Gid)>,
    limit: Duration,
) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Failed(format!("5.3.0 empty command '{text}'"));
    };
    let path = match resolve(program) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("5.3.0 {e}")),
    };
    let (mut child, output) = match spawn(&path, program, args, env, identity) {
        Ok(c) => c,
        Err(e) => {
            // ETXTBSY: the program is being replaced right now.
            let temporary = matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::ETXTBSY)
            );
            let why = format!("cannot start '{text}': {e}");
            return if temporary {
                Outcome::Deferred(format!("4.3.0 {why}"))
            } else {
                Outcome::Failed(format!("5.3.0 {why}"))
            };
        }
    };
    let stdin = child.stdin.take();
    let stop = AtomicBool::new(false);
    let (report, fed) = std::thread::scope(|s| {
        let feeder = s.spawn(|| feed(stdin, content, &stop));
        let report = supervise(&mut child, output, Instant::now() + limit);
        stop.store(true, Ordering::Relaxed);
        (report, feeder.join())
    });
    if let Ok(Err(e)) = fed {
        tracing::debug!(command = %text, error = %e, "command did not take all of its input");
    }
    judge(text, report, limit)
}

fn spawn(
    path: &Path,
    program: &str,
    args: &[String],
    env: &[(&'static str, String)],
    identity: Option<(Uid, Gid)>,
) -> io::Result<(Child, io::PipeReader)> {
    let (reader, writer) = io::pipe()?;
    let mut cmd = Command::new(path);
    cmd.arg0(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    if let Some((uid, gid)) = identity {
        // std clears the supplementary groups when root sets a uid.
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    // A daemon runs with the mail user's euid and root only as its saved
    // uid: the forked child needs root to take the target identity, so the
    // spawning thread holds it for the duration of the fork.
    let _root = match identity {
        Some(_) if !nix::unistd::geteuid().is_root() => Some(
            privs::EffectiveIdentity::switch_to(Uid::from_raw(0), Gid::from_raw(0))
                .map_err(io::Error::other)?,
        ),
        _ => None,
    };
    let child = cmd.spawn()?;
    // `cmd` (and with it our copies of the pipe's write end) is gone here,
    // so the reader sees end of file once the command's side closes.
    Ok((child, reader))
}

/// Writes the content to the command's stdin; gives up when `stop` is set.
fn feed(stdin: Option<ChildStdin>, content: &Content, stop: &AtomicBool) -> io::Result<()> {
    let Some(stdin) = stdin else { return Ok(()) };
    rustix::io::ioctl_fionbio(&stdin, true)?;
    let mut w = StoppableWriter { pipe: stdin, stop };
    match content.write_to(&mut w) {
        // A command may stop reading early; its exit status decides.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A non-blocking pipe writer that waits with `poll` and can be stopped.
struct StoppableWriter<'a> {
    pipe: ChildStdin,
    stop: &'a AtomicBool,
}

impl Write for StoppableWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.pipe.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.stop.load(Ordering::Relaxed) {
                        return Err(io::Error::other(
                            "command finished before reading all input",
                        ));
                    }
                    let mut fds = [PollFd::new(self.pipe.as_fd(), PollFlags::POLLOUT)];
                    let _ = nix::poll::poll(&mut fds, PollTimeout::from(100u16));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What happened to the command.
struct Report {
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
    output: Vec<u8>,
    truncated: bool,
}

/// Drains output (keeping [`MAX_CAPTURE`] bytes), waits for the exit,
/// kills the process group at `deadline` or when stragglers hold the pipe.
fn supervise(child: &mut Child, output: io::PipeReader, deadline: Instant) -> Report {
    let mut report = Report {
        status: None,
        timed_out: false,
        output: Vec::new(),
        truncated: false,
    };
    let _ = rustix::io::ioctl_fionbio(&output, true);
    let mut output = Some(output);
    let mut exited_at = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(out) = output.as_mut()
            && drain(out, &mut buf, &mut report)
        {
            output = None;
        }
        if report.status.is_none() {
            report.status = child.try_wait().ok().flatten();
            if report.status.is_some() {
                exited_at = Some(Instant::now());
            }
        }
        let now = Instant::now();
        match (report.status, exited_at) {
            (Some(_), _) if output.is_none() => break,
            (Some(_), Some(t)) if now >= t + EXIT_GRACE => {
                // Leftover group members still hold the output pipe.
                kill_group(child);
                break;
            }
            (None, _) if now >= deadline => {
                kill_group(child);
                report.timed_out = true;
                report.status = child.wait().ok();
                break;
            }
            _ => {}
        }
        match output.as_ref() {
            Some(out) => {
                let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, PollTimeout::from(50u16));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    report
}

fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group id is the leader's pid (process_group(0)).
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Reads what is available; true at end of file.
fn drain(out: &mut io::PipeReader, buf: &mut [u8], report: &mut Report) -> bool {
    loop {
        match out.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                let room = MAX_CAPTURE.saturating_sub(report.output.len());
                report.output.extend_from_slice(&buf[..n.min(room)]);
                report.truncated |= n > room;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(fd = out.as_raw_fd(), error = %e, "reading command output");
                return true;
            }
        }
    }
}

/// Maps the report to an outcome (§7.7 with R22's signal rule).
fn judge(text: &str, r: Report, limit: Duration) -> Outcome {
    let mut out: String = String::from_utf8_lossy(&r.output)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    if r.truncated {
        out.push_str(" [output truncated]");
    }
    let with_output = |s: String| {
        if out.is_empty() {
            s
        } else {
            format!("{s}: {out}")
        }
    };
    if r.timed_out {
        return Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' killed after the time limit of {}s",
            limit.as_secs()
        )));
    }
    let Some(status) = r.status else {
        return Outcome::Deferred(format!("4.3.0 process '{text}': exit status lost"));
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Delivered,
        (Some(75), _) => Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' returned 75 ({})",
            sysexits(75)
        ))),
        (Some(n), _) => Outcome::Failed(with_output(format!(
            "5.3.0 process '{text}' returned {n} ({})",
            sysexits(n)
        ))),
        (None, Some(sig)) => Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' killed by signal {sig}"
        ))),
        (None, None) => Outcome::Deferred(format!("4.3.0 process '{text}': unknown exit status")),
    }
}

/// The `sysexits.h` meaning of an exit code.
pub fn sysexits(code: i32) -> &'static str {
    match code {
        64 => "command line usage error",
        65 => "data format error",
        66 => "cannot open input",
        67 => "addressee unknown",
        68 => "host name unknown",
        69 => "service unavailable",
        70 => "internal software error",
        71 => "system error",
        72 => "critical OS file missing",
        73 => "can't create output file",
        74 => "input/output error",
        75 => "temporary failure",
        76 => "remote error in protocol",
        77 => "permission denied",
        78 => "configuration error",
        _ => "unknown error",
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
