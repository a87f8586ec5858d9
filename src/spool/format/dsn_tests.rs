//! `DE:`/`DR:` lines: round trips, refusals, and what a reader that does
//! not know them (the C program) makes of the file.

use std::path::Path;

use proptest::prelude::*;

use crate::address::{Address, PipePolicy, parse_path};
use crate::message::dsn::{Notify, Orcpt, RcptDsn, Ret, XText};
use crate::message::{Done, Message, QueueId};
use crate::spool::SpoolError;
use crate::spool::format::{decode_header_file, encode_header_file};

const WITH_DSN: &str = "\
1xVrXk-3tM-00
MF:<alice@sender.example>
RT: <bob@remote.example>
RT: <carol@remote.example>
RT:X<dave@remote.example>
PR:ESMTP
RH:127.0.0.1
DS: 5
TR: 1795530648
DE:RET=HDRS ENVID=QQ+20314159
DR:NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bx@remote.example <bob@remote.example>
DR:NOTIFY=NEVER <carol@remote.example>
DR:ORCPT=rfc822;dave@old.example <dave@remote.example>

HD:Subject: hi
";

fn id() -> QueueId {
    QueueId::parse("1xVrXk-3tM-00").unwrap()
}

fn decode(text: &str) -> Result<Message, SpoolError> {
    decode_header_file(&id(), text.as_bytes(), Path::new("x-H"))
}

fn addr(s: &str) -> Address {
    parse_path(s, PipePolicy::Refuse).unwrap()
}

#[test]
fn dsn_lines_round_trip() {
    let msg = decode(WITH_DSN).unwrap();
    assert_eq!(msg.dsn.ret, Some(Ret::Hdrs));
    assert_eq!(
        msg.dsn.envid.as_ref().map(XText::as_str),
        Some("QQ+20314159")
    );
    let bob = msg.dsn.rcpt(&addr("<bob@remote.example>")).unwrap();
    assert_eq!(
        bob.notify,
        Some(Notify {
            success: true,
            failure: true,
            delay: false
        })
    );
    assert_eq!(
        bob.orcpt.as_ref().unwrap().addr.decoded(),
        "bob+x@remote.example"
    );
    let carol = msg.dsn.rcpt(&addr("<carol@remote.example>")).unwrap();
    assert_eq!(carol.notify, Some(Notify::NEVER));
    // A finished recipient keeps its line (its report may still be due).
    assert!(msg.dsn.rcpt(&addr("<dave@remote.example>")).is_some());
    assert_eq!(encode_header_file(&msg).unwrap(), WITH_DSN.as_bytes());
}

#[test]
fn mail_without_dsn_has_no_dsn_lines() {
    let plain = WITH_DSN
        .lines()
        .filter(|l| !l.starts_with("DE:") && !l.starts_with("DR:"))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let msg = decode(&plain).unwrap();
    assert!(msg.dsn.is_empty());
    assert_eq!(encode_header_file(&msg).unwrap(), plain.as_bytes());
}

/// What a 1.0 reader sees: it knows these tags and ignores every other
/// (spool.md §3); headers start at the empty line.
fn c_reader_view(text: &str) -> String {
    let (env, headers) = text.split_once("\n\n").unwrap();
    let known = ["MF:", "RT:", "PR:", "RH:", "ID:", "DS:", "TR:", "TW:"];
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in env.lines().enumerate() {
        let tag = line.get(..3).unwrap_or("").to_ascii_uppercase();
        if i == 0 || known.contains(&tag.as_str()) {
            out.push(line);
        }
    }
    format!("{}\n\n{headers}", out.join("\n"))
}

#[test]
fn a_reader_that_ignores_the_tags_gets_the_same_message() {
    let ours = decode(WITH_DSN).unwrap();
    // Our tags are not tags of the C program, in any case.
    for line in WITH_DSN
        .lines()
        .filter(|l| l.starts_with('D') && l.as_bytes()[2] == b':')
    {
        let tag = &line[..3];
        assert!(tag == "DE:" || tag == "DR:" || tag == "DS:", "{line}");
    }
    let theirs = decode(&c_reader_view(WITH_DSN)).unwrap();
    let mut expected = ours.clone();
    expected.dsn = Default::default();
    assert_eq!(theirs, expected, "same envelope, recipients and headers");
    // And when the C program rewrites the file, the lines are gone and the
    // message is still the same mail.
    let rewritten = encode_header_file(&theirs).unwrap();
    assert!(!String::from_utf8(rewritten).unwrap().contains("DR:"));
}

