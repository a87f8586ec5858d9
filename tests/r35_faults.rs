//! RELIABILITY R35, injected I/O errors on the accept path, real as root
//! (issue 9 point 5): strace's fault injection fails exactly one durable
//! step per run (`fsync`/`fdatasync` EIO, `renameat2` EROFS, `openat`
//! EMFILE) and `RLIMIT_FSIZE` gives EFBIG. `sendmail` must exit 75 and
//! leave no spool file; the SMTP server must answer 451 4.3.0 or
//! 452 4.3.1, never 250; and after a failed fsync the trace must show no
//! later successful fsync of the same fd (fsyncgate: the commit is
//! refused, never "retried" on the same fd).
//!
//! The steps are found in an uninjected trace of the same run, so a new
//! durable step is hit automatically. Real ENOSPC is in full_disk.rs.

mod support;
use std::os::unix::process::CommandExt;
use support::smtp::Client;
use support::strace::{self, Call};
use support::*;

const TRACE: &str =
    "trace=open,openat,close,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat";

/// An installation whose spool exists and is empty.
fn prepared(extra: &str) -> Env {
    let env = Env::new(extra);
    env.ok(&["-odq", "alice"], b"Subject: warm-up\n\nx\n");
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty());
    env
}

fn message_files(env: &Env) -> Vec<String> {
    env.spool_files()
        .into_iter()
        .filter(|n| n.ends_with("-H") || n.ends_with("-D") || n.ends_with(".tmp"))
        .collect()
}

/// `sendmail -odq alice` under strace with `inject` (may be empty).
fn traced_accept(env: &Env, inject: &[&str]) -> (std::process::Output, Vec<Call>) {
    let trace = env.path("trace");
    let mut args = vec!["-e", TRACE];
    for i in inject {
        args.extend(["-e", i]);
    }
    let mut c = strace::command(&trace, &args);
    c.arg(BIN).arg("-C").arg(&env.conf).args(["-odq", "alice"]);
    let out = run_with_input(c, b"Subject: fault\n\nbody of the faulty run\n");
    let text = std::fs::read_to_string(&trace).expect("trace");
    (out, strace::parse(&text))
}

