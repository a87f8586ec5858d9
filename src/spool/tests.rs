use super::*;
use crate::address::{Address, PipePolicy, parse_path};
use crate::message::{Done, Header, Protocol};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const TIME: u64 = 1795530648;
const PID: u32 = 14964;
const BODY: &[u8] = b"hello\n\nsecond paragraph\n";

struct Fixture {
    _tmp: tempfile::TempDir,
    spool_dir: PathBuf,
    lock_dir: PathBuf,
    spool: Spool,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let spool_dir = tmp.path().join("spool");
    let lock_dir = tmp.path().join("lock");
    std::fs::create_dir(&spool_dir).unwrap();
    std::fs::create_dir(&lock_dir).unwrap();
    let spool = Spool::open(&spool_dir, &lock_dir).unwrap();
    Fixture {
        _tmp: tmp,
        spool_dir,
        lock_dir,
        spool,
    }
}

impl Fixture {
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.spool_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn other_handle(&self) -> Spool {
        Spool::open(&self.spool_dir, &self.lock_dir).unwrap()
    }
}

fn message(id: &QueueId, body: &[u8]) -> Message {
    let a = |s| parse_path(s, PipePolicy::Allow).unwrap();
    Message {
        id: id.clone(),
        return_path: a("root@host.example.org"),
        rcpt_list: vec![a("alice@remote.example"), a("|/usr/bin/filter -x")],
        top_done: Vec::new(),
        finished: vec![],
        protocol: Protocol::Local,
        received_host: None,
        ident: Some("root".into()),
        data_size: body.len() as u64,
        received_time: TIME as i64,
        warning_time: None,
        fetched_as: None,
        dsn: Default::default(),
        last_errors: Vec::new(),
        headers: vec![
            Header::new("Subject", "hi\n\tthere"),
            Header::new("To", "alice@remote.example"),
        ],
    }
}

fn accept(f: &Fixture, transfer: u32) -> Message {
    let res = f.spool.reserve(TIME, PID, transfer).unwrap();
    let msg = message(res.id(), BODY);
    f.spool.commit(res, &msg, BODY).unwrap();
    msg
}