#[test]
fn decoder_refuses_what_it_does_not_understand() {
    for (from, to) in [
        ("DE:RET=HDRS ENVID=QQ+20314159", "DE:RET=BODY"),
        ("DE:RET=HDRS ENVID=QQ+20314159", "DE:RET=HDRS RET=FULL"),
        ("DE:RET=HDRS ENVID=QQ+20314159", "DE:ENVID=a+2"),
        ("DE:RET=HDRS ENVID=QQ+20314159", "DE:SIZE=1"),
        ("DR:NOTIFY=NEVER <carol", "DR:NOTIFY=NEVER,DELAY <carol"),
        (
            "DR:NOTIFY=NEVER <carol",
            "DR:NOTIFY=NEVER NOTIFY=NEVER <carol",
        ),
        ("DR:NOTIFY=NEVER <carol", "DR:BOGUS=1 <carol"),
        ("DR:NOTIFY=NEVER <carol", "DR:<carol"),
        ("DR:NOTIFY=NEVER <carol", "DR:NOTIFY=NEVER <eve"),
        ("DR:NOTIFY=NEVER <carol", "DR:NOTIFY=NEVER <bob"),
        ("DR:NOTIFY=NEVER <carol@remote.example>", "DR:NOTIFY=NEVER"),
        (
            "DR:ORCPT=rfc822;dave@old.example",
            "DR:ORCPT=dave@old.example",
        ),
    ] {
        let text = WITH_DSN.replacen(from, to, 1);
        assert_ne!(text, WITH_DSN, "{from}");
        assert!(
            matches!(decode(&text), Err(SpoolError::Corrupt { .. })),
            "{to}: {:?}",
            decode(&text).map(|m| m.dsn)
        );
    }
    // A second DE: line.
    let text = WITH_DSN.replacen("DE:", "DE:RET=FULL\nDE:", 1);
    assert!(decode(&text).is_err());
}

#[test]
fn encoder_refuses_unsafe_or_unbound_values() {
    let base = decode(WITH_DSN).unwrap();
    let rd = |o: &str| RcptDsn {
        notify: None,
        orcpt: Some(Orcpt {
            addr_type: o.to_string(),
            addr: XText::new("x").unwrap(),
        }),
    };
    let cases: Vec<(Address, RcptDsn)> = vec![
        // Not an RT: recipient: the line would bind to nothing.
        (addr("<eve@remote.example>"), rd("rfc822")),
        // A type that would not read back (space, line break).
        (addr("<bob@remote.example>"), rd("rfc 822")),
        (addr("<bob@remote.example>"), rd("rfc822\nRT: <x@y>")),
    ];
    for (a, d) in cases {
        let mut msg = base.clone();
        msg.dsn.rcpts.retain(|(r, _)| *r != a);
        msg.dsn.rcpts.insert(0, (a.clone(), d));
        assert!(
            matches!(
                encode_header_file(&msg),
                Err(SpoolError::Unencodable { .. })
            ),
            "{a}"
        );
    }
    // A pipe recipient never carries DSN requests.
    let mut msg = base.clone();
    let pipe = Address::new("|/bin/true", "localhost");
    msg.rcpt_list.push(pipe.clone());
    msg.dsn.rcpts.push((pipe, rd("rfc822")));
    assert!(encode_header_file(&msg).is_err());
    // Finished recipients still bind.
    let mut msg = base;
    msg.mark(&addr("<bob@remote.example>"), Done::Delivered);
    msg.mark_top(&addr("<bob@remote.example>"), Done::Delivered);
    let text = encode_header_file(&msg).unwrap();
    let back = decode(std::str::from_utf8(&text).unwrap()).unwrap();
    assert_eq!(back.dsn, msg.dsn);
}

proptest! {
    #[test]
    fn any_valid_values_round_trip(
        envid in "[!-*,-<>-~]{1,40}",
        orcpt in "[!-*,-<>-~]{1,40}",
        s in any::<bool>(), f in any::<bool>(), d in any::<bool>(),
        hdrs in any::<bool>(),
    ) {
        let mut msg = decode(WITH_DSN).unwrap();
        msg.dsn.ret = Some(if hdrs { Ret::Hdrs } else { Ret::Full });
        msg.dsn.envid = Some(XText::new(&envid).unwrap());
        msg.dsn.rcpts[0].1 = RcptDsn {
            notify: Some(Notify { success: s, failure: f, delay: d }),
            orcpt: Some(Orcpt::parse(&format!("rfc822;{orcpt}")).unwrap()),
        };
        let text = encode_header_file(&msg).unwrap();
        let back = decode(std::str::from_utf8(&text).unwrap()).unwrap();
        prop_assert_eq!(back.dsn, msg.dsn);
    }
}
