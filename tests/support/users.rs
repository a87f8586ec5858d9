//! Temporary passwd users for end-to-end tests that need real identities
//! (`.forward` files): created with `useradd` with a home directory the
//! test owns, removed with `userdel` when the guard drops. Root only.
//!
//! Names carry the test process's pid and a counter, so parallel tests and
//! test binaries never share a user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::set_mode;

/// useradd and userdel lock /etc/passwd; one at a time in this process.
static PASSWD: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A passwd user that exists while this value lives.
pub struct TempUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TempUser {
    /// A new system user whose home is `home` (created here, owned by the
    /// user, mode 0755).
    pub fn create(home: &Path) -> TempUser {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("mmfw{}x{n}", std::process::id());
        let home_arg = home.to_str().expect("utf-8 home");
        passwd_tool(
            "useradd",
            &[
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                home_arg,
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ],
        );
        let user = nix::unistd::User::from_name(&name)
            .expect("getpwnam")
            .expect("new user exists");
        let guard = TempUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: home.to_path_buf(),
        };
        std::fs::create_dir_all(home).expect("mkdir home");
        guard.chown(home);
        set_mode(home, 0o755);
        guard
    }

    /// Makes `path` (not following a symlink) the user's.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }

    /// Adds the user to the group of `other` (a supplementary group).
    pub fn join_group_of(&self, other: &TempUser) {
        passwd_tool(
            "usermod",
            &["--append", "--groups", &other.name, &self.name],
        );
    }

    /// Writes `~/.forward` owned by the user with `mode`.
    pub fn forward(&self, text: &str, mode: u32) -> PathBuf {
        let p = self.home.join(".forward");
        std::fs::write(&p, text).expect("write .forward");
        self.chown(&p);
        set_mode(&p, mode);
        p
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _lock = PASSWD.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).status();
        // Without USERGROUPS_ENAB the group outlives the user.
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// Runs useradd/userdel, retrying while another process holds the passwd
/// lock (exit 1 or 10); panics with the tool's output otherwise.
fn passwd_tool(tool: &str, args: &[&str]) {
    let _lock = PASSWD.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = String::new();
    for attempt in 0..50 {
        let out = Command::new(tool).args(args).output().expect("run tool");
        if out.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        if !matches!(out.status.code(), Some(1) | Some(10)) {
            break;
        }
        // Another process's lock on /etc/passwd: back off and try again.
        std::thread::sleep(std::time::Duration::from_millis(20 * (attempt + 1)));
    }
    panic!("{tool} {args:?} failed: {last}");
}
