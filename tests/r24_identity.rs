//! R24 as root (CI runs as root): identities read from `/proc/<pid>/status`
//! (all four uids and gids, supplementary groups, CapEff/CapPrm) of the
//! daemon idle and during an SMTP session (its sessions are tasks of the
//! same process; every thread is checked), of a queue run's MDA child,
//! and of a running POP3 fetch; each is the identity cli.md §4.2 and
//! src/privs.rs give it. And a failed drop: masqmail started as root
//! without `CAP_SETUID` (dropped from the bounding set before exec, so
//! `setresuid` fails with EPERM; likewise `CAP_SETGID` for `setgroups`)
//! exits non-zero with an error naming the failed call, and accepts,
//! spools, delivers and listens for nothing.
//!
//! `RLIMIT_NPROC` is not how the drop is made to fail: since Linux 3.1
//! `set*uid` no longer fails on it (the next `execve` does instead), so
//! such a test could not fail.
//!
//! Not root: each test prints SKIPPED and returns.

mod support;

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::smtp::Client;
use support::*;

/// linux/capability.h
const CAP_SETGID: i32 = 6;
const CAP_SETUID: i32 = 7;

#[derive(Debug, PartialEq, Eq)]
struct Ident {
    /// real, effective, saved, filesystem.
    uid: Vec<u32>,
    gid: Vec<u32>,
    groups: Vec<u32>,
    cap_eff: u64,
    cap_prm: u64,
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("{name} missing in {status}"))
        .trim()
}

