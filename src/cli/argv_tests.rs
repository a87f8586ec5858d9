//! Table tests for the switch scanner: every switch in attached and separate
//! form, mode resolution, invocation names, and hostile argv (R23).

use super::*;
use std::os::unix::ffi::OsStringExt;

fn run(argv: &[&str]) -> Result<Invocation, String> {
    let args: Vec<OsString> = argv[1..].iter().map(OsString::from).collect();
    parse(OsStr::new(argv[0]), &args).map_err(|e| e.to_string())
}

fn base(mode: Mode) -> Invocation {
    Invocation {
        mode,
        config_file: None,
        debug_level: None,
        return_path: None,
        full_name: None,
        ignore_dots: false,
        recipients_from_headers: false,
        queue_only: false,
        background: false,
        verbose: false,
        foreground: false,
        json: false,
        operands: Vec::new(),
    }
}

fn ops(mode: Mode, operands: &[&str]) -> Invocation {
    Invocation {
        operands: operands.iter().map(|s| s.to_string()).collect(),
        ..base(mode)
    }
}

fn daemon(secs: Option<u64>, listen: bool) -> Mode {
    Mode::Daemon {
        queue_interval: secs.map(Duration::from_secs),
        listen,
        fetch: None,
    }
}

fn online(name: &str) -> QueueRun {
    QueueRun::Online {
        name: name.to_string(),
    }
}

