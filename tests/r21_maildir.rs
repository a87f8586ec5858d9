//! R21 end to end: a queue run killed (-9, the `maildir-written` crash
//! point in src/deliver/maildir.rs) after the message file was written
//! and synced in `tmp/` but before it was linked into `new/`. Guarantees
//! checked: `new/` holds nothing (the partial state is only in `tmp/`,
//! which maildir(5) allows), the message is still queued, and the next
//! run delivers it exactly once, byte for byte the same text.
//!
//! The name clash ("pre-create the name masqmail will choose next") is not
//! end to end: names are `<secs>.M<micros>P<pid>Q<n>.<host>`, with the
//! pid of a process not yet started and the microsecond of the create, so
//! no test can know the next name from outside. The `O_EXCL` create and
//! the `link(2)` retry on a clash are tested at unit level
//! (`deliver::maildir::tests::a_clash_never_overwrites`, which feeds
//! `deliver_into` taken names for both `tmp/` and `new/`).

mod support;

use std::fs;
use std::path::Path;

use support::*;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// R21: kill -9 between the tmp/ write and the link into new/: nothing in new/, the message still queued, delivered once by the next run.
#[test]
fn r21_kill_between_write_and_link_leaves_new_empty_and_delivers_once() {
    let env = Env::new("");
    let maildirs = env.path("maildirs");
    fs::create_dir(&maildirs).unwrap();
    env.add_conf(&format!(
        "maildir_users = \"md\"\nmaildir_dir = \"{}\"",
        maildirs.display()
    ));
    env.ok(
        &["-odq", "md"],
        b"Subject: crash in maildir\n\nthe one body\n",
    );
    let id = env.queued();
    assert_eq!(id.len(), 1);

    let mut c = env.cmd();
    c.arg("-q").env("MASQMAIL_CRASHPOINT", "maildir-written");
    let out = run_with_input(c, b"");
    assert!(!out.status.success(), "not killed at the crash point");
    let md = maildirs.join("md");
    assert_eq!(
        names(&md.join("new")),
        Vec::<String>::new(),
        "new/ is empty"
    );
    let tmp = names(&md.join("tmp"));
    assert_eq!(tmp.len(), 1, "the written file is left in tmp/");
    let written = fs::read_to_string(md.join("tmp").join(&tmp[0])).unwrap();
    assert!(written.contains("the one body"), "{written}");
    assert_eq!(env.queued(), id, "still queued");

    env.ok(&["-q"], b"");
    let new = names(&md.join("new"));
    assert_eq!(new.len(), 1, "delivered once: {new:?}");
    assert_ne!(new[0], tmp[0], "a fresh name, not the leftover's");
    let delivered = fs::read_to_string(md.join("new").join(&new[0])).unwrap();
    assert!(delivered.contains("Subject: crash in maildir\n"));
    assert!(delivered.contains("the one body\n"));
    assert!(env.queued().is_empty(), "{}", env.log());
    // The crashed run's leftover is untouched (maildir(5) readers ignore
    // tmp/; cleaning it is the reader's business).
    assert_eq!(
        fs::read_to_string(md.join("tmp").join(&tmp[0])).unwrap(),
        written
    );
    // Another run delivers nothing more.
    env.ok(&["-q"], b"");
    assert_eq!(names(&md.join("new")).len(), 1);
}
