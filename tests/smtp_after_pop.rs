//! SMTP-after-POP end to end (delivery.md §10.4, §15.5): `-qo isp` with a
//! route whose `pop3_login` names a get file logs in to the test POP3
//! server before the smarthost gets the mail; a failed login leaves the
//! mail queued, neither bounced nor deferred.

mod support;
use std::fs;

use support::pop3::{Pop3Config, Pop3Server};
use support::sink::{Sink, SinkConfig};
use support::*;

/// An env whose `query_routes.isp` route sends to `sink` after a POP3
/// login as jo with `pass`.
fn setup(sink: &Sink, pop: &Pop3Server, pass: &str) -> Env {
    let env = Env::new("");
    let get = env.path("isp.get");
    fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = jo\npass = \"{pass}\"\ntls = none\n",
            pop.port()
        ),
    )
    .unwrap();
    let route = env.path("isp.route");
    fs::write(
        &route,
        format!(
            "mail_host = \"127.0.0.1:{}\"\npop3_login = \"{}\"\n",
            sink.addr.port(),
            get.display()
        ),
    )
    .unwrap();
    env.add_conf(&format!("query_routes.isp = \"{}\"\n", route.display()));
    env
}

fn pop3() -> Pop3Server {
    Pop3Server::start(Pop3Config {
        users: vec![("jo".into(), "s3cret".into())],
        ..Pop3Config::default()
    })
}

#[test]
fn login_then_send() {
    let sink = Sink::start(SinkConfig::default());
    let pop = pop3();
    let env = setup(&sink, &pop, "s3cret");
    env.ok(
        &["-odq", "-f", "jo", "bob@remote.example"],
        b"Subject: hi\n\nx\n",
    );
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(pop.logins(), ["jo"], "{}", env.log());
    assert_eq!(pop.lines(), ["USER jo", "PASS s3cret"]);
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "{}", env.log());
    assert_eq!(msgs[0].rcpts, ["bob@remote.example"]);
    assert!(env.queued().is_empty(), "{}", env.log());
}

#[test]
fn failed_login_keeps_the_mail_queued_untouched() {
    let sink = Sink::start(SinkConfig::default());
    let pop = pop3();
    let env = setup(&sink, &pop, "wrong");
    env.ok(
        &["-odq", "-f", "jo", "bob@remote.example"],
        b"Subject: hi\n\nx\n",
    );
    let ids = env.queued();
    assert_eq!(ids.len(), 1);
    let header_before = env.header_file(&ids[0]);
    env.ok(&["-qo", "isp"], b"");
    // the login was tried and failed; the smarthost never saw a connection
    assert_eq!(pop.connections(), 1);
    assert!(pop.logins().is_empty());
    assert_eq!(sink.connections(), 0, "{}", env.log());
    assert!(sink.messages().is_empty());
    // still queued, recipient unchanged: no bounce, no delay warning
    assert_eq!(env.queued(), ids, "{}", env.log());
    assert_eq!(env.header_file(&ids[0]), header_before);
    assert!(env.mbox("jo").is_empty(), "no notice to the sender");
    let log = env.log();
    assert!(
        log.contains("not attempted") && log.contains("invalid login"),
        "{log}"
    );
    assert!(!log.contains("deferred"), "{log}");
}