#[test]
fn accepted_command_lines() {
    use Mode::*;
    let all = QueueRun(super::QueueRun::All);
    let table: Vec<(&[&str], Invocation)> = vec![
        // Plain masqmail prints the version; with operands or -t it accepts.
        (&["masqmail"], base(Version)),
        (&["sendmail", "a@b"], ops(Accept, &["a@b"])),
        (
            &["sendmail", "-t"],
            Invocation {
                recipients_from_headers: true,
                ..base(Accept)
            },
        ),
        (&["sendmail", "-bm"], base(Accept)),
        (&["sendmail", "-bm", "a", "b"], ops(Accept, &["a", "b"])),
        (&["sendmail", "-bV"], base(Version)),
        (&["sendmail", "-bV", "-bV"], base(Version)),
        (&["sendmail", "-bi"], base(NoOp)),
        (&["sendmail", "-bs"], base(Smtp)),
        (&["sendmail", "-bp"], base(List)),
        (&["sendmail", "-bp", "ignored"], ops(List, &["ignored"])),
        (&["sendmail", "-bd"], base(daemon(None, true))),
        (
            &["sendmail", "-bd", "-q30m"],
            base(daemon(Some(1800), true)),
        ),
        (
            &["sendmail", "-q30m", "-bd"],
            base(daemon(Some(1800), true)),
        ),
        (&["sendmail", "-q", "30m"], base(daemon(Some(1800), false))),
        (
            &["sendmail", "-q1h", "-q2h"],
            base(daemon(Some(7200), false)),
        ),
        (&["sendmail", "-q"], base(all.clone())),
        (&["sendmail", "-q", "-q"], base(all.clone())),
        (
            &["sendmail", "-q", "-v"],
            Invocation {
                verbose: true,
                ..base(all.clone())
            },
        ),
        (&["sendmail", "-qo", "NAME"], base(QueueRun(online("NAME")))),
        (&["sendmail", "-qoNAME"], base(QueueRun(online("NAME")))),
        (&["sendmail", "-q", "-qoa"], base(QueueRun(online("a")))),
        (&["sendmail", "-qoa", "-q"], base(QueueRun(online("a")))),
        (&["sendmail", "-qoa", "-qob"], base(QueueRun(online("b")))),
        (
            &["sendmail", "-Mrm", "id1", "id2"],
            ops(Remove, &["id1", "id2"]),
        ),
        // Modifiers, attached and separate.
        (
            &["sendmail", "-i", "a"],
            Invocation {
                ignore_dots: true,
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-oi", "a"],
            Invocation {
                ignore_dots: true,
                ..ops(Accept, &["a"])
            },
        ),
        (&["sendmail", "-m", "a"], ops(Accept, &["a"])),
        (
            &["sendmail", "-odq", "a"],
            Invocation {
                queue_only: true,
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-odb", "a"],
            Invocation {
                background: true,
                ..ops(Accept, &["a"])
            },
        ),
        (&["sendmail", "-oem", "a"], ops(Accept, &["a"])),
        (&["sendmail", "-o", "a"], ops(Accept, &["a"])),
        (&["sendmail", "-oQ/tmp", "-oXYZ", "a"], ops(Accept, &["a"])),
        // `-oauth2` is ours, matched before the ignored `-o…`; a longer
        // word is still an ignored sendmail option.
        (
            &["masqmail", "-oauth2", "gmail"],
            base(OAuth2 {
                name: "gmail".into(),
            }),
        ),
        (&["sendmail", "-oauth2x", "a"], ops(Accept, &["a"])),
        // The JSON listing (ours), either spelling, before or after -bp.
        (
            &["sendmail", "-bp", "-json"],
            Invocation {
                json: true,
                ..base(List)
            },
        ),
        (
            &["masqmail", "--json", "-bp"],
            Invocation {
                json: true,
                ..base(List)
            },
        ),
        (
            &["mailq", "--json"],
            Invocation {
                json: true,
                ..base(List)
            },
        ),
        (&["sendmail", "-B8BITMIME", "a"], ops(Accept, &["a"])),
        (&["sendmail", "-B", "8BITMIME", "a"], ops(Accept, &["a"])),
        (&["sendmail", "-B", "7bit", "a"], ops(Accept, &["a"])),
        // -B followed by an operand leaves the operand alone (C swallowed it).
        (&["sendmail", "-B", "a@b"], ops(Accept, &["a@b"])),
        (
            &["sendmail", "-B", "-i", "a"],
            Invocation {
                ignore_dots: true,
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-C/etc/x.conf", "-bp"],
            Invocation {
                config_file: Some("/etc/x.conf".into()),
                ..base(List)
            },
        ),
        (
            &["sendmail", "-C", "x.conf", "-bp"],
            Invocation {
                config_file: Some("x.conf".into()),
                ..base(List)
            },
        ),
        (
            &["sendmail", "-d5", "-bp"],
            Invocation {
                debug_level: Some(5),
                ..base(List)
            },
        ),
        (
            &["sendmail", "-d", "5", "-bp"],
            Invocation {
                debug_level: Some(5),
                ..base(List)
            },
        ),
        (
            &["sendmail", "-fme@x", "a"],
            Invocation {
                return_path: Some("me@x".into()),
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-f", "<>", "a"],
            Invocation {
                return_path: Some("<>".into()),
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-f", "", "a"],
            Invocation {
                return_path: Some(String::new()),
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-FJo Doe", "a"],
            Invocation {
                full_name: Some("Jo Doe".into()),
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-F", "Jo", "a"],
            Invocation {
                full_name: Some("Jo".into()),
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["sendmail", "-f", "a", "-f", "b", "r"],
            Invocation {
                return_path: Some("b".into()),
                ..ops(Accept, &["r"])
            },
        ),
        (
            &["sendmail", "-v", "a"],
            Invocation {
                verbose: true,
                ..ops(Accept, &["a"])
            },
        ),
        // -f alone with nothing else is still "plain masqmail".
        (
            &["sendmail", "-fme"],
            Invocation {
                return_path: Some("me".into()),
                ..base(Version)
            },
        ),
        // `--` and the first operand end option scanning.
        (&["sendmail", "--", "-oQ/tmp"], ops(Accept, &["-oQ/tmp"])),
        (
            &["sendmail", "-i", "--", "-X", "--"],
            Invocation {
                ignore_dots: true,
                ..ops(Accept, &["-X", "--"])
            },
        ),
        (
            &["sendmail", "a", "-X", "-bp"],
            ops(Accept, &["a", "-X", "-bp"]),
        ),
        (&["sendmail", "--"], base(Version)),
        (&["sendmail", ""], ops(Accept, &[""])),
        // R23: a -f value is only ever a return path.
        (
            &["sendmail", "-f", "\"a\\\" -X/tmp/x -oQ/tmp/ b\"@c", "rcpt"],
            Invocation {
                return_path: Some("\"a\\\" -X/tmp/x -oQ/tmp/ b\"@c".into()),
                ..ops(Accept, &["rcpt"])
            },
        ),
        // Invocation names.
        (&["mailq"], base(List)),
        (&["mailq", "-bp"], base(List)),
        (&["mailq", "x", "y"], ops(List, &["x", "y"])),
        (&["/usr/sbin/runq"], base(all.clone())),
        (&["runq", "-qofoo"], base(QueueRun(online("foo")))),
        (&["newaliases"], base(NoOp)),
        (&["mailrm", "id1"], ops(Remove, &["id1"])),
        (&["mailrm", "-Mrm", "id1"], ops(Remove, &["id1"])),
        (&["in.smtpd"], base(Smtp)),
        (&["smtpd", "-bs"], base(Smtp)),
        (
            &["rmail", "a"],
            Invocation {
                ignore_dots: true,
                ..ops(Accept, &["a"])
            },
        ),
        (
            &["rmail"],
            Invocation {
                ignore_dots: true,
                ..base(Accept)
            },
        ),
        // 0.2 POP3 switches.
        (
            &["masqmail", "-g"],
            base(Fetch {
                what: super::Fetch::All,
                then: None,
            }),
        ),
        (
            &["masqmail", "-g", "box"],
            base(Fetch {
                what: super::Fetch::Named("box".into()),
                then: None,
            }),
        ),
        (
            &["masqmail", "-gbox"],
            base(Fetch {
                what: super::Fetch::Named("box".into()),
                then: None,
            }),
        ),
        (
            &["masqmail", "-g", "-q"],
            base(Fetch {
                what: super::Fetch::All,
                then: Some(super::QueueRun::All),
            }),
        ),
        (
            &["masqmail", "-q", "-g"],
            base(Fetch {
                what: super::Fetch::All,
                then: Some(super::QueueRun::All),
            }),
        ),
        (
            &["masqmail", "-g", "-qo", "dsl"],
            base(Fetch {
                what: super::Fetch::All,
                then: Some(online("dsl")),
            }),
        ),
        (
            &["masqmail", "-go"],
            base(Fetch {
                what: super::Fetch::Online { connection: None },
                then: None,
            }),
        ),
        (
            &["masqmail", "-go", "dsl"],
            base(Fetch {
                what: super::Fetch::Online {
                    connection: Some("dsl".into()),
                },
                then: None,
            }),
        ),
        (
            &["masqmail", "-go", "-q"],
            base(Fetch {
                what: super::Fetch::Online { connection: None },
                then: Some(super::QueueRun::All),
            }),
        ),
        (
            &["masqmail", "-go", "5m"],
            base(FetchDaemon {
                interval: Duration::from_secs(300),
                name: None,
            }),
        ),
        (
            &["masqmail", "-go5m", "dsl"],
            base(FetchDaemon {
                interval: Duration::from_secs(300),
                name: Some("dsl".into()),
            }),
        ),
        (
            &["masqmail", "-go", "5m", "dsl", "x"],
            ops(
                FetchDaemon {
                    interval: Duration::from_secs(300),
                    name: Some("dsl".into()),
                },
                &["x"],
            ),
        ),
    ];
    for (argv, want) in table {
        assert_eq!(run(argv), Ok(want), "{argv:?}");
    }
    // `-bd -q30m -go5m home`: one daemon that listens, runs and fetches.
    for argv in [
        &["masqmail", "-bd", "-q30m", "-go5m", "home"][..],
        &["masqmail", "-go5m", "home", "-bd", "-q30m"][..],
    ] {
        let want = base(Mode::Daemon {
            queue_interval: Some(Duration::from_secs(1800)),
            listen: true,
            fetch: Some(super::FetchEvery {
                interval: Duration::from_secs(300),
                connection: Some("home".into()),
            }),
        });
        assert_eq!(run(argv), Ok(want), "{argv:?}");
    }
}

/// R23: -X, unknown options, -- and friends refused with exit 64.
#[test]
fn refused_command_lines() {
    for (argv, want) in [
        (&["sendmail", "-X"][..], "unrecognized option '-X'"),
        (&["sendmail", "-X", "/tmp/x"], "unrecognized option '-X'"),
        (&["sendmail", "-bx"], "unrecognized option '-bx'"),
        (&["sendmail", "-b"], "unrecognized option '-b'"),
        (&["sendmail", "-it"], "unrecognized option '-it'"),
        (&["sendmail", "-ti"], "unrecognized option '-ti'"),
        (&["sendmail", "--foo"], "unrecognized option '--foo'"),
        (&["sendmail", "-"], "unrecognized option '-'"),
        (&["sendmail", "-vfoo"], "unrecognized option '-vfoo'"),
        (&["sendmail", "-M"], "unrecognized option '-M'"),
        (&["sendmail", "-Mfoo"], "unrecognized option '-Mfoo'"),
        (&["sendmail", "-jsonx"], "unrecognized option '-jsonx'"),
        // --json only lists.
        (
            &["masqmail", "--json"],
            "--json is only valid with -bp or mailq",
        ),
        (
            &["sendmail", "-json", "a@b"],
            "--json is only valid with -bp or mailq",
        ),
        (
            &["runq", "--json"],
            "--json is only valid with -bp or mailq",
        ),
        (
            &["masqmail", "-bt", "-json", "a@b"],
            "--json is only valid with -bp or mailq",
        ),
        (
            &["sendmail", "-i", "-\n-bp"],
            "unrecognized option '-\\n-bp'",
        ),
        // Missing mandatory values, at the end or before another switch.
        (&["sendmail", "-f"], "-f requires address arg."),
        (&["sendmail", "-f", "-i", "a"], "-f requires address arg."),
        (&["sendmail", "-f", "--", "a"], "-f requires address arg."),
        (&["masqmail", "-oauth2"], "-oauth2 requires name arg."),
        (&["sendmail", "-F"], "-F requires name arg."),
        (&["sendmail", "-C"], "-C requires filename arg."),
        (&["sendmail", "-d"], "-d requires number arg."),
        (&["sendmail", "-d", "-1"], "-d requires number arg."),
        (&["sendmail", "-qo"], "-qo requires name arg."),
        (&["sendmail", "-qo", "-bp"], "-qo requires name arg."),
        // Bad values.
        (&["sendmail", "-dx"], "invalid debug level 'x'"),
        (&["sendmail", "-d5x"], "invalid debug level '5x'"),
        (&["sendmail", "-d+5"], "invalid debug level '+5'"),
        (&["sendmail", "-d", ""], "invalid debug level ''"),
        (
            &["sendmail", "-d99999999999"],
            "invalid debug level '99999999999'",
        ),
        (&["sendmail", "-q30"], "invalid interval '30' for -q"),
        (&["sendmail", "-qx"], "invalid interval 'x' for -q"),
        (&["sendmail", "-q0m"], "invalid interval '0m' for -q"),
        (&["sendmail", "-q", "a@b"], "invalid interval 'a@b' for -q"),
        (&["sendmail", "-go", "5"], "invalid interval '5' for -go"),
        // Mode conflicts (cli.md §4.1).
        (
            &["sendmail", "-bd", "-q"],
            "operation mode was already specified (2 vs. 3)",
        ),
        (
            &["sendmail", "-q", "-bd"],
            "operation mode was already specified (3 vs. 2)",
        ),
        (
            &["sendmail", "-bm", "-bp"],
            "operation mode was already specified (1 vs. 5)",
        ),
        (
            &["sendmail", "-bs", "-bV"],
            "operation mode was already specified (4 vs. 7)",
        ),
        (
            &["sendmail", "-Mrm", "-bi"],
            "operation mode was already specified (6 vs. 8)",
        ),
        (
            &["sendmail", "-bp", "-qo", "x"],
            "operation mode was already specified (5 vs. 3)",
        ),
        (
            &["mailq", "-q"],
            "operation mode was already specified (5 vs. 3)",
        ),
        (
            &["runq", "-bd"],
            "operation mode was already specified (3 vs. 2)",
        ),
        (
            &["newaliases", "-bp"],
            "operation mode was already specified (8 vs. 5)",
        ),
        (
            &["rmail", "-bs"],
            "operation mode was already specified (1 vs. 4)",
        ),
        (
            &["sendmail", "-g", "-bs"],
            "operation mode was already specified (9 vs. 4)",
        ),
        (
            &["sendmail", "-go", "5m", "-q"],
            "operation mode was already specified (10 vs. 3)",
        ),
        (
            &["sendmail", "-q5m", "-g"],
            "operation mode was already specified (2 vs. 9)",
        ),
    ] {
        assert_eq!(run(argv), Err(want.to_string()), "{argv:?}");
    }
}

#[test]
fn every_error_exits_64() {
    for argv in [
        &["sendmail", "-X"][..],
        &["sendmail", "-f"],
        &["sendmail", "-bd", "-q"],
        &["sendmail", "-q30"],
    ] {
        let args: Vec<OsString> = argv[1..].iter().map(OsString::from).collect();
        let err = parse(OsStr::new(argv[0]), &args).err();
        assert_eq!(err.map(|e| e.exit_code()), Some(64), "{argv:?}");
    }
}

#[test]
fn non_utf8_arguments_are_refused() {
    for (args, index) in [
        (vec![OsString::from_vec(b"a\xff@b".to_vec())], 1),
        (
            vec![OsString::from("-i"), OsString::from_vec(b"-f\xff".to_vec())],
            2,
        ),
        // Even after `--`, as an operand.
        (
            vec![OsString::from("--"), OsString::from_vec(vec![0xc3])],
            2,
        ),
    ] {
        assert_eq!(
            parse(OsStr::new("sendmail"), &args),
            Err(CliError::NotUtf8 { index })
        );
    }
}

/// R23: an argv of 100 000 elements is handled in linear time.
#[test]
fn huge_argv_is_linear() {
    // 100 000 operands, and 100 000 switches: both finish at once (a
    // quadratic scan would take minutes in a debug build).
    let mut args: Vec<OsString> = vec![OsString::from("-i")];
    args.extend((0..100_000).map(|n| OsString::from(format!("user{n}@example.org"))));
    let inv = parse(OsStr::new("sendmail"), &args).map_err(|e| e.to_string());
    let inv = inv.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.operands.len(), 100_000);
    assert_eq!(inv.operands[99_999], "user99999@example.org");
    assert_eq!(inv.mode, Mode::Accept);

    let mut args: Vec<OsString> = (0..100_000).map(|_| OsString::from("-oi")).collect();
    args.push(OsString::from("rcpt"));
    let inv = parse(OsStr::new("sendmail"), &args).map_err(|e| e.to_string());
    assert_eq!(inv.map(|i| i.operands), Ok(vec!["rcpt".to_string()]));
}
