//! Tests of mbox delivery: format, unsafe targets, locks, concurrency,
//! truncation. Child processes are this test binary run again with an
//! environment variable naming their role.

use super::*;
use crate::address::Address;
use crate::deliver::content::{Body, ContentOptions, test_message};
use chrono::{TimeZone, Utc};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};

fn cfg(dir: &Path) -> Config {
    let mut c = Config::with_host_name("test.example");
    c.mail_dir = dir.to_path_buf();
    c.run_as_user = true;
    c
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// The exact bytes of message `n` (fixed date, so they can be compared).
fn block(n: usize, body: &[u8]) -> Vec<u8> {
    let now = Utc
        .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
        .single()
        .unwrap_or_else(|| panic!("date"));
    let msg = test_message(Address::new(format!("s{n}"), "x.example"));
    let c = Content::new(
        &msg,
        &Address::new("alice", "x"),
        Body::Bytes(body),
        ContentOptions::MBOX,
        &now,
    );
    c.to_vec().unwrap_or_else(|e| panic!("{e}"))
}

fn deliver_n(cfg: &Config, n: usize, body: &[u8], policy: &LockPolicy) -> Outcome {
    let now = Utc
        .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
        .single()
        .unwrap_or_else(|| panic!("date"));
    let msg = test_message(Address::new(format!("s{n}"), "x.example"));
    let c = Content::new(
        &msg,
        &Address::new("alice", "x"),
        Body::Bytes(body),
        ContentOptions::MBOX,
        &now,
    );
    deliver_with(cfg, &c, "alice", policy)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// This test binary, re-run for one test with `MASQMAIL_TEST_ROLE=role`.
/// The child roles are `#[ignore]`d (run directly they would only pass
/// without testing anything), hence `--ignored`.
fn child(test: &str, role: &str) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("MASQMAIL_TEST_ROLE", role);
    cmd
}

fn role() -> Option<String> {
    std::env::var("MASQMAIL_TEST_ROLE").ok()
}

#[test]
fn local_parts() {
    for (lp, ok) in [
        ("alice", true),
        ("a.b-c_d+e", true),
        (".hidden", true),
        ("", false),
        (".", false),
        ("..", false),
        ("../../x", false),
        ("a/b", false),
        ("-oQ/tmp", false),
        ("a\0b", false),
        ("a\nb", false),
        ("a\x7fb", false),
        (&"x".repeat(64), true),
        (&"x".repeat(65), false),
    ] {
        assert_eq!(check_local_part(lp).is_ok(), ok, "{lp:?}");
    }
    let dir = tempdir();
    let msg = test_message(Address::new("a", "b"));
    let content = Content::new(
        &msg,
        &Address::new("x", "y"),
        Body::Bytes(b"x\n"),
        ContentOptions::MBOX,
        &Utc::now(),
    );
    for lp in ["../escape", "a/b", "..", "", "a\0b"] {
        let got = deliver(&cfg(dir.path()), &content, lp);
        assert!(
            matches!(&got, Outcome::Failed(r) if r.starts_with("5.1.3")),
            "{lp:?}: {got:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(99),
        0
    );
}

/// R20: an mbox not ending in a blank line is padded before the next append.
#[test]
fn appends_whole_messages_with_padding() {
    for (existing, pad) in [
        (&b""[..], &b""[..]),
        (b"From x\n\nold\n\n", b""),
        (b"From x\n\nold\n", b"\n"),
        (b"From x\n\npartial tail", b"\n\n"),
        (b"\n", b"\n"),
    ] {
        let dir = tempdir();
        let mbox = dir.path().join("alice");
        if !existing.is_empty() {
            std::fs::write(&mbox, existing).unwrap_or_else(|e| panic!("{e}"));
        }
        let got = deliver_n(
            &cfg(dir.path()),
            1,
            b"From here\nbody\n",
            &LockPolicy::default(),
        );
        assert_eq!(got, Outcome::Delivered);
        let mut want = existing.to_vec();
        want.extend_from_slice(pad);
        want.extend_from_slice(&block(1, b"From here\nbody\n"));
        assert_eq!(
            String::from_utf8_lossy(&read(&mbox)),
            String::from_utf8_lossy(&want)
        );
        let meta = std::fs::metadata(&mbox).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert!(!dir.path().join("alice.lock").exists());
    }
}

/// R18: symlink, hard link, FIFO, directory: deferred 4.2.0, target untouched.
#[test]
fn unsafe_targets_are_deferred_and_untouched() {
    let dir = tempdir();
    let target = dir.path().join("target");
    std::fs::write(&target, b"precious\n").unwrap_or_else(|e| panic!("{e}"));
    let mbox = dir.path().join("alice");
    let cases: [(&str, &dyn Fn()); 5] = [
        ("symbolic link", &|| {
            std::os::unix::fs::symlink(&target, &mbox).unwrap_or_else(|e| panic!("{e}"))
        }),
        ("hard links", &|| {
            std::fs::hard_link(&target, &mbox).unwrap_or_else(|e| panic!("{e}"))
        }),
        ("not a regular file", &|| {
            nix::unistd::mkfifo(&mbox, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .unwrap_or_else(|e| panic!("{e}"))
        }),
        ("not a regular file", &|| {
            std::fs::create_dir(&mbox).unwrap_or_else(|e| panic!("{e}"))
        }),
        ("symbolic link", &|| {
            std::os::unix::fs::symlink(dir.path().join("missing"), &mbox)
                .unwrap_or_else(|e| panic!("{e}"))
        }),
    ];
    for (check, make) in cases {
        make();
        let got = deliver_n(&cfg(dir.path()), 1, b"x\n", &LockPolicy::default());
        assert!(
            matches!(&got, Outcome::Deferred(r) if r.starts_with("4.2.0") && r.contains(check)),
            "{check}: {got:?}"
        );
        assert_eq!(read(&target), b"precious\n");
        assert!(!dir.path().join("missing").exists());
        let _ = std::fs::remove_file(&mbox).or_else(|_| std::fs::remove_dir(&mbox));
    }
}

/// R18: an mbox owned by another user is deferred.
#[test]
fn wrong_owner_is_deferred() {
    let dir = tempdir();
    let mbox = dir.path().join("alice");
    std::fs::write(&mbox, b"theirs\n").unwrap_or_else(|e| panic!("{e}"));
    // As root: give the file away. Otherwise: expect a different owner.
    let owner = if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&mbox, Some(65534), None).unwrap_or_else(|e| panic!("{e}"));
        nix::unistd::geteuid()
    } else {
        Uid::from_raw(nix::unistd::geteuid().as_raw() + 1)
    };
    let now = Utc::now();
    let msg = test_message(Address::new("a", "b"));
    let content = Content::new(
        &msg,
        &Address::new("alice", "x"),
        Body::Bytes(b"x\n"),
        ContentOptions::MBOX,
        &now,
    );
    let got = append_to(&mbox, &content, owner, &LockPolicy::default());
    assert!(
        matches!(&got, Err(MboxError::Unsafe { check, .. }) if check.contains("owned by")),
        "{got:?}"
    );
    assert_eq!(read(&mbox), b"theirs\n");
}

#[test]
fn as_root_opens_as_the_recipient() {
    if !nix::unistd::getuid().is_root() {
        // Without root only the run_as_user path exists; it is tested above.
        let mut c = cfg(Path::new("/nonexistent"));
        c.run_as_user = false;
        let got = deliver_n(&c, 1, b"x\n", &LockPolicy::default());
        assert!(!matches!(got, Outcome::Delivered));
        return;
    }
    let Some(nobody) = privs::lookup_user("nobody") else {
        panic!("no user nobody")
    };
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let mail_dir = dir.path().join("mail");
    std::fs::create_dir(&mail_dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&mail_dir, std::fs::Permissions::from_mode(0o1777))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut c = cfg(&mail_dir);
    c.run_as_user = false;
    let msg = test_message(Address::new("a", "b"));
    let content = Content::new(
        &msg,
        &Address::new("nobody", "x"),
        Body::Bytes(b"x\n"),
        ContentOptions::MBOX,
        &Utc::now(),
    );
    assert_eq!(deliver(&c, &content, "nobody"), Outcome::Delivered);
    let meta = std::fs::metadata(mail_dir.join("nobody")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (nobody.uid.as_raw(), 0o600)
    );
    assert!(nix::unistd::geteuid().is_root(), "identity restored");
    let got = deliver(&c, &content, "no-such-user-xq7");
    assert!(
        matches!(&got, Outcome::Failed(r) if r.contains("could not find password entry for user no-such-user-xq7")),
        "{got:?}"
    );
    // A root-owned file in place of nobody's mailbox is refused.
    std::os::unix::fs::chown(mail_dir.join("nobody"), Some(0), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        deliver(&c, &content, "nobody"),
        Outcome::Deferred(_)
    ));
}

