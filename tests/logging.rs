//! Logging (issue 2 point 10, delivery.md §14).

mod support;
use std::fs;
use support::*;

#[test]
fn log_lines_have_the_masqmail_format() {
    let env = Env::new("");
    env.ok(
        &["-f", "sender@x.example", "alice", "bob@remote.example"],
        b"x\n",
    );
    let log = env.log();
    let accepted = log.lines().find(|l| l.contains(" <= ")).expect(&log);
    // YYYY-MM-DD HH:MM:SS [pid] info: <ID> <= <sender> with local
    let b = accepted.as_bytes();
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16], b[19], b[20]),
        (b'-', b'-', b' ', b':', b':', b' ', b'['),
        "{accepted}"
    );
    assert!(accepted.contains("] info: "), "{accepted}");
    assert!(
        accepted.ends_with("<= <sender@x.example> with local"),
        "{accepted}"
    );
    let id = &accepted[accepted.find("info: ").unwrap() + 6..][..13];
    assert!(
        log.contains(&format!("{id} => <alice@{HOST}> with mbox")),
        "{log}"
    );
    // the remote recipient is deferred and said so
    assert!(
        log.lines()
            .any(|l| l.contains(id) && l.contains("bob@remote.example") && l.contains("==")),
        "{log}"
    );
}

#[test]
fn empty_log_dir_logs_to_stderr() {
    let env = Env::new("");
    let conf = fs::read_to_string(&env.conf).unwrap().replace(
        &format!("log_dir = \"{}/log\"", env.dir.path().display()),
        "log_dir = \"\"",
    );
    fs::write(&env.conf, conf).unwrap();
    let out = env.run(&["alice"], b"x\n");
    assert!(out.status.success());
    assert!(stderr(&out).contains("<= <"), "{}", stderr(&out));
    assert!(!env.path("log").exists());
}

#[test]
fn debug_level_opens_debug_log() {
    let env = Env::new("debug_level = 5");
    env.ok(&["alice"], b"x\n");
    let debug = fs::read_to_string(env.path("log/debug.log")).unwrap();
    assert!(debug.contains("<= <"), "debug.log has every line: {debug}");
    assert!(debug.contains("] debug: "), "and debug lines: {debug}");
    let env = Env::new("");
    env.ok(&["alice"], b"x\n");
    assert!(!env.path("log/debug.log").exists());
}

/// R25: a symlink at the log file is refused, the target untouched.
#[test]
fn log_file_symlink_is_refused() {
    let env = Env::new("");
    fs::create_dir_all(env.path("log")).unwrap();
    let target = env.path("target");
    fs::write(&target, "keep\n").unwrap();
    std::os::unix::fs::symlink(&target, env.path("log/masqmail.log")).unwrap();
    let out = env.run(&["alice"], b"x\n");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("masqmail.log"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
}
