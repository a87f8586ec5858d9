//! A queue people can read (issue 10 point 4): `mailq --json` / `-bp
//! -json` as JSON Lines checked against the spool, and the text `-bp`
//! with each waiting recipient's last error under it, the 1.0 lines
//! unchanged.

mod support;
use std::fs;
use std::process::Command;

use serde_json::Value;
use support::*;

/// alice: mbox; bob: an MDA that defers (exit 75, with a reason);
/// remote.example only over the `isp` connection, which is offline until
/// the test writes the online file.
fn env() -> Env {
    let env = Env::new("");
    let mda = env.script(
        "busy",
        "#!/bin/sh\ncat >/dev/null\necho \"mailbox of $1 is busy\"\nexit 75\n",
    );
    fs::write(
        env.path("isp.route"),
        "allowed_recipients = \"*@remote.example\"\nmail_host = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    env.add_conf(&format!(
        "mbox_default = mda\nmbox_users = \"alice\"\nmda = \"{m} ${{rcpt_local}}\"\n\
         online_detect = file\nonline_file = \"{o}\"\nquery_routes.isp = \"{i}\"\n",
        m = mda.display(),
        o = env.path("online").display(),
        i = env.path("isp.route").display(),
    ));
    env
}

/// Two queued messages after one run: `local` (alice delivered, bob
/// deferred by the MDA) and `remote` (carol waits for `isp`, dave has no
/// route at all).
fn queued(env: &Env) -> (String, String) {
    env.ok(
        &["-odq", "-f", "root", "alice", "bob"],
        b"Subject: one\n\nbody one\n",
    );
    let local = env.queued()[0].clone();
    env.ok(
        &[
            "-odq",
            "-f",
            "root",
            "carol@remote.example",
            "dave@nowhere.example",
        ],
        b"Subject: two\n\nbody two, longer\n",
    );
    let remote = env.queued().into_iter().find(|i| *i != local).unwrap();
    env.ok(&["-q"], b"");
    assert_eq!(env.queued().len(), 2, "{}", env.log());
    assert_eq!(mbox_messages(&env.mbox("alice")).len(), 1, "{}", env.log());
    (local, remote)
}

fn parse_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `mailq --json` through the alias name.
fn mailq_json(env: &Env) -> String {
    let mut c = Command::new(env.alias_binary("mailq"));
    c.arg("-C").arg(&env.conf).arg("--json");
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn by_id<'v>(msgs: &'v [Value], id: &str) -> &'v Value {
    msgs.iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {msgs:?}"))
}

fn rcpt<'v>(msg: &'v Value, addr: &str) -> &'v Value {
    msg["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == addr)
        .unwrap_or_else(|| panic!("{addr} not in {msg}"))
}

/// A spool header file's value for `tag` (`DS: 9` → `9`).
fn spool_value(env: &Env, id: &str, tag: &str) -> String {
    let h = env.header_file(id);
    h.lines()
        .find_map(|l| l.strip_prefix(tag))
        .unwrap_or_else(|| panic!("no {tag} in {h}"))
        .trim()
        .to_string()
}

