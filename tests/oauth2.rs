//! OAuth2 end to end (issue 10, point 3): a scripted provider on
//! 127.0.0.1 (tests/support/oauth_endpoint.rs) and the test sink accepting
//! XOAUTH2/OAUTHBEARER with the token the provider issued. The first use
//! refreshes, a cached token is reused, an expired one is refreshed, a
//! revoked refresh token defers with a clear log line (no bounce), a token
//! file others can read is refused, and `masqmail -oauth2` runs the device
//! flow and the loopback flow (the test plays the browser). No token ever
//! shows in the log or on stdout/stderr: every test token contains
//! `SECRET`, and every test greps for it.

mod support;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use support::oauth_endpoint::{Endpoint, Script, decode};
use support::sink::{Sink, SinkConfig};
use support::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A sink that takes `mech` with `token` only (over plain text: the route
/// says `tls = none`).
fn sink(mech: &str, token: &str) -> Sink {
    Sink::start(SinkConfig {
        auth: Some(("jo@example.com".into(), token.into())),
        auth_mechs: vec![mech.into()],
        auth_in_clear: true,
        auth_required: true,
        ..SinkConfig::default()
    })
}

/// An env with route `isp` to `sink` through the endpoint; the token file
/// is `<dir>/tokens/isp`.
fn setup(sink: &Sink, ep: &Endpoint, mech: &str, device: bool) -> Env {
    let env = Env::new("");
    let route = env.path("isp");
    fs::write(
        &route,
        format!(
            "mail_host = \"127.0.0.1:{}\"\ntls = none\nauth_name = \"{mech}\"\n\
             auth_login = \"jo@example.com\"\noauth2_token_file = \"{}\"\n{}",
            sink.addr.port(),
            token_path(&env).display(),
            ep.options(device)
        ),
    )
    .unwrap();
    env.add_conf(&format!("query_routes.isp = \"{}\"\n", route.display()));
    env
}

fn token_path(env: &Env) -> std::path::PathBuf {
    env.path("tokens/isp")
}

fn write_tokens(env: &Env, json: &str, mode: u32) {
    let p = token_path(env);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, json).unwrap();
    set_mode(&p, mode);
}

fn queue_one(env: &Env) {
    env.ok(
        &["-odq", "-f", "jo", "ann@remote.example"],
        b"Subject: t\n\nx\n",
    );
}

/// No token in the log or in what the binary printed.
fn no_secret(env: &Env, printed: &str) {
    assert!(
        !env.log().contains("SECRET"),
        "a token in the log: {}",
        env.log()
    );
    assert!(!printed.contains("SECRET"), "a token printed: {printed}");
}

#[test]
fn first_use_refreshes_then_the_cached_token_is_reused() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", false);
    write_tokens(&env, r#"{"refresh_token":"refresh-SECRET-1"}"#, 0o600);

    queue_one(&env);
    let out = env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert_eq!(sink.messages()[0].auth.as_deref(), Some("XOAUTH2"));
    assert_eq!(ep.counts().refresh, 1);
    let text = fs::read_to_string(token_path(&env)).unwrap();
    assert!(text.contains("access-SECRET-1") && text.contains("refresh-SECRET-1"));
    let mode = fs::metadata(token_path(&env)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    queue_one(&env);
    let out2 = env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 2, "{}", env.log());
    assert_eq!(ep.counts().refresh, 1, "the cached token was reused");
    assert!(env.queued().is_empty());
    no_secret(&env, &(out + &out2));
}

#[test]
fn an_expired_token_is_refreshed() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", false);
    // Still valid for 30 s: less than the 60 s margin, so refreshed.
    write_tokens(
        &env,
        &format!(
            r#"{{"refresh_token":"refresh-SECRET-1","access_token":"old-SECRET","expires_at":{}}}"#,
            now() + 30
        ),
        0o600,
    );
    queue_one(&env);
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(ep.counts().refresh, 1);
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    no_secret(&env, "");
}

#[test]
fn oauthbearer_with_a_valid_cached_token_does_not_refresh() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("OAUTHBEARER", "cached-SECRET");
    let env = setup(&sink, &ep, "oauthbearer", false);
    write_tokens(
        &env,
        &format!(
            r#"{{"refresh_token":"refresh-SECRET-1","access_token":"cached-SECRET","expires_at":{}}}"#,
            now() + 3000
        ),
        0o600,
    );
    queue_one(&env);
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert_eq!(sink.messages()[0].auth.as_deref(), Some("OAUTHBEARER"));
    assert_eq!(ep.counts().refresh, 0);
    no_secret(&env, "");
}

