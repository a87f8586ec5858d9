//! Shared harness for the end-to-end tests: a private masqmail
//! installation in a temp directory (config, spool, mail, logs), the real
//! binary, and helpers to read what it wrote. Nothing is shared between
//! tests: every `Env` has its own directory.
#![allow(dead_code)]

pub mod big;
pub mod ca;
pub mod daemon;
pub mod dns;
pub mod dsn;
pub mod netns;
pub mod oauth_endpoint;
pub mod odmr;
pub mod pop3;
pub mod sink;
pub mod smtp;
pub mod strace;
pub mod tmpfs;
pub mod users;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_masqmail");
pub const HOST: &str = "host.example.org";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Env {
    /// A run_as_user installation with the given extra config lines.
    pub fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["mail", "bin"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let conf = root.join("masqmail.conf");
        let text = format!(
            "host_name = \"{HOST}\"\nrun_as_user = true\nspool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\n\
             log_dir = \"{r}/log\"\nmail_dir = \"{r}/mail\"\npid_dir = \"{r}/run\"\n{extra}\n",
            r = root.display()
        );
        fs::write(&conf, text).expect("write conf");
        Env { dir, conf }
    }

    /// Appends configuration lines to the env's masqmail.conf.
    pub fn add_conf(&self, lines: &str) {
        let conf = fs::read_to_string(&self.conf).expect("read conf") + lines + "\n";
        fs::write(&self.conf, conf).expect("write conf");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The binary with `-C <our config>` first.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("-C").arg(&self.conf);
        c.env_remove("MASQMAIL_CRASHPOINT");
        c
    }

    /// Runs the binary with `args`, feeding `input` on stdin.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        run_with_input(c, input)
    }

    /// Runs and asserts exit 0, returning stdout.
    pub fn ok(&self, args: &[&str], input: &[u8]) -> String {
        let out = self.run(args, input);
        assert!(
            out.status.success(),
            "masqmail {args:?} failed: {:?}\nstdout: {}\nstderr: {}\nlog: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn mbox(&self, user: &str) -> String {
        fs::read_to_string(self.path("mail").join(user)).unwrap_or_default()
    }

    pub fn mbox_bytes(&self, user: &str) -> Vec<u8> {
        fs::read(self.path("mail").join(user)).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("log/masqmail.log")).unwrap_or_default()
    }

    /// Ids of the messages in the spool (names `<id>-H`).
    pub fn queued(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(self.path("spool"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter_map(|n| n.strip_suffix("-H").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    pub fn spool_files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path("spool"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn header_file(&self, id: &str) -> String {
        fs::read_to_string(self.path("spool").join(format!("{id}-H"))).expect("header file")
    }

    /// Writes an executable script into the env's bin directory.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path("bin").join(name);
        fs::write(&p, body).expect("write script");
        set_mode(&p, 0o755);
        p
    }

    /// A symlink to the binary under another name (sendmail, mailq, ...).
    pub fn alias_binary(&self, name: &str) -> PathBuf {
        let p = self.path("bin").join(name);
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(BIN, &p).expect("symlink");
        p
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn run_with_input(mut c: Command, input: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn masqmail");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// Splits an mbox into its messages (on `From ` lines that follow an empty
/// line or start the file).
pub fn mbox_messages(mbox: &str) -> Vec<String> {
    let mut msgs: Vec<String> = Vec::new();
    let mut prev_empty = true;
    for line in mbox.split_inclusive('\n') {
        if prev_empty && line.starts_with("From ") {
            msgs.push(String::new());
        }
        if let Some(m) = msgs.last_mut() {
            m.push_str(line);
        }
        prev_empty = line == "\n";
    }
    msgs
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when the tests run as root (CI does): identity tests need it.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
