//! The one place that starts child processes (issue 7, point 4): MDA and
//! pipe deliveries, `auth_secret_command`, `pass_command`, the online
//! detection commands and connection `wrapper`s.
//!
//! Every child is started the same way ([`Job`]): argv already split into
//! words (never a shell), the program an absolute path or a plain name
//! looked up in [`SAFE_PATH`], the environment cleared and set to exactly
//! what the caller passes, working directory `/`, a process group of its
//! own, and optionally another [`Identity`].
//!
//! Guarantees of [`run`] and [`first_line`]:
//! * they return by the deadline (plus the time to kill and reap): at the
//!   deadline the whole process group gets SIGKILL, so grandchildren that
//!   hold the output pipe die too, and the child is reaped;
//! * output is drained while the child runs and kept up to a bound
//!   ([`MAX_CAPTURE`], [`MAX_LINE`]); the rest is read and dropped;
//! * input is written from a thread of its own; a child that stops
//!   reading (EPIPE) is judged by its exit status alone.
//!
//! Deadlines: deliveries keep `command_time_limit`. Commands that only
//! produce a value (secrets, the connection name) get [`helper_limit`]:
//! [`HELPER_LIMIT`] (30 s) or `command_time_limit` when that is shorter,
//! so that a hung password helper defers one route instead of holding a
//! whole queue run, and a test can make it short with one option.
//!
//! # Security
//! Trusts the argv it is given (from the config, or an alias file read as
//! the mail user) and nothing from the environment of the invoking user:
//! not `PATH`, not any variable. Whom a child runs as is the caller's
//! decision; this module only switches to it (holding root just for the
//! fork when root is only our saved uid). Delivery commands never run as
//! root (deliver/command.rs); helpers and wrappers, named by the
//! administrator in root-owned config files, run as we do, as they always
//! did. [`first_line`] keeps stdout (it may be a secret) apart from
//! stderr: errors carry stderr only, so a failing secret helper never puts
//! its secret into a log line.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::unistd::{Gid, Uid};

use crate::config::CommandSpec;
use crate::privs;

mod identity;
mod supervise;
mod wrapper;

pub use supervise::Captured;
pub use wrapper::spawn_connected;

/// Bytes of merged output kept for a failure reason.
pub const MAX_CAPTURE: usize = 1024;

/// Longest first line [`first_line`] accepts.
pub const MAX_LINE: usize = 4096;

/// The longest a secret or connection-name helper may run.
pub const HELPER_LIMIT: Duration = Duration::from_secs(30);

/// Where a bare command name is looked up.
pub const SAFE_PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

/// The deadline of a helper command: [`HELPER_LIMIT`], or the configured
/// `command_time_limit` when it is shorter.
pub fn helper_limit(command_time_limit: Duration) -> Duration {
    command_time_limit.min(HELPER_LIMIT)
}

/// A uid and gid a child runs as, with the user's supplementary groups
/// (set by a root parent, `identity.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: Uid,
    pub gid: Gid,
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// Program first, then the arguments; each is one argv element.
    pub argv: &'a [String],
    /// The complete environment of the child.
    pub env: &'a [(&'a str, String)],
    /// `None`: our own identity.
    pub identity: Option<Identity>,
}

/// Writes a child's stdin; called on a thread of its own.
pub type Input<'a> = &'a (dyn Fn(&mut dyn Write) -> io::Result<()> + Sync);

/// Why a child did not succeed. `output` is the captured output for a
/// log line (control characters blanked, marked when truncated): merged
/// stdout and stderr for [`run`], stderr only for [`first_line`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error("empty command")]
    Empty,
    #[error("empty command name")]
    EmptyName,
    #[error("command '{0}' must be an absolute path or a plain name")]
    BadName(String),
    #[error("command '{program}' not found in {}", SAFE_PATH.join(":"))]
    NotFound { program: String },
    #[error("cannot start: {source}")]
    Spawn {
        #[source]
        source: io::Error,
    },
    #[error("killed after the time limit of {after:?}")]
    Timeout { after: Duration, output: String },
    #[error("exited with {code}")]
    Exit { code: i32, output: String },
    #[error("killed by signal {signal}")]
    Signal { signal: i32, output: String },
    #[error("printed no line")]
    NoLine,
    #[error("first line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl ExecError {
    /// A failure that may go away by itself: a retry later is sensible.
    /// A missing program or a non-zero exit is left to the caller, which
    /// knows what the command's exit codes mean.
    pub fn is_temporary(&self) -> bool {
        match self {
            // ETXTBSY: the program is being replaced right now.
            ExecError::Spawn { source } => matches!(
                source.raw_os_error(),
                Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::ETXTBSY)
            ),
            ExecError::Timeout { .. } | ExecError::Signal { .. } | ExecError::Io(_) => true,
            _ => false,
        }
    }

    /// The captured output that goes with the error ("" when none).
    pub fn output(&self) -> &str {
        match self {
            ExecError::Timeout { output, .. }
            | ExecError::Exit { output, .. }
            | ExecError::Signal { output, .. } => output,
            _ => "",
        }
    }
}

