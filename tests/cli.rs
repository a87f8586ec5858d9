//! The command line (issue 2 point 2, spec cli.md): names, modes, errors.

mod support;
use std::process::Command;
use support::*;

#[test]
fn version() {
    let out = Command::new(BIN).arg("-bV").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("MasqMail "), "{}", stdout(&out));
    // plain masqmail without anything prints the version too (cli.md §4.1)
    let out = Command::new(BIN).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("MasqMail "));
}

/// R23: unknown options: one line, exit 64.
#[test]
fn unknown_options_are_usage_errors() {
    for args in [
        &["-X"][..],
        &["-bx"],
        &["-it"],
        &["--foo"],
        &["-"],
        &["-qo"],
        &["-q5"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.contains("masqmail --help"),
            "{args:?}: points to --help: {err}"
        );
    }
}

/// `--help` prints the usage grouped by task and exits 0 (issue 10);
/// `--version` is `-bV`; neither reads a configuration.
#[test]
fn help_and_version_long_options() {
    let out = Command::new(BIN)
        .args(["-C", "/nonexistent/masqmail.conf", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    assert!(help.starts_with("Usage: masqmail"), "{help}");
    for group in [
        "Send a message",
        "Run the daemon",
        "Send the queue now",
        "Fetch mail",
    ] {
        assert!(help.contains(group), "missing {group:?}: {help}");
    }
    let v = Command::new(BIN).arg("--version").output().unwrap();
    let bv = Command::new(BIN).arg("-bV").output().unwrap();
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(stdout(&v), stdout(&bv));
    let both = Command::new(BIN).args(["--help", "-q"]).output().unwrap();
    assert_eq!(both.status.code(), Some(64), "a second mode is a conflict");
}

#[test]
fn mode_conflict() {
    let out = Command::new(BIN).args(["-bp", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("operation mode was already specified (5 vs. 3)"),
        "{}",
        stderr(&out)
    );
}

/// `-g` with no get files and `-go` while offline have nothing to do.
#[test]
fn fetch_without_get_files_does_nothing() {
    let env = Env::new("");
    for args in [&["-g"][..], &["-go"]] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn newaliases_is_a_noop() {
    let env = Env::new("");
    let bin = env.alias_binary("newaliases");
    let out = Command::new(bin).arg("-C").arg(&env.conf).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&["-bi"], b"");
    assert!(out.status.success());
}

#[test]
fn sendmail_name_accepts_mail() {
    let env = Env::new("do_queue = true");
    let bin = env.alias_binary("sendmail");
    let mut c = Command::new(bin);
    c.args(["-C"]).arg(&env.conf).args(["-oi", "-t"]);
    let out = run_with_input(c, b"To: alice\nSubject: via sendmail\n\nx\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.queued().len(), 1);
}

#[test]
fn runq_name_runs_the_queue() {
    let env = Env::new("");
    env.ok(&["-odq", "alice"], b"x\n");
    let bin = env.alias_binary("runq");
    let out = Command::new(bin).arg("-C").arg(&env.conf).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.queued().is_empty());
}

/// R26: a bad config: file:line, non-zero exit, nothing touched.
#[test]
fn config_errors_stop_before_mail_is_touched() {
    let env = Env::new("mail_dri = \"/tmp\"");
    let out = env.run(&["alice"], b"x\n");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:8:", env.conf.display())), "{err}");
    assert!(err.contains("mail_dir"), "suggests the right name: {err}");
    assert!(!env.path("spool").exists());

    let env = Env::new("do_queue = perhaps");
    let out = env.run(&["alice"], b"x\n");
    assert_eq!(out.status.code(), Some(5));
    assert!(stderr(&out).contains(":8:"), "{}", stderr(&out));

    let out = Command::new(BIN)
        .args(["-C", "/nonexistent/masqmail.conf", "alice"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("/nonexistent/masqmail.conf"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn both_eras_option_names() {
    // 0.2 spellings map to the same settings.
    let env = Env::new(
        "alias_local_caseless = true\nonline_routes.isp = \"/dev/null\"\nremote_port = 25",
    );
    let out = env.run(&["-odq", "alice"], b"x\n");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn host_name_from_file() {
    let env = Env::new("");
    std::fs::write(env.path("hostname"), "filehost.example\n").unwrap();
    let conf = std::fs::read_to_string(&env.conf).unwrap().replace(
        &format!("host_name = \"{HOST}\""),
        &format!("host_name = \"{}\"", env.path("hostname").display()),
    );
    std::fs::write(&env.conf, conf).unwrap();
    env.ok(&["-odq", "alice"], b"x\n");
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains("RT: <alice@filehost.example>"), "{h}");
}

/// R23: -d from a non-root user is refused / privilege dropped.
#[test]
fn debug_level_only_for_root() {
    if !is_root() {
        eprintln!("not root: cannot run as another user, skipping");
        return;
    }
    use std::os::unix::process::CommandExt;
    let out = Command::new(BIN)
        .args(["-d", "9", "-bp"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("only root may set the debug level."),
        "{}",
        stderr(&out)
    );
}
