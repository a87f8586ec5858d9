//! A private Postfix instance for the benchmarks: its own `main.cf` and
//! `master.cf`, queue and data directories, all in one temp directory;
//! smtpd on an ephemeral port of 127.0.0.1, mail relayed to
//! `[127.0.0.1]:PORT` and held there by `defer_transports = smtp` until
//! [`Postfix::flush`] (`postqueue -f`). Nothing under `/etc/postfix` is
//! read but the compiled-in tables, nothing system-wide is written, and
//! the log goes to a file in the temp directory (`maillog_file`), not to
//! syslog. Dropping a `Postfix` stops it (`postfix stop`, then SIGKILL to
//! the master if it lingers) and removes the directory.
//!
//! Postfix's master must start as root (it drops to `mail_owner =
//! postfix`); when we are not root, [`Postfix::start`] says "needs root"
//! instead. `postfix -c DIR` needs no `alternate_config_directories` for
//! root.
//!
//! # Trust
//! Bench-only: trusts Debian's Postfix binaries; every failure becomes a
//! one-line reason for the table, never a panic.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const POSTFIX: &str = "/usr/sbin/postfix";
pub const SENDMAIL: &str = "/usr/sbin/sendmail";
const POSTQUEUE: &str = "/usr/sbin/postqueue";

#[derive(Default)]
pub struct Options {
    /// Where `relayhost` points (the latency proxy); 9 (discard) when
    /// nothing should ever be delivered.
    pub relay_port: u16,
    /// The CA of the relay's certificate: STARTTLS (`encrypt`: Postfix
    /// would match the certificate against the nexthop "127.0.0.1") and
    /// AUTH PLAIN with (login, secret).
    pub tls: Option<(PathBuf, String, String)>,
    /// Put every message received over SMTP on hold (`check_client_access
    /// static:HOLD`): written and fsynced like any other, but no queue
    /// manager work after it, as `do_queue` does for us.
    pub hold: bool,
}

pub struct Postfix {
    pub addr: SocketAddr,
    /// The configuration directory, for `-c` / `-C`.
    pub conf: PathBuf,
    queue: PathBuf,
    dir: tempfile::TempDir,
}

/// Why Postfix is not there, for a table cell; `None` when it can run.
pub fn unavailable() -> Option<String> {
    if !Path::new(POSTFIX).exists() {
        return Some("not installed".into());
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return Some("needs root".into());
    }
    None
}

