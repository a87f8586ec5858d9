//! Fsyncs per accepted message (issue 12): one extra, untimed round of a
//! row with `strace -f -c -e trace=fsync,fdatasync` attached to the
//! daemon. strace slows every call, so this round's rate is not a row;
//! its count is exact. Without strace the figure is left out.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A counting strace attached to `pid`.
pub struct Counting {
    child: Child,
    pid: u32,
    out: tempfile::NamedTempFile,
}

/// Attaches, or `None` when strace cannot run here.
pub fn attach(pid: u32) -> Option<Counting> {
    let out = tempfile::NamedTempFile::new().ok()?;
    let child = Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(out.path())
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let c = Counting { child, pid, out };
    c.wait_tracers(true).then_some(c)
}

impl Counting {
    /// Detaches and returns the fsync and fdatasync calls counted.
    pub fn finish(mut self) -> u64 {
        // SAFETY: kill has no memory preconditions; the pid is our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        self.wait_tracers(false);
        calls(self.out.path())
    }

    /// Polls until every thread's TracerPid is set (or clear).
    fn wait_tracers(&self, traced: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok(dir) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
                return false;
            };
            let all = dir
                .filter_map(|t| t.ok())
                .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
                .all(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("TracerPid:"))
                        .is_some_and(|v| (v.trim() != "0") == traced)
                });
            if all {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// The `calls` column of the fsync and fdatasync rows of `strace -c`.
fn calls(summary: &Path) -> u64 {
    let text = std::fs::read_to_string(summary).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            match cols.last() {
                Some(&"fsync") | Some(&"fdatasync") => cols.get(3)?.parse::<u64>().ok(),
                _ => None,
            }
        })
        .sum()
}