/// Child role: hold a classic fcntl lock and a dotlock for N ms, after
/// appending a marker; prints `locked` once both are held.
#[test]
#[ignore = "run as a child process by waits_for_a_mua_then_delivers and a_lock_held_too_long_defers"]
fn fake_mua() {
    let Some(spec) = role().and_then(|r| r.strip_prefix("mua:").map(str::to_string)) else {
        return;
    };
    let Some((path, ms)) = spec.rsplit_once(':') else {
        std::process::exit(2)
    };
    let ms: u64 = ms.parse().unwrap_or(0);
    let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    else {
        std::process::exit(2)
    };
    if rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::LockExclusive).is_err() {
        std::process::exit(3);
    }
    let lock = format!("{path}.lock");
    if std::fs::write(&lock, b"").is_err() || f.write_all(b"MUA\n\n").is_err() {
        std::process::exit(4);
    }
    println!("locked");
    std::thread::sleep(Duration::from_millis(ms));
    let _ = std::fs::remove_file(&lock);
    std::process::exit(0);
}

fn start_mua(mbox: &Path, ms: u64) -> std::process::Child {
    let mut mua = child(
        "deliver::mbox::tests::fake_mua",
        &format!("mua:{}:{ms}", mbox.display()),
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    if let Some(out) = mua.stdout.take() {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(out);
        while r.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("locked") {}
    }
    assert!(line.contains("locked"), "MUA did not lock: {line:?}");
    mua
}

/// R19: a fake MUA holding fcntl and dotlock: delivery waits, then appends.
#[test]
fn waits_for_a_mua_then_delivers() {
    let dir = tempdir();
    let mbox = dir.path().join("alice");
    let mut mua = start_mua(&mbox, 700);
    assert_eq!(
        deliver_n(&cfg(dir.path()), 1, b"x\n", &LockPolicy::default()),
        Outcome::Delivered
    );
    let _ = mua.wait();
    let mut want = b"MUA\n\n".to_vec();
    want.extend_from_slice(&block(1, b"x\n"));
    assert_eq!(read(&mbox), want, "delivered after the MUA let go");
}

/// R19: a lock held past the timeout defers, never loses.
#[test]
fn a_lock_held_too_long_defers() {
    let dir = tempdir();
    let mbox = dir.path().join("alice");
    let mut mua = start_mua(&mbox, 5000);
    let policy = LockPolicy {
        timeout: Duration::from_millis(300),
        ..LockPolicy::default()
    };
    let got = deliver_n(&cfg(dir.path()), 1, b"x\n", &policy);
    let _ = mua.kill();
    let _ = mua.wait();
    assert!(
        matches!(&got, Outcome::Deferred(r) if r.contains("lock busy")),
        "{got:?}"
    );
    assert_eq!(read(&mbox), b"MUA\n\n");
    // The dotlock was the MUA's; a fresh one alone also defers.
    assert!(dir.path().join("alice.lock").exists());
    let got = deliver_n(&cfg(dir.path()), 1, b"x\n", &policy);
    assert!(
        matches!(&got, Outcome::Deferred(r) if r.contains("dotlock lock busy")),
        "{got:?}"
    );
}

/// R19: a stale dotlock is broken and logged.
#[test]
fn stale_dotlock_is_broken() {
    let dir = tempdir();
    let lock = dir.path().join("alice.lock");
    let f = std::fs::File::create(&lock).unwrap_or_else(|e| panic!("{e}"));
    f.set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    assert_eq!(
        deliver_n(&cfg(dir.path()), 1, b"x\n", &LockPolicy::default()),
        Outcome::Delivered
    );
    assert!(!lock.exists());
    assert_eq!(read(&dir.path().join("alice")), block(1, b"x\n"));
}

fn big_body(n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for i in 0..6000 {
        b.extend_from_slice(format!("message {n} line {i} From here\nFrom {n}\n").as_bytes());
    }
    b
}

/// Child role: deliver message `n` once.
#[test]
#[ignore = "run as a child process by concurrent_deliveries_never_interleave"]
fn concurrent_child() {
    let Some(spec) = role().and_then(|r| r.strip_prefix("deliver:").map(str::to_string)) else {
        return;
    };
    let Some((dir, n)) = spec.rsplit_once(':') else {
        std::process::exit(2)
    };
    let n: usize = n.parse().unwrap_or(0);
    let got = deliver_n(
        &cfg(Path::new(dir)),
        n,
        &big_body(n),
        &LockPolicy::default(),
    );
    std::process::exit(if got == Outcome::Delivered { 0 } else { 1 });
}

/// R19: 20 concurrent appends: From_ lines, quoting, blank line at the end.
#[test]
fn concurrent_deliveries_never_interleave() {
    let dir = tempdir();
    let path = dir.path().to_path_buf();
    let kids: Vec<_> = (100..110)
        .map(|n| {
            child(
                "deliver::mbox::tests::concurrent_child",
                &format!("deliver:{}:{n}", path.display()),
            )
            .spawn()
        })
        .collect();
    let threads: Vec<_> = (0..20)
        .map(|n| {
            let path = path.clone();
            std::thread::spawn(move || {
                deliver_n(&cfg(&path), n, &big_body(n), &LockPolicy::default())
            })
        })
        .collect();
    for t in threads {
        assert!(matches!(t.join(), Ok(Outcome::Delivered)));
    }
    for k in kids {
        let status = k
            .and_then(|mut k| k.wait())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success());
    }
    // The file must be exactly the 30 blocks, each whole, in some order.
    let data = read(&path.join("alice"));
    let mut blocks: Vec<(usize, Vec<u8>)> = (0..20)
        .chain(100..110)
        .map(|n| (n, block(n, &big_body(n))))
        .collect();
    let mut pos = 0;
    while pos < data.len() {
        let Some(i) = blocks.iter().position(|(_, b)| data[pos..].starts_with(b)) else {
            panic!(
                "garbage at byte {pos}: {:?}",
                String::from_utf8_lossy(&data[pos..(pos + 80).min(data.len())])
            );
        };
        pos += blocks.remove(i).1.len();
    }
    assert!(
        blocks.is_empty(),
        "missing: {:?}",
        blocks.iter().map(|b| b.0).collect::<Vec<_>>()
    );
}

