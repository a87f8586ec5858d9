use super::*;
use crate::inbound::smtp::reply::wire;

fn ok(line: &str) -> Command {
    match parse(line.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("{line:?}: {e}"),
    }
}

fn err(line: &[u8]) -> CommandError {
    match parse(line) {
        Ok(c) => panic!("{:?}: parsed as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

fn mail(from: &str, params: MailParams) -> Command {
    Command::Mail {
        from: from.to_string(),
        params,
    }
}

fn rcpt(to: &str, params: RcptParams) -> Command {
    Command::Rcpt {
        to: to.to_string(),
        params,
    }
}

#[test]
fn simple_verbs() {
    let table: &[(&str, Command)] = &[
        ("HELO example.org", Command::Helo("example.org".into())),
        ("helo example.org", Command::Helo("example.org".into())),
        ("EHLO [192.0.2.1]", Command::Ehlo("[192.0.2.1]".into())),
        ("eHlO  host  extra words", Command::Ehlo("host".into())),
        ("  \tEHLO host \t", Command::Ehlo("host".into())),
        ("DATA", Command::Data),
        ("data ", Command::Data),
        ("RSET", Command::Rset),
        ("NOOP", Command::Noop),
        ("NOOP anything at all", Command::Noop),
        ("QUIT", Command::Quit),
        ("HELP", Command::Help),
        ("help MAIL", Command::Help),
        ("VRFY postmaster", Command::Vrfy("postmaster".into())),
        ("VRFY John Smith", Command::Vrfy("John Smith".into())),
        ("EXPN staff", Command::Expn("staff".into())),
        ("STARTTLS", Command::StartTls),
        ("starttls", Command::StartTls),
        (
            "AUTH PLAIN AGZvbwBiYXI=",
            Command::Auth("PLAIN AGZvbwBiYXI=".into()),
        ),
        ("AUTH", Command::Auth(String::new())),
        ("EHLO héllo.example", Command::Ehlo("héllo.example".into())),
    ];
    for (line, want) in table {
        assert_eq!(&ok(line), want, "{line:?}");
    }
}

#[test]
fn mail_and_rcpt_paths() {
    let none = MailParams::default;
    let table: &[(&str, Command)] = &[
        ("MAIL FROM:<a@b>", mail("<a@b>", none())),
        ("mail from:<a@b>", mail("<a@b>", none())),
        ("MAIL FROM: <a@b>", mail("<a@b>", none())),
        ("MAIL FROM:\t <a@b>", mail("<a@b>", none())),
        ("MAIL   FROM:<a@b>", mail("<a@b>", none())),
        ("MAIL FROM:<>", mail("<>", none())),
        ("MAIL FROM:a@b", mail("a@b", none())),
        (
            "MAIL FROM:a@b SIZE=10",
            mail(
                "a@b",
                MailParams {
                    size: Some(10),
                    ..none()
                },
            ),
        ),
        (
            "MAIL FROM:<\"john smith\"@b>",
            mail("<\"john smith\"@b>", none()),
        ),
        ("MAIL FROM:<\"a>b\"@c>", mail("<\"a>b\"@c>", none())),
        (
            "MAIL FROM:<\"a\\\"> x\"@c>",
            mail("<\"a\\\"> x\"@c>", none()),
        ),
        ("MAIL FROM:<@relay:a@b>", mail("<@relay:a@b>", none())),
        (
            "MAIL FROM:<jürgen@bücher.example> SMTPUTF8",
            mail(
                "<jürgen@bücher.example>",
                MailParams {
                    smtputf8: true,
                    ..none()
                },
            ),
        ),
        ("RCPT TO:<c@d>", rcpt("<c@d>", RcptParams::default())),
        (
            "rcpt to: <postmaster>",
            rcpt("<postmaster>", RcptParams::default()),
        ),
        ("RCPT TO:<>", rcpt("<>", RcptParams::default())),
        ("RCPT TO:c@d", rcpt("c@d", RcptParams::default())),
    ];
    for (line, want) in table {
        assert_eq!(&ok(line), want, "{line:?}");
    }
}

#[test]
fn mail_parameters() {
    let p = |line: &str| match ok(line) {
        Command::Mail { params, .. } => params,
        other => panic!("{other:?}"),
    };
    let all = p("MAIL FROM:<a@b> size=1000 BODY=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ314159");
    assert_eq!(
        all,
        MailParams {
            size: Some(1000),
            body: Some(Body::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Hdrs),
            envid: Some(XText::new("QQ314159").unwrap()),
        }
    );
    assert_eq!(p("MAIL FROM:<a@b> BODY=7BIT").body, Some(Body::SevenBit));
    assert_eq!(
        p("MAIL FROM:<a@b> BODY=BINARYMIME").body,
        Some(Body::BinaryMime)
    );
    assert_eq!(p("MAIL FROM:<a@b> SIZE=0").size, Some(0));
    assert_eq!(p("MAIL FROM:<a@b>   SIZE=7  ").size, Some(7));
    // u64::MAX parses; whether it is too large is the session's 552 5.3.4.
    assert_eq!(
        p("MAIL FROM:<a@b> SIZE=18446744073709551615").size,
        Some(u64::MAX)
    );
    assert_eq!(
        p("MAIL FROM:<a@b> SIZE=999999999999").size,
        Some(999_999_999_999)
    );
}

#[test]
fn rcpt_parameters() {
    let p = |line: &str| match ok(line) {
        Command::Rcpt { params, .. } => params,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p("RCPT TO:<c@d> NOTIFY=success,failure ORCPT=rfc822;c+40d"),
        RcptParams {
            notify: Some(Notify {
                success: true,
                failure: true,
                delay: false
            }),
            orcpt: Some(Orcpt::parse("rfc822;c+40d").unwrap())
        }
    );
    assert_eq!(p("RCPT TO:<c@d> notify=NEVER").notify, Some(Notify::NEVER));
    assert_eq!(
        p("RCPT TO:<c@d> NOTIFY=DELAY")
            .notify
            .map(|n| n.to_string()),
        Some("DELAY".into())
    );
}

#[test]
fn bdat() {
    let table: &[(&str, Command)] = &[
        (
            "BDAT 0",
            Command::Bdat {
                size: 0,
                last: false,
            },
        ),
        (
            "BDAT 0 LAST",
            Command::Bdat {
                size: 0,
                last: true,
            },
        ),
        (
            "bdat 1000 last",
            Command::Bdat {
                size: 1000,
                last: true,
            },
        ),
        (
            "BDAT  86 \t LAST ",
            Command::Bdat {
                size: 86,
                last: true,
            },
        ),
        (
            "BDAT 0000012",
            Command::Bdat {
                size: 12,
                last: false,
            },
        ),
        (
            "BDAT 18446744073709551615",
            Command::Bdat {
                size: u64::MAX,
                last: false,
            },
        ),
    ];
    for (line, want) in table {
        assert_eq!(&ok(line), want, "{line:?}");
    }
    for bad in [
        "BDAT",
        "BDAT -1",
        "BDAT +1",
        "BDAT 18446744073709551616",
        "BDAT 99999999999999999999999999",
        "BDAT 1x",
        "BDAT 0x10",
        "BDAT 1 LAST extra",
        "BDAT 1 FIRST",
        "BDAT LAST",
        "BDAT 1,5",
        "BDAT １２", // full-width digits are not ASCII digits
    ] {
        let e = err(bad.as_bytes());
        assert!(matches!(e, CommandError::Syntax(_)), "{bad:?}: {e:?}");
        assert_eq!(wire(&e).0, 501, "{bad:?}");
        assert_eq!(wire(&e).1, "5.5.4", "{bad:?}");
    }
}

#[test]
fn replies_name_the_problem() {
    assert_eq!(
        wire(&CommandError::Unrecognized).2,
        "command not recognized"
    );
    assert_eq!(wire(&CommandError::LineTooLong).2, "line too long");
    assert_eq!(wire(&CommandError::InvalidUtf8).2, "invalid UTF-8");
    assert_eq!(
        wire(&CommandError::BadParam("FOO".into())).2,
        "unsupported parameter FOO"
    );
    assert_eq!(
        wire(&CommandError::Syntax("BDAT <size> [LAST]")).2,
        "syntax error: BDAT <size> [LAST]"
    );
}

#[test]
fn line_length_limit() {
    // MAX_LINE counts the CRLF: MAX_LINE - 2 bytes of text is the longest line.
    let at_limit = format!("NOOP {}", "x".repeat(MAX_LINE - 2 - 5));
    assert_eq!(at_limit.len(), MAX_LINE - 2);
    assert_eq!(ok(&at_limit), Command::Noop);
    let over = format!("NOOP {}", "x".repeat(MAX_LINE - 2 - 4));
    assert_eq!(err(over.as_bytes()), CommandError::LineTooLong);

    // R04: a 10 kB command line, a 64 KiB EHLO argument, also when the
    // long line holds bytes that would be refused for another reason.
    let ten_k = format!("MAIL FROM:<{}@b>", "a".repeat(10_000));
    assert_eq!(err(ten_k.as_bytes()), CommandError::LineTooLong);
    let ehlo = format!("EHLO {}", "h".repeat(64 * 1024));
    assert_eq!(err(ehlo.as_bytes()), CommandError::LineTooLong);
    let mut hostile = vec![0u8; 100_000];
    hostile[..5].copy_from_slice(b"HELO ");
    assert_eq!(err(&hostile), CommandError::LineTooLong);
    let (code, esc, _) = wire(&CommandError::LineTooLong);
    assert_eq!((code, esc.as_str()), (500, "5.5.2"));
}

#[test]
fn verb_names() {
    for (line, verb) in [
        ("HELO a", "HELO"),
        ("ehlo a", "EHLO"),
        ("MAIL FROM:<>", "MAIL"),
        ("RCPT TO:<a>", "RCPT"),
        ("DATA", "DATA"),
        ("BDAT 1", "BDAT"),
        ("RSET", "RSET"),
        ("NOOP", "NOOP"),
        ("QUIT", "QUIT"),
        ("HELP", "HELP"),
        ("VRFY x", "VRFY"),
        ("EXPN x", "EXPN"),
        ("STARTTLS", "STARTTLS"),
        ("AUTH x", "AUTH"),
    ] {
        assert_eq!(ok(line).verb(), verb);
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: no panic, and an accepted command came from a short,
        /// clean UTF-8 line.
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            if parse(&line).is_ok() {
                prop_assert!(std::str::from_utf8(&line).is_ok());
                prop_assert!(!line.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')));
            }
        }

        /// SMTP-looking lines exercise the verb and parameter paths.
        #[test]
        fn smtp_like_lines(
            verb in prop::sample::select(vec!["MAIL FROM:", "RCPT TO:", "BDAT", "EHLO", "mail from: "]),
            rest in "[<>\" a-zA-Z0-9@=;,.\\\\-]{0,40}",
        ) {
            let line = format!("{verb}{rest}");
            if let Ok(Command::Mail { from, .. } | Command::Rcpt { to: from, .. }) = parse(line.as_bytes()) {
                prop_assert!(!from.is_empty());
                prop_assert!(!from.contains([' ', '\t']) || from.starts_with('<'));
            }
        }
    }
}
