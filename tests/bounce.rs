//! Failure notices and delay warnings (issue 2 point 9, delivery.md §12).

mod support;
use std::fs;
use support::*;

/// Writes a queued message by hand with a chosen reception time.
fn spool_message(env: &Env, id: &str, from: &str, rcpt: &str, received: i64) {
    fs::create_dir_all(env.path("spool")).unwrap();
    // Whatever the umask: the spool must not be group-writable (startup check).
    support::set_mode(&env.path("spool"), 0o755);
    let h = format!(
        "{id}\nMF:<{from}>\nRT: <{rcpt}>\nPR:local\nID:someone\nDS: 5\nTR: {received}\n\n\
         HD:From: {from}\nHD:Subject: old message\nHD:Message-ID: <{id}@{HOST}>\n"
    );
    fs::write(env.path("spool").join(format!("{id}-H")), h).unwrap();
    fs::write(
        env.path("spool").join(format!("{id}-D")),
        format!("{id}\nbody\n"),
    )
    .unwrap();
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn deferring_mda(env: &Env) {
    let mda = env.script(
        "defer",
        "#!/bin/sh\ncat >/dev/null\necho 'try later' >&2\nexit 75\n",
    );
    env.add_conf(&format!(
        "mda_users = \"bob\"\nmda = \"{}\"\n",
        mda.display()
    ));
}

/// R15: the notice shows the failed address and reason as data.
#[test]
fn failure_notice_goes_to_the_sender() {
    let env = Env::new("");
    let mda = env.script(
        "fail",
        "#!/bin/sh\ncat >/dev/null\necho 'no such mailbox here' \nexit 67\n",
    );
    env.add_conf(&format!(
        "mda_users = \"bob\"\nmda = \"{}\"\n",
        mda.display()
    ));
    env.ok(&["-f", "sender", "bob"], b"Subject: doomed\n\nthe body\n");
    let notice = env.mbox("sender");
    assert!(
        notice.starts_with("From  "),
        "a notice has the null sender: {notice}"
    );
    assert!(notice.contains("Return-path: <>"), "{notice}");
    assert!(
        notice.contains(&format!("From: MAILER-DAEMON@{HOST}")),
        "{notice}"
    );
    assert!(notice.contains(&format!("To: sender@{HOST}")), "{notice}");
    assert!(notice.contains("Subject: Undeliverable:"), "{notice}");
    assert!(notice.contains(&format!("\t<bob@{HOST}>")), "{notice}");
    assert!(
        notice.contains("Subject: doomed") && notice.contains("the body"),
        "{notice}"
    );
    assert!(
        notice.contains("no such mailbox here"),
        "reason quoted: {notice}"
    );
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// R15: no bounce for <>: the failure goes to postmaster once, whose own failure is only logged.
#[test]
fn null_sender_failure_goes_to_postmaster_once() {
    let env = Env::new("");
    let mda = env.script("fail", "#!/bin/sh\ncat >/dev/null\nexit 67\n");
    let conf = fs::read_to_string(&env.conf).unwrap()
        + &format!(
            "mda_users = \"bob;postmaster\"\nmda = \"{}\"\n",
            mda.display()
        );
    fs::write(&env.conf, conf).unwrap();
    env.ok(&["-f", "<>", "bob"], b"Subject: from nobody\n\nx\n");
    // the notice to postmaster also fails (mda), and is not bounced again
    assert!(
        env.log().contains("postmaster address failed"),
        "{}",
        env.log()
    );
    assert!(
        env.queued().is_empty(),
        "no loop, nothing left: {:?}\n{}",
        env.spool_files(),
        env.log()
    );
}

#[test]
fn delay_warning_when_due() {
    let env = Env::new("");
    deferring_mda(&env);
    let id = "1xVrXk-3tM-0A";
    let received = now() - 2 * 3600;
    spool_message(
        &env,
        id,
        &format!("sender@{HOST}"),
        &format!("bob@{HOST}"),
        received,
    );
    env.ok(&["-q"], b"");
    let warning = env.mbox("sender");
    assert!(
        warning.contains("Subject: Delayed:"),
        "{warning}\n{}",
        env.log()
    );
    assert!(warning.contains(&format!("\t<bob@{HOST}>")), "{warning}");
    assert!(
        !warning.contains("\nbody\n"),
        "a warning quotes only the headers: {warning}"
    );
    let h = env.header_file(id);
    assert!(h.lines().any(|l| l.starts_with("TW: ")), "{h}");
    // the next run does not warn again for the same interval
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("sender")).len(), 1);
}

#[test]
fn max_defer_time_turns_deferral_into_failure() {
    let env = Env::new("max_defer_time = 1d");
    deferring_mda(&env);
    let id = "1xVrXk-3tM-0B";
    spool_message(
        &env,
        id,
        &format!("sender@{HOST}"),
        &format!("bob@{HOST}"),
        now() - 2 * 86400,
    );
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(
        env.mbox("sender").contains("Subject: Undeliverable:"),
        "{}",
        env.mbox("sender")
    );
}

