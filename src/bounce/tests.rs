use super::*;
use crate::message::{Header, Protocol, QueueId};

const ID: &str = "1xVrXk-3tM-00";

fn cfg() -> Config {
    let mut c = Config::with_host_name("mx.example.org");
    c.template_dir = Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tpl")));
    c
}

fn message(return_path: Address) -> Message {
    Message {
        id: QueueId::parse(ID).unwrap(),
        return_path,
        rcpt_list: vec![Address::new("bob", "remote.example")],
        top_done: Vec::new(),
        finished: Vec::new(),
        protocol: Protocol::Esmtp,
        received_host: Some("client.example\r\nX-Evil: 1".into()),
        ident: None,
        data_size: 12,
        received_time: 1_700_000_000,
        warning_time: None,
        fetched_as: None,
        dsn: Default::default(),
        headers: vec![
            Header::new("From", "alice@sender.example"),
            Header::new("To", "bob@remote.example"),
            Header::new("Subject", "lunch ${uid} $(id)"),
        ],
    }
}

const BODY: &[u8] = b"See you at noon.\n--1xVrXk-3tM-00\n";

/// Splits a notice into header lines (unfolded) and body; checks the
/// shape of an RFC 5322 message along the way.
fn parse(text: &[u8]) -> (Vec<(String, String)>, String) {
    let text = std::str::from_utf8(text).unwrap();
    assert!(!text.contains('\r'), "LF line ends only");
    let (head, body) = text
        .split_once("\n\n")
        .expect("blank line after the headers");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            headers
                .last_mut()
                .expect("continuation after a header")
                .1
                .push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("header has a colon");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
                "{name:?}"
            );
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
    let found: Vec<_> = h
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {name}");
    &found[0].1
}

#[test]
fn failure_notice_is_a_valid_mime_message() {
    let msg = message(Address::new("alice", "sender.example"));
    let failed = [
        Address::new("bob", "remote.example"),
        Address::new("\"$(touch /tmp/x)`id`;\"", "remote.example"),
    ];
    let reason = "Could not resolve host remote.example:\n\tno such domain\n";
    let n = failure_notice(&cfg(), &msg, BodyExcerpt::whole(BODY), &failed, reason)
        .unwrap()
        .unwrap();
    assert_eq!(n.recipient, Address::new("alice", "sender.example"));
    let (h, body) = parse(&n.text);
    assert_eq!(header(&h, "From"), "MAILER-DAEMON@mx.example.org");
    assert_eq!(header(&h, "To"), "alice@sender.example");
    assert_eq!(header(&h, "MIME-Version"), "1.0");
    assert_eq!(header(&h, "Auto-Submitted"), "auto-replied");
    assert!(!header(&h, "Subject").is_empty());
    let ct = header(&h, "Content-Type");
    assert!(ct.starts_with("multipart/mixed;"), "{ct}");
    let boundary = format!("--{ID}/mx.example.org");
    assert!(
        ct.ends_with(&format!("boundary=\"{}\"", &boundary[2..])),
        "{ct}"
    );

    // Two parts and a closing delimiter, each on its own line.
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.iter().filter(|l| **l == boundary).count(), 2);
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == format!("{boundary}--"))
            .count(),
        1
    );
    assert_eq!(lines.last(), Some(&format!("{boundary}--").as_str()));

    assert!(body.contains("\t<bob@remote.example>\n"));
    assert!(
        body.contains("\t<\"$(touch /tmp/x)`id`;\"@remote.example>\n"),
        "addresses shown as data"
    );
    assert!(body.contains(reason));
    assert!(body.contains("<postmaster@mx.example.org>"));
    assert!(body.contains(&format!("{PACKAGE} {VERSION}")));
    // The original message: its headers, a blank line, its body.
    let original = "From: alice@sender.example\nTo: bob@remote.example\nSubject: lunch ${uid} $(id)\n\nSee you at noon.\n";
    assert!(body.contains(original), "{body}");
    assert!(!body.contains("@failed_rcpts") && !body.contains("@msg_"));
}

#[test]
fn delay_warning_shows_headers_only() {
    let msg = message(Address::new("alice", "sender.example"));
    let n = delay_warning(
        &cfg(),
        &msg,
        &[Address::new("bob", "remote.example")],
        "Local delivery failed",
    )
    .unwrap()
    .unwrap();
    let (h, body) = parse(&n.text);
    assert_eq!(header(&h, "To"), "alice@sender.example");
    assert!(header(&h, "Content-Type").contains(&format!("boundary=\"{ID}/mx.example.org\"")));
    assert!(body.contains("\t<bob@remote.example>\n"));
    assert!(body.contains("Subject: lunch ${uid} $(id)\n"));
    assert!(body.contains("Local delivery failed"));
    assert!(!body.contains("See you at noon"), "no body in a warning");
    assert!(body.ends_with(&format!("--{ID}/mx.example.org--\n")));
}