/// For every call of the clean accept that `pick` chooses: a run that
/// fails just that call with `errno` exits 75 and leaves nothing.
fn each_step(pick: impl Fn(&Call) -> bool, errno: &str) -> usize {
    let env = prepared("");
    let (out, clean) = traced_accept(&env, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    env.ok(&["-q"], b"");
    // strace counts `when=` per thread, so a step is (call, nth call of
    // that name in its thread). The commit syncs the header file on a
    // thread of its own while the main thread syncs the data file: both
    // are each thread's first fdatasync, so that step fails them together.
    let mut steps: Vec<(String, usize)> = clean
        .iter()
        .filter(|c| pick(c))
        .map(|c| {
            let nth = clean
                .iter()
                .filter(|o| o.pid == c.pid && o.name == c.name && o.line <= c.line)
                .count();
            (c.name.clone(), nth)
        })
        .collect();
    steps.dedup();
    assert!(!steps.is_empty(), "no step to fail");
    for (name, nth) in &steps {
        let inject = format!("inject={name}:error={errno}:when={nth}");
        let (out, calls) = traced_accept(&env, &[&inject]);
        let hit = calls.iter().find(|c| c.injected);
        assert!(hit.is_some(), "{inject}: nothing injected");
        assert_eq!(out.status.code(), Some(75), "{inject}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert_eq!(message_files(&env), Vec::<String>::new(), "{inject}");
        if let Some((failed, again)) = strace::resynced_after_error(&calls) {
            panic!("{inject}: fd fsynced again after an error: {failed:?} then {again:?}");
        }
    }
    assert!(env.mbox("alice").matches("Subject: fault").count() == 1);
    steps.len()
}

/// R35: EIO from each fsync/fdatasync of the accept (data file, header
/// file, spool directory): exit 75, no spool file, no second fsync.
#[test]
fn r35_sendmail_fsync_eio_at_each_step() {
    if !strace::available() {
        return;
    }
    let n = each_step(|c| c.is_sync(), "EIO");
    // The data and header syncs (each its thread's first fdatasync), the
    // directory's fsync.
    assert!(n >= 2, "file and directory syncs: {n}");
}

/// R35: EROFS from each rename of the accept (data, header).
#[test]
fn r35_sendmail_rename_erofs_at_each_step() {
    if !strace::available() {
        return;
    }
    let n = each_step(|c| c.name.starts_with("rename"), "EROFS");
    assert!(n >= 2, "{n}");
}

/// R35: EMFILE from each open of a new spool file (data, header).
#[test]
fn r35_sendmail_open_emfile_at_each_step() {
    if !strace::available() {
        return;
    }
    let n = each_step(
        |c| c.name == "openat" && c.args.contains(".tmp\"") && c.args.contains("O_CREAT"),
        "EMFILE",
    );
    assert!(n >= 2, "{n}");
}

/// R35: `RLIMIT_FSIZE` smaller than the message: EFBIG (SIGXFSZ is
/// ignored by masqmail), exit 75, no spool file.
#[test]
fn r35_sendmail_file_size_limit_exits_75() {
    let env = prepared("");
    let mut c = env.cmd();
    c.args(["-odq", "alice"]);
    let limit = libc::rlimit {
        rlim_cur: 16 * 1024,
        rlim_max: 16 * 1024,
    };
    // SAFETY: setrlimit is async-signal-safe; run between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let body = format!("Subject: big\n\n{}", "0123456789abcdef\n".repeat(6000));
    let out = run_with_input(c, body.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(75),
        "{:?} {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(message_files(&env), Vec::<String>::new());
}

/// Sends one message; returns the reply to its end of data.
fn send(d: &daemon::Daemon, body: &[u8]) -> smtp::Reply {
    let mut c = Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    let r = c
        .send_message("s@remote.example", &[&format!("alice@{HOST}")], body)
        .unwrap();
    let _ = c.cmd("QUIT");
    r
}

fn assert_temporary(r: &smtp::Reply, what: &str) {
    assert!(
        matches!(
            (r.code, r.enhanced()),
            (451, Some("4.3.0")) | (452, Some("4.3.1"))
        ),
        "{what}: {}",
        r.text()
    );
}

/// R35 over SMTP: strace attached to the running daemon fails every
/// fsync, fdatasync, rename or spool open in turn; each message gets
/// 451 4.3.0 / 452 4.3.1 (never 250) and leaves no spool file. Detached,
/// the same daemon accepts again.
#[test]
fn r35_smtp_injected_errors_are_temporary_failures() {
    if !strace::available() {
        return;
    }
    let env = prepared("do_queue = true");
    let d = env.daemon(&[]);
    for fault in [
        "fsync:error=EIO",
        "fdatasync:error=EIO",
        "renameat2:error=EROFS",
        "openat:error=EMFILE",
    ] {
        let trace = env.path("daemon-trace");
        let inject = format!("inject={fault}");
        let tracer = strace::attach(d.pid(), &trace, &["-e", TRACE, "-e", &inject]);
        let r = send(&d, b"Subject: faulty\r\n\r\nx\r\n");
        tracer.detach();
        assert_temporary(&r, fault);
        let calls = strace::parse(&std::fs::read_to_string(&trace).unwrap());
        assert!(
            calls.iter().any(|c| c.injected),
            "{fault}: nothing injected"
        );
        assert!(strace::resynced_after_error(&calls).is_none(), "{fault}");
        assert_eq!(message_files(&env), Vec::<String>::new(), "{fault}");
    }
    let r = send(&d, b"Subject: fine again\r\n\r\nx\r\n");
    assert_eq!(r.code, 250, "{}", r.text());
    assert_eq!(env.queued().len(), 1);
    assert!(d.stop().success());
}

/// R35 over SMTP: the daemon's `RLIMIT_FSIZE` lowered below the message
/// size (EFBIG): a temporary failure, no spool file; raised again, 250.
#[test]
fn r35_smtp_file_size_limit_is_a_temporary_failure() {
    let env = prepared("do_queue = true");
    let d = env.daemon(&[]);
    let set = |bytes: u64| {
        let l = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: valid rlimit for the call; old value not wanted.
        let r = unsafe { libc::prlimit(d.pid(), libc::RLIMIT_FSIZE, &l, std::ptr::null_mut()) };
        assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
    };
    set(16 * 1024);
    let body = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(6000)
    );
    let r = send(&d, body.as_bytes());
    assert_temporary(&r, "EFBIG");
    assert_eq!(message_files(&env), Vec::<String>::new());
    set(libc::RLIM_INFINITY);
    assert_eq!(send(&d, body.as_bytes()).code, 250);
    assert!(d.stop().success());
}
