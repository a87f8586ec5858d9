//! Detaching (`-bd`, `-q<ival>` without `-bD`) and the readiness report.
//!
//! [`detach`] forks. The child carries on with the startup (pid file,
//! bind, privileges, runtime) in a new session, with stdin and stdout on
//! `/dev/null`; its stderr stays the invoker's until it is ready, so a
//! failed start prints its one-line error where the invoker sees it. The
//! parent only waits: for one byte on a pipe ([`Readiness::report`]),
//! then it exits 0; or for the pipe to close without it (the child
//! failed), then it exits with the child's code. So `masqmail -bd`
//! returns once the daemon is serving, and its status says whether it
//! is, which is what init scripts and tests need.
//!
//! # Security
//! The pipe's write end is close-on-exec: an MDA or pipe transport started
//! by the daemon never inherits it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::DaemonError;

/// What a process learns from [`detach`].
pub(crate) enum Detached {
    /// The invoking process: the exit code to return.
    Parent(i32),
    /// The daemon: report readiness through this.
    Child(Readiness),
}

/// The daemon's side of the readiness report; the foreground daemon has
/// nobody to report to.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    pipe: Option<OwnedFd>,
    /// Put stderr on `/dev/null` once ready (it is not the log).
    quiet_stderr: bool,
}

/// Forks; see the module doc. Call it while the process has one thread.
pub(crate) fn detach(stderr_is_log: bool) -> Result<Detached, DaemonError> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(DaemonError::Fork)?;
    // SAFETY: single-threaded here (the runtime is built later), so the
    // child cannot inherit a lock held by another thread.
    match unsafe { nix::unistd::fork() }.map_err(DaemonError::Fork)? {
        ForkResult::Parent { child } => {
            drop(write);
            Ok(Detached::Parent(wait_for_child(read, child)?))
        }
        ForkResult::Child => {
            drop(read);
            let _ = nix::unistd::setsid();
            redirect_to_null(&[Std::In, Std::Out]);
            Ok(Detached::Child(Readiness {
                pipe: Some(write),
                quiet_stderr: !stderr_is_log,
            }))
        }
    }
}

impl Readiness {
    /// Tells the waiting parent (if any) that the daemon is serving; after
    /// this, stderr is `/dev/null` unless it is the log.
    pub(crate) fn report(self) {
        if self.quiet_stderr {
            redirect_to_null(&[Std::Err]);
        }
        if let Some(pipe) = self.pipe {
            // A parent that is gone (killed) cannot be told; the daemon
            // serves anyway.
            let _ = File::from(pipe).write_all(b"R");
        }
    }
}

/// The parent: one byte means ready; EOF means the child ended first.
fn wait_for_child(read: OwnedFd, child: Pid) -> Result<i32, DaemonError> {
    let mut pipe = File::from(read);
    let mut byte = [0u8; 1];
    loop {
        match pipe.read(&mut byte) {
            Ok(1) => return Ok(0),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    // The child has printed its own error; pass its code on.
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Err(DaemonError::Died(sig)),
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(DaemonError::Fork(e)),
        }
    }
}

/// The standard streams a detached process points at `/dev/null`.
#[derive(Clone, Copy)]
enum Std {
    In,
    Out,
    Err,
}

fn redirect_to_null(streams: &[Std]) {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for s in streams {
            let _ = match s {
                Std::In => nix::unistd::dup2_stdin(&null),
                Std::Out => nix::unistd::dup2_stdout(&null),
                Std::Err => nix::unistd::dup2_stderr(&null),
            };
        }
    }
}
