//! SMTP-after-POP login (delivery.md §15.5) against the test POP3 server:
//! STLS with the test CA, APOP, wrong passwords, the clear-text policy,
//! pass_command, pop3s.

mod support;

use std::path::Path;

use masqmail::config::{Config, GetConf};
use masqmail::pop3::{Pop3Error, login};
use support::ca;
use support::pop3::{Pop3Config, Pop3Server};

fn get(dir: &Path, text: &str) -> GetConf {
    let cfg = Config::parse(
        b"host_name = \"host.example.org\"\n",
        &dir.join("masqmail.conf"),
    )
    .expect("config");
    let file = dir.join("isp.get");
    std::fs::write(&file, text).expect("write get file");
    GetConf::load_login(&file, &cfg).expect("get file")
}

fn run(get: &GetConf) -> Result<(), Pop3Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(login(get, std::time::Duration::from_secs(30)))
}

fn server(dir: &Path, apop: bool, tls: bool) -> Pop3Server {
    let tls = tls.then(|| {
        let ca = ca::make(&dir.join("ca"));
        (ca.cert_pem, ca.key_pem)
    });
    Pop3Server::start(Pop3Config {
        users: vec![("jo".into(), "s3cret".into())],
        apop,
        tls,
        ..Pop3Config::default()
    })
}

fn account(pop: &Pop3Server, extra: &str) -> String {
    format!(
        "server = 127.0.0.1\nport = {}\nuser = jo\n{extra}\n",
        pop.port()
    )
}

#[test]
fn user_pass_over_stls_with_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), false, true);
    let ca = dir.path().join("ca/ca.pem");
    let g = get(
        dir.path(),
        &account(
            &pop,
            &format!("pass = s3cret\ntls_ca_file = \"{}\"", ca.display()),
        ),
    );
    run(&g).expect("login");
    assert_eq!(pop.logins(), ["jo"]);
    let cmds = pop.commands();
    let lines: Vec<&str> = cmds.iter().map(|c| c.line.as_str()).collect();
    assert_eq!(lines, ["CAPA", "STLS", "USER jo", "PASS s3cret"]);
    // USER and PASS came over TLS, and no QUIT (§15.5)
    assert!(cmds[2].tls && cmds[3].tls, "{cmds:?}");
    assert_eq!(pop.quits(), 0);
}

#[test]
fn stls_with_an_unknown_ca_fails_without_sending_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), false, true);
    let other = ca::make(&dir.path().join("other"));
    let g = get(
        dir.path(),
        &account(
            &pop,
            &format!(
                "pass = s3cret\ntls_ca_file = \"{}\"",
                other.ca_pem.display()
            ),
        ),
    );
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Tls { .. })), "{e:?}");
    assert!(pop.lines().iter().all(|l| !l.starts_with("PASS")));
}

#[test]
fn apop_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), true, false);
    let g = get(dir.path(), &account(&pop, "protocol = apop\npass = s3cret"));
    run(&g).expect("login");
    assert_eq!(pop.logins(), ["jo"]);
    let lines = pop.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "CAPA");
    assert!(lines[1].starts_with("APOP jo ") && lines[1].len() == "APOP jo ".len() + 32);
    assert!(!lines.iter().any(|l| l.contains("s3cret")), "{lines:?}");
}

/// R31: an APOP greeting without timestamp is a login error.
#[test]
fn apop_without_a_timestamp_is_a_login_error() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), false, false);
    let g = get(dir.path(), &account(&pop, "protocol = apop\npass = s3cret"));
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Login { .. })), "{e:?}");
    assert!(pop.lines().iter().all(|l| !l.starts_with("APOP")));
}

#[test]
fn wrong_password_is_a_login_error_with_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    for (proto, tls) in [("pop3", "none"), ("apop", "none")] {
        let pop = server(dir.path(), true, false);
        let g = get(
            dir.path(),
            &account(
                &pop,
                &format!("protocol = {proto}\ntls = {tls}\npass = wrong"),
            ),
        );
        match run(&g) {
            Err(e @ Pop3Error::Login { .. }) => {
                let text = e.to_string();
                let port = pop.port();
                assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
                assert!(
                    text.contains("invalid login") && !text.contains("wrong"),
                    "{text}"
                );
            }
            other => panic!("{proto}: {other:?}"),
        }
        assert!(pop.logins().is_empty());
    }
}

#[test]
fn no_stls_offered_and_tls_unset_refuses_user_pass() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), false, false);
    let g = get(dir.path(), &account(&pop, "pass = s3cret"));
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Cleartext { .. })), "{e:?}");
    assert_eq!(pop.lines(), ["CAPA"]);
}

#[test]
fn tls_required_but_stls_refused_is_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let pop = server(dir.path(), false, false);
    let g = get(dir.path(), &account(&pop, "tls = stls\npass = s3cret"));
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Tls { .. })), "{e:?}");
    assert_eq!(pop.lines(), ["STLS"]);
}

#[test]
fn tls_none_sends_user_pass_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    // STLS is offered, but `tls = none` means none
    let pop = server(dir.path(), false, true);
    let g = get(dir.path(), &account(&pop, "tls = none\npass = s3cret"));
    run(&g).expect("login");
    let cmds = pop.commands();
    let lines: Vec<&str> = cmds.iter().map(|c| c.line.as_str()).collect();
    assert_eq!(lines, ["USER jo", "PASS s3cret"]);
    assert!(cmds.iter().all(|c| !c.tls));
}

#[test]
fn pass_command_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pw");
    std::fs::write(&script, "#!/bin/sh\nprintf 's3cret\\nsecond line\\n'\n").unwrap();
    support::set_mode(&script, 0o755);
    let pop = server(dir.path(), false, false);
    let g = get(
        dir.path(),
        &account(
            &pop,
            &format!("tls = none\npass_command = \"{}\"", script.display()),
        ),
    );
    run(&g).expect("login");
    assert_eq!(pop.logins(), ["jo"]);

    // a failing command: no connection at all
    let failing = dir.path().join("fail");
    std::fs::write(&failing, "#!/bin/sh\nexit 3\n").unwrap();
    support::set_mode(&failing, 0o755);
    let pop = server(dir.path(), false, false);
    let g = get(
        dir.path(),
        &account(
            &pop,
            &format!("tls = none\npass_command = \"{}\"", failing.display()),
        ),
    );
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Secret { .. })), "{e:?}");
    assert_eq!(pop.connections(), 0);
}

#[test]
fn pop3s_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca::make(&dir.path().join("ca"));
    let pop = Pop3Server::start(Pop3Config {
        users: vec![("jo".into(), "s3cret".into())],
        tls: Some((ca.cert_pem.clone(), ca.key_pem.clone())),
        pop3s: true,
        ..Pop3Config::default()
    });
    let g = get(
        dir.path(),
        &account(
            &pop,
            &format!(
                "tls = pop3s\npass = s3cret\ntls_ca_file = \"{}\"",
                ca.ca_pem.display()
            ),
        ),
    );
    run(&g).expect("login");
    let cmds = pop.commands();
    assert!(!cmds.is_empty() && cmds.iter().all(|c| c.tls), "{cmds:?}");
    assert_eq!(pop.logins(), ["jo"]);
}

#[test]
fn nothing_listening_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let g = get(
        dir.path(),
        &format!("server = 127.0.0.1\nport = {port}\nuser = jo\npass = x\ntls = none\n"),
    );
    let e = run(&g);
    assert!(matches!(e, Err(Pop3Error::Connect { .. })), "{e:?}");
}
