use super::*;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn spec(words: &[&str]) -> CommandSpec {
    CommandSpec {
        text: words.join(" "),
        words: argv(words),
    }
}

fn sh(script: &str, input: Option<Input<'_>>, limit: Duration) -> Result<Captured, ExecError> {
    let argv = argv(&["/bin/sh", "-c", script]);
    let env = base_env();
    let job = Job {
        argv: &argv,
        env: &env,
        identity: None,
    };
    run(&job, input, limit)
}

const LIMIT: Duration = Duration::from_secs(20);
const SHORT: Duration = Duration::from_millis(300);

#[test]
fn exit_0_returns_the_output() {
    let out = sh("echo out; echo err >&2", None, LIMIT).expect("runs");
    assert_eq!(out.text(), "out err");
    assert!(!out.truncated());
}

#[test]
fn exit_3_carries_code_and_output() {
    match sh("echo broken; exit 3", None, LIMIT) {
        Err(ExecError::Exit { code: 3, output }) => assert_eq!(output, "broken"),
        other => panic!("{other:?}"),
    }
    let e = sh("exit 3", None, LIMIT).expect_err("fails");
    assert!(!e.is_temporary());
    assert_eq!(e.to_string(), "exited with 3");
}

#[test]
fn signal_is_reported() {
    let e = sh("kill -TERM $$", None, LIMIT).expect_err("killed");
    assert!(matches!(e, ExecError::Signal { signal: 15, .. }), "{e:?}");
    assert!(e.is_temporary());
}

#[test]
fn output_beyond_the_cap_is_dropped() {
    let out = sh("head -c 100000 /dev/zero | tr '\\0' x", None, LIMIT).expect("runs");
    assert_eq!(out.bytes().len(), MAX_CAPTURE);
    assert!(out.truncated());
    assert!(out.text().ends_with("[output truncated]"));
}

#[test]
fn input_is_fed_and_early_close_is_judged_by_status() {
    let feed = |w: &mut dyn Write| w.write_all(b"hello\n");
    let out = sh("cat", Some(&feed), LIMIT).expect("runs");
    assert_eq!(out.bytes(), b"hello\n");
    // The child reads nothing of a large input and exits 0: success.
    let big = |w: &mut dyn Write| {
        for _ in 0..1000 {
            w.write_all(&[b'x'; 1024])?;
        }
        Ok(())
    };
    assert!(sh("exit 0", Some(&big), LIMIT).is_ok());
}

/// `pid` has died: gone, or a zombie waiting for its new parent.
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn timeout_kills_the_whole_process_group() {
    // Test only: a shell that leaves a grandchild holding the pipe.
    let e = sh("sleep 1000 & echo $!; exec sleep 1000", None, SHORT).expect_err("times out");
    let ExecError::Timeout { after, output } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(*after, SHORT);
    assert!(e.is_temporary());
    let grandchild = output.trim();
    assert!(grandchild.parse::<u32>().is_ok(), "{output:?}");
    // SIGKILL is delivered asynchronously: wait for it, boundedly.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !dead(grandchild) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(dead(grandchild), "grandchild {grandchild} survived");
}

#[test]
fn first_line_strips_the_line_end_and_ignores_stderr() {
    let got = first_line(
        &spec(&[
            "/bin/sh",
            "-c",
            "echo noise >&2; printf 's3cret \\r\\nsecond\\n'",
        ]),
        LIMIT,
        None,
    );
    assert_eq!(got.expect("line"), "s3cret ");
    let got = first_line(&spec(&["/bin/echo", "-n", "no line end"]), LIMIT, None);
    assert_eq!(got.expect("line"), "no line end");
}

#[test]
fn first_line_failures() {
    let long = format!("head -c {} /dev/zero | tr '\\0' x", MAX_LINE + 1);
    let exact = format!("head -c {MAX_LINE} /dev/zero | tr '\\0' x");
    assert!(matches!(
        first_line(&spec(&["/bin/sh", "-c", &long]), LIMIT, None),
        Err(ExecError::LineTooLong)
    ));
    let ok = first_line(&spec(&["/bin/sh", "-c", &exact]), LIMIT, None).expect("fits");
    assert_eq!(ok.len(), MAX_LINE);
    assert!(matches!(
        first_line(&spec(&["/bin/sh", "-c", "echo"]), LIMIT, None),
        Err(ExecError::NoLine)
    ));
    // Errors carry stderr, never stdout (which may be a secret).
    match first_line(
        &spec(&["/bin/sh", "-c", "echo s3cret; echo why >&2; exit 1"]),
        LIMIT,
        None,
    ) {
        Err(ExecError::Exit { code: 1, output }) => assert_eq!(output, "why"),
        other => panic!("{other:?}"),
    }
    let e = first_line(
        &spec(&["/bin/sh", "-c", "echo s3cret; exec sleep 1000"]),
        SHORT,
        None,
    )
    .expect_err("times out");
    assert!(matches!(e, ExecError::Timeout { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("s3cret"));
}

#[test]
fn programs_that_cannot_start() {
    for (words, want) in [
        (vec!["/nonexistent/prog"], "cannot start"),
        (vec!["no-such-program-here"], "not found in /usr/local/bin"),
        (vec!["bin/sh"], "absolute path or a plain name"),
        (vec![""], "empty command name"),
    ] {
        let e = first_line(&spec(&words), LIMIT, None).expect_err("fails");
        assert!(e.to_string().contains(want), "{words:?}: {e}");
        assert!(!e.is_temporary(), "{words:?}");
    }
    assert!(matches!(
        first_line(&spec(&[]), LIMIT, None),
        Err(ExecError::Empty)
    ));
    // A plain name is looked up in SAFE_PATH.
    assert_eq!(
        first_line(&spec(&["echo", "hi"]), LIMIT, None).expect("echo"),
        "hi"
    );
}

#[test]
fn environment_and_directory_are_ours() {
    let argv = argv(&[
        "/bin/sh",
        "-c",
        "pwd; env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort",
    ]);
    let env = vec![("ONLY", "this".to_string())];
    let job = Job {
        argv: &argv,
        env: &env,
        identity: None,
    };
    let out = run(&job, None, LIMIT).expect("runs");
    assert_eq!(String::from_utf8_lossy(out.bytes()), "/\nONLY=this\n");
}

#[test]
fn helper_limit_is_capped() {
    assert_eq!(helper_limit(Duration::from_secs(1000)), HELPER_LIMIT);
    assert_eq!(helper_limit(Duration::from_secs(2)), Duration::from_secs(2));
}
