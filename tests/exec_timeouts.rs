//! Hung helper commands end to end (issue 7, point 4): an
//! `auth_secret_command` or a `pass_command` that never finishes is killed
//! at `exec::helper_limit` (here `command_time_limit = 1s`); its route's
//! recipients stay queued, neither bounced nor blocking the other routes
//! of the same `-qo` run.

mod support;
use std::fs;

use support::pop3::{Pop3Config, Pop3Server};
use support::sink::{Sink, SinkConfig};
use support::*;

const HANG: &str = "#!/bin/sh\nexec sleep 1000\n";

/// A route file in the env's directory; returns its path as text.
fn route(env: &Env, name: &str, lines: &str) -> String {
    let p = env.path(name);
    fs::write(&p, lines).unwrap();
    p.display().to_string()
}

#[test]
fn a_hung_auth_secret_command_defers_only_its_route() {
    let sink_a = Sink::start(SinkConfig::default());
    let sink_b = Sink::start(SinkConfig::default());
    let env = Env::new("command_time_limit = 1s\n");
    let hang = env.script("secret", HANG);
    let a = route(
        &env,
        "a.route",
        &format!(
            "allowed_recipients = \"*@alpha.example\"\nmail_host = \"127.0.0.1:{}\"\n\
             auth_login = \"jo\"\nauth_secret_command = \"{}\"\n",
            sink_a.addr.port(),
            hang.display()
        ),
    );
    let b = route(
        &env,
        "b.route",
        &format!(
            "allowed_recipients = \"*@beta.example\"\nmail_host = \"127.0.0.1:{}\"\n",
            sink_b.addr.port()
        ),
    );
    env.add_conf(&format!("query_routes.isp = \"{a};{b}\"\n"));
    env.ok(
        &["-odq", "-f", "jo", "ann@alpha.example", "ben@beta.example"],
        b"Subject: two routes\n\nx\n",
    );
    let ids = env.queued();
    assert_eq!(ids.len(), 1);

    // Returns: the helper was killed at its deadline.
    env.ok(&["-qo", "isp"], b"");

    let msgs = sink_b.messages();
    assert_eq!(msgs.len(), 1, "{}", env.log());
    assert_eq!(msgs[0].rcpts, ["ben@beta.example"]);
    assert_eq!(sink_a.connections(), 0, "no connection without the secret");
    assert_eq!(env.queued(), ids, "still queued for ann: {}", env.log());
    let h = env.header_file(&ids[0]);
    assert!(h.contains("RT: <ann@alpha.example>"), "{h}");
    assert!(env.mbox("jo").is_empty(), "no bounce, no warning");
    let log = env.log();
    let line = log
        .lines()
        .find(|l| l.contains("auth_secret_command"))
        .unwrap_or_else(|| panic!("no line for the secret command: {log}"));
    assert!(
        line.contains("a.route") && line.contains("killed after the time limit of 1s"),
        "{line}"
    );
}

#[test]
fn a_hung_pass_command_skips_smtp_after_pop() {
    let sink = Sink::start(SinkConfig::default());
    let pop = Pop3Server::start(Pop3Config {
        users: vec![("jo".into(), "s3cret".into())],
        ..Pop3Config::default()
    });
    let env = Env::new("command_time_limit = 1s\n");
    let hang = env.script("pass", HANG);
    let get = env.path("isp.get");
    fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = jo\npass_command = \"{}\"\ntls = none\n",
            pop.port(),
            hang.display()
        ),
    )
    .unwrap();
    let r = route(
        &env,
        "isp.route",
        &format!(
            "mail_host = \"127.0.0.1:{}\"\npop3_login = \"{}\"\n",
            sink.addr.port(),
            get.display()
        ),
    );
    env.add_conf(&format!("query_routes.isp = \"{r}\"\n"));
    env.ok(
        &["-odq", "-f", "jo", "bob@remote.example"],
        b"Subject: hi\n\nx\n",
    );
    let ids = env.queued();
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(pop.connections(), 0, "the password comes first");
    assert_eq!(sink.connections(), 0, "{}", env.log());
    assert_eq!(env.queued(), ids, "{}", env.log());
    let log = env.log();
    assert!(
        log.lines().any(|l| l.contains("not attempted")
            && l.contains("pass_command")
            && l.contains("killed after the time limit of 1s")),
        "{log}"
    );
}