/// R20: a failed append truncates the mbox to its old length.
#[test]
fn a_failed_write_truncates_back() {
    // A body source that fails mid-way: a write-only file cannot be read.
    let dir = tempdir();
    let mbox = dir.path().join("alice");
    std::fs::write(&mbox, b"From old\n\nold\n\n").unwrap_or_else(|e| panic!("{e}"));
    let wo = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("body"));
    let wo = wo.unwrap_or_else(|e| panic!("{e}"));
    let msg = test_message(Address::new("a", "b"));
    let c = Content::new(
        &msg,
        &Address::new("alice", "x"),
        Body::File {
            file: &wo,
            offset: 0,
        },
        ContentOptions::MBOX,
        &Utc::now(),
    );
    let got = deliver(&cfg(dir.path()), &c, "alice");
    assert!(
        matches!(&got, Outcome::Deferred(r) if r.starts_with("4.3.0")),
        "{got:?}"
    );
    assert_eq!(read(&mbox), b"From old\n\nold\n\n");
}

/// Child role: deliver a large message under RLIMIT_FSIZE.
#[test]
#[ignore = "run as a child process by file_size_limit_defers_and_truncates"]
fn fsize_child() {
    let Some(dir) = role().and_then(|r| r.strip_prefix("fsize:").map(str::to_string)) else {
        return;
    };
    // SAFETY: installing SIG_IGN runs no code in signal context; without it
    // the write past the limit kills us with SIGXFSZ instead of EFBIG.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Fsize,
        rustix::process::Rlimit {
            current: Some(100_000),
            maximum: Some(100_000),
        },
    );
    let got = deliver_n(
        &cfg(Path::new(&dir)),
        1,
        &big_body(1),
        &LockPolicy::default(),
    );
    println!("outcome: {got:?}");
    std::process::exit(
        if matches!(&got, Outcome::Deferred(r) if r.starts_with("4.3.1")) {
            0
        } else {
            1
        },
    );
}

