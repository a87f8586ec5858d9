//! The fetch dialogue with SASL (RFC 5034, RFC 7628) without sockets:
//! server lines in, the client's lines and steps out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::tests::{answer, err, lines, list, ok, plan};
use super::*;
use crate::config::AuthMech;

const TOKEN: &str = "tok-SECRET";

fn sasl_plan(mech: AuthMech, token: &str, tls: TlsPolicy) -> Plan {
    let mut p = plan();
    p.secret = String::new();
    p.tls = tls;
    p.sasl = Some(Bearer::new(
        mech,
        "joe@example.com",
        token,
        Some("pop.example"),
        Some(995),
    ));
    p
}

/// A session over TLS (pop3s) that has sent CAPA.
fn session(mech: AuthMech, token: &str) -> Session {
    let mut s = Session::new(sasl_plan(mech, token, TlsPolicy::Implicit), "pop:995");
    let step = s
        .greeting(Status {
            ok: true,
            text: "ready".into(),
        })
        .unwrap();
    assert_eq!(lines(&step), ["CAPA"]);
    s
}

const CAPA: &[&str] = &["USER", "PIPELINING", "SASL XOAUTH2 OAUTHBEARER", "UIDL"];

fn decode(b64: &str) -> String {
    String::from_utf8(B64.decode(b64).unwrap()).unwrap()
}

/// No USER, no PASS, and the token nowhere in clear in the lines.
fn no_pass(all: &[String]) {
    for l in all {
        assert!(!l.starts_with("USER") && !l.starts_with("PASS"), "{l}");
        assert!(!l.contains("SECRET"), "a token in clear: {l}");
    }
}

#[test]
fn xoauth2_with_a_short_token_logs_in_in_one_turn() {
    let mut s = session(AuthMech::Xoauth2, TOKEN);
    let step = answer(&mut s, vec![list(CAPA)]);
    let sent = lines(&step);
    assert_eq!(sent.len(), 1);
    let ir = sent[0]
        .strip_prefix("AUTH XOAUTH2 ")
        .expect("initial response");
    assert_eq!(
        decode(ir),
        format!("user=joe@example.com\x01auth=Bearer {TOKEN}\x01\x01")
    );
    no_pass(&sent);
    // +OK: logged in, on to the listing as after USER/PASS.
    assert_eq!(
        lines(&answer(&mut s, vec![ok("logged in")])),
        ["UIDL", "LIST"]
    );
}

#[test]
fn oauthbearer_with_a_long_token_answers_the_continuation() {
    let token = format!("{TOKEN}-{}", "x".repeat(400));
    let mut s = session(AuthMech::OAuthBearer, &token);
    let step = answer(&mut s, vec![list(CAPA)]);
    assert_eq!(lines(&step), ["AUTH OAUTHBEARER"], "too long for the line");
    assert_eq!(s.awaiting().map(Command::verb), Some("AUTH"));
    let step = answer(&mut s, vec![Response::Continue(Vec::new())]);
    let sent = lines(&step);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        decode(&sent[0]),
        format!(
            "n,a=joe@example.com,\x01host=pop.example\x01port=995\x01auth=Bearer {token}\x01\x01"
        )
    );
    assert_eq!(
        lines(&answer(&mut s, vec![ok("welcome")])),
        ["UIDL", "LIST"]
    );
}