#[test]
fn custom_templates_with_all_directives() {
    let env = Env::new("");
    let tpl = env.path("fail.tpl");
    fs::write(
        &tpl,
        "From: MAILER-DAEMON@${host_name}\nTo: ${return_path}\nSubject: custom ${uid}\n\n\
         pkg=${package} rp=${return_path_local}@${return_path_domain} ident=${ident} why=${err_msg}\n\
         @failed_rcpts\n--\n@msg_headers\n--\n@msg_body\n@unknown_directive\n",
    )
    .unwrap();
    let mda = env.script("fail", "#!/bin/sh\ncat >/dev/null\nexit 67\n");
    env.add_conf(&format!(
        "errmsg_file = \"{}\"\nmda_users = \"bob\"\nmda = \"{}\"\n",
        tpl.display(),
        mda.display()
    ));
    env.ok(&["-f", "sender", "bob"], b"Subject: tpl\n\nbody line\n");
    let n = env.mbox("sender");
    assert!(n.contains("Subject: custom "), "{n}");
    assert!(
        n.contains(&format!("pkg=MasqMail rp=sender@{HOST} ident=")),
        "{n}"
    );
    assert!(n.contains(&format!("\t<bob@{HOST}>\n--\n")), "{n}");
    assert!(n.contains("Subject: tpl\n"), "{n}");
    assert!(n.contains("body line\n"), "{n}");
    assert!(!n.contains("@unknown_directive"), "{n}");
}

/// A binary installed without its tpl/ directory still sends notices
/// (built-in templates), instead of keeping failed mail forever.
#[test]
fn notices_without_installed_templates() {
    let env = Env::new("");
    let copy = env.path("bin/masqmail");
    fs::copy(BIN, &copy).unwrap();
    let mut c = std::process::Command::new(&copy);
    c.arg("-C").arg(&env.conf).args(["-f", "sender", "a/b"]);
    let out = run_with_input(c, b"Subject: nowhere\n\nx\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let notice = env.mbox("sender");
    assert!(
        notice.contains("Subject: Undeliverable:"),
        "{notice}\n{}",
        env.log()
    );
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// Issue 9: a notice is spooled even below `queue_minfree` (it is small
/// and needed most when the disk fills); new mail is still refused.
/// R36: notices are spooled below queue_minfree, new mail is not.
#[test]
fn notices_bypass_queue_minfree() {
    let env = Env::new("");
    let mda = env.script("fail", "#!/bin/sh\ncat >/dev/null\nexit 67\n");
    env.add_conf(&format!(
        "mda_users = \"bob\"\nmda = \"{}\"\n",
        mda.display()
    ));
    env.ok(
        &["-odq", "-f", "sender", "bob"],
        b"Subject: doomed\n\nthe body\n",
    );
    // Now the disk is "full": far more free space needed than any disk has.
    env.add_conf("queue_minfree = 1152921504606846976");
    let refused = env.run(&["-f", "sender", "carol"], b"Subject: new\n\nx\n");
    assert_eq!(refused.status.code(), Some(75), "new mail is refused");
    env.ok(&["-q"], b"");
    let notice = env.mbox("sender");
    assert!(notice.contains("Subject: Undeliverable:"), "{}", env.log());
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// Issue 9: a failure stands only with its notice. When the notice cannot
/// be spooled, the recipient that failed stays queued (the one delivered
/// stays delivered), and the next run, able to write it, bounces it once.
#[test]
fn a_failure_without_its_notice_stays_queued() {
    let env = Env::new("");
    let mda = env.script("fail", "#!/bin/sh\ncat >/dev/null\nexit 67\n");
    env.add_conf(&format!(
        "mda_users = \"carol\"\nmda = \"{}\"\n",
        mda.display()
    ));
    let conf = std::fs::read_to_string(&env.conf).unwrap();
    env.add_conf(&format!(
        "errmsg_file = \"{}\"",
        env.path("missing/failmsg.tpl").display()
    ));
    env.ok(
        &["-odq", "-f", "sender", "bob", "carol"],
        b"Subject: half\n\nbody\n",
    );
    env.ok(&["-q"], b"");
    assert_eq!(mbox_messages(&env.mbox("bob")).len(), 1, "bob delivered");
    assert_eq!(env.mbox("sender"), "", "no notice could be written");
    let queued = env.queued();
    assert_eq!(queued.len(), 1, "{}", env.log());
    let h = env.header_file(&queued[0]);
    assert!(
        h.contains(&format!("RT: <carol@{HOST}>")),
        "carol still pending:\n{h}"
    );
    assert!(env.log().contains("stay queued"), "{}", env.log());
    // The template is back: carol fails again and the sender hears once.
    std::fs::write(&env.conf, conf).unwrap();
    env.ok(&["-q"], b"");
    let notices = mbox_messages(&env.mbox("sender"));
    assert_eq!(notices.len(), 1, "{}", env.log());
    assert!(notices[0].contains(&format!("\t<carol@{HOST}>")));
    assert!(!notices[0].contains(&format!("\t<bob@{HOST}>")));
    assert_eq!(
        mbox_messages(&env.mbox("bob")).len(),
        1,
        "bob not delivered twice"
    );
    assert!(env.queued().is_empty(), "{}", env.log());
}
