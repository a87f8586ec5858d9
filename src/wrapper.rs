//! Connection `wrapper` commands (route and get files, delivery.md §10.5):
//! the command's stdin and stdout are one end of a socket pair, and the
//! protocol (SMTP, POP3) is spoken on the other end.
//!
//! # Security
//! Split into words when the config was read; run without a shell and
//! without variable expansion.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use crate::config::CommandSpec;

/// Starts `spec`; returns our end of the pair. The child is reaped by a
/// thread of its own when it ends.
pub fn spawn(spec: &CommandSpec) -> std::io::Result<tokio::net::UnixStream> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let (program, args) = spec
        .words
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty wrapper command"))?;
    let theirs_out: OwnedFd = theirs.try_clone()?.into();
    let theirs_in: OwnedFd = theirs.into();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::from(theirs_in))
        .stdout(Stdio::from(theirs_out))
        .stderr(Stdio::inherit())
        .spawn()?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    ours.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(ours)
}
