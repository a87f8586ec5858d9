//! Aliases (issue 2 point 7, spec config.md §5 and delivery.md §8).

mod support;
use std::fs;
use support::*;

fn with_aliases(normal: &str, glob: Option<&str>) -> Env {
    let env = Env::new("");
    fs::write(env.path("aliases"), normal).unwrap();
    let mut extra = format!("alias_file = \"{}\"\n", env.path("aliases").display());
    if let Some(g) = glob {
        fs::write(env.path("globaliases"), g).unwrap();
        extra += &format!(
            "globalias_file = \"{}\"\n",
            env.path("globaliases").display()
        );
    }
    let conf = fs::read_to_string(&env.conf).unwrap() + &extra;
    fs::write(&env.conf, conf).unwrap();
    env
}

#[test]
fn expansion_backslash_and_remote_targets() {
    let env = with_aliases(
        "# comment\nroot: \\root, carol\ncarol: \\carol, dave@remote.example\n",
        None,
    );
    env.ok(&["root"], b"Subject: a\n\nx\n");
    assert_eq!(mbox_messages(&env.mbox("root")).len(), 1);
    assert_eq!(mbox_messages(&env.mbox("carol")).len(), 1);
    // the remote expansion stays queued
    let ids = env.queued();
    assert_eq!(ids.len(), 1, "{}", env.log());
    assert!(
        env.log().contains(&format!("=> <root@{HOST}> with mbox"))
            && env
                .log()
                .contains(&format!("=> carol@{HOST} <root@{HOST}> with mbox")),
        "{}",
        env.log()
    );
    // Envelope-to names the original recipient
    assert!(
        env.mbox("carol")
            .contains(&format!("Envelope-to: <root@{HOST}>")),
        "{}",
        env.mbox("carol")
    );
}

/// An alias that keeps a copy for itself (`root: \\root, …`) and also
/// has a target still waiting: the delivered copy for `root` must not make
/// the envelope recipient `root` look finished when the message is read
/// back, or the waiting target would be dropped (issue 9, "nothing lost").
#[test]
fn a_self_copy_does_not_finish_the_alias_with_a_target_waiting() {
    use support::sink::{Sink, SinkConfig};
    let env = with_aliases("root: \\root, dave@remote.example\n", None);
    let sink = Sink::start(SinkConfig::default());
    fs::write(
        env.path("isp.route"),
        format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    env.ok(&["root"], b"Subject: a\n\nx\n");
    assert_eq!(mbox_messages(&env.mbox("root")).len(), 1);
    assert_eq!(env.queued().len(), 1, "dave waits: {}", env.log());
    // Read back and run again (no route): still waiting, no second copy.
    env.ok(&["-q"], b"");
    assert_eq!(env.queued().len(), 1, "dave still waits: {}", env.log());
    assert_eq!(mbox_messages(&env.mbox("root")).len(), 1, "root once");
    env.ok(&["-qo", "isp"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "dave gets it: {}", env.log());
    assert_eq!(msgs[0].rcpts, vec!["dave@remote.example".to_string()]);
    assert_eq!(mbox_messages(&env.mbox("root")).len(), 1, "root once");
}

/// R14: the alias loop a→b→a bounces once and delivers nothing.
#[test]
fn loop_bounces_and_delivers_nothing() {
    let env = with_aliases("loop1: loop2\nloop2: loop1\nself: self, x\n", None);
    env.ok(
        &["-f", "sender", "loop1", "self"],
        b"Subject: looping\n\nx\n",
    );
    assert!(
        env.mbox("loop1").is_empty() && env.mbox("loop2").is_empty() && env.mbox("x").is_empty()
    );
    let bounce = env.mbox("sender");
    assert!(
        bounce.contains("Subject: looping"),
        "bounce quotes the message: {bounce}\n{}",
        env.log()
    );
    assert!(env.log().contains("detected loop"), "{}", env.log());
    assert!(env.queued().is_empty());
}

#[test]
fn invalid_target_bounces_the_aliased_address() {
    let env = with_aliases("bad: good, a..b\n", None);
    env.ok(&["-f", "sender", "bad"], b"Subject: inval\n\nx\n");
    assert!(env.mbox("good").is_empty(), "none of the expansions get it");
    assert!(
        env.mbox("sender").contains(&format!("bad@{HOST}")),
        "{}",
        env.mbox("sender")
    );
}

#[test]
fn caseless_matching_and_postmaster() {
    let env = with_aliases("PostMaster: \\admin\nBob: \\robert\n", None);
    env.ok(&["postmaster", "bob", "Bob"], b"x\n");
    assert_eq!(
        mbox_messages(&env.mbox("admin")).len(),
        1,
        "postmaster is always caseless"
    );
    assert_eq!(
        mbox_messages(&env.mbox("robert")).len(),
        1,
        "Bob matches exactly"
    );
    assert_eq!(
        mbox_messages(&env.mbox("bob")).len(),
        1,
        "bob does not match Bob without caseless_matching"
    );

    let env = with_aliases("Bob: \\robert\n", None);
    let conf = fs::read_to_string(&env.conf).unwrap() + "caseless_matching = true\n";
    fs::write(&env.conf, conf).unwrap();
    env.ok(&["bob"], b"x\n");
    assert_eq!(mbox_messages(&env.mbox("robert")).len(), 1);
}

#[test]
fn glob_aliases_win_and_keep_file_order() {
    let env = with_aliases(
        "info: \\normal\n",
        Some(&format!(
            "postmaster@*: \\ken\ninfo@{HOST}: \\doug\nlist-*@{HOST}: \\lists\n*@{HOST}: \\catchall\n"
        )),
    );
    env.ok(&["info", "list-x", "POSTMASTER", "random"], b"x\n");
    for (user, n) in [
        ("doug", 1),
        ("lists", 1),
        ("ken", 1),
        ("catchall", 1),
        ("normal", 0),
    ] {
        assert_eq!(
            mbox_messages(&env.mbox(user)).len(),
            n,
            "{user}: {}",
            env.log()
        );
    }
}
