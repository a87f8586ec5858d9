//! A network namespace of one test (`ip netns add` under a unique name,
//! deleted when dropped) with `lo` up, in which processes and sockets of
//! the test can live, and whose routes the test changes.
//!
//! Needs root and `ip` (iproute2); [`NetNs::available`] says why not.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct NetNs {
    pub name: String,
    file: File,
}

impl NetNs {
    /// Why namespaces cannot be made here, if they cannot.
    pub fn available() -> Result<(), String> {
        if !super::is_root() {
            return Err("not root".into());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(o) if o.status.success() => Ok(()),
            _ => Err("no `ip` (iproute2)".into()),
        }
    }

    pub fn new() -> NetNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mmtest-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            fastrand::u32(..)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        let file = File::open(format!("/run/netns/{name}"));
        let ns = NetNs {
            file: file.expect("open the namespace"),
            name,
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new("ip").args(["-n", &self.name]).args(args));
    }

    /// Several `ip` commands in one process (`-batch`): microseconds
    /// apart, for flapping a link.
    pub fn ip_batch(&self, lines: &[&str]) {
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn ip -batch");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all((lines.join("\n") + "\n").as_bytes())
            .expect("write");
        drop(stdin);
        assert!(child.wait().expect("ip -batch").success(), "{lines:?}");
    }

    /// Makes `cmd`'s process start in this namespace.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.file.as_raw_fd();
        // SAFETY: setns is async-signal-safe; the fd stays open in the
        // child until exec (it is closed on exec).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Runs `f` on a thread inside this namespace: sockets it creates
    /// belong to the namespace for their whole life.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = self.file.try_clone().expect("dup namespace fd");
        std::thread::spawn(move || {
            // SAFETY: plain syscall on a valid fd; affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run ip");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
