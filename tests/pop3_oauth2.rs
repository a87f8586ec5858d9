//! POP3 SASL with OAuth2 end to end (issue 10, point 3; RFC 5034,
//! RFC 7628): `masqmail -g NAME` with `auth_name = xoauth2 | oauthbearer`
//! against the test POP3 server (STLS or pop3s with a test CA; `SASL` in
//! CAPA; it takes one bearer token) and the scripted OAuth2 endpoint. The
//! first fetch refreshes the token, the next reuses it; a long token
//! takes the continuation; a token the server rejects, a revoked refresh
//! token, a server without the mechanism and a link without TLS all fail
//! the fetch with a clear line, fetch nothing and delete nothing, and no
//! PASS ever carries the token. Every test token contains `SECRET`, and
//! no log may show it (nor its base64).

mod support;

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use support::oauth_endpoint::{Endpoint, Script};
use support::pop3::{Pop3Config, Pop3Server};
use support::{Env, ca, mbox_messages, set_mode};

const USER: &str = "joe@example.com";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn message(i: usize) -> Vec<u8> {
    format!("From: <s{i}@far.example>\nSubject: m{i}\n\nbody of message {i}\n").into_bytes()
}

/// How the server speaks TLS.
#[derive(Clone, Copy, PartialEq)]
enum Tls {
    Stls,
    Pop3s,
    Without,
}

/// A POP3 server with two messages that takes `token` with `sasl`.
fn server(dir: &std::path::Path, tls: Tls, sasl: &[&str], token: &str) -> Pop3Server {
    let ca = ca::make(&dir.join("ca"));
    Pop3Server::start(Pop3Config {
        users: vec![(USER.into(), "a-password".into())],
        messages: vec![message(1), message(2)],
        pipelining: true,
        tls: (tls != Tls::Without).then(|| (ca.cert_pem.clone(), ca.key_pem.clone())),
        pop3s: tls == Tls::Pop3s,
        sasl: sasl.iter().map(|m| m.to_string()).collect(),
        bearer: Some(token.into()),
        ..Pop3Config::default()
    })
}

/// An env with `get.isp` for `srv` through the endpoint `ep`; the token
/// file is `tokens/isp`, holding `tokens` (JSON).
fn env_for(
    dir: &std::path::Path,
    srv: &Pop3Server,
    ep: &Endpoint,
    mech: &str,
    tls: Tls,
    tokens: &str,
) -> Env {
    let env = Env::new("");
    let tls_line = match tls {
        Tls::Stls => String::new(),
        Tls::Pop3s => "tls = pop3s\n".to_string(),
        Tls::Without => "tls = none\n".to_string(),
    };
    let get = env.path("isp.get");
    fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = \"{USER}\"\naddress = joe\n\
             auth_name = {mech}\ntls_ca_file = \"{}\"\n{tls_line}\
             oauth2_token_file = \"{}\"\n{}",
            srv.port(),
            dir.join("ca/ca.pem").display(),
            env.path("tokens/isp").display(),
            ep.options(false)
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    let p = env.path("tokens/isp");
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, tokens).unwrap();
    set_mode(&p, 0o600);
    env
}

const REFRESH_ONLY: &str = r#"{"refresh_token":"refresh-SECRET-1"}"#;

fn cached(access: &str) -> String {
    format!(
        r#"{{"refresh_token":"refresh-SECRET-1","access_token":"{access}","expires_at":{}}}"#,
        now() + 3000
    )
}

/// No token in the log or in what was printed, in clear or as the
/// base64 lines the server received after AUTH.
fn no_secret(env: &Env, srv: &Pop3Server, printed: &str) {
    let log = env.log();
    assert!(!log.contains("SECRET"), "a token in the log: {log}");
    assert!(!printed.contains("SECRET"), "a token printed: {printed}");
    for line in srv.lines() {
        let b64 = line.strip_prefix("AUTH ").map_or(line.as_str(), |rest| {
            rest.split_once(' ').map_or("", |(_, ir)| ir)
        });
        if b64.len() > 8 {
            assert!(!log.contains(b64), "a SASL response in the log: {log}");
        }
    }
}

/// Neither USER nor PASS was sent.
fn no_pass(srv: &Pop3Server) {
    for l in srv.lines() {
        assert!(!l.starts_with("USER") && !l.starts_with("PASS"), "{l}");
    }
}