#[test]
fn commit_read_round_trip() {
    let f = fixture();
    let before = crate::fs::durable::fsync_count();
    let msg = accept(&f, 0);
    assert!(crate::fs::durable::fsync_count() - before >= 3);
    assert_eq!(msg.id.as_str(), "1xVrXk-3tM-00");
    assert_eq!(f.files(), ["1xVrXk-3tM-00-D", "1xVrXk-3tM-00-H"]);
    for name in f.files() {
        let mode = std::fs::metadata(f.spool_dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }
    let data = std::fs::read(f.spool_dir.join("1xVrXk-3tM-00-D")).unwrap();
    assert_eq!(data, [b"1xVrXk-3tM-00\n".as_slice(), BODY].concat());

    let back = f.spool.read(&msg.id).unwrap();
    assert_eq!(back, msg);
    assert_eq!(f.spool.read_body(&msg.id, &back).unwrap(), BODY);
    assert_eq!(f.spool.ids().unwrap(), std::slice::from_ref(&msg.id));
}

#[test]
fn empty_body() {
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    let msg = message(res.id(), b"");
    f.spool.commit(res, &msg, b"").unwrap();
    assert_eq!(
        std::fs::read(f.spool_dir.join("1xVrXk-3tM-00-D")).unwrap(),
        b"1xVrXk-3tM-00\n"
    );
    assert_eq!(f.spool.read_body(&msg.id, &msg).unwrap(), b"");
}

#[test]
fn update_and_remove() {
    let f = fixture();
    let mut msg = accept(&f, 0);
    let alice = msg.rcpt_list[0].clone();
    msg.mark(&alice, Done::Delivered);
    msg.mark_top(&alice, Done::Delivered);
    msg.warning_time = Some(TIME as i64 + 60);
    f.spool.update(&msg).unwrap();
    let back = f.spool.read(&msg.id).unwrap();
    assert_eq!(back.finished_state(&alice), Some(Done::Delivered));
    assert_eq!(back.pending().count(), 1);
    assert_eq!(back.warning_time, msg.warning_time);
    assert_eq!(f.files(), ["1xVrXk-3tM-00-D", "1xVrXk-3tM-00-H"]);

    f.spool.remove(&msg.id).unwrap();
    assert!(f.files().is_empty());
    assert!(f.spool.remove(&msg.id).unwrap_err().is_not_found());
    assert!(f.spool.read(&msg.id).unwrap_err().is_not_found());
}

#[test]
fn unencodable_message_leaves_nothing() {
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    let mut msg = message(res.id(), BODY);
    msg.rcpt_list.push(Address::new("evil\nRT: <x@y>", "z"));
    assert!(matches!(
        f.spool.commit(res, &msg, BODY),
        Err(SpoolError::Unencodable { field: "RT", .. })
    ));
    assert!(f.files().is_empty(), "{:?}", f.files());
}

/// R10: DS: not matching the -D size, or a wrong id line, is refused.
#[test]
fn wrong_size_or_id_is_refused() {
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    let msg = message(res.id(), b"other length");
    assert!(matches!(
        f.spool.commit(res, &msg, BODY),
        Err(SpoolError::Internal(_))
    ));
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    let msg = message(&QueueId::parse("000000-000-00").unwrap(), BODY);
    assert!(f.spool.commit(res, &msg, BODY).is_err());
    assert!(f.files().is_empty());
}

/// R35: a failure after the data rename removes only our own files.
#[test]
fn failure_after_data_rename_removes_own_files_only() {
    let f = fixture();
    // A directory where the header temp file must go: the header write
    // fails after `-D` is in place. Works as root too.
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    std::fs::create_dir(f.spool_dir.join(format!("{}-H.tmp", res.id()))).unwrap();
    let msg = message(res.id(), BODY);
    assert!(matches!(
        f.spool.commit(res, &msg, BODY),
        Err(SpoolError::Io { .. })
    ));
    assert_eq!(
        f.files(),
        ["1xVrXk-3tM-00-H.tmp"],
        "only the planted directory is left"
    );

    // Someone else's `-H` appears after the reservation: never replaced.
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    std::fs::write(f.spool_dir.join("1xVrXk-3tM-00-H"), b"not ours").unwrap();
    let msg = message(res.id(), BODY);
    assert!(f.spool.commit(res, &msg, BODY).is_err());
    assert_eq!(f.files(), ["1xVrXk-3tM-00-H"]);
    assert_eq!(
        std::fs::read(f.spool_dir.join("1xVrXk-3tM-00-H")).unwrap(),
        b"not ours"
    );

    // Same for `-D`.
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    std::fs::write(f.spool_dir.join("1xVrXk-3tM-00-D"), b"not ours").unwrap();
    let msg = message(res.id(), BODY);
    assert!(f.spool.commit(res, &msg, BODY).is_err());
    assert_eq!(f.files(), ["1xVrXk-3tM-00-D"]);
    assert_eq!(
        std::fs::read(f.spool_dir.join("1xVrXk-3tM-00-D")).unwrap(),
        b"not ours"
    );
}

/// R35: a spool that cannot be written (EROFS, EACCES) fails the
/// reservation cleanly and leaves nothing. Root ignores a 0555 mode, so as
/// root (CI) the spool is a read-only tmpfs instead: the test runs either
/// way and is skipped only when root cannot mount.
#[test]
fn read_only_spool_fails_cleanly() {
    if rustix::process::geteuid().is_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (spool_dir, lock_dir) = (tmp.path().join("spool"), tmp.path().join("lock"));
        std::fs::create_dir(&spool_dir).unwrap();
        std::fs::create_dir(&lock_dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k,mode=0755", "tmpfs"])
            .arg(&spool_dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("SKIPPED: root but cannot mount a read-only tmpfs");
            return;
        }
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(self.0)
                    .status();
            }
        }
        let _guard = Unmount(&spool_dir);
        let spool = Spool::open(&spool_dir, &lock_dir).unwrap();
        let result = spool.reserve(TIME, PID, 0);
        assert!(matches!(result, Err(SpoolError::Io { .. })), "{result:?}");
        assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0);
        return;
    }
    let f = fixture();
    std::fs::set_permissions(&f.spool_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let result = f.spool.reserve(TIME, PID, 0);
    std::fs::set_permissions(&f.spool_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(result, Err(SpoolError::Io { .. })));
    assert!(f.files().is_empty());
}