#[test]
fn an_error_challenge_is_acknowledged_and_err_fails_the_login() {
    let json = r#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
    for (mech, ack) in [(AuthMech::Xoauth2, ""), (AuthMech::OAuthBearer, "AQ==")] {
        let mut s = session(mech, TOKEN);
        answer(&mut s, vec![list(CAPA)]);
        let step = answer(
            &mut s,
            vec![Response::Continue(B64.encode(json).into_bytes())],
        );
        assert_eq!(lines(&step), [ack], "{mech:?}");
        let e = s
            .on_response(err("[AUTH] invalid credentials"))
            .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Pop3Error::Login { .. }), "{text}");
        assert!(
            text.contains("invalid credentials") && text.contains(r#""status":"401""#),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[test]
fn a_challenge_after_the_acknowledgement_is_a_protocol_error() {
    let mut s = session(AuthMech::Xoauth2, TOKEN);
    answer(&mut s, vec![list(CAPA)]);
    answer(&mut s, vec![Response::Continue(b"e30=".to_vec())]);
    let e = s
        .on_response(Response::Continue(b"e30=".to_vec()))
        .unwrap_err();
    assert!(matches!(e, Pop3Error::Protocol { .. }), "{e}");
    // A list where a status line belongs names the command, never its
    // line (the initial response, the token in base64).
    let token = format!("{TOKEN}-{}", "x".repeat(400));
    let mut s = session(AuthMech::Xoauth2, &token);
    answer(&mut s, vec![list(CAPA)]);
    let e = s.on_response(list(&["x"])).unwrap_err().to_string();
    assert!(e.ends_with("unexpected response to AUTH"), "{e}");
    let mut s = session(AuthMech::Xoauth2, &token);
    answer(&mut s, vec![list(CAPA)]);
    answer(&mut s, vec![Response::Continue(Vec::new())]);
    let e = s.on_response(list(&["x"])).unwrap_err().to_string();
    assert!(
        e.ends_with("unexpected response to the AUTH response"),
        "{e}"
    );
}

#[test]
fn without_the_mechanism_in_capa_nothing_is_sent() {
    let cases: [(Response, &str); 3] = [
        (list(&["USER", "SASL PLAIN", "PIPELINING"]), "PLAIN"),
        (list(&["USER", "PIPELINING"]), ""),
        (err("no CAPA"), ""),
    ];
    for (capa, offered) in cases {
        let mut s = session(AuthMech::OAuthBearer, TOKEN);
        match s.on_response(capa) {
            Err(Pop3Error::Mechanism {
                mech, offered: o, ..
            }) => {
                assert_eq!(mech, "OAUTHBEARER");
                assert_eq!(o, offered);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.awaiting(), None, "no USER/PASS queued");
    }
}

#[test]
fn the_token_goes_out_only_over_tls_or_with_tls_none() {
    // Not offered, not allowed in clear: refused before AUTH.
    let mut s = Session::new(
        sasl_plan(AuthMech::Xoauth2, TOKEN, TlsPolicy::IfOffered),
        "p",
    );
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    match s.on_response(list(CAPA)) {
        Err(e @ Pop3Error::Cleartext { .. }) => {
            assert!(e.to_string().contains("OAuth2 token"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Offered: STLS, CAPA again over TLS (its SASL line counts), AUTH.
    let mut s = Session::new(
        sasl_plan(AuthMech::Xoauth2, TOKEN, TlsPolicy::IfOffered),
        "p",
    );
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert_eq!(
        lines(&answer(&mut s, vec![list(&["STLS", "SASL XOAUTH2"])])),
        ["STLS"]
    );
    assert_eq!(answer(&mut s, vec![ok("go")]), Step::StartTls);
    assert_eq!(lines(&s.tls_started()), ["CAPA"]);
    let step = answer(&mut s, vec![list(CAPA)]);
    assert!(lines(&step)[0].starts_with("AUTH XOAUTH2 "));
    // tls = none: AUTH in clear, as PASS would be.
    let mut s = Session::new(sasl_plan(AuthMech::Xoauth2, TOKEN, TlsPolicy::Never), "p");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    let step = answer(&mut s, vec![list(CAPA)]);
    assert!(lines(&step)[0].starts_with("AUTH XOAUTH2 "));
}

#[test]
fn sasl_wins_over_apop() {
    let mut p = sasl_plan(AuthMech::Xoauth2, TOKEN, TlsPolicy::Implicit);
    p.apop = true;
    let mut s = Session::new(p, "p");
    s.greeting(Status {
        ok: true,
        text: "hi <1.2@x>".into(),
    })
    .unwrap();
    let step = answer(&mut s, vec![list(CAPA)]);
    assert!(lines(&step)[0].starts_with("AUTH XOAUTH2 "));
}

#[test]
fn verbs_never_carry_arguments() {
    let cmds = [
        Command::Pass("pw-SECRET".into()),
        Command::Auth(format!("AUTH XOAUTH2 {TOKEN}")),
        Command::SaslResponse(TOKEN.into()),
        Command::Apop("u".into(), "digest".into()),
    ];
    for c in cmds {
        assert!(!c.verb().contains("SECRET"), "{c:?}");
        assert!(!c.verb().contains("digest"));
    }
    assert!(Command::Auth(String::new()).is_sasl());
    assert!(!Command::Capa.is_sasl());
}
