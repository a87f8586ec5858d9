//! Connection `wrapper` commands (route and get files, delivery.md §10.5):
//! the command's stdin and stdout are one end of a socket pair, and the
//! protocol (SMTP, POP3) is spoken on the other end. Started by
//! [`crate::exec::spawn_connected`], like every child.
//!
//! # Security
//! Split into words when the config was read; run without a shell and
//! without variable expansion, with only `PATH` in its environment.

use crate::config::CommandSpec;
use crate::exec::{self, Job};

/// Starts `spec`; returns our end of the pair. The child is reaped by a
/// thread of its own when it ends.
pub fn spawn(spec: &CommandSpec) -> std::io::Result<tokio::net::UnixStream> {
    let env = exec::base_env();
    let job = Job {
        argv: &spec.words,
        env: &env,
        identity: None,
    };
    let ours = exec::spawn_connected(&job).map_err(|e| match e {
        exec::ExecError::Spawn { source } | exec::ExecError::Io(source) => source,
        other => std::io::Error::other(other),
    })?;
    ours.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(ours)
}
