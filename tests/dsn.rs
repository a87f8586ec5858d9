//! Delivery Status Notifications end to end (issue 9 point 1; RFC 3461,
//! RFC 3464): DSN requests given over SMTP to the real binary (`-bs`)
//! decide which notices are sent, shape the delivery-status reports, and
//! are passed on to a smarthost only when it offers DSN.

mod support;
use std::fs;

use support::dsn::{Report, field, parse_report, submit};
use support::sink::{Sink, SinkConfig};
use support::*;

const SENDER: &str = "<sender@host.example.org>";
const BODY: &[u8] = b"Subject: dsn test\r\n\r\nthe secret body\r\n";

/// A local MDA for `users` that fails (exit 67, permanent) or defers (75).
fn mda(env: &Env, users: &str, exit: i32) {
    let script = env.script(
        "mda",
        &format!("#!/bin/sh\ncat >/dev/null\necho 'mailbox says no' >&2\nexit {exit}\n"),
    );
    env.add_conf(&format!(
        "mda_users = \"{users}\"\nmda = \"{}\"\n",
        script.display()
    ));
}

/// The messages in the sender's mailbox (notices and reports).
fn reports(env: &Env) -> Vec<String> {
    mbox_messages(&env.mbox("sender"))
}

fn only_report(env: &Env) -> Report {
    let all = reports(env);
    assert_eq!(all.len(), 1, "one report: {all:?}\n{}", env.log());
    parse_report(&all[0])
}

