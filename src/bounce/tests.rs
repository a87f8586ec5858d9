use super::*;
use crate::message::dsn::Orcpt;
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
        last_errors: Vec::new(),
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

fn rep(rcpts: &[Address], action: Action, why: &str) -> Vec<Reported> {
    rcpts
        .iter()
        .map(|r| Reported {
            rcpt: r.clone(),
            orcpt: None,
            action,
            why: why.to_string(),
        })
        .collect()
}

fn failed(rcpts: &[Address], why: &str) -> Vec<Reported> {
    rep(rcpts, Action::Failed, why)
}

/// The parts of a multipart body: (header text, content) each.
fn parts(body: &str, boundary: &str) -> Vec<(String, String)> {
    let delim = format!("--{boundary}");
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    assert_eq!(
        lines.last().map(|l| l.trim_end()),
        Some(format!("{delim}--").as_str()),
        "closing delimiter last"
    );
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        let bare = line.trim_end_matches('\n');
        if bare == delim || bare == format!("{delim}--") {
            if let Some(p) = current.take() {
                out.push(p);
            }
            if bare == delim {
                current = Some(String::new());
            }
        } else if let Some(p) = &mut current {
            p.push_str(line);
        }
    }
    out.into_iter()
        .map(|p| {
            let (h, c) = p.split_once("\n\n").unwrap_or((&p, ""));
            (h.to_string(), c.to_string())
        })
        .collect()
}

fn boundary_of(content_type: &str) -> String {
    let b = content_type.split("boundary=\"").nth(1).expect("boundary");
    b[..b.find('"').unwrap()].to_string()
}

#[test]
fn failure_notice_is_a_delivery_status_report() {
    let msg = message(Address::new("alice", "sender.example"));
    let rcpts = [
        Address::new("bob", "remote.example"),
        Address::new("\"$(touch /tmp/x)`id`;\"", "remote.example"),
    ];
    let reason = "Could not resolve host remote.example:\n\tno such domain\n";
    let mut list = failed(&rcpts, reason);
    list[0].why = "host=mx: 550 5.1.1 <bob@remote.example>: no such user".into();
    let n = failure_notice(&cfg(), &msg, BodyExcerpt::whole(BODY), &list)
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
    assert!(
        ct.starts_with("multipart/report; report-type=delivery-status;"),
        "{ct}"
    );
    let p = parts(&body, &boundary_of(ct));
    assert_eq!(p.len(), 3, "{body}");

    // 1: the template's text.
    assert!(p[0].0.contains("Content-Type: text/plain; charset=utf-8"));
    let text = &p[0].1;
    assert!(text.contains("\t<bob@remote.example>\n"));
    assert!(
        text.contains("\t<\"$(touch /tmp/x)`id`;\"@remote.example>\n"),
        "addresses shown as data"
    );
    assert!(text.contains(reason));
    assert!(text.contains("<postmaster@mx.example.org>"));
    assert!(text.contains(&format!("{PACKAGE} {VERSION}")));
    assert!(!text.contains("@failed_rcpts") && !text.contains("@msg_"));

    // 2: the delivery status.
    assert_eq!(p[1].0, "Content-Type: message/delivery-status");
    let status = &p[1].1;
    assert!(status.starts_with("Reporting-MTA: dns; mx.example.org\nArrival-Date: "));
    assert!(!status.contains("Original-Envelope-Id"));
    assert!(
        status.contains(
            "\n\nFinal-Recipient: rfc822; bob@remote.example\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such user\nLast-Attempt-Date: "
        ),
        "{status}"
    );
    assert!(
        status.contains("Action: failed\nStatus: 5.0.0\nLast-Attempt-Date: "),
        "{status}"
    );

    // 3: the original message: its headers, a blank line, its body.
    assert!(p[2].0.contains("Content-Type: message/rfc822"));
    let original = "From: alice@sender.example\nTo: bob@remote.example\nSubject: lunch ${uid} $(id)\n\nSee you at noon.\n";
    assert!(
        p[2].1
            .starts_with(&original[..original.find("\n\n").unwrap()])
    );
    assert!(body.contains(original), "{body}");
}