#[test]
fn both_mechanisms_over_stls_refresh_once_then_reuse_the_token() {
    for mech in ["xoauth2", "oauthbearer"] {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint::start(Script::default());
        let srv = server(
            dir.path(),
            Tls::Stls,
            &["XOAUTH2", "OAUTHBEARER"],
            "access-SECRET-1",
        );
        let env = env_for(dir.path(), &srv, &ep, mech, Tls::Stls, REFRESH_ONLY);
        let out = env.ok(&["-g", "isp"], b"");
        assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2, "{}", env.log());
        assert_eq!(srv.remaining(), 0);
        assert_eq!(ep.counts().refresh, 1);
        assert_eq!(srv.logins(), [USER]);
        let cmds = srv.commands();
        let auth = cmds
            .iter()
            .find(|c| c.line.starts_with("AUTH "))
            .expect("AUTH sent");
        assert!(auth.tls, "AUTH over TLS");
        // A short token rides on the AUTH line: one turn, like USER/PASS
        // (greeting, CAPA, STLS, CAPA, AUTH, UIDL+LIST, RETR, DELE+QUIT).
        let name = mech.to_ascii_uppercase();
        let ir = auth
            .line
            .strip_prefix(&format!("AUTH {name} "))
            .unwrap_or_else(|| panic!("{}", auth.line));
        let ir = String::from_utf8(B64.decode(ir).unwrap()).unwrap();
        assert!(ir.contains("auth=Bearer access-SECRET-1\x01\x01"), "{ir}");
        assert!(ir.contains(USER), "{ir}");
        assert_eq!(srv.turns(), 8, "{:?}", srv.lines());
        no_pass(&srv);

        // The next fetch reuses the cached token.
        srv.add_message(&[message(1), message(2)], message(3));
        let out2 = env.ok(&["-g", "isp"], b"");
        assert_eq!(mbox_messages(&env.mbox("joe")).len(), 3, "{}", env.log());
        assert_eq!(ep.counts().refresh, 1, "the cached token was reused");
        assert_eq!(srv.logins(), [USER, USER]);
        no_pass(&srv);
        no_secret(&env, &srv, &(out + &out2));
    }
}

#[test]
fn a_long_token_over_pop3s_takes_the_continuation() {
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint::start(Script::default());
    let token = format!("cached-SECRET-{}", "x".repeat(400));
    let srv = server(dir.path(), Tls::Pop3s, &["OAUTHBEARER"], &token);
    let env = env_for(
        dir.path(),
        &srv,
        &ep,
        "oauthbearer",
        Tls::Pop3s,
        &cached(&token),
    );
    let out = env.ok(&["-g", "isp"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2, "{}", env.log());
    assert_eq!(ep.counts().refresh, 0, "a valid cached token");
    let lines = srv.lines();
    let at = lines
        .iter()
        .position(|l| l == "AUTH OAUTHBEARER")
        .unwrap_or_else(|| panic!("AUTH alone: {lines:?}"));
    let response = String::from_utf8(B64.decode(&lines[at + 1]).unwrap()).unwrap();
    assert_eq!(
        response,
        format!(
            "n,a={USER},\x01host=127.0.0.1\x01port={}\x01auth=Bearer {token}\x01\x01",
            srv.port()
        )
    );
    // Greeting, CAPA, AUTH, its response, UIDL+LIST, RETR, DELE+QUIT.
    assert_eq!(srv.turns(), 7, "{lines:?}");
    no_pass(&srv);
    no_secret(&env, &srv, &out);
}

#[test]
fn a_token_the_server_rejects_fetches_nothing_and_is_refreshed_next_time() {
    for (mech, ack) in [("xoauth2", ""), ("oauthbearer", "AQ==")] {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint::start(Script::default());
        let srv = server(
            dir.path(),
            Tls::Stls,
            &["XOAUTH2", "OAUTHBEARER"],
            "access-SECRET-1",
        );
        let env = env_for(
            dir.path(),
            &srv,
            &ep,
            mech,
            Tls::Stls,
            &cached("stale-SECRET"),
        );
        let out = env.ok(&["-g", "isp"], b"");
        assert!(env.mbox("joe").is_empty());
        assert!(env.queued().is_empty());
        assert_eq!(srv.remaining(), 2);
        assert!(srv.logins().is_empty());
        let lines = srv.lines();
        let at = lines.iter().position(|l| l.starts_with("AUTH ")).unwrap();
        // The RFC 7628 error challenge was acknowledged, then nothing.
        assert_eq!(lines[at + 1], ack, "{mech}: {lines:?}");
        assert!(
            lines[at + 2..]
                .iter()
                .all(|l| !l.starts_with("RETR") && !l.starts_with("DELE")),
            "{lines:?}"
        );
        let log = env.log();
        let line = log
            .lines()
            .find(|l| l.contains("login as joe@example.com failed"))
            .unwrap_or_else(|| panic!("no clear line: {log}"));
        assert!(
            line.contains("invalid credentials") && line.contains(r#""status":"401""#),
            "{line}"
        );
        no_pass(&srv);
        no_secret(&env, &srv, &out);
        // The refused token is forgotten: the next fetch refreshes it
        // instead of offering it again until its expiry.
        assert!(
            log.contains("the server refused the OAuth2 access token"),
            "{log}"
        );
        assert_eq!(ep.counts().refresh, 0);
        let out2 = env.ok(&["-g", "isp"], b"");
        assert_eq!(ep.counts().refresh, 1, "{}", env.log());
        assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2, "{}", env.log());
        assert_eq!(srv.logins(), [USER]);
        no_secret(&env, &srv, &(out + &out2));
    }
}

#[test]
fn a_revoked_refresh_token_fetches_nothing_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint::start(Script {
        revoked: true,
        ..Script::default()
    });
    let srv = server(dir.path(), Tls::Stls, &["XOAUTH2"], "access-SECRET-1");
    let env = env_for(dir.path(), &srv, &ep, "xoauth2", Tls::Stls, REFRESH_ONLY);
    let out = env.ok(&["-g", "isp"], b"");
    assert_eq!(ep.counts().refresh, 1);
    assert_eq!(srv.connections(), 0, "no session without a token");
    assert!(env.mbox("joe").is_empty());
    let log = env.log();
    let line = log
        .lines()
        .find(|l| l.contains("invalid_grant"))
        .unwrap_or_else(|| panic!("no clear line: {log}"));
    assert!(
        line.contains("refresh token revoked or expired (invalid_grant): run masqmail -oauth2")
            && line.contains("isp.get"),
        "{line}"
    );
    no_secret(&env, &srv, &out);
}

