//! RELIABILITY R15, bounce safety: a permanent failure for a recipient
//! whose address holds `$(…)`, backticks and `;`, from a sender whose
//! address holds them too and whose own delivery fails. The notice to
//! the sender fails in turn: a double bounce goes to postmaster exactly
//! once, the addresses appear in it as data, nothing is executed (marker
//! files), no loop, and the queue does not grow over further runs.

mod support;
use std::path::{Path, PathBuf};
use support::*;

/// The markers a shell would create if any address were evaluated. The
/// MDA runs in `/` (exec), a shell would run wherever it was started:
/// look in both places.
fn markers(env: &Env, tag: &str) -> Vec<PathBuf> {
    ["m1", "m2", "m3", "m4"]
        .iter()
        .flat_map(|m| {
            let name = format!("{m}-{tag}");
            [
                Path::new("/").join(&name),
                env.path(&name),
                env.path("bin").join(&name),
            ]
        })
        .collect()
}

#[test]
fn r15_double_bounce_to_postmaster_once_and_nothing_executed() {
    let env = Env::new("");
    let tag = format!("r15-{}", std::process::id());
    // Every delivery but postmaster's goes to an MDA that fails for good.
    let mda = env.script(
        "fail",
        "#!/bin/sh\ncat >/dev/null\necho \"no mailbox for $1\"\nexit 67\n",
    );
    env.add_conf(&format!(
        "mbox_default = mda\nmbox_users = \"postmaster\"\nmda = \"{} ${{rcpt_local}}\"\n",
        mda.display()
    ));
    let sender = format!("\"$(touch m1-{tag})`touch m2-{tag}`\"@{HOST}");
    let rcpt = format!("\"x;touch m3-{tag};$(id>m4-{tag})\"@{HOST}");
    env.ok(&["-f", &sender, &rcpt], b"Subject: doomed\n\nbody\n");
    let notices = mbox_messages(&env.mbox("postmaster"));
    assert_eq!(notices.len(), 1, "one double bounce\n{}", env.log());
    let n = &notices[0];
    assert!(
        n.contains("Return-path: <>") || n.starts_with("From  "),
        "{n}"
    );
    // The addresses are shown as data, byte for byte.
    assert!(n.contains(&format!("touch m3-{tag};$(id>m4-{tag})")), "{n}");
    assert!(
        env.queued().is_empty(),
        "{:?}\n{}",
        env.spool_files(),
        env.log()
    );
    // Further runs find nothing to do: no loop, no growth.
    for _ in 0..2 {
        env.ok(&["-q"], b"");
        assert!(env.queued().is_empty(), "{}", env.log());
        assert_eq!(mbox_messages(&env.mbox("postmaster")).len(), 1);
    }
    for m in markers(&env, &tag) {
        assert!(
            !m.exists(),
            "{} exists: an address was executed",
            m.display()
        );
    }
}
