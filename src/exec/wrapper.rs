//! Long-lived children on a socket pair (connection `wrapper`s): started
//! like every other child, but not supervised to a deadline; the protocol
//! spoken over the pair has its own timeouts.
//!
//! # Security
//! As for every child (see [`super`]): no shell, a cleared environment,
//! `/`, its own process group. stderr is ours (the log, or the terminal).

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use super::{ExecError, Job};

/// Starts `job` with one end of a socket pair as its stdin and stdout and
/// returns the other end. A thread of its own reaps the child when it
/// ends, which it does when we close our end (end of file on its stdin).
pub fn spawn_connected(job: &Job<'_>) -> Result<UnixStream, ExecError> {
    let mut cmd = super::command(job)?;
    let (ours, theirs) = UnixStream::pair().map_err(ExecError::Io)?;
    let theirs_out: OwnedFd = theirs.try_clone().map_err(ExecError::Io)?.into();
    let theirs_in: OwnedFd = theirs.into();
    cmd.stdin(Stdio::from(theirs_in))
        .stdout(Stdio::from(theirs_out))
        .stderr(Stdio::inherit());
    let mut child = super::spawn(&mut cmd, job.identity)?;
    // Our copies of the child's end must go, or we never see its EOF.
    drop(cmd);
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(ours)
}