/// An env with `isp.route` to `sink` as `query_routes.isp`.
fn with_smarthost(sink: &Sink) -> Env {
    let env = Env::new("");
    fs::write(
        env.path("isp.route"),
        format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    env
}

#[test]
fn notify_never_gets_no_notice_but_still_fails() {
    let env = Env::new("");
    mda(&env, "bob;carol", 67);
    submit(&env, &[], SENDER, &["<bob> NOTIFY=NEVER", "<carol>"], BODY);
    let r = only_report(&env);
    // The notice is for carol only; bob failed without one.
    assert!(
        r.text.contains("\t<carol@host.example.org>\n"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("bob@"), "{}", r.text);
    assert_eq!(r.rcpts.len(), 1);
    assert!(env.queued().is_empty(), "both failed: {}", env.log());
    let log = env.log();
    assert!(
        log.contains("<bob@host.example.org> no failure notice (NOTIFY)"),
        "{log}"
    );

    // NOTIFY=NEVER alone: no notice at all, still failed and gone.
    let env = Env::new("");
    mda(&env, "bob", 67);
    submit(&env, &[], SENDER, &["<bob> NOTIFY=NEVER"], BODY);
    assert!(reports(&env).is_empty(), "{:?}", reports(&env));
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(env.log().contains("failed"), "{}", env.log());
}

#[test]
fn notify_success_alone_means_no_failure_notice() {
    let env = Env::new("");
    mda(&env, "bob", 67);
    submit(&env, &[], SENDER, &["<bob> NOTIFY=SUCCESS"], BODY);
    assert!(reports(&env).is_empty(), "{:?}", reports(&env));
    assert!(env.queued().is_empty(), "{}", env.log());
}

#[test]
fn notify_success_reports_local_delivery() {
    let env = Env::new("");
    submit(
        &env,
        &[],
        &format!("{SENDER} ENVID=QQ+2B1"),
        &[
            "<alice> NOTIFY=SUCCESS ORCPT=rfc822;alice+40old.example",
            "<dave>",
        ],
        BODY,
    );
    assert!(env.mbox("alice").contains("the secret body"));
    assert!(env.mbox("dave").contains("the secret body"));
    let r = only_report(&env);
    assert!(
        r.header("Subject").unwrap().starts_with("Delivered:"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("To"), Some("sender@host.example.org"));
    assert_eq!(
        field(&r.message, "Reporting-MTA"),
        Some("dns; host.example.org")
    );
    assert_eq!(field(&r.message, "Original-Envelope-Id"), Some("QQ+1"));
    assert!(field(&r.message, "Arrival-Date").is_some());
    assert_eq!(r.rcpts.len(), 1, "dave asked for nothing: {:?}", r.rcpts);
    let alice = r.rcpt("alice@host.example.org");
    assert_eq!(
        field(alice, "Original-Recipient"),
        Some("rfc822;alice@old.example")
    );
    assert_eq!(field(alice, "Action"), Some("delivered"));
    assert_eq!(field(alice, "Status"), Some("2.0.0"));
    assert_eq!(r.original_type, "text/rfc822-headers");
    assert!(r.original.contains("Subject: dsn test"));
    assert!(!r.original.contains("the secret body"));
}

#[test]
fn notify_failure_reports_status_diagnostic_envid_and_orcpt() {
    let sink = Sink::start(SinkConfig {
        reject_rcpts: vec!["bob@remote.example".into()],
        ..SinkConfig::default()
    });
    let env = with_smarthost(&sink);
    submit(
        &env,
        &["-odq"],
        &format!("{SENDER} ENVID=env-42"),
        &["<bob@remote.example> NOTIFY=FAILURE ORCPT=rfc822;Bob+40old.example"],
        BODY,
    );
    env.ok(&["-qo", "isp"], b"");
    env.ok(&["-q"], b"");
    let r = only_report(&env);
    assert!(r.header("Subject").unwrap().starts_with("Undeliverable:"));
    assert_eq!(field(&r.message, "Original-Envelope-Id"), Some("env-42"));
    let bob = r.rcpt("bob@remote.example");
    assert_eq!(
        field(bob, "Original-Recipient"),
        Some("rfc822;Bob@old.example")
    );
    assert_eq!(field(bob, "Action"), Some("failed"));
    assert_eq!(field(bob, "Status"), Some("5.1.1"));
    assert_eq!(
        field(bob, "Diagnostic-Code"),
        Some("smtp; 550 5.1.1 no such user")
    );
    assert!(field(bob, "Last-Attempt-Date").is_some());
    // No RET: the whole message comes back.
    assert_eq!(r.original_type, "message/rfc822");
    assert!(r.original.contains("the secret body"), "{}", r.original);
    // Not passed on: the sink does not offer DSN.
    let got = &sink.messages();
    assert!(got.is_empty(), "rejected");
}

#[test]
fn ret_hdrs_returns_the_headers_only() {
    let env = Env::new("");
    mda(&env, "bob", 67);
    submit(&env, &[], &format!("{SENDER} RET=HDRS"), &["<bob>"], BODY);
    let msgs = reports(&env);
    assert_eq!(msgs.len(), 1, "{}", env.log());
    assert!(!msgs[0].contains("the secret body"), "{}", msgs[0]);
    let r = parse_report(&msgs[0]);
    assert_eq!(r.original_type, "text/rfc822-headers");
    assert!(r.original.contains("Subject: dsn test"));
    let bob = r.rcpt("bob@host.example.org");
    assert_eq!(field(bob, "Action"), Some("failed"));
    assert!(
        field(bob, "Status").is_some_and(|s| s.starts_with("5.")),
        "{bob:?}"
    );
}

/// Sets the reception time of queued message `id` two hours back, so a
/// delay warning is due (default warn_intervals start at 1h).
fn age(env: &Env, id: &str) {
    let path = env.path("spool").join(format!("{id}-H"));
    let h = fs::read_to_string(&path).unwrap();
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 3600;
    let h: String = h
        .lines()
        .map(|l| {
            if l.starts_with("TR:") {
                format!("TR: {old}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&path, h).unwrap();
}

#[test]
fn delay_warnings_only_with_delay_or_no_notify() {
    let env = Env::new("");
    mda(&env, "bob;carol;dave", 75);
    let id = submit(
        &env,
        &["-odq"],
        SENDER,
        &["<bob> NOTIFY=DELAY", "<carol> NOTIFY=FAILURE", "<dave>"],
        BODY,
    );
    age(&env, &id);
    env.ok(&["-q"], b"");
    let r = only_report(&env);
    assert!(r.header("Subject").unwrap().starts_with("Delayed:"));
    let got: Vec<&str> = r
        .rcpts
        .iter()
        .filter_map(|g| field(g, "Final-Recipient"))
        .collect();
    assert_eq!(
        got,
        [
            "rfc822; bob@host.example.org",
            "rfc822; dave@host.example.org"
        ]
    );
    let bob = r.rcpt("bob@host.example.org");
    assert_eq!(field(bob, "Action"), Some("delayed"));
    assert!(
        field(bob, "Status").is_some_and(|s| s.starts_with("4.")),
        "{bob:?}"
    );
    assert!(field(bob, "Will-Retry-Until").is_some());
    assert_eq!(r.original_type, "text/rfc822-headers");
    assert_eq!(env.queued().len(), 1);

    // Only NOTIFY=FAILURE: no warning at all.
    let env = Env::new("");
    mda(&env, "carol", 75);
    let id = submit(&env, &["-odq"], SENDER, &["<carol> NOTIFY=FAILURE"], BODY);
    age(&env, &id);
    env.ok(&["-q"], b"");
    assert!(reports(&env).is_empty(), "{:?}", reports(&env));
    assert_eq!(env.queued().len(), 1, "still queued: {}", env.log());
}

#[test]
fn relayed_to_a_server_without_dsn_parameters_stay_here() {
    let sink = Sink::start(SinkConfig::default());
    let env = with_smarthost(&sink);
    submit(
        &env,
        &["-odq"],
        &format!("{SENDER} RET=FULL ENVID=e1"),
        &["<bob@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+40remote.example"],
        BODY,
    );
    env.ok(&["-qo", "isp"], b"");
    env.ok(&["-q"], b"");
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .params
            .iter()
            .all(|p| !p.starts_with("RET=") && !p.starts_with("ENVID=")),
        "{:?}",
        got[0].params
    );
    assert_eq!(got[0].rcpt_params, [Vec::<String>::new()]);
    // We report "relayed": nobody after us will.
    let r = only_report(&env);
    let bob = r.rcpt("bob@remote.example");
    assert_eq!(field(bob, "Action"), Some("relayed"));
    assert_eq!(field(bob, "Status"), Some("2.0.0"));
}

#[test]
fn relayed_to_a_server_with_dsn_parameters_go_along_and_no_report() {
    let sink = Sink::start(SinkConfig {
        dsn: true,
        ..SinkConfig::default()
    });
    let env = with_smarthost(&sink);
    submit(
        &env,
        &["-odq"],
        &format!("{SENDER} RET=HDRS ENVID=QQ+2B1"),
        &[
            "<bob@remote.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob+40remote.example",
            "<carol@remote.example>",
        ],
        BODY,
    );
    env.ok(&["-qo", "isp"], b"");
    env.ok(&["-q"], b"");
    let got = sink.messages();
    assert_eq!(got.len(), 1, "{}", env.log());
    let m = &got[0];
    assert!(m.params.contains(&"RET=HDRS".to_string()), "{:?}", m.params);
    assert!(
        m.params.contains(&"ENVID=QQ+2B1".to_string()),
        "{:?}",
        m.params
    );
    assert_eq!(m.rcpts, ["bob@remote.example", "carol@remote.example"]);
    assert_eq!(
        m.rcpt_params,
        [
            vec![
                "NOTIFY=SUCCESS,DELAY".to_string(),
                "ORCPT=rfc822;bob+40remote.example".to_string()
            ],
            vec![]
        ]
    );
    assert!(
        reports(&env).is_empty(),
        "the smarthost reports now: {:?}",
        reports(&env)
    );
    assert!(env.queued().is_empty());
}

#[test]
fn dsn_requests_survive_in_the_spool() {
    let env = Env::new("");
    let id = submit(
        &env,
        &["-odq"],
        &format!("{SENDER} RET=HDRS ENVID=x"),
        &["<bob> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40c", "<carol>"],
        BODY,
    );
    let h = env.header_file(&id);
    assert!(h.contains("\nDE:RET=HDRS ENVID=x\n"), "{h}");
    assert!(
        h.contains("\nDR:NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40c <bob@host.example.org>\n"),
        "{h}"
    );
    assert_eq!(h.matches("DR:").count(), 1, "{h}");
}
