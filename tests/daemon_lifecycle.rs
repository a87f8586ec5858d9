//! The daemon's startup order, admission limits and stop (issue 7): the
//! pid file exists before any port accepts, `-bd` returns once the daemon
//! is serving, a bind failure leaves no pid file, the per-address cap.
//! Real binary, 127.0.0.1, ephemeral ports; every wait is on something
//! observable (a reply, a file, the log), never a fixed sleep.

mod support;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::smtp::Client;
use support::*;

fn local(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// Kills a detached daemon if the test fails before it stopped it.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// Whether process `pid` has ended (gone, or a zombie not reaped yet).
fn ended(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty()
        || stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
}

/// max_connections_per_host = 2: two sessions held, the third gets 421
/// 4.7.0 at once (and is logged with the peer), a freed slot serves again.
/// R39: the per-host cap refuses with 421 and frees slots.
#[test]
fn per_host_cap_refuses_the_third_and_frees_slots() {
    let env = Env::new("max_connections_per_host = 2");
    let d = env.daemon(&[]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect(d.addr).unwrap();
        let r = c.read_reply().unwrap();
        assert_eq!(r.code, 220, "{}", r.text());
        held.push(c);
    }
    let mut c = Client::connect(d.addr).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.code, r.enhanced()), (421, Some("4.7.0")), "{}", r.text());
    assert_eq!(
        r.text(),
        format!("4.7.0 {HOST} too many connections from your address, try again later"),
    );
    assert!(c.read_reply().is_err(), "closed after the 421");
    let log = env.log();
    assert!(
        log.contains("connection from host 127.0.0.1, port ")
            && log.contains("refused: max_connections_per_host (2)"),
        "{log}"
    );
    // the held sessions are still served
    for c in &mut held {
        assert_eq!(c.cmd("NOOP").unwrap().code, 250);
    }
    // one ends; its slot comes back once the server has seen the end
    let mut gone = held.pop().unwrap();
    assert_eq!(gone.cmd("QUIT").unwrap().code, 221);
    assert!(gone.read_reply().is_err(), "closed after QUIT");
    env.wait_for("a freed slot", || {
        let mut c = Client::connect(d.addr).unwrap();
        match c.read_reply() {
            Ok(r) if r.code == 220 => {
                held.push(c);
                true
            }
            Ok(r) => {
                assert_eq!(r.code, 421, "{}", r.text());
                false
            }
            Err(_) => false,
        }
    });
    assert_eq!(held[1].cmd("NOOP").unwrap().code, 250);
    assert!(d.stop().success());
}

/// 0 means no per-address cap: max_connections alone applies.
#[test]
fn per_host_cap_zero_is_no_cap() {
    let env = Env::new("max_connections_per_host = 0\nmax_connections = 3");
    let d = env.daemon(&[]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(d.addr).unwrap();
        assert_eq!(c.read_reply().unwrap().code, 220);
        held.push(c);
    }
    let mut c = Client::connect(d.addr).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!(
        r.text(),
        format!("4.7.0 {HOST} too many connections, try again later"),
        "the global limit, not the per-address one"
    );
    assert!(env.log().contains("refused: max_connections (3)"));
}

/// `-bD`: whenever a connect succeeds, the pid file already exists and
/// names the daemon (issue 7: it used to be written after the bind).
#[test]
fn foreground_pid_file_exists_before_the_port_accepts() {
    let env = Env::new("");
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\"\n"));
    let mut child = env
        .cmd()
        .arg("-bD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _reap = Reap(child.id() as i32);
    let pid_file = env.path("run/masqmail.pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Poll as fast as the machine allows: the window being tested is the
    // moment between listen() and the pid file, if there were one.
    let probe = loop {
        if let Ok(s) = TcpStream::connect(local(port)) {
            break s;
        }
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        assert!(Instant::now() < deadline, "never accepted");
        std::thread::yield_now();
    };
    let text = std::fs::read_to_string(&pid_file).expect("pid file before accept");
    assert_eq!(text, format!("{}\n", child.id()));
    drop(probe);
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    assert!(!pid_file.exists(), "removed at the stop");
    let log = env.log();
    assert!(
        log.contains(&format!("[{}] info: ready", child.id())),
        "{log}"
    );
}

/// `-bd` returns only once the daemon serves: the pid file, the `ready`
/// line and the port are all there when it has returned 0. SIGTERM stops
/// it, an idle session does not keep it past the grace period, and the
/// pid file goes.
#[test]
fn detached_daemon_is_ready_when_bd_returns_and_stops_on_sigterm() {
    let env = Env::new("");
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\"\n"));
    let (out, pid) = env.start_detached();
    let pid = pid.expect("pid file when -bd returned");
    let _reap = Reap(pid);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
    assert!(
        env.log().contains(&format!("[{pid}] info: ready")),
        "ready logged by the daemon before -bd returned: {}",
        env.log()
    );
    let mut c = Client::connect(local(port)).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let pid_file = env.path("run/masqmail.pid");
    env.wait_for("the pid file to go", || !pid_file.exists());
    env.wait_for("the daemon to end", || ended(pid));
    assert!(env.log().contains("daemon quitting"), "{}", env.log());
    assert!(c.cmd("NOOP").is_err(), "the idle session was dropped");
}

/// The port is taken: `-bD` and `-bd` both fail with one line on stderr
/// and a non-zero status, and leave no pid file behind.
#[test]
fn bind_failure_exits_non_zero_and_leaves_no_pid_file() {
    let env = Env::new("");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\"\n"));
    for mode in ["-bD", "-bd"] {
        let out = env.run(&[mode], b"");
        let err = stderr(&out);
        assert!(!out.status.success(), "{mode}: {err}");
        assert_eq!(err.lines().count(), 1, "{mode}: one line: {err}");
        assert!(
            err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
            "{mode}: {err}"
        );
        assert!(
            !env.path("run/masqmail.pid").exists(),
            "{mode}: pid file left"
        );
        assert!(!env.log().contains("info: ready"), "{}", env.log());
    }
}
