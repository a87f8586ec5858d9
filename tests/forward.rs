//! Users' `~/.forward` files end to end (issue 10 point 6), as root in
//! the installed setup (no `run_as_user`), with temporary passwd users
//! whose homes live in the test's directory: forwarding to local and
//! remote addresses, `\user`, commands and files run as the user, the
//! trust checks (group-writable and symlinked files are refused and the
//! mail goes to the mailbox), a loop between two users, `forward_files =
//! false`, and the deferral when masqmail cannot become the user.
//!
//! Not root: each test prints SKIPPED and returns (CI runs as root).

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;

use support::users::TempUser;
use support::*;

/// The installed setup: root delivers with recipients' identities.
fn root_env(extra: &str) -> Env {
    let env = Env::new(extra);
    let conf = fs::read_to_string(&env.conf)
        .unwrap()
        .replace("run_as_user = true", "run_as_user = false");
    fs::write(&env.conf, conf).unwrap();
    set_mode(env.dir.path(), 0o755);
    set_mode(&env.path("bin"), 0o755);
    set_mode(&env.path("mail"), 0o1777);
    env
}

fn user(env: &Env, tag: &str) -> TempUser {
    TempUser::create(&env.path(&format!("home-{tag}")))
}

/// A command that records its uid, USER and HOME in `$HOME/ran`.
fn recorder(env: &Env) -> std::path::PathBuf {
    env.script(
        "rec",
        "#!/bin/sh\ncat >/dev/null\nprintf '%s %s %s\\n' \"$(id -u)\" \"$USER\" \"$HOME\" >> \"$HOME/ran\"\n",
    )
}

fn skip() -> bool {
    if !is_root() {
        eprintln!("SKIPPED: not root");
    }
    !is_root()
}

#[test]
fn forward_to_a_local_user_a_remote_address_and_a_kept_copy() {
    if skip() {
        return;
    }
    let env = root_env("");
    let alice = user(&env, "alice");
    let bob = user(&env, "bob");
    alice.forward(
        &format!(
            "# forwarded\n{}, carol@remote.example\n\\{}\n",
            bob.name, alice.name
        ),
        0o644,
    );
    env.ok(&[&alice.name], b"Subject: fwd\n\nhello\n");
    assert_copies(&env, &bob.name, 1);
    assert_copies(&env, &alice.name, 1);
    // The remote target has no route: the message stays queued for it.
    let queued = env.queued();
    assert_eq!(queued.len(), 1, "{}", env.log());
    assert!(
        !env.log().contains("failed"),
        "nothing may fail: {}",
        env.log()
    );
    // A later queue run does not deliver the local targets again.
    env.ok(&["-q"], b"");
    assert_copies(&env, &bob.name, 1);
    assert_copies(&env, &alice.name, 1);
    assert_eq!(env.queued(), queued);
}

#[test]
fn commands_and_files_run_as_the_user() {
    if skip() {
        return;
    }
    let env = root_env("");
    let alice = user(&env, "alice");
    let rec = recorder(&env);
    let saved = alice.home.join("saved");
    alice.forward(
        &format!("\"|{}\"\n{}\n", rec.display(), saved.display()),
        0o600,
    );
    env.ok(&[&alice.name], b"Subject: as the user\n\nbody\n");
    let ran = fs::read_to_string(alice.home.join("ran")).unwrap_or_default();
    assert_eq!(
        ran,
        format!("{} {} {}\n", alice.uid, alice.name, alice.home.display()),
        "{}",
        env.log()
    );
    let meta = fs::metadata(&saved).unwrap();
    assert_eq!(meta.uid(), alice.uid);
    assert_eq!(meta.mode() & 0o777, 0o600);
    let text = fs::read_to_string(&saved).unwrap();
    assert_eq!(mbox_messages(&text).len(), 1, "{text}");
    assert!(text.contains("Subject: as the user"));
    // Nothing went to the mailbox: the .forward has no `\user`.
    assert_eq!(env.mbox(&alice.name), "");
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(env.log().contains(&format!(".forward of {}", alice.name)));
}

