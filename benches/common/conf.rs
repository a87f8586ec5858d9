//! The masqmail configuration the command-line benches start from: every
//! directory under one temp root, `run_as_user` (no root needed, no
//! identity switches), plus the lines a bench adds; and handing a message
//! to `masqmail` on stdin.
//!
//! # Trust
//! Bench-only: panics on any failure, ours being the thing under test.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Writes `root/masqmail.conf` (with `extra` appended; `{r}` in it is not
/// expanded) and creates `root/mail`; the config's path.
pub fn write(root: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(root.join("mail")).expect("mkdir mail");
    let conf = root.join("masqmail.conf");
    let r = root.display();
    std::fs::write(
        &conf,
        format!(
            "host_name = \"bench.example.org\"\nrun_as_user = true\n\
             spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
             mail_dir = \"{r}/mail\"\n{extra}"
        ),
    )
    .expect("write config");
    conf
}

/// `bin -C conf args…` with `message` on stdin; panics unless it exits 0.
pub fn submit(bin: &Path, conf: &Path, args: &[&str], message: &[u8]) {
    let mut child = Command::new(bin)
        .arg("-C")
        .arg(conf)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn masqmail");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message)
        .expect("write message");
    assert!(child.wait().expect("wait").success(), "masqmail failed");
}