/// R20: RLIMIT_FSIZE (EFBIG) mid-append: 4.3.1 and truncated back.
#[test]
fn file_size_limit_defers_and_truncates() {
    let dir = tempdir();
    let mbox = dir.path().join("alice");
    std::fs::write(&mbox, b"From old\n\nold\n").unwrap_or_else(|e| panic!("{e}"));
    let status = child(
        "deliver::mbox::tests::fsize_child",
        &format!("fsize:{}", dir.path().display()),
    )
    .status();
    assert!(matches!(status, Ok(s) if s.success()), "{status:?}");
    assert_eq!(read(&mbox), b"From old\n\nold\n");
    // A later run without the limit delivers, closing the old tail first.
    assert_eq!(
        deliver_n(&cfg(dir.path()), 1, b"x\n", &LockPolicy::default()),
        Outcome::Delivered
    );
    let mut want = b"From old\n\nold\n\n".to_vec();
    want.extend_from_slice(&block(1, b"x\n"));
    assert_eq!(read(&mbox), want);
}

/// R18: a thread swapping file and symlink during 100 deliveries: the target is never written.
#[test]
fn swapping_symlink_race_never_writes_the_target() {
    let dir = tempdir();
    let target = dir.path().join("target");
    std::fs::write(&target, b"precious\n").unwrap_or_else(|e| panic!("{e}"));
    let mbox = dir.path().join("alice");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, mbox, target, tmp) = (
            stop.clone(),
            mbox.clone(),
            target.clone(),
            dir.path().join("swap"),
        );
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Atomically replace the mailbox by a symlink, then by a file.
                let _ = std::os::unix::fs::symlink(&target, &tmp);
                let _ = std::fs::rename(&tmp, &mbox);
                let _ = std::fs::write(&tmp, b"");
                let _ = std::fs::rename(&tmp, &mbox);
            }
        })
    };
    let policy = LockPolicy {
        timeout: Duration::from_millis(200),
        ..LockPolicy::default()
    };
    for n in 0..100 {
        let got = deliver_n(&cfg(dir.path()), n, b"x\n", &policy);
        assert!(
            matches!(got, Outcome::Delivered | Outcome::Deferred(_)),
            "{got:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = swapper.join();
    assert_eq!(read(&target), b"precious\n");
}