/// A `.forward` command has the user's supplementary groups too, as
/// after a login (std's `Command::uid` would have cleared them).
#[test]
fn commands_get_the_users_supplementary_groups() {
    if skip() {
        return;
    }
    let env = root_env("");
    let alice = user(&env, "alice");
    let team = user(&env, "team");
    alice.join_group_of(&team);
    let groups = env.script(
        "groups",
        "#!/bin/sh\ncat >/dev/null\nid -G > \"$HOME/groups\"\n",
    );
    alice.forward(&format!("\"|{}\"\n", groups.display()), 0o644);
    env.ok(&[&alice.name], b"Subject: groups\n\nbody\n");
    let text = fs::read_to_string(alice.home.join("groups")).unwrap_or_default();
    let got: Vec<u32> = text
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    assert_eq!(
        got,
        vec![alice.gid, team.gid],
        "id -G: {text:?}\n{}",
        env.log()
    );
}

#[test]
fn a_group_writable_forward_is_refused_and_the_mailbox_gets_the_mail() {
    if skip() {
        return;
    }
    let env = root_env("");
    let alice = user(&env, "alice");
    let rec = recorder(&env);
    alice.forward(&format!("\"|{}\"\n", rec.display()), 0o664);
    env.ok(&[&alice.name], b"Subject: refused\n\nx\n");
    assert!(!alice.home.join("ran").exists(), "the command must not run");
    assert_copies(&env, &alice.name, 1);
    assert!(
        env.log()
            .contains("ignored (it is writable by group or others"),
        "{}",
        env.log()
    );
}

#[test]
fn a_symlinked_forward_is_refused_and_the_mailbox_gets_the_mail() {
    if skip() {
        return;
    }
    let env = root_env("");
    let alice = user(&env, "alice");
    let rec = recorder(&env);
    let real = alice.home.join("real-forward");
    fs::write(&real, format!("\"|{}\"\n", rec.display())).unwrap();
    alice.chown(&real);
    set_mode(&real, 0o644);
    std::os::unix::fs::symlink(&real, alice.home.join(".forward")).unwrap();
    env.ok(&[&alice.name], b"Subject: symlink\n\nx\n");
    assert!(!alice.home.join("ran").exists(), "the command must not run");
    assert_copies(&env, &alice.name, 1);
    assert!(env.log().contains("symbolic link"), "{}", env.log());
}

#[test]
fn a_loop_between_two_forwards_bounces_once() {
    if skip() {
        return;
    }
    let env = root_env("");
    let a = user(&env, "a");
    let b = user(&env, "b");
    let sender = user(&env, "sender");
    a.forward(&format!("{}\n", b.name), 0o644);
    b.forward(&format!("{}\n", a.name), 0o644);
    env.ok(
        &["-f", &sender.name, &a.name],
        b"Subject: looping\n\nround and round\n",
    );
    let bounces = mbox_messages(&env.mbox(&sender.name));
    assert_eq!(bounces.len(), 1, "{}", env.log());
    assert!(
        bounces[0].contains("Alias expansion failed"),
        "{}",
        bounces[0]
    );
    assert!(env.log().contains("detected loop"), "{}", env.log());
    assert_eq!(env.mbox(&a.name), "");
    assert_eq!(env.mbox(&b.name), "");
    assert!(env.queued().is_empty(), "{}", env.log());
}

#[test]
fn forward_files_false_ignores_them() {
    if skip() {
        return;
    }
    let env = root_env("forward_files = false");
    let alice = user(&env, "alice");
    let rec = recorder(&env);
    alice.forward(&format!("\"|{}\"\n", rec.display()), 0o644);
    env.ok(&[&alice.name], b"Subject: off\n\nx\n");
    assert!(!alice.home.join("ran").exists());
    assert_copies(&env, &alice.name, 1);
}

/// With `run_as_user` masqmail cannot become the user: the command is
/// deferred with the reason, never run as masqmail's own identity.
#[test]
fn without_a_user_switch_commands_are_deferred() {
    if skip() {
        return;
    }
    let env = Env::new("");
    set_mode(env.dir.path(), 0o755);
    let alice = user(&env, "alice");
    let rec = recorder(&env);
    alice.forward(&format!("\"|{}\"\n", rec.display()), 0o644);
    env.ok(&[&alice.name], b"Subject: deferred\n\nx\n");
    assert!(!alice.home.join("ran").exists());
    assert_eq!(env.queued().len(), 1, "{}", env.log());
    assert!(
        env.log().contains("never run as another user"),
        "{}",
        env.log()
    );
}

/// `user`'s mailbox holds exactly `n` messages (the log shown if not).
#[track_caller]
fn assert_copies(env: &Env, user: &str, n: usize) {
    assert_eq!(mbox_messages(&env.mbox(user)).len(), n, "{}", env.log());
}