fn parse(status: &str) -> Ident {
    let nums = |name| -> Vec<u32> {
        field(status, name)
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let hex = |name| u64::from_str_radix(field(status, name), 16).unwrap();
    Ident {
        uid: nums("Uid:"),
        gid: nums("Gid:"),
        groups: nums("Groups:"),
        cap_eff: hex("CapEff:"),
        cap_prm: hex("CapPrm:"),
    }
}

fn ident_of(pid: i32) -> Ident {
    parse(&fs::read_to_string(format!("/proc/{pid}/status")).unwrap())
}

fn user(name: &str) -> (u32, u32) {
    let u = nix::unistd::User::from_name(name).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// An env where root does not run as the user (the installed setup).
fn root_env(extra: &str) -> Env {
    let env = Env::new(extra);
    let conf = fs::read_to_string(&env.conf)
        .unwrap()
        .replace("run_as_user = true", "run_as_user = false");
    fs::write(&env.conf, conf).unwrap();
    set_mode(env.dir.path(), 0o755);
    set_mode(&env.path("bin"), 0o755);
    set_mode(&env.path("mail"), 0o1777);
    env
}

/// R24: the daemon, idle and during an SMTP session (every thread): real/effective/fs uid and all gids the mail user's, groups [mail], no effective capabilities; the saved uid stays root by design (cli.md §4.2).
#[test]
fn r24_daemon_and_its_sessions_run_as_the_mail_user() {
    if !is_root() {
        eprintln!("SKIPPED: not root");
        return;
    }
    let (mail, mail_gid) = user("mail");
    let want = Ident {
        uid: vec![mail, mail, 0, mail],
        gid: vec![mail_gid; 4],
        groups: vec![mail_gid],
        cap_eff: 0,
        // Root as the saved uid keeps the permitted set (capabilities(7)):
        // what lets local delivery take a recipient's identity.
        cap_prm: ident_of(std::process::id() as i32).cap_prm,
    };
    let env = root_env("");
    let d = env.daemon(&[]);
    assert_eq!(ident_of(d.pid()), want, "idle daemon");
    let mut c = Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO id.example").unwrap().code, 250);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    for task in fs::read_dir(format!("/proc/{}/task", d.pid())).unwrap() {
        let status = fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert_eq!(parse(&status), want, "a thread during a session");
    }
    let _ = c.cmd("QUIT");
    assert!(d.stop().success());
}

/// R24: a queue run's MDA child, as root: every uid and gid the recipient's, the recipient's groups only (as `initgroups` gives them: nobody is in no other group), no capabilities at all.
#[test]
fn r24_queue_run_mda_child_has_the_recipients_identity_and_no_capabilities() {
    if !is_root() {
        eprintln!("SKIPPED: not root");
        return;
    }
    let env = root_env("");
    let out = env.path("mda-status");
    fs::write(&out, "").unwrap();
    set_mode(&out, 0o666);
    let mda = env.script(
        "mda",
        &format!(
            "#!/bin/sh\ncat >/dev/null\ncat /proc/$$/status > {}\n",
            out.display()
        ),
    );
    env.add_conf(&format!(
        "mda_users = \"nobody\"\nmda = \"{}\"",
        mda.display()
    ));
    env.ok(&["-odq", "nobody"], b"Subject: ids\n\nx\n");
    env.ok(&["-q"], b"");
    let (nobody, nogroup) = user("nobody");
    let status = fs::read_to_string(&out).unwrap();
    assert!(!status.is_empty(), "the MDA did not run: {}", env.log());
    let got = parse(&status);
    assert_eq!(
        got,
        Ident {
            uid: vec![nobody; 4],
            gid: vec![nogroup; 4],
            groups: vec![nogroup],
            cap_eff: 0,
            cap_prm: 0,
        }
    );
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// R24: a running POP3 fetch (`-g`, held at the greeting by a silent server): effective and fs uid the mail user's, all gids the mail group's, groups [mail], no effective capabilities.
#[test]
fn r24_fetch_runs_as_the_mail_user() {
    if !is_root() {
        eprintln!("SKIPPED: not root");
        return;
    }
    // A server that accepts and says nothing: the fetch waits for its
    // greeting while we read its identity.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = root_env("");
    let get = env.path("isp.get");
    fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = joe\npass = secret\naddress = joe\ntls = none\n",
            silent.local_addr().unwrap().port()
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    let mut c = env.cmd();
    c.args(["-g", "isp"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let (conn, _) = silent.accept().unwrap();
    let got = ident_of(child.id() as i32);
    drop(conn); // the fetch fails at the greeting and ends
    let _ = child.wait();
    let (mail, mail_gid) = user("mail");
    assert_eq!(got.uid[1], mail, "effective uid: {got:?}");
    assert_eq!(got.uid[3], mail, "fs uid: {got:?}");
    assert_eq!(got.gid, vec![mail_gid; 4]);
    assert_eq!(got.groups, vec![mail_gid]);
    assert_eq!(got.cap_eff, 0);
}

/// Runs masqmail as root without capability `cap` (dropped from the
/// bounding set in the child before exec); waits at most 30 s.
fn without_cap(env: &Env, cap: i32, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = env.cmd();
    c.args(args);
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let out = run_with_input(c, input);
    assert!(start.elapsed() < Duration::from_secs(30));
    out
}

/// R24: setresuid (no CAP_SETUID) or setgroups (no CAP_SETGID) failing as root: each mode exits non-zero with an error naming the call; nothing spooled, delivered or served.
#[test]
fn r24_a_failed_drop_aborts_and_never_carries_on_as_root() {
    if !is_root() {
        eprintln!("SKIPPED: not root");
        return;
    }
    for (cap, call) in [(CAP_SETUID, "setresuid"), (CAP_SETGID, "setgroups")] {
        let env = root_env("");
        // Accept mode: a message for a local user.
        let out = without_cap(&env, cap, &["alice"], b"Subject: x\n\nbody\n");
        let err = stderr(&out);
        assert!(!out.status.success(), "{call}: accepted anyway");
        assert!(
            err.contains("cannot switch to the mail user") && err.contains(call),
            "{call}: {err}"
        );
        assert!(env.queued().is_empty() && env.mbox("alice").is_empty());
        // A queue run over a message queued normally.
        env.ok(&["-odq", "alice"], b"Subject: queued\n\nbody\n");
        let out = without_cap(&env, cap, &["-q"], b"");
        assert!(!out.status.success(), "{call}: queue run went on");
        assert!(stderr(&out).contains(call), "{}", stderr(&out));
        assert_eq!(env.queued().len(), 1, "{call}: nothing delivered");
        assert!(env.mbox("alice").is_empty());
        // The daemon: exits, no pid file, nothing listening.
        let port = daemon::free_port();
        env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
        let out = without_cap(&env, cap, &["-bD"], b"");
        assert!(!out.status.success(), "{call}: daemon started");
        assert!(stderr(&out).contains(call), "{}", stderr(&out));
        assert!(!env.path("run/masqmail.pid").exists());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
