//! Local delivery end to end (issue 2 point 6): mbox, Maildir, MDA, pipe
//! aliases, method selection, hostile recipients.

mod support;
use std::fs;
use support::*;

#[test]
fn mbox_delivery_right_after_acceptance() {
    let env = Env::new("");
    env.ok(
        &["-f", "sender@remote.example", "alice"],
        b"Subject: hi\n\nFrom the start\nbody\n",
    );
    assert!(
        env.queued().is_empty(),
        "delivered message must leave the queue: {:?}",
        env.spool_files()
    );
    let mbox = env.mbox("alice");
    let lines: Vec<&str> = mbox.lines().collect();
    assert!(
        lines[0].starts_with("From sender@remote.example "),
        "{mbox}"
    );
    assert_eq!(lines[1], format!("Envelope-to: <alice@{HOST}>"));
    assert_eq!(lines[2], "Return-path: <sender@remote.example>");
    assert!(
        lines[3].starts_with("Received: by host.example.org"),
        "{mbox}"
    );
    assert!(mbox.contains("\n\n>From the start\nbody\n\n"), "{mbox}");
    assert!(mbox.ends_with("body\n\n"), "{mbox:?}");
    let log = env.log();
    assert!(
        log.contains(&format!("=> <alice@{HOST}> with mbox")),
        "{log}"
    );
    assert!(log.contains("completed."), "{log}");
}

#[test]
fn mbox_appends_and_separates_messages() {
    let env = Env::new("");
    for i in 0..3 {
        env.ok(
            &["alice"],
            format!("Subject: n{i}\n\nbody {i}\n").as_bytes(),
        );
    }
    let msgs = mbox_messages(&env.mbox("alice"));
    assert_eq!(msgs.len(), 3);
    for (i, m) in msgs.iter().enumerate() {
        assert!(
            m.contains(&format!("Subject: n{i}\n")) && m.ends_with(&format!("body {i}\n\n")),
            "{m}"
        );
    }
}

#[test]
fn remote_recipients_stay_queued() {
    let env = Env::new("");
    env.ok(&["alice", "bob@remote.example"], b"Subject: mixed\n\nx\n");
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1);
    let ids = env.queued();
    assert_eq!(ids.len(), 1);
    let h = env.header_file(&ids[0]);
    assert!(h.contains(&format!("RT:X<alice@{HOST}>\n")), "{h}");
    assert!(h.contains("RT: <bob@remote.example>\n"), "{h}");
}

/// R13: a local part with / fails and bounces; nothing outside mail_dir.
#[test]
fn local_part_with_slash_fails_and_bounces() {
    let env = Env::new("");
    env.ok(
        &["-f", "sender", "\"../escape\"", "a/b"],
        b"Subject: x\n\nx\n",
    );
    assert!(!env.path("escape").exists() && !env.path("mail/a").exists());
    // the failure notice went to the (local) sender
    let bounce = env.mbox("sender");
    assert!(
        bounce.contains("\"../escape\"@") && bounce.contains("a/b@"),
        "{bounce}"
    );
}