/// "3.7.11", or what `postconf` said instead.
pub fn version() -> String {
    Command::new("/usr/sbin/postconf")
        .args(["-dh", "mail_version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| e.to_string())
}

impl Postfix {
    pub fn start(opts: &Options) -> Result<Postfix, String> {
        if let Some(why) = unavailable() {
            return Err(why);
        }
        let dir = tempfile::tempdir().map_err(|e| format!("could not start: {e}"))?;
        let root = dir.path().to_path_buf();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("could not start: {e}"))?
            .port();
        let pf = Postfix {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            conf: root.join("etc"),
            queue: root.join("queue"),
            dir,
        };
        pf.write_config(opts, port)
            .map_err(|e| format!("could not start: {e}"))?;
        let out = pf.postfix("start");
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            return Err(format!("could not start: {}", pf.reason(out)));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(pf.addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "could not start: smtpd does not listen; {}",
                    pf.log_tail(1)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(pf)
    }

    fn write_config(&self, opts: &Options, port: u16) -> std::io::Result<()> {
        use std::os::unix::fs::{PermissionsExt, chown};
        let root = self.dir.path();
        // The postfix user must reach its queue and data directories.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        for d in ["etc", "queue", "data"] {
            std::fs::create_dir(root.join(d))?;
        }
        let owner = nix::unistd::User::from_name("postfix")
            .ok()
            .flatten()
            .ok_or_else(|| std::io::Error::other("no user postfix"))?;
        chown(root.join("data"), Some(owner.uid.as_raw()), None)?;
        let r = root.display();
        let mut main = format!(
            "compatibility_level = 3.6\nqueue_directory = {r}/queue\ndata_directory = {r}/data\n\
             mail_owner = postfix\nsetgid_group = postdrop\n\
             myhostname = postfix-bench.example\nmydomain = bench.example\nmyorigin = $myhostname\n\
             mydestination =\nlocal_recipient_maps =\nalias_maps =\nalias_database =\n\
             inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             relayhost = [127.0.0.1]:{}\ndefer_transports = smtp\n\
             maillog_file_prefixes = {r}\nmaillog_file = {r}/maillog\n\
             biff = no\nsmtputf8_enable = no\n",
            opts.relay_port
        );
        if opts.hold {
            main += "smtpd_recipient_restrictions = check_client_access static:HOLD\n";
        }
        if let Some((ca, login, secret)) = &opts.tls {
            main += &format!(
                "smtp_tls_security_level = encrypt\nsmtp_tls_CAfile = {}\n\
                 smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = static:{login}:{secret}\n\
                 smtp_sasl_tls_security_options = noanonymous\nsmtp_sasl_mechanism_filter = plain\n",
                ca.display()
            );
        }
        std::fs::write(root.join("etc/main.cf"), main)?;
        std::fs::write(root.join("etc/master.cf"), master_cf(port))
    }

    /// Runs `postfix -c DIR <what>`.
    fn postfix(&self, what: &str) -> std::io::Result<Output> {
        Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.conf)
            .arg(what)
            .stdin(Stdio::null())
            .output()
    }

    fn reason(&self, out: std::io::Result<Output>) -> String {
        match out {
            Err(e) => e.to_string(),
            Ok(o) => {
                let said = String::from_utf8_lossy(&o.stderr).trim().to_string();
                let log = self.log_tail(1);
                format!("{} {said} {log}", o.status).trim().to_string()
            }
        }
    }

    /// The last `n` lines of the instance's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The master's pid, the root of the process tree.
    pub fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.queue.join("pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Files in one queue (`incoming`, `active`, `deferred`, `hold`,
    /// `maildrop`), subdirectories included.
    pub fn queued(&self, which: &str) -> usize {
        count_files(&self.queue.join(which))
    }

    /// Waits until `n` messages wait in `deferred` and nothing is on its
    /// way there.
    pub fn wait_deferred(&self, n: usize, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let moving: usize = ["maildrop", "incoming", "active"]
                .iter()
                .map(|q| self.queued(q))
                .sum();
            let deferred = self.queued("deferred");
            if moving == 0 && deferred == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{deferred} deferred, {moving} moving, not {n}: {}",
                    self.log_tail(1)
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `postqueue -c DIR -f`: deliver everything queued now. It only asks
    /// the queue manager; the caller waits for the mail to arrive.
    pub fn flush(&self) -> Result<(), String> {
        let out = Command::new(POSTQUEUE)
            .arg("-c")
            .arg(&self.conf)
            .arg("-f")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "postqueue -f: {} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Postfix's `sendmail` for this instance (`-C DIR`), arguments to add.
    pub fn sendmail(&self) -> Command {
        let mut c = Command::new(SENDMAIL);
        c.arg("-C").arg(&self.conf);
        c
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let master = self.master_pid();
        let _ = self.postfix("stop");
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(pid) = master {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            if Instant::now() > deadline {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Debian's services, none chrooted (the queue directory is not set up
/// as a chroot), smtpd only on `127.0.0.1:port`.
fn master_cf(port: u16) -> String {
    let services = [
        ("pickup", "unix", "n", "-", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
        ("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
        ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "-", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
        ("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
        ("smtp", "unix", "-", "-", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "-", "-", "smtp"),
        ("showq", "unix", "n", "-", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "-", "discard"),
        ("local", "unix", "-", "n", "-", "-", "local"),
        ("anvil", "unix", "-", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
    ];
    let mut cf = format!("127.0.0.1:{port} inet n - n - - smtpd\n");
    for (name, kind, private, unpriv, wakeup, limit, cmd) in services {
        cf += &format!("{name} {kind} {private} {unpriv} n {wakeup} {limit} {cmd}\n");
    }
    cf
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}