#[test]
fn a_server_without_the_mechanism_gets_no_token() {
    for sasl in [&["PLAIN"][..], &[]] {
        let dir = tempfile::tempdir().unwrap();
        let ep = Endpoint::start(Script::default());
        let srv = server(dir.path(), Tls::Stls, sasl, "access-SECRET-1");
        let env = env_for(
            dir.path(),
            &srv,
            &ep,
            "oauthbearer",
            Tls::Stls,
            REFRESH_ONLY,
        );
        let out = env.ok(&["-g", "isp"], b"");
        let log = env.log();
        assert!(
            log.contains("does not offer SASL OAUTHBEARER"),
            "{sasl:?}: {log}"
        );
        let lines = srv.lines();
        assert!(lines.iter().all(|l| !l.starts_with("AUTH")), "{lines:?}");
        no_pass(&srv);
        assert_eq!(srv.remaining(), 2);
        assert!(env.mbox("joe").is_empty());
        no_secret(&env, &srv, &out);
    }
}

#[test]
fn the_token_never_goes_out_in_clear_unless_tls_none() {
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint::start(Script::default());
    let srv = server(dir.path(), Tls::Without, &["XOAUTH2"], "access-SECRET-1");
    // No `tls` option and no STLS offered: refused.
    let env = env_for(dir.path(), &srv, &ep, "xoauth2", Tls::Stls, REFRESH_ONLY);
    env.ok(&["-g", "isp"], b"");
    assert!(
        env.log()
            .contains("refusing to send the OAuth2 token over an unencrypted connection"),
        "{}",
        env.log()
    );
    assert!(srv.lines().iter().all(|l| !l.starts_with("AUTH")));
    no_pass(&srv);
    assert_eq!(srv.remaining(), 2);
    // `tls = none` says it is wanted: six turns, as USER/PASS pipelined.
    let ep = Endpoint::start(Script::default());
    let srv = server(dir.path(), Tls::Without, &["XOAUTH2"], "access-SECRET-1");
    let env = env_for(dir.path(), &srv, &ep, "xoauth2", Tls::Without, REFRESH_ONLY);
    let out = env.ok(&["-g", "isp"], b"");
    assert_eq!(mbox_messages(&env.mbox("joe")).len(), 2, "{}", env.log());
    assert_eq!(srv.turns(), 6, "{:?}", srv.lines());
    no_pass(&srv);
    no_secret(&env, &srv, &out);
}

/// SMTP-after-POP (a route's `pop3_login`) with the same get file logs in
/// with AUTH, never with PASS.
#[test]
fn smtp_after_pop_logs_in_with_sasl() {
    use masqmail::config::{Config, GetConf};
    use masqmail::pop3::{Pop3Error, login};
    let dir = tempfile::tempdir().unwrap();
    let run = |sasl: &[&str]| {
        let srv = server(dir.path(), Tls::Stls, sasl, "static-SECRET");
        let cfg =
            Config::parse(b"host_name = \"h.example\"\n", &dir.path().join("m.conf")).unwrap();
        let file = dir.path().join("login.get");
        fs::write(
            &file,
            format!(
                "server = 127.0.0.1\nport = {}\nuser = \"{USER}\"\npass = \"static-SECRET\"\n\
                 auth_name = oauthbearer\ntls_ca_file = \"{}\"\n",
                srv.port(),
                dir.path().join("ca/ca.pem").display()
            ),
        )
        .unwrap();
        let get = GetConf::load_login(&file, &cfg).unwrap();
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(login(&get, std::time::Duration::from_secs(30)));
        (srv, result)
    };
    let (srv, result) = run(&["OAUTHBEARER"]);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(srv.logins(), [USER]);
    no_pass(&srv);
    assert!(
        srv.commands()
            .iter()
            .all(|c| !c.line.starts_with("AUTH") || c.tls)
    );
    let (srv, result) = run(&["XOAUTH2"]);
    match result {
        Err(e @ Pop3Error::Mechanism { .. }) => assert!(!e.to_string().contains("SECRET")),
        other => panic!("{other:?}"),
    }
    no_pass(&srv);
}