/// A cached token the server refuses (revoked early, scopes changed) is
/// forgotten: the message waits, and the next run refreshes instead of
/// offering the same token until its expiry.
#[test]
fn a_token_the_server_refuses_is_refreshed_at_the_next_run() {
    for mech in ["XOAUTH2", "OAUTHBEARER"] {
        let ep = Endpoint::start(Script::default());
        let sink = sink(mech, "access-SECRET-1");
        let env = setup(&sink, &ep, &mech.to_ascii_lowercase(), false);
        write_tokens(
            &env,
            &format!(
                r#"{{"refresh_token":"refresh-SECRET-1","access_token":"stale-SECRET","expires_at":{}}}"#,
                now() + 3000
            ),
            0o600,
        );
        queue_one(&env);
        let out = env.ok(&["-qo", "isp"], b"");
        assert!(sink.messages().is_empty(), "{}", env.log());
        assert_eq!(env.queued().len(), 1, "deferred, not bounced");
        assert_eq!(ep.counts().refresh, 0);
        assert!(
            env.log()
                .contains("the server refused the OAuth2 access token"),
            "{mech}: {}",
            env.log()
        );
        let out2 = env.ok(&["-qo", "isp"], b"");
        assert_eq!(ep.counts().refresh, 1, "{}", env.log());
        assert_eq!(sink.messages().len(), 1, "{}", env.log());
        assert!(env.queued().is_empty());
        no_secret(&env, &(out + &out2));
    }
}

#[test]
fn a_revoked_refresh_token_defers_with_a_clear_line() {
    let ep = Endpoint::start(Script {
        revoked: true,
        ..Script::default()
    });
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", false);
    write_tokens(&env, r#"{"refresh_token":"refresh-SECRET-1"}"#, 0o600);
    queue_one(&env);
    let ids = env.queued();
    let out = env.run(&["-qo", "isp"], b"");
    assert_eq!(ep.counts().refresh, 1);
    assert_eq!(sink.connections(), 0, "no session without a token");
    assert_eq!(env.queued(), ids, "still queued");
    assert!(env.mbox("jo").is_empty(), "no bounce");
    let log = env.log();
    let line = log
        .lines()
        .find(|l| l.contains("invalid_grant"))
        .unwrap_or_else(|| panic!("no clear line: {log}"));
    assert!(
        line.contains("refresh token revoked or expired")
            && line.contains("run masqmail -oauth2")
            && line.contains("isp"),
        "{line}"
    );
    no_secret(&env, &(stdout(&out) + &stderr(&out)));
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", false);
    write_tokens(&env, r#"{"refresh_token":"refresh-SECRET-1"}"#, 0o644);
    queue_one(&env);
    env.run(&["-qo", "isp"], b"");
    assert_eq!(ep.counts().refresh, 0);
    assert_eq!(sink.connections(), 0);
    assert_eq!(env.queued().len(), 1);
    assert!(
        env.log().contains("lets group or others in"),
        "{}",
        env.log()
    );
}

#[test]
fn device_flow_end_to_end() {
    let ep = Endpoint::start(Script {
        pending_polls: 1,
        ..Script::default()
    });
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", true);
    let out = env.run(&["-oauth2", "isp"], b"");
    let printed = stdout(&out) + &stderr(&out);
    assert!(out.status.success(), "{printed}\n{}", env.log());
    assert!(
        printed.contains("https://provider.test/device"),
        "{printed}"
    );
    assert!(printed.contains("WDJB-MJHT"), "{printed}");
    assert!(!printed.contains("device-SECRET"), "{printed}");
    {
        let c = ep.counts();
        assert_eq!((c.device, c.device_polls), (1, 2));
        let (_, form) = &c.forms[0];
        assert!(form.contains(&("scope".into(), "mail".into())), "{form:?}");
    }
    let meta = fs::metadata(token_path(&env)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = fs::read_to_string(token_path(&env)).unwrap();
    assert!(text.contains("refresh-SECRET-NEW"), "{text}");
    no_secret(&env, &printed);

    // The stored access token is used as it is.
    queue_one(&env);
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert_eq!(ep.counts().refresh, 0);
}

/// One HTTP GET to 127.0.0.1; the status line.
fn get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn loopback_flow_end_to_end() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("XOAUTH2", "access-SECRET-1");
    let env = setup(&sink, &ep, "xoauth2", false);
    let mut child = env
        .cmd()
        .args(["-oauth2", &env.path("isp").display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with(&format!("{}/auth?", ep.base)))
        .expect("the URL to open");
    let q = decode(url.split_once('?').unwrap().1);
    let param = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(param("code_challenge_method"), "S256");
    assert_eq!(param("client_id"), "client-1");
    let redirect = param("redirect_uri");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    ep.script.lock().unwrap().code_challenge = Some(param("code_challenge"));

    // A stranger without the state is turned away; the flow goes on.
    let wrong = get(&format!("{redirect}?code=x&state=wrong"));
    assert!(wrong.contains("400"), "{wrong}");
    let ok = get(&format!(
        "{redirect}?code=code-SECRET-42&state={}",
        param("state")
    ));
    assert!(ok.contains("200"), "{ok}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}\n{}", env.log());
    assert_eq!(ep.counts().code, 1);
    let text = fs::read_to_string(token_path(&env)).unwrap();
    assert!(text.contains("refresh-SECRET-NEW"), "{text}");
    no_secret(&env, &(rest.join("\n") + &err));
}

#[test]
fn oauth2_options_need_a_bearer_mechanism() {
    let ep = Endpoint::start(Script::default());
    let sink = sink("XOAUTH2", "x");
    let env = setup(&sink, &ep, "plain", false);
    let out = env.run(&["-oauth2", "isp"], b"");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("auth_name"), "{}", stderr(&out));
}