#[test]
fn dropped_reservation_removes_temp_file() {
    let f = fixture();
    let res = f.spool.reserve(TIME, PID, 7).unwrap();
    assert_eq!(f.files(), ["1xVrXk-3tM-07-D.tmp"]);
    drop(res);
    assert!(f.files().is_empty());
}

#[test]
fn reserve_skips_ids_in_use() {
    let f = fixture();
    // A committed header, a committed data file, and a live reservation
    // occupy transfer numbers 0, 1 and 2.
    std::fs::write(f.spool_dir.join("1xVrXk-3tM-00-H"), b"").unwrap();
    std::fs::write(f.spool_dir.join("1xVrXk-3tM-01-D"), b"").unwrap();
    let held = f.other_handle().reserve(TIME, PID, 2).unwrap();
    assert_eq!(held.id().as_str(), "1xVrXk-3tM-02");
    let res = f.spool.reserve(TIME, PID, 0).unwrap();
    assert_eq!(res.id().as_str(), "1xVrXk-3tM-03");
    // Wrap-around: the last transfer number is followed by 0, then 1...
    let res = f.spool.reserve(TIME, PID, 3843).unwrap();
    assert_eq!(res.id().as_str(), "1xVrXk-3tM-zz");
    let next = f.spool.reserve(TIME, PID, 3843).unwrap();
    assert_eq!(next.id().as_str(), "1xVrXk-3tM-04");
    // Clashes left no extra temp files behind.
    assert_eq!(f.files().iter().filter(|n| n.ends_with(".tmp")).count(), 4);
}

#[test]
fn many_messages_per_second_get_distinct_ids() {
    let f = fixture();
    let ids: std::collections::HashSet<String> =
        (0..50).map(|_| accept(&f, 0).id.to_string()).collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(f.spool.ids().unwrap().len(), 50);
}

#[test]
fn read_refuses_symlinks_and_checks_data() {
    let f = fixture();
    let msg = accept(&f, 0);
    // A header file replaced by a symlink to a valid copy is not read.
    let h = f.spool_dir.join("1xVrXk-3tM-00-H");
    std::fs::rename(&h, f.spool_dir.join("copy")).unwrap();
    std::os::unix::fs::symlink(f.spool_dir.join("copy"), &h).unwrap();
    assert!(matches!(f.spool.read(&msg.id), Err(SpoolError::Io { .. })));

    let d = f.spool_dir.join("1xVrXk-3tM-00-D");
    std::fs::write(&d, [b"1xVrXk-3tM-00\n".as_slice(), BODY, b"x"].concat()).unwrap();
    match f.spool.read_body(&msg.id, &msg) {
        Err(e @ SpoolError::Corrupt { line: 0, .. }) => {
            assert!(
                e.to_string()
                    .ends_with("1xVrXk-3tM-00-D:0: body size differs from DS: in the header file"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&d, [b"1xVrXk-3tM-01\n".as_slice(), BODY].concat()).unwrap();
    assert!(matches!(
        f.spool.read_body(&msg.id, &msg),
        Err(SpoolError::Corrupt { line: 1, .. })
    ));
    std::fs::write(&d, b"1xVrXk-3tM-00").unwrap();
    assert!(matches!(
        f.spool.read_body(&msg.id, &msg),
        Err(SpoolError::Corrupt { line: 1, .. })
    ));
}

#[test]
fn ids_match_only_header_names() {
    let f = fixture();
    for name in [
        "1xVrXk-3tM-00-H",
        "1xVrXk-3tM-01-H",
        "1xVrXk-3tM-02-D",
        "1xVrXk-3tM-03-H.tmp",
        "x-H",
        "1xVrXk-3t/-00",
    ] {
        if !name.contains('/') {
            std::fs::write(f.spool_dir.join(name), b"").unwrap();
        }
    }
    std::fs::write(f.spool_dir.join("1xVr.k-3tM-04-H"), b"").unwrap();
    let mut ids: Vec<String> = f
        .spool
        .ids()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    ids.sort();
    assert_eq!(ids, ["1xVrXk-3tM-00", "1xVrXk-3tM-01"]);
}

/// R38: one lock holder per message; released at once.
#[test]
fn locks_are_exclusive_and_released() {
    let f = fixture();
    let id = QueueId::parse("1xVrXk-3tM-00").unwrap();
    let other = f.other_handle();
    let lock = f.spool.lock(&id).unwrap().expect("free lock");
    assert!(f.lock_dir.join("1xVrXk-3tM-00.lock").exists());
    // Another handle (another open file description), also from threads.
    assert!(other.lock(&id).unwrap().is_none());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| other.lock(&id).unwrap().is_none()))
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
    });
    // Another message is independent.
    assert!(
        other
            .lock(&QueueId::parse("1xVrXk-3tM-01").unwrap())
            .unwrap()
            .is_some()
    );
    drop(lock);
    assert!(
        !f.lock_dir.join("1xVrXk-3tM-00.lock").exists(),
        "unlinked on release"
    );
    assert!(other.lock(&id).unwrap().is_some());
}

