//! RELIABILITY R13, path traversal through the local part and alias
//! targets, end to end: the real daemon with mbox (mail_dir) or Maildir
//! (maildir_dir) delivery. Local parts that would walk out of the mail
//! directory are refused at RCPT with 5.1.3 (550, or 501 when they are no
//! RFC 5321 dot-string at all); the same values as alias targets are
//! accepted (the alias name is fine) and then refused by delivery, which
//! bounces them. A listing of the test root before and after shows that
//! nothing was created outside the mail directories.
//!
//! mail_dir sits two levels down (`<root>/a/b/mail`), so that `../../x`
//! and `../../../x` would land inside the test root where the scan sees
//! them, not in the shared temporary directory.

mod support;
use std::fs;
use std::path::{Path, PathBuf};

use support::smtp::Client;
use support::*;

const LONG: usize = 65;

/// Every path under `dir`, relative to it, except those under `skip`.
fn listing(dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if skip.contains(&p) {
                continue;
            }
            out.push(p.strip_prefix(dir).expect("under root").to_path_buf());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A daemon env delivering at once with `method` (`mbox` or `maildir`),
/// mail_dir and maildir_dir two levels below the root, and an alias file
/// whose targets are the hostile names.
fn deep_env(method: &str) -> Env {
    let env = Env::new("do_queue = false");
    let root = env.dir.path();
    let (mail, maildirs) = (root.join("a/b/mail"), root.join("a/b/maildirs"));
    fs::create_dir_all(&mail).unwrap();
    fs::create_dir_all(&maildirs).unwrap();
    let conf = fs::read_to_string(&env.conf).unwrap().replace(
        &format!("mail_dir = \"{}/mail\"", root.display()),
        &format!("mail_dir = \"{}\"", mail.display()),
    );
    fs::write(&env.conf, conf).unwrap();
    let aliases = format!(
        "evil1: \"../../x\"\nevil2: a/b\nevil3: \"-oQ/tmp\"\nevil4: \"../../../y\"\n\
         evil5: {}\nevil6: ../../z\nevil7: ..\nevil8: \"a/../../../w\"\ngood: bob\n",
        "a".repeat(LONG)
    );
    fs::write(env.path("aliases"), aliases).unwrap();
    env.add_conf(&format!(
        "mbox_default = {method}\nmaildir_dir = \"{}\"\nalias_file = \"{}\"",
        maildirs.display(),
        env.path("aliases").display()
    ));
    env
}

/// What a mailbox of `user` holds, for either method.
fn mailbox(env: &Env, method: &str, user: &str) -> String {
    if method == "mbox" {
        return fs::read_to_string(env.path("a/b/mail").join(user)).unwrap_or_default();
    }
    let new = env.path("a/b/maildirs").join(user).join("new");
    fs::read_dir(new)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn scenario(method: &str) {
    let env = deep_env(method);
    let root = env.dir.path().to_path_buf();
    let d = env.daemon(&[]);
    let skip: Vec<PathBuf> = ["spool", "log", "lock", "run", "a/b/mail", "a/b/maildirs"]
        .iter()
        .map(|s| root.join(s))
        .collect();
    let before = listing(&root, &skip);

    let mut c = Client::connect(d.addr).expect("connect");
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    let r = c.cmd("MAIL FROM:<jo@host.example.org>").unwrap();
    assert_eq!(r.code, 250, "{r}");
    let long = format!("{}@{HOST}", "a".repeat(LONG));
    for (rcpt, code) in [
        (format!("../../x@{HOST}"), 501),
        (format!("\"../../x\"@{HOST}"), 550),
        (format!("a/b@{HOST}"), 550),
        (format!(".@{HOST}"), 501),
        (format!("..@{HOST}"), 501),
        (format!("-oQ/tmp@{HOST}"), 550),
        (format!("-oQ@{HOST}"), 550),
        (format!("\"a\x01b\"@{HOST}"), 550),
        (long.clone(), 550),
    ] {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert_eq!(
            (r.code, r.enhanced()),
            (code, Some("5.1.3")),
            "{rcpt:?}: {r}"
        );
    }
    let mut rcpts: Vec<String> = (1..=8).map(|i| format!("evil{i}@{HOST}")).collect();
    rcpts.push(format!("good@{HOST}"));
    for rcpt in &rcpts {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert_eq!(r.code, 250, "{rcpt}: {r}");
    }
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(&smtp::dot_stuff(b"Subject: r13\r\n\r\nhello\r\n"))
        .unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!(r.code, 250, "{r}");
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);

    env.wait_for("delivery to bob and the failure notice to jo", || {
        env.queued().is_empty()
            && mailbox(&env, method, "bob").contains("Subject: r13")
            && mailbox(&env, method, "jo").contains("evil8")
    });
    drop(d);
    let notice = mailbox(&env, method, "jo");
    // A failed alias expansion names the alias; a leaf that delivery
    // refused names itself.
    let long_leaf = "a".repeat(LONG);
    for failed in [
        "evil1", "evil4", "evil6", "evil7", "evil8", "a/b", "-oQ/tmp", &long_leaf,
    ] {
        assert!(
            notice.contains(&format!("\t<{failed}@{HOST}>")),
            "{failed}: {notice}"
        );
    }
    assert_eq!(
        notice.matches("Subject: Undeliverable").count(),
        1,
        "one notice: {notice}"
    );
    let after = listing(&root, &skip);
    assert_eq!(before, after, "created outside the mail directories");
    // Inside them: only the mailboxes of bob and jo.
    for dir in ["a/b/mail", "a/b/maildirs"] {
        let mut names: Vec<String> = fs::read_dir(root.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        names.sort();
        let want: &[&str] = if (dir == "a/b/mail") == (method == "mbox") {
            &["bob", "jo"]
        } else {
            &[]
        };
        assert_eq!(names, want, "{dir}");
    }
}

/// R13 with mbox delivery into mail_dir.
#[test]
fn r13_hostile_local_parts_never_leave_mail_dir() {
    scenario("mbox");
}

/// R13 with Maildir delivery into maildir_dir.
#[test]
fn r13_hostile_local_parts_never_leave_maildir_dir() {
    scenario("maildir");
}