#[test]
fn who_gets_the_notice() {
    let c = cfg();
    let bob = Address::new("bob", "remote.example");
    let null = message(Address::null());
    for (msg, failed, want) in [
        (
            message(Address::new("a", "s.example")),
            vec![bob.clone()],
            Some(Address::new("a", "s.example")),
        ),
        (
            null.clone(),
            vec![bob.clone()],
            Some(Address::new("postmaster", "mx.example.org")),
        ),
        (
            null.clone(),
            vec![bob.clone(), Address::new("PostMaster", "MX.example.org")],
            None,
        ),
        (null.clone(), vec![Address::new("postmaster", "")], None),
        // Postmaster of another host is an ordinary recipient.
        (
            null.clone(),
            vec![Address::new("postmaster", "remote.example")],
            Some(Address::new("postmaster", "mx.example.org")),
        ),
        // A real sender hears about postmaster failing.
        (
            message(Address::new("a", "s.example")),
            vec![Address::new("postmaster", "mx.example.org")],
            Some(Address::new("a", "s.example")),
        ),
        (message(Address::new("a", "s.example")), vec![], None),
    ] {
        let got = failure_notice(&c, &msg, BodyExcerpt::whole(b""), &failed, "x")
            .unwrap()
            .map(|n| n.recipient);
        assert_eq!(got, want, "rp {:?} failed {failed:?}", msg.return_path);
        let got = delay_warning(&c, &msg, &failed, "x")
            .unwrap()
            .map(|n| n.recipient);
        assert_eq!(
            got, want,
            "warning: rp {:?} failed {failed:?}",
            msg.return_path
        );
    }
}

#[test]
fn null_sender_notice_is_addressed_to_postmaster() {
    let n = failure_notice(
        &cfg(),
        &message(Address::null()),
        BodyExcerpt::whole(BODY),
        &[Address::new("b", "r.example")],
        "x",
    )
    .unwrap()
    .unwrap();
    let (h, _) = parse(&n.text);
    assert_eq!(header(&h, "To"), "postmaster@mx.example.org");
}

#[test]
fn variables_are_sanitised() {
    let mut c = cfg();
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("custom.tpl");
    std::fs::write(
        &tpl,
        "X-Host: ${received_host}\nX-Err: ${err_msg}\n\n@failed_rcpts\n",
    )
    .unwrap();
    c.errmsg_file = Some(tpl);
    let msg = message(Address::new("a", "s.example"));
    let n = failure_notice(
        &c,
        &msg,
        BodyExcerpt::whole(b""),
        &[Address::new("b", "r.example")],
        "one\r\ntwo\0",
    )
    .unwrap()
    .unwrap();
    let text = String::from_utf8(n.text).unwrap();
    assert_eq!(
        text,
        "X-Host: client.example??X-Evil: 1\nX-Err: one\ntwo?\n\n\t<b@r.example>\n"
    );
}

#[test]
fn template_errors() {
    let dir = tempfile::tempdir().unwrap();
    let msg = message(Address::new("a", "s.example"));
    let failed = [Address::new("b", "r.example")];

    let mut c = cfg();
    c.errmsg_file = Some(dir.path().join("missing.tpl"));
    assert!(matches!(
        failure_notice(&c, &msg, BodyExcerpt::whole(b""), &failed, "x"),
        Err(BounceError::Unreadable { .. })
    ));
    // The warning template is separate and still found.
    assert!(delay_warning(&c, &msg, &failed, "x").is_ok());

    let bad = dir.path().join("bad.tpl");
    std::fs::write(&bad, b"\xff\xfe").unwrap();
    c.warnmsg_file = Some(bad);
    assert!(matches!(
        delay_warning(&c, &msg, &failed, "x"),
        Err(BounceError::NotUtf8 { .. })
    ));

    let mut c = cfg();
    c.template_dir = Some(dir.path().to_path_buf());
    assert!(matches!(
        failure_notice(&c, &msg, BodyExcerpt::whole(b""), &failed, "x"),
        Err(BounceError::Unreadable { .. })
    ));
}

#[test]
fn templates_are_found_near_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::create_dir_all(r.join("target/debug")).unwrap();
    let exe = r.join("bin/masqmail");
    assert!(matches!(
        find_near_exe(Some(&exe), "failmsg.tpl"),
        Err(BounceError::NotFound { .. })
    ));
    assert!(matches!(
        find_near_exe(None, "failmsg.tpl"),
        Err(BounceError::NotFound { .. })
    ));

    // Source tree layout: <root>/tpl next to <root>/target/debug/masqmail.
    std::fs::create_dir_all(r.join("tpl")).unwrap();
    std::fs::write(r.join("tpl/failmsg.tpl"), "x").unwrap();
    let dev = find_near_exe(Some(&r.join("target/debug/masqmail")), "failmsg.tpl").unwrap();
    assert_eq!(dev, r.join("target/debug/../../tpl/failmsg.tpl"));

    // Installed layout wins over the others.
    std::fs::create_dir_all(r.join("share/masqmail/tpl")).unwrap();
    std::fs::write(r.join("share/masqmail/tpl/failmsg.tpl"), "x").unwrap();
    std::fs::create_dir_all(r.join("bin/tpl")).unwrap();
    std::fs::write(r.join("bin/tpl/failmsg.tpl"), "x").unwrap();
    assert_eq!(
        find_near_exe(Some(&exe), "failmsg.tpl").unwrap(),
        r.join("bin/../share/masqmail/tpl/failmsg.tpl")
    );
    std::fs::remove_file(r.join("share/masqmail/tpl/failmsg.tpl")).unwrap();
    assert_eq!(
        find_near_exe(Some(&exe), "failmsg.tpl").unwrap(),
        r.join("bin/tpl/failmsg.tpl")
    );
}