/// R38: racing lockers: one winner.
#[test]
fn lock_race_has_one_winner() {
    let f = fixture();
    let id = QueueId::parse("1xVrXk-3tM-00").unwrap();
    let handles: Vec<Spool> = (0..4).map(|_| f.other_handle()).collect();
    let held = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for h in &handles {
            let (id, held) = (&id, &held);
            s.spawn(move || {
                for _ in 0..200 {
                    if let Some(lock) = h.lock(id).unwrap() {
                        assert_eq!(
                            held.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                            0,
                            "two holders"
                        );
                        std::thread::yield_now();
                        held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        drop(lock);
                    }
                }
            });
        }
    });
}

/// R38: a dead runner's lock file never blocks (flock, not a pid file).
#[test]
fn stale_lock_file_of_dead_process_does_not_block() {
    // After kill -9 the file stays but the kernel dropped the flock.
    let f = fixture();
    std::fs::write(f.lock_dir.join("1xVrXk-3tM-00.lock"), b"").unwrap();
    assert!(
        f.spool
            .lock(&QueueId::parse("1xVrXk-3tM-00").unwrap())
            .unwrap()
            .is_some()
    );
}

/// R25: a symlink at a lock file is refused.
#[test]
fn lock_refuses_symlink() {
    let f = fixture();
    let target = f.lock_dir.join("target");
    std::os::unix::fs::symlink(&target, f.lock_dir.join("1xVrXk-3tM-00.lock")).unwrap();
    assert!(
        f.spool
            .lock(&QueueId::parse("1xVrXk-3tM-00").unwrap())
            .is_err()
    );
    assert!(!target.exists());
}

fn set_old(path: &std::path::Path) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(old).unwrap();
}

/// R37: orphans, -D without -H, -H without -D, empty, foreign, symlinks: removed or reported, never followed.
#[test]
fn sweep_removes_old_orphans_and_reports_the_rest() {
    let f = fixture();
    let valid = accept(&f, 0);
    let write = |name: &str, content: &[u8], old: bool| {
        std::fs::write(f.spool_dir.join(name), content).unwrap();
        if old {
            set_old(&f.spool_dir.join(name));
        }
    };
    write("1xVrXk-3tM-10-D.tmp", b"x", true); // old temp: removed
    write("12345-H.tmp", b"x", true); // 1.0's temp name: removed
    write("1xVrXk-3tM-11-D.tmp", b"x", false); // fresh: maybe in progress
    write("1xVrXk-3tM-12-D", b"x", true); // old data without header: removed
    write("1xVrXk-3tM-13-D", b"x", false); // fresh data without header: kept
    write("1xVrXk-3tM-14-H", b"x", true); // header without data: reported
    write("1xVrXk-3tM-15-H", b"", false); // empty header without data
    write("1xVrXk-3tM-15-D", b"1xVrXk-3tM-15\n", false);
    write("unrelated", b"x", true); // not ours to judge
    std::os::unix::fs::symlink("/etc/passwd", f.spool_dir.join("1xVrXk-3tM-16-H")).unwrap();
    std::fs::create_dir(f.spool_dir.join("1xVrXk-3tM-17-D.tmp")).unwrap();

    let report = f.spool.sweep(Duration::from_secs(3600)).unwrap();
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(
        removed,
        ["12345-H.tmp", "1xVrXk-3tM-10-D.tmp", "1xVrXk-3tM-12-D"]
    );
    let mut problems = report.problems.clone();
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        problems,
        [
            (
                "1xVrXk-3tM-14-H".to_string(),
                SweepProblem::HeaderWithoutData
            ),
            ("1xVrXk-3tM-15-H".to_string(), SweepProblem::Empty),
            ("1xVrXk-3tM-16-H".to_string(), SweepProblem::NotRegular),
            ("1xVrXk-3tM-17-D.tmp".to_string(), SweepProblem::NotRegular),
        ]
    );
    assert!(
        std::fs::metadata("/etc/passwd").is_ok(),
        "symlink target untouched"
    );
    // The valid message is intact and readable.
    assert_eq!(f.spool.read(&valid.id).unwrap(), valid);
    assert!(f.files().contains(&"1xVrXk-3tM-13-D".to_string()));
    assert!(f.files().contains(&"1xVrXk-3tM-11-D.tmp".to_string()));
    // The symlink is listed as an id but can never be read through.
    assert!(
        f.spool
            .read(&QueueId::parse("1xVrXk-3tM-16").unwrap())
            .is_err()
    );
}

