//! The SASL exchange alone: every way a response can be wrong (R08).

use super::*;

fn b64(s: &[u8]) -> String {
    STANDARD.encode(s)
}

fn creds(mechanism: Mechanism, authzid: &str, user: &str, password: &[u8]) -> Next {
    Next::Verify(Credentials {
        mechanism,
        authzid: authzid.into(),
        user: user.into(),
        password: password.to_vec(),
    })
}

fn refused(next: &Next) -> String {
    match next {
        Next::Refuse(r) => r.to_text(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn plain_with_initial_response() {
    let ir = b64(b"\0jo\0sesame");
    assert_eq!(
        start(&format!("PLAIN {ir}")),
        creds(Mechanism::Plain, "", "jo", b"sesame")
    );
    assert_eq!(
        start(&format!("plain {}", b64(b"jo\0jo\0sesame"))),
        creds(Mechanism::Plain, "jo", "jo", b"sesame"),
        "mechanism names are case-insensitive"
    );
    // An authzid other than the user is passed on: the session fails it.
    assert_eq!(
        start(&format!("PLAIN {}", b64(b"root\0jo\0sesame"))),
        creds(Mechanism::Plain, "root", "jo", b"sesame")
    );
}

#[test]
fn plain_without_initial_response() {
    let Next::Challenge(r, Pending::Plain) = start("PLAIN") else {
        panic!("no challenge")
    };
    assert_eq!(r.to_text(), "334 \n");
    assert_eq!(
        respond(Pending::Plain, b64(b"\0jo\0pw").as_bytes()),
        creds(Mechanism::Plain, "", "jo", b"pw")
    );
}

#[test]
fn login_two_prompts() {
    let Next::Challenge(r, p) = start("LOGIN") else {
        panic!("no challenge")
    };
    assert_eq!(r.to_text(), "334 VXNlcm5hbWU6\n");
    let Next::Challenge(r, p) = respond(p, b64(b"jo").as_bytes()) else {
        panic!("no password prompt")
    };
    assert_eq!(r.to_text(), "334 UGFzc3dvcmQ6\n");
    assert_eq!(
        respond(p, b64(b"sesame").as_bytes()),
        creds(Mechanism::Login, "", "jo", b"sesame")
    );
    // The user name as initial response.
    let Next::Challenge(_, Pending::LoginPassword(user)) = start(&format!("LOGIN {}", b64(b"jo")))
    else {
        panic!("no password prompt")
    };
    assert_eq!(user, "jo");
}

#[test]
fn cancel_with_star() {
    for p in [
        Pending::Plain,
        Pending::LoginUser,
        Pending::LoginPassword("jo".into()),
    ] {
        assert_eq!(
            refused(&respond(p, b"*")),
            "501 5.0.0 authentication cancelled\n"
        );
    }
    assert_eq!(
        refused(&start("PLAIN *")),
        "501 5.0.0 authentication cancelled\n"
    );
}

#[test]
fn invalid_base64() {
    for bad in [&b"!!!"[..], b"AGpv AHB3", b"AGpvAHB3=", b"\xff", b"a"] {
        let got = refused(&respond(Pending::Plain, bad));
        assert!(got.starts_with("501 5.5.2 "), "{bad:?}: {got}");
    }
    assert!(refused(&start("PLAIN %%%")).starts_with("501 5.5.2 "));
}

#[test]
fn malformed_plain_messages() {
    for msg in [
        &b"jo\0sesame"[..],
        b"\0jo\0pass\0word",
        b"\0jo\0\0sesame",
        b"\0\0sesame",
        b"\0jo\0",
        b"",
        b"\0\xff\xfe\0pw",
    ] {
        let got = refused(&respond(Pending::Plain, b64(msg).as_bytes()));
        assert_eq!(got, "501 5.5.2 malformed PLAIN message\n", "{msg:?}");
    }
    // `=` is the empty response: malformed too.
    assert!(refused(&respond(Pending::Plain, b"=")).starts_with("501 5.5.2"));
}

#[test]
fn bad_arguments() {
    assert_eq!(
        refused(&start("")),
        "501 5.5.4 syntax error: AUTH mechanism [initial-response]\n"
    );
    assert_eq!(
        refused(&start("PLAIN a b")),
        "501 5.5.4 syntax error: AUTH mechanism [initial-response]\n"
    );
    for mech in ["CRAM-MD5", "XOAUTH2", "GSSAPI", "PLAINX"] {
        assert_eq!(
            refused(&start(mech)),
            "504 5.5.4 unrecognized authentication mechanism\n",
            "{mech}"
        );
    }
}

#[test]
fn password_never_in_debug() {
    let c = Credentials {
        mechanism: Mechanism::Plain,
        authzid: String::new(),
        user: "jo".into(),
        password: b"sesame".to_vec(),
    };
    let shown = format!("{c:?} {:?}", Next::Verify(c.clone()));
    assert!(!shown.contains("sesame"), "{shown}");
    assert!(shown.contains("jo"));
}