#[test]
fn dsn_requests_shape_the_report() {
    let mut msg = message(Address::new("alice", "sender.example"));
    msg.dsn.ret = Some(Ret::Hdrs);
    msg.dsn.envid = Some(crate::message::dsn::XText::new("QQ+2B1").unwrap());
    let mut list = failed(&[Address::new("bob", "remote.example")], "x");
    list[0].orcpt = Some(Orcpt::parse("rfc822;Bob+40old.example").unwrap());
    let n = failure_notice(&cfg(), &msg, BodyExcerpt::whole(BODY), &list)
        .unwrap()
        .unwrap();
    let (h, body) = parse(&n.text);
    let p = parts(&body, &boundary_of(header(&h, "Content-Type")));
    assert!(
        p[1].1.contains("Original-Envelope-Id: QQ+1\n"),
        "{}",
        p[1].1
    );
    assert!(
        p[1].1
            .contains("Original-Recipient: rfc822;Bob@old.example\nFinal-Recipient")
    );
    // RET=HDRS: headers only, the body is nowhere.
    assert_eq!(
        p[2].0,
        "Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: 8bit"
    );
    assert!(!body.contains("See you at noon"), "{body}");
}

#[test]
fn delay_warning_and_success_report_show_headers_only() {
    let msg = message(Address::new("alice", "sender.example"));
    let bob = [Address::new("bob", "remote.example")];
    let n = delay_warning(&cfg(), &msg, &rep(&bob, Action::Delayed, "451 4.4.1 later"))
        .unwrap()
        .unwrap();
    let (h, body) = parse(&n.text);
    assert_eq!(header(&h, "To"), "alice@sender.example");
    let p = parts(&body, &boundary_of(header(&h, "Content-Type")));
    assert!(p[0].1.contains("\t<bob@remote.example>\n"));
    assert!(p[0].1.contains("451 4.4.1 later"));
    assert!(
        p[1].1.contains("Action: delayed\nStatus: 4.4.1\n"),
        "{}",
        p[1].1
    );
    assert!(p[1].1.contains("\nWill-Retry-Until: "));
    assert_eq!(
        p[2].1,
        "From: alice@sender.example\nTo: bob@remote.example\nSubject: lunch ${uid} $(id)\n"
    );
    assert!(!body.contains("See you at noon"), "no body in a warning");

    for (action, name) in [
        (Action::Delivered, "delivered"),
        (Action::Relayed, "relayed"),
    ] {
        let n = success_report(&cfg(), &msg, &rep(&bob, action, ""))
            .unwrap()
            .unwrap();
        let (h, body) = parse(&n.text);
        assert!(header(&h, "Subject").starts_with("Delivered:"));
        let p = parts(&body, &boundary_of(header(&h, "Content-Type")));
        assert!(
            p[1].1.contains(&format!("Action: {name}\nStatus: 2.0.0\n")),
            "{}",
            p[1].1
        );
        assert!(!p[1].1.contains("Last-Attempt-Date"));
        assert!(p[2].0.contains("text/rfc822-headers"));
    }
    // Never to the null sender.
    let null = message(Address::null());
    assert!(
        success_report(&cfg(), &null, &rep(&bob, Action::Delivered, ""))
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_old_template_with_its_own_mime_parts_still_works() {
    // A masqmail 1.0 style template: multipart/mixed with the message.
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("old.tpl");
    std::fs::write(
        &tpl,
        "From: MAILER-DAEMON@${host_name}\nTo: ${return_path}\nSubject: failed\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed;\n\tboundary=\"${uid}/${host_name}\"\n\n--${uid}/${host_name}\n\
         Content-Type: text/plain\n\n@failed_rcpts\n--${uid}/${host_name}\nContent-Type: message/rfc822\n\n\
         @msg_headers\n\n@msg_body\n\n--${uid}/${host_name}--\n",
    )
    .unwrap();
    let mut c = cfg();
    c.errmsg_file = Some(tpl);
    let msg = message(Address::new("a", "s.example"));
    let n = failure_notice(
        &c,
        &msg,
        BodyExcerpt::whole(BODY),
        &failed(&[Address::new("b", "r.example")], "x"),
    )
    .unwrap()
    .unwrap();
    let (h, body) = parse(&n.text);
    assert_eq!(header(&h, "Subject"), "failed");
    assert_eq!(header(&h, "MIME-Version"), "1.0", "once");
    let p = parts(&body, &boundary_of(header(&h, "Content-Type")));
    assert_eq!(p.len(), 3);
    // The template's multipart is the first part, whole.
    assert!(p[0].0.starts_with(
        "Content-Type: multipart/mixed;\n\tboundary=\"1xVrXk-3tM-00/mx.example.org\""
    ));
    assert!(p[0].1.ends_with("--1xVrXk-3tM-00/mx.example.org--\n"));
    // The body holds a line that looks like the template's boundary: the
    // report's own boundary is a different string.
    assert!(!boundary_of(header(&h, "Content-Type")).starts_with("1xVrXk-3tM-00/"));
}

#[test]
fn the_boundary_never_occurs_in_the_parts() {
    let msg = message(Address::new("a", "s.example"));
    let evil = format!("x\n--report/{ID}/mx.example.org\n--report/{ID}/mx.example.org/1\n");
    let n = failure_notice(
        &cfg(),
        &msg,
        BodyExcerpt::whole(evil.as_bytes()),
        &failed(&[Address::new("b", "r.example")], "x"),
    )
    .unwrap()
    .unwrap();
    let (h, body) = parse(&n.text);
    let b = boundary_of(header(&h, "Content-Type"));
    assert_eq!(b, format!("report/{ID}/mx.example.org/2"));
    assert_eq!(parts(&body, &b).len(), 3);
}

#[test]
fn who_gets_the_notice() {
    let c = cfg();
    let bob = Address::new("bob", "remote.example");
    let null = message(Address::null());
    for (msg, rcpts, want) in [
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
        let got = failure_notice(&c, &msg, BodyExcerpt::whole(b""), &failed(&rcpts, "x"))
            .unwrap()
            .map(|n| n.recipient);
        assert_eq!(got, want, "rp {:?} failed {rcpts:?}", msg.return_path);
        let got = delay_warning(&c, &msg, &rep(&rcpts, Action::Delayed, "x"))
            .unwrap()
            .map(|n| n.recipient);
        assert_eq!(
            got, want,
            "warning: rp {:?} failed {rcpts:?}",
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
        &failed(&[Address::new("b", "r.example")], "x"),
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
        &failed(&[Address::new("b", "r.example")], "one\r\ntwo\0"),
    )
    .unwrap()
    .unwrap();
    let text = String::from_utf8(n.text).unwrap();
    assert!(
        text.starts_with(
            "X-Host: client.example??X-Evil: 1\nX-Err: one\ntwo?\nMIME-Version: 1.0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nContent-Type: text/plain; charset=utf-8\n\n\t<b@r.example>\n--report/"),
        "{text}"
    );
}

#[test]
fn template_errors() {
    let dir = tempfile::tempdir().unwrap();
    let msg = message(Address::new("a", "s.example"));
    let list = failed(&[Address::new("b", "r.example")], "x");
    let delayed = rep(&[Address::new("b", "r.example")], Action::Delayed, "x");

    let mut c = cfg();
    c.errmsg_file = Some(dir.path().join("missing.tpl"));
    assert!(matches!(
        failure_notice(&c, &msg, BodyExcerpt::whole(b""), &list),
        Err(BounceError::Unreadable { .. })
    ));
    // The warning template is separate and still found.
    assert!(delay_warning(&c, &msg, &delayed).is_ok());

    let bad = dir.path().join("bad.tpl");
    std::fs::write(&bad, b"\xff\xfe").unwrap();
    c.warnmsg_file = Some(bad);
    assert!(matches!(
        delay_warning(&c, &msg, &delayed),
        Err(BounceError::NotUtf8 { .. })
    ));

    let mut c = cfg();
    c.template_dir = Some(dir.path().to_path_buf());
    assert!(matches!(
        failure_notice(&c, &msg, BodyExcerpt::whole(b""), &list),
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
