//! Feeding, draining, timing and judging one child (see [`super`]).
//!
//! # Security
//! Output is untrusted bytes: kept up to a bound, the rest dropped, and
//! control characters blanked before it can reach a log line.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{ExecError, Identity, Input};

/// How long stragglers may hold an output pipe after the child exited.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Output kept from one pipe.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// More was written than kept.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// For a log line: control characters blanked, trimmed, and marked
    /// when truncated.
    pub fn text(&self) -> String {
        let mut out: String = String::from_utf8_lossy(&self.bytes)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string();
        if self.truncated {
            out.push_str(" [output truncated]");
        }
        out
    }
}

/// One output pipe of a child and what was kept of it.
pub(super) struct Pipe {
    reader: Option<io::PipeReader>,
    cap: usize,
    captured: Captured,
}

impl Pipe {
    pub(super) fn new(reader: io::PipeReader, cap: usize) -> Pipe {
        // Without O_NONBLOCK a read could wait past the deadline.
        let _ = rustix::io::ioctl_fionbio(&reader, true);
        Pipe {
            reader: Some(reader),
            cap,
            captured: Captured::default(),
        }
    }

    pub(super) fn into_captured(self) -> Captured {
        self.captured
    }

    /// Reads what is available; closes the pipe at end of file.
    fn drain(&mut self, buf: &mut [u8]) {
        let Some(r) = self.reader.as_mut() else {
            return;
        };
        loop {
            match r.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    let kept = &mut self.captured;
                    let room = self.cap.saturating_sub(kept.bytes.len());
                    kept.bytes.extend_from_slice(&buf[..n.min(room)]);
                    kept.truncated |= n > room;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(error = %e, "reading command output");
                    break;
                }
            }
        }
        self.reader = None;
    }
}

/// How the child ended.
pub(super) struct Status {
    exit: Option<ExitStatus>,
    timed_out: bool,
}

/// Spawns `cmd` (whose stdout and stderr the caller has set to the write
/// ends of `pipes`), feeds it, drains it and waits for it until `limit`.
pub(super) fn start(
    mut cmd: Command,
    identity: Option<Identity>,
    input: Option<Input<'_>>,
    pipes: &mut [Pipe],
    limit: Duration,
) -> Result<Status, ExecError> {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = super::spawn(&mut cmd, identity)?;
    // `cmd` holds our copies of the pipes' write ends: once it is gone,
    // a reader sees end of file when the child's side closes.
    drop(cmd);
    let deadline = Instant::now() + limit;
    let stdin = child.stdin.take();
    let stop = AtomicBool::new(false);
    let (status, fed) = std::thread::scope(|s| {
        let feeder = s.spawn(|| feed(stdin, input, &stop));
        let status = supervise(&mut child, pipes, deadline);
        stop.store(true, Ordering::Relaxed);
        (status, feeder.join())
    });
    if let Ok(Err(e)) = fed {
        tracing::debug!(error = %e, "command did not take all of its input");
    }
    Ok(status)
}

/// Exit 0 is `Ok`; anything else the matching error with `output`.
pub(super) fn judge(s: Status, limit: Duration, output: &Captured) -> Result<(), ExecError> {
    let output = output.text();
    if s.timed_out {
        return Err(ExecError::Timeout {
            after: limit,
            output,
        });
    }
    let Some(status) = s.exit else {
        return Err(ExecError::Io(io::Error::other("exit status lost")));
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(ExecError::Exit { code, output }),
        (None, Some(signal)) => Err(ExecError::Signal { signal, output }),
        (None, None) => Err(ExecError::Io(io::Error::other("unknown exit status"))),
    }
}

/// Writes the input to the child's stdin; gives up when `stop` is set.
fn feed(stdin: Option<ChildStdin>, input: Option<Input<'_>>, stop: &AtomicBool) -> io::Result<()> {
    let (Some(stdin), Some(input)) = (stdin, input) else {
        return Ok(());
    };
    rustix::io::ioctl_fionbio(&stdin, true)?;
    let mut w = StoppableWriter { pipe: stdin, stop };
    match input(&mut w) {
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

/// Drains the pipes, waits for the exit, kills the process group at
/// `deadline` or when stragglers hold a pipe past [`EXIT_GRACE`].
fn supervise(child: &mut Child, pipes: &mut [Pipe], deadline: Instant) -> Status {
    let mut s = Status {
        exit: None,
        timed_out: false,
    };
    let mut exited_at = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        for p in pipes.iter_mut() {
            p.drain(&mut buf);
        }
        let open = pipes.iter().any(|p| p.reader.is_some());
        if s.exit.is_none() {
            s.exit = child.try_wait().ok().flatten();
            if s.exit.is_some() {
                exited_at = Some(Instant::now());
            }
        }
        let now = Instant::now();
        match (s.exit, exited_at) {
            (Some(_), _) if !open => break,
            (Some(_), Some(t)) if now >= t + EXIT_GRACE => {
                // Leftover group members still hold an output pipe.
                kill_group(child);
                break;
            }
            (None, _) if now >= deadline => {
                kill_group(child);
                s.timed_out = true;
                s.exit = child.wait().ok();
                break;
            }
            _ => {}
        }
        let mut fds: Vec<PollFd<'_>> = pipes
            .iter()
            .filter_map(|p| p.reader.as_ref())
            .map(|r| PollFd::new(r.as_fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            // Waiting for the exit only: no fd to wake us.
            std::thread::sleep(Duration::from_millis(10));
        } else {
            let _ = nix::poll::poll(&mut fds, PollTimeout::from(50u16));
        }
    }
    s
}

/// SIGKILL to the child's whole process group: grandchildren included.
fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group id is the leader's pid (process_group(0)).
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
