//! A private Dovecot POP3 server for interop tests and benchmarks: its own
//! `dovecot.conf`, base and state directories, log and mailbox in a temp
//! directory, listening on 127.0.0.1 on an ephemeral port, started in the
//! foreground (`dovecot -F -c <conf>`) as a child process and stopped when
//! dropped. One user, `joe` with the password `secret`, whose Maildir the
//! test fills by writing files into `Maildir/new/`.
//!
//! Which identities (Debian's dovecot 2.3):
//! * As root (CI): Dovecot runs its login and internal processes as the
//!   package's `dovenull` and `dovecot` users (the defaults), but it
//!   refuses a mail user with uid 0 ("userdb returned 0 as uid"), so the
//!   mailbox belongs to `nobody` (65534:65534): the temp directory is made
//!   traversable and the home tree is chowned to it.
//! * As another user: everything runs as that user
//!   (`default_internal_user` and `default_login_user` are set to it, and
//!   the login and anvil processes do not chroot).
//!
//! Not self-contained on purpose only in one way: it needs `dovecot`
//! installed (`dovecot-pop3d`); [`installed`] says whether it is.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const DOVECOT: &str = "/usr/sbin/dovecot";
pub const USER: &str = "joe";
pub const PASS: &str = "secret";

/// True when Debian's dovecot is installed.
pub fn installed() -> bool {
    Path::new(DOVECOT).exists() && Path::new("/usr/lib/dovecot/pop3").exists()
}

/// How the server is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `ssl = yes` with this certificate and key (PEM): STLS is offered.
    /// `None`: `ssl = no`, and plaintext logins are allowed
    /// (`disable_plaintext_auth = no`).
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub struct Dovecot {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    uid: u32,
    gid: u32,
    seq: AtomicU64,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| panic!("no passwd entry for uid {uid}"))
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| panic!("no group entry for gid {gid}"))
}

impl Dovecot {
    /// Starts the server and waits (bounded) until it accepts connections.
    pub fn start(opts: Options) -> Dovecot {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let (uid, gid) = if is_root() {
            (65534, 65534)
        } else {
            // SAFETY: getuid/getgid have no preconditions.
            unsafe { (libc::getuid(), libc::getgid()) }
        };
        for d in [
            "run",
            "state",
            "home/joe/Maildir/new",
            "home/joe/Maildir/cur",
            "home/joe/Maildir/tmp",
        ] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::write(
            root.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASS}::::::\n"),
        )
        .expect("passwd");
        if is_root() {
            // The auth process (user dovecot) reads the passwd file, the
            // mail process (nobody) owns the home.
            fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
            fs::set_permissions(root.join("passwd"), fs::Permissions::from_mode(0o644))
                .expect("chmod");
            for d in [
                "home",
                "home/joe",
                "home/joe/Maildir",
                "home/joe/Maildir/new",
                "home/joe/Maildir/cur",
                "home/joe/Maildir/tmp",
            ] {
                std::os::unix::fs::chown(root.join(d), Some(uid), Some(gid)).expect("chown");
            }
        }
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let conf = root.join("dovecot.conf");
            fs::write(&conf, config(&root, port, uid, gid, &opts)).expect("dovecot.conf");
            let _ = fs::remove_file(root.join("dovecot.log"));
            let child = Command::new(DOVECOT)
                .arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(root.join("stderr")).expect("stderr file"))
                .spawn()
                .expect("spawn dovecot");
            let mut child = child;
            match wait_ready(&mut child, port, &root) {
                Ok(()) => {
                    return Dovecot {
                        child,
                        dir,
                        port,
                        uid,
                        gid,
                        seq: AtomicU64::new(0),
                    };
                }
                Err(log) => {
                    last_log = log;
                    stop(&mut child);
                    // The port may have been taken between free_port and
                    // the bind: then try another one.
                    if !last_log.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("dovecot did not start:\n{last_log}");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn maildir(&self) -> PathBuf {
        self.path("home/joe/Maildir")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("dovecot.log")).unwrap_or_default()
    }

    /// Puts a message into the user's Maildir (`tmp/`, then renamed into
    /// `new/`, as a delivery agent does).
    pub fn deliver(&self, message: &[u8]) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{}P{}Q{n}.masqmail-test",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id()
        );
        let tmp = self.maildir().join("tmp").join(&name);
        let mut f = fs::File::create(&tmp).expect("create maildir file");
        f.write_all(message).expect("write maildir file");
        drop(f);
        if is_root() {
            std::os::unix::fs::chown(&tmp, Some(self.uid), Some(self.gid)).expect("chown");
        }
        fs::rename(&tmp, self.maildir().join("new").join(&name)).expect("rename into new/");
    }

    /// Files (messages) in `new/` and `cur/`.
    pub fn messages(&self) -> usize {
        ["new", "cur"]
            .iter()
            .map(|d| {
                fs::read_dir(self.maildir().join(d))
                    .map(|rd| rd.filter_map(|e| e.ok()).count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// Removes every message (new/ and cur/), e.g. between benchmark runs.
    pub fn clear(&self) {
        for d in ["new", "cur"] {
            if let Ok(rd) = fs::read_dir(self.maildir().join(d)) {
                for e in rd.flatten() {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn read_log(root: &Path) -> String {
    fs::read_to_string(root.join("dovecot.log")).unwrap_or_default()
}

/// Polls the port until it accepts a connection, with a deadline; the
/// error is dovecot's stderr and log when it exits or does not listen.
fn wait_ready(child: &mut Child, port: u16, root: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Ready: a login process greets. (A bare connect is not enough:
        // the master binds the port before it may still fail.)
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Read;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 3];
            if conn.read_exact(&mut buf).is_ok() && &buf == b"+OK" {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let err = fs::read_to_string(root.join("stderr")).unwrap_or_default();
            return Err(format!(
                "exited {status}\nstderr: {err}\nlog: {}",
                read_log(root)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("not listening after 15 s\nlog: {}", read_log(root)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops dovecot (SIGTERM, so that the master stops its children; then
/// SIGKILL after a bounded wait).
fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn config(root: &Path, port: u16, uid: u32, gid: u32, opts: &Options) -> String {
    let r = root.display();
    let mut c = format!(
        "base_dir = {r}/run\n\
         state_dir = {r}/state\n\
         log_path = {r}/dovecot.log\n\
         protocols = pop3\n\
         listen = 127.0.0.1\n\
         passdb {{\n  driver = passwd-file\n  args = {r}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={r}/home/%u\n}}\n\
         mail_location = maildir:~/Maildir\n\
         pop3_uidl_format = %g\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = {port}\n  }}\n  \
         inet_listener pop3s {{\n    port = 0\n  }}\n"
    );
    if !is_root() {
        c += "  chroot =\n";
    }
    c += "}\n";
    if !is_root() {
        let me = user_name(uid);
        let group = group_name(gid);
        c += &format!(
            "default_internal_user = {me}\ndefault_internal_group = {group}\n\
             default_login_user = {me}\nservice anvil {{\n  chroot =\n}}\n"
        );
    }
    match &opts.tls {
        Some((cert, key)) => {
            c += &format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                cert.display(),
                key.display()
            );
        }
        None => c += "ssl = no\ndisable_plaintext_auth = no\n",
    }
    c
}