/// Runs `job` to its end or to `limit`, feeding it `input` (stdin is the
/// null device without). `Ok` is exit status 0, with the merged stdout and
/// stderr bounded at [`MAX_CAPTURE`].
pub fn run(
    job: &Job<'_>,
    input: Option<Input<'_>>,
    limit: Duration,
) -> Result<Captured, ExecError> {
    let mut cmd = command(job)?;
    let (reader, writer) = io::pipe().map_err(ExecError::Io)?;
    cmd.stdout(writer.try_clone().map_err(ExecError::Io)?)
        .stderr(writer);
    let mut pipes = [supervise::Pipe::new(reader, MAX_CAPTURE)];
    let status = supervise::start(cmd, job.identity, input, &mut pipes, limit)?;
    let [merged] = pipes;
    let merged = merged.into_captured();
    supervise::judge(status, limit, &merged)?;
    Ok(merged)
}

/// Runs `spec` (stdin the null device, environment just `PATH`) and
/// returns the first line of its stdout without the line end. The
/// command must exit 0 by `limit` and print a non-empty line of at most
/// [`MAX_LINE`] bytes. Errors carry stderr, never stdout.
pub fn first_line(
    spec: &CommandSpec,
    limit: Duration,
    identity: Option<Identity>,
) -> Result<String, ExecError> {
    let env = base_env();
    let job = Job {
        argv: &spec.words,
        env: &env,
        identity,
    };
    let mut cmd = command(&job)?;
    let (out_r, out_w) = io::pipe().map_err(ExecError::Io)?;
    let (err_r, err_w) = io::pipe().map_err(ExecError::Io)?;
    cmd.stdout(out_w).stderr(err_w);
    // One byte more than a line may have: a full capture without a line
    // end is a line that is too long.
    let mut pipes = [
        supervise::Pipe::new(out_r, MAX_LINE + 2),
        supervise::Pipe::new(err_r, MAX_CAPTURE),
    ];
    let status = supervise::start(cmd, identity, None, &mut pipes, limit)?;
    let [stdout, stderr] = pipes;
    supervise::judge(status, limit, &stderr.into_captured())?;
    line_of(stdout.into_captured().bytes())
}

/// The first line of `bytes` without CR LF or LF.
fn line_of(bytes: &[u8]) -> Result<String, ExecError> {
    let line = match bytes.iter().position(|&b| b == b'\n') {
        Some(n) => &bytes[..n],
        None if bytes.len() > MAX_LINE => return Err(ExecError::LineTooLong),
        None => bytes,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(ExecError::LineTooLong);
    }
    if line.is_empty() {
        return Err(ExecError::NoLine);
    }
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// The environment of a command that needs nothing from us: a `PATH` of
/// [`SAFE_PATH`] for the scripts it may run.
pub fn base_env() -> Vec<(&'static str, String)> {
    vec![("PATH", SAFE_PATH.join(":"))]
}

/// The program to execute: absolute as given, or found in [`SAFE_PATH`].
fn resolve(program: &str) -> Result<PathBuf, ExecError> {
    if program.starts_with('/') {
        return Ok(PathBuf::from(program));
    }
    if program.is_empty() {
        return Err(ExecError::EmptyName);
    }
    if program.contains('/') {
        return Err(ExecError::BadName(program.to_string()));
    }
    SAFE_PATH
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| ExecError::NotFound {
            program: program.to_string(),
        })
}

/// The common part of every child: program, argv, environment, `/`,
/// process group, identity. Standard streams are the caller's to set.
fn command(job: &Job<'_>) -> Result<Command, ExecError> {
    let (program, args) = job.argv.split_first().ok_or(ExecError::Empty)?;
    let path = resolve(program)?;
    let mut cmd = Command::new(path);
    cmd.arg0(program)
        .args(args)
        .env_clear()
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::null());
    if let Some(id) = job.identity {
        identity::apply(&mut cmd, id);
    }
    Ok(cmd)
}

/// Forks `cmd`. A daemon runs with the mail user's euid and root only as
/// its saved uid: the forked child needs root to take another identity,
/// so the spawning thread holds it for the duration of the fork.
fn spawn(cmd: &mut Command, identity: Option<Identity>) -> Result<Child, ExecError> {
    let _root = match identity {
        Some(_) if !nix::unistd::geteuid().is_root() => Some(
            privs::EffectiveIdentity::switch_to(Uid::from_raw(0), Gid::from_raw(0)).map_err(
                |e| ExecError::Spawn {
                    source: io::Error::other(e),
                },
            )?,
        ),
        _ => None,
    };
    cmd.spawn().map_err(|source| ExecError::Spawn { source })
}

#[cfg(test)]
mod tests;