// ---- crash points (RELIABILITY.md R32, R33; debug builds only) ----

/// Child half of `kill_at_each_durable_step`: does one commit or update in
/// the spool named by the environment and is killed on the way.
#[test]
#[ignore = "run as a child process by kill_at_each_durable_step"]
fn crash_child() {
    let (Ok(spool_dir), Ok(lock_dir), Ok(mode)) = (
        std::env::var("MASQMAIL_TEST_SPOOL"),
        std::env::var("MASQMAIL_TEST_LOCKS"),
        std::env::var("MASQMAIL_TEST_MODE"),
    ) else {
        panic!("only for kill_at_each_durable_step");
    };
    let spool = Spool::open(spool_dir.as_ref(), lock_dir.as_ref()).unwrap();
    let id = QueueId::generate(TIME, PID, 0);
    let _lock = spool.lock(&id).unwrap().unwrap();
    if mode == "commit" {
        let res = spool.reserve(TIME, PID, 0).unwrap();
        spool.commit(res, &message(&id, BODY), BODY).unwrap();
    } else {
        let mut msg = spool.read(&id).unwrap();
        let alice = msg.rcpt_list[0].clone();
        msg.mark(&alice, Done::Delivered);
        spool.update(&msg).unwrap();
    }
}

/// R32: kill -9 at each durable step of the commit: -H never without -D.
#[cfg(debug_assertions)]
#[test]
fn kill_at_each_durable_step() {
    use std::os::unix::process::ExitStatusExt;
    let steps = [
        ("commit", "spool-data-synced", false),
        ("commit", "spool-data-renamed", false),
        ("commit", "spool-header-synced", false),
        ("commit", "spool-header-renamed", true),
        ("commit", "spool-dir-synced", true),
        ("update", "spool-update-synced", false),
        ("update", "spool-update-renamed", true),
        ("update", "spool-update-dir-synced", true),
    ];
    for (mode, point, done) in steps {
        let f = fixture();
        let original = (mode == "update").then(|| accept(&f, 0));
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "spool::tests::crash_child",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env("MASQMAIL_TEST_SPOOL", &f.spool_dir)
            .env("MASQMAIL_TEST_LOCKS", &f.lock_dir)
            .env("MASQMAIL_TEST_MODE", mode)
            .env("MASQMAIL_CRASHPOINT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: child was not killed: {out:?}"
        );

        // The dead child's lock is free at once (R38).
        let id = QueueId::generate(TIME, PID, 0);
        assert!(
            f.spool.lock(&id).unwrap().is_some(),
            "{point}: lock still held"
        );
        match (mode, done) {
            ("commit", true) => {
                let msg = f.spool.read(&id).unwrap();
                assert_eq!(f.spool.read_body(&id, &msg).unwrap(), BODY, "{point}");
            }
            ("commit", false) => {
                assert!(
                    f.spool.ids().unwrap().is_empty(),
                    "{point}: header visible too early"
                );
                let report = f.spool.sweep(Duration::ZERO).unwrap();
                assert!(report.problems.is_empty(), "{point}: {report:?}");
                assert!(f.files().is_empty(), "{point}: sweep left {:?}", f.files());
            }
            (_, updated) => {
                let msg = f.spool.read(&id).unwrap();
                let original = original.clone().unwrap();
                assert_eq!(
                    msg.finished_state(&original.rcpt_list[0]).is_some(),
                    updated,
                    "{point}"
                );
                f.spool.sweep(Duration::ZERO).unwrap();
                assert_eq!(f.files(), ["1xVrXk-3tM-00-D", "1xVrXk-3tM-00-H"], "{point}");
            }
        }
    }
}