#[test]
fn json_listing_matches_the_spool() {
    let env = env();
    let (local, remote) = queued(&env);
    // The deferral reason is in the spool, on an LE: line of ours.
    let le = spool_value(&env, &local, "LE:");
    assert!(le.contains(&format!("<bob@{HOST}> 4.3.0 process")), "{le}");
    assert!(
        le.ends_with("returned 75 (temporary failure): mailbox of bob is busy"),
        "{le}"
    );

    let out = mailq_json(&env);
    let msgs = parse_lines(&out);
    assert_eq!(msgs.len(), 2, "{out}");
    let mut ids: Vec<&str> = msgs.iter().map(|m| m["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, env.queued());
    for m in &msgs {
        let id = m["id"].as_str().unwrap();
        assert_eq!(m["size"].to_string(), spool_value(&env, id, "DS:"));
        assert_eq!(m["sender"], format!("root@{HOST}"));
        let tr: i64 = spool_value(&env, id, "TR:").parse().unwrap();
        let arrival = chrono::DateTime::parse_from_rfc3339(m["arrival"].as_str().unwrap()).unwrap();
        assert_eq!(arrival.timestamp(), tr);
    }

    let one = by_id(&msgs, &local);
    assert_eq!(one["recipients"].as_array().unwrap().len(), 2, "{one}");
    let alice = rcpt(one, &format!("alice@{HOST}"));
    assert_eq!(alice["state"], "delivered");
    assert_eq!(alice["last_error"], Value::Null);
    assert_eq!(alice["next_attempt"], Value::Null);
    let bob = rcpt(one, &format!("bob@{HOST}"));
    assert_eq!(bob["state"], "pending");
    assert_eq!(bob["delivery"], "local");
    assert_eq!(bob["next_attempt"], "next queue run");
    assert_eq!(bob["routes"], serde_json::json!([]));
    let why = bob["last_error"].as_str().unwrap();
    assert!(le.ends_with(why), "{why} vs {le}");
    // The same reason the log gives for the deferral.
    assert!(
        env.log().contains(why.split("4.3.0").nth(1).unwrap()),
        "{why}\n{}",
        env.log()
    );
    let at = chrono::DateTime::parse_from_rfc3339(bob["last_attempt"].as_str().unwrap()).unwrap();
    assert_eq!(
        Some(at.timestamp().to_string().as_str()),
        le.split(' ').next()
    );

    let two = by_id(&msgs, &remote);
    let carol = rcpt(two, "carol@remote.example");
    assert_eq!(carol["state"], "pending");
    assert_eq!(carol["delivery"], "remote");
    assert_eq!(carol["last_error"], Value::Null);
    assert_eq!(carol["next_attempt"], "when connection isp is online");
    let isp = env.path("isp.route").display().to_string();
    assert_eq!(
        carol["routes"],
        serde_json::json!([{"file": isp, "connection": "isp"}])
    );
    let dave = rcpt(two, "dave@nowhere.example");
    assert_eq!(dave["next_attempt"], "no route");
    assert_eq!(dave["routes"], serde_json::json!([]));

    // Online as isp: carol goes with the next run.
    fs::write(env.path("online"), "isp\n").unwrap();
    let msgs = parse_lines(&env.ok(&["-bp", "-json"], b""));
    let carol = rcpt(by_id(&msgs, &remote), "carol@remote.example");
    assert_eq!(carol["next_attempt"], "next queue run");
    assert_eq!(carol["routes"][0]["connection"], "isp");
}

#[test]
fn text_listing_adds_the_last_error_line_only() {
    let env = env();
    let (local, remote) = queued(&env);
    let out = env.ok(&["-bp"], b"");
    let lines: Vec<&str> = out.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with(&format!("{local} <= ")))
        .unwrap();
    assert!(
        lines[first].starts_with(&format!("{local} <= <root@{HOST}> size=9 age=")),
        "{out}"
    );
    assert_eq!(lines[first + 1], format!("              == <bob@{HOST}>"));
    let err = lines[first + 2];
    assert!(err.starts_with("                 (last error "), "{out}");
    assert!(err.contains(" ago: 4.3.0 process '"), "{out}");
    assert!(err.ends_with(": mailbox of bob is busy)"), "{out}");
    // Without the new lines the listing is the 1.0 one: each message line,
    // then its pending recipients.
    let old: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with("                 ("))
        .collect();
    assert_eq!(old.len(), 5, "{out}");
    for l in &old {
        assert!(
            l.starts_with("              == <")
                || l.starts_with(&format!("{local} <= "))
                || l.starts_with(&format!("{remote} <= ")),
            "{l}"
        );
    }
    assert!(
        old.contains(&"              == <carol@remote.example>"),
        "{out}"
    );
    assert!(
        old.contains(&"              == <dave@nowhere.example>"),
        "{out}"
    );
}

#[test]
fn delivered_recipient_loses_its_last_error() {
    let env = env();
    env.ok(&["-f", "root", "bob", "erin"], b"Subject: three\n\nx\n");
    let id = env.queued()[0].clone();
    let h = env.header_file(&id);
    assert!(
        h.contains("\nLE:") && h.contains(&format!(" <bob@{HOST}> 4.3.0 ")),
        "{h}"
    );
    assert!(h.contains(&format!(" <erin@{HOST}> 4.3.0 ")), "{h}");
    // bob's mailbox is free again, erin's is not.
    env.script(
        "busy",
        "#!/bin/sh\ncat >/dev/null\n[ \"$1\" = bob ] && exit 0\necho \"still busy\"\nexit 75\n",
    );
    env.ok(&["-q"], b"");
    let h = env.header_file(&id);
    assert!(!h.contains(&format!(" <bob@{HOST}> 4.3.0 ")), "{h}");
    assert!(
        h.contains(&format!(" <erin@{HOST}> 4.3.0 ")) && h.contains("still busy"),
        "{h}"
    );
    let msgs = parse_lines(&mailq_json(&env));
    let bob = rcpt(&msgs[0], &format!("bob@{HOST}"));
    assert_eq!(bob["state"], "delivered");
    assert_eq!(bob["last_error"], Value::Null);
    let erin = rcpt(&msgs[0], &format!("erin@{HOST}"));
    assert!(
        erin["last_error"]
            .as_str()
            .unwrap()
            .ends_with(": still busy"),
        "{erin}"
    );
}

#[test]
fn empty_queue_and_misuse() {
    let env = env();
    assert_eq!(mailq_json(&env), "");
    assert_eq!(env.ok(&["-bp"], b""), "mail queue is empty.\n");
    for args in [&["--json"][..], &["-q", "--json"], &["-json", "a@b"]] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            stderr(&out).contains("--json is only valid with -bp or mailq"),
            "{args:?}"
        );
    }
}