/// R21: Maildir delivery into new/ with a unique name.
#[test]
fn maildir_delivery() {
    let env = Env::new("");
    env.add_conf(&format!(
        "maildir_users = \"mdu\"\nmaildir_dir = \"{}\"\n",
        env.path("maildirs").display()
    ));
    // like mail_dir, the base directory is the administrator's to create
    fs::create_dir(env.path("maildirs")).unwrap();
    env.ok(&["mdu"], b"Subject: md\n\nFrom here\n");
    let new = env.path("maildirs/mdu/new");
    let files: Vec<_> = fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let text = fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.starts_with(&format!("Envelope-to: <mdu@{HOST}>\nReturn-path: <")),
        "{text}"
    );
    assert!(
        text.contains("\n\nFrom here\n"),
        "no From_ quoting in Maildir: {text}"
    );
    assert!(
        fs::read_dir(env.path("maildirs/mdu/tmp"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(env.path("maildirs/mdu/cur").is_dir());
}

/// A recorder MDA: writes its argv (NUL separated), its environment and its
/// stdin into files named after $MESSAGE_ID-ish counter.
fn recorder(env: &Env, exit: i32) -> std::path::PathBuf {
    let out = env.path("rec");
    fs::create_dir_all(&out).unwrap();
    env.script(
        "rec",
        &format!(
            "#!/bin/sh\nn=$(printf %04d $(( $(ls {o} | wc -l) / 3 )))\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > {o}/$n.argv\n\
             env > {o}/$n.env\ncat > {o}/$n.in\nexit {exit}\n",
            o = out.display()
        ),
    )
}

fn recorded_argvs(env: &Env) -> Vec<Vec<String>> {
    let mut files: Vec<_> = fs::read_dir(env.path("rec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "argv"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let raw = fs::read(f).unwrap();
            raw.split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .collect()
}

/// R16: ;touch M;, $(touch M), backticks, spaces, quotes, *, leading -: one argv element each, M never created, no shell.
#[test]
fn mda_gets_each_variable_as_one_argument() {
    let env = Env::new("");
    let rec = recorder(&env, 0);
    env.add_conf(&format!(
        "mbox_default = mda\nmda = \"{} -d ${{rcpt_local}} -f ${{return_path}} -i $uid\"\n",
        rec.display()
    ));
    // Local parts as they stand in the address (quoted where RFC 821 needs it).
    let hostile = [
        "\";touch M;\"",
        "\"$(touch M)\"",
        "\"`touch M`\"",
        "\"a b\"",
        "'q'",
        "star*",
        "-oQ/tmp",
        "\"x\\\"y\"",
    ];
    for (i, local) in hostile.iter().enumerate() {
        let rcpt = format!("{local}@{HOST}");
        env.ok(
            &["-f", "s@x.example", "--", &rcpt],
            format!("Subject: {i}\n\nx\n").as_bytes(),
        );
    }
    let argvs = recorded_argvs(&env);
    assert_eq!(argvs.len(), hostile.len(), "{argvs:?}\n{}", env.log());
    for (argv, local) in argvs.iter().zip(hostile) {
        assert_eq!(argv.len(), 6, "{argv:?}");
        assert_eq!(argv[0], "-d");
        assert_eq!(argv[1], *local);
        assert_eq!(argv[3], "s@x.example");
        assert_eq!(argv[5].len(), 13);
    }
    assert!(!env.path("M").exists() && !std::path::Path::new("/M").exists());
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(env.log().contains("with mda (cmd = "), "{}", env.log());
}

/// R16: the MDA's environment is exactly the documented set.
#[test]
fn mda_environment_is_exactly_the_spec_set() {
    let env = Env::new("");
    let rec = recorder(&env, 0);
    env.add_conf(&format!(
        "mda_users = \"bob\"\nmda = \"{}\"\n",
        rec.display()
    ));
    env.ok(&["-f", "s@x.example", "bob"], b"Subject: e\n\nbody\n");
    let envtext = fs::read_to_string(env.path("rec/0000.env")).unwrap();
    let mut names: Vec<&str> = envtext
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    names.retain(|n| !["PWD", "SHLVL", "_", "OLDPWD"].contains(n)); // set by sh itself
    names.sort();
    assert_eq!(
        names,
        [
            "DOMAIN",
            "LOCAL_PART",
            "LOGNAME",
            "MESSAGE_ID",
            "QUALIFY_DOMAIN",
            "RECEIVED_HOST",
            "RETURN_PATH",
            "SENDER",
            "SENDER_DOMAIN",
            "SENDER_LOCAL",
            "USER"
        ],
        "{envtext}"
    );
    assert!(
        envtext.contains("SENDER=s@x.example\n") && envtext.contains("LOCAL_PART=bob\n"),
        "{envtext}"
    );
    let input = fs::read_to_string(env.path("rec/0000.in")).unwrap();
    assert!(
        input.starts_with(&format!(
            "Envelope-to: <bob@{HOST}>\nReturn-path: <s@x.example>\n"
        )),
        "{input}"
    );
    assert!(input.ends_with("body\n\n"), "{input:?}");
    // other users still get mbox
    env.ok(&["carol"], b"x\n");
    assert!(!env.mbox("carol").is_empty());
}

/// R22: MDA exit 75 defers, 67 bounces, a signal defers.
#[test]
fn mda_exit_codes() {
    for (code, queued, bounced) in [(75, true, false), (67, false, true), (0, false, false)] {
        let env = Env::new("");
        let rec = recorder(&env, code);
        env.add_conf(&format!(
            "mda_users = \"bob\"\nmda = \"{}\"\n",
            rec.display()
        ));
        env.ok(&["-f", "sender", "bob"], b"Subject: codes\n\nx\n");
        assert_eq!(
            !env.queued().is_empty(),
            queued,
            "exit {code}: {}",
            env.log()
        );
        assert_eq!(
            env.mbox("sender").contains("Subject: codes"),
            bounced,
            "exit {code}: {}",
            env.log()
        );
    }
}

/// R17: a pipe alias from the trusted alias file runs, without a shell.
#[test]
fn pipe_alias_runs_command_with_message() {
    let env = Env::new("");
    let rec = recorder(&env, 0);
    fs::write(
        env.path("aliases"),
        format!("prog: \"|{} one two\"\nboth: \\both, prog\n", rec.display()),
    )
    .unwrap();
    env.add_conf(&format!(
        "alias_file = \"{}\"\n",
        env.path("aliases").display()
    ));
    env.ok(&["both"], b"Subject: piped\n\nbody\n");
    assert_eq!(
        recorded_argvs(&env),
        vec![vec!["one".to_string(), "two".to_string()]]
    );
    let input = fs::read_to_string(env.path("rec/0000.in")).unwrap();
    assert!(
        input.starts_with(&format!("Envelope-to: <both@{HOST}>\n")),
        "{input}"
    );
    assert!(input.contains("Subject: piped"));
    assert_eq!(mbox_messages(&env.mbox("both")).len(), 1);
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(env.log().contains("with pipe"), "{}", env.log());
}

#[test]
fn mbox_users_override_mda_default() {
    let env = Env::new("");
    let rec = recorder(&env, 0);
    env.add_conf(&format!(
        "mbox_default = mda\nmda = \"{}\"\nmbox_users = \"Alice\"\n",
        rec.display()
    ));
    env.ok(&["alice", "bob"], b"Subject: sel\n\nx\n");
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1);
    assert_eq!(recorded_argvs(&env).len(), 1);
}

/// R18: mail_dir/alice as a symlink: deferred, the target unchanged.
#[test]
fn mbox_symlink_is_not_followed() {
    let env = Env::new("");
    let target = env.path("target");
    fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, env.path("mail/alice")).unwrap();
    env.ok(&["alice"], b"Subject: x\n\nx\n");
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(env.queued().len(), 1, "deferred, not lost");
}

/// R19: concurrent deliveries to one mbox: each message once and whole.
#[test]
fn concurrent_deliveries_to_one_mbox_never_interleave() {
    let env = std::sync::Arc::new(Env::new(""));
    let body: String = (0..2000)
        .map(|i| format!("line {i} of a longer message body\n"))
        .collect();
    let mut handles = Vec::new();
    for t in 0..12 {
        let env = env.clone();
        let body = body.clone();
        handles.push(std::thread::spawn(move || {
            env.ok(&["alice"], format!("Subject: t{t}\n\n{body}").as_bytes());
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let msgs = mbox_messages(&env.mbox("alice"));
    assert_eq!(msgs.len(), 12);
    for m in &msgs {
        assert!(
            m.ends_with(&format!("{body}\n")),
            "a message was interleaved or cut"
        );
    }
}

/// As root without run_as_user, the mbox is written as the recipient
/// (issue 2 point 6); the spool directory belongs to the mail user.
/// R24: as root, the mbox is written with the recipient's identity.
#[test]
fn as_root_mbox_belongs_to_the_recipient() {
    if !is_root() {
        eprintln!("not root: skipping");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("");
    let conf = fs::read_to_string(&env.conf)
        .unwrap()
        .replace("run_as_user = true", "run_as_user = false");
    fs::write(&env.conf, conf).unwrap();
    // the recipient creates its own mailbox, as in a sticky /var/mail
    set_mode(&env.path("mail"), 0o1777);
    set_mode(env.dir.path(), 0o755);
    env.ok(&["nobody"], b"Subject: as root\n\nx\n");
    let meta = fs::metadata(env.path("mail/nobody")).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    assert_eq!(meta.mode() & 0o777, 0o600);
    let mail = nix::unistd::User::from_name("mail").unwrap().unwrap();
    assert_eq!(
        fs::metadata(env.path("spool")).unwrap().uid(),
        mail.uid.as_raw()
    );
    // spool and log files are the mail user's (cli.md §4.2), and the
    // Received: header still names the caller's real uid
    env.ok(&["-odq", "nobody"], b"Subject: queued as root\n\nx\n");
    let id = &env.queued()[0];
    for f in [
        format!("spool/{id}-H"),
        format!("spool/{id}-D"),
        "log/masqmail.log".into(),
    ] {
        assert_eq!(
            fs::metadata(env.path(&f)).unwrap().uid(),
            mail.uid.as_raw(),
            "{f}"
        );
    }
    assert!(
        env.header_file(id).contains("from userid 0)"),
        "{}",
        env.header_file(id)
    );
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("nobody")).len(), 2);
    assert!(env.queued().is_empty());
}

/// As root without run_as_user, the MDA runs as the recipient, and alias
/// pipes as the mail user, never as root.
/// R17/R24: as root, commands never run as root (uid, gid, groups checked).
#[test]
fn as_root_commands_run_as_the_recipient_or_mail() {
    if !is_root() {
        eprintln!("not root: skipping");
        return;
    }
    let env = Env::new("");
    set_mode(env.dir.path(), 0o755);
    set_mode(&env.path("bin"), 0o755);
    let out = env.path("ids");
    fs::write(&out, "").unwrap();
    set_mode(&out, 0o666);
    let mda = env.script(
        "mda",
        &format!("#!/bin/sh\ncat >/dev/null\nid -u >> {}\n", out.display()),
    );
    fs::write(
        env.path("aliases"),
        format!("piped: \"|{}\"\n", mda.display()),
    )
    .unwrap();
    set_mode(&env.path("aliases"), 0o644);
    let conf = fs::read_to_string(&env.conf)
        .unwrap()
        .replace("run_as_user = true", "run_as_user = false")
        + &format!(
            "mda_users = \"nobody\"\nmda = \"{}\"\nalias_file = \"{}\"\n",
            mda.display(),
            env.path("aliases").display()
        );
    fs::write(&env.conf, conf).unwrap();
    env.ok(&["nobody", "piped"], b"Subject: ids\n\nx\n");
    let ids: Vec<u32> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let mail = nix::unistd::User::from_name("mail")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let mut ids = ids;
    ids.sort();
    let mut want = vec![nobody, mail];
    want.sort();
    assert_eq!(ids, want, "{}", env.log());
}
