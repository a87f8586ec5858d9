//! `LE:` lines: round trips, clearing, refusals, and hostile reasons.

use std::path::Path;

use proptest::prelude::*;

use crate::address::{Address, PipePolicy, parse_path};
use crate::message::{Done, Message, QueueId};
use crate::spool::SpoolError;
use crate::spool::format::{decode_header_file, encode_header_file};

const WITH_LE: &str = "\
1xVrXk-3tM-00
MF:<alice@sender.example>
RT: <bob@remote.example>
RT: <\"c d\"@remote.example>
RT:X<dave@remote.example>
PR:ESMTP
DS: 5
TR: 1795530648
LE:1795530700 <bob@remote.example> 4.2.0 <bob@remote.example> mailbox busy
LE:1795530701 <\"c d\"@remote.example> 4.4.1 connection refused

HD:Subject: hi
";

fn id() -> QueueId {
    QueueId::parse("1xVrXk-3tM-00").unwrap()
}

fn decode(text: &str) -> Result<Message, SpoolError> {
    decode_header_file(&id(), text.as_bytes(), Path::new("x-H"))
}

fn addr(s: &str) -> Address {
    parse_path(s, PipePolicy::Allow).unwrap()
}

#[test]
fn le_lines_round_trip() {
    let msg = decode(WITH_LE).unwrap();
    let bob = msg.last_error(&addr("<bob@remote.example>")).unwrap();
    assert_eq!(bob.time, 1795530700);
    assert_eq!(bob.text(), "4.2.0 <bob@remote.example> mailbox busy");
    let cd = msg.last_error(&addr("<\"c d\"@remote.example>")).unwrap();
    assert_eq!(cd.text(), "4.4.1 connection refused");
    let bytes = encode_header_file(&msg).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), WITH_LE);
}

#[test]
fn finished_recipients_lose_their_line() {
    let mut msg = decode(WITH_LE).unwrap();
    let bob = addr("<bob@remote.example>");
    msg.mark_top(&bob, Done::Delivered);
    msg.mark(&bob, Done::Delivered);
    // Pipes and addresses that are no envelope recipient have none.
    msg.set_last_error(&addr("|/bin/x"), 1, "4.3.0 x");
    msg.set_last_error(&addr("<root@here.example>"), 1, "4.3.0 x");
    let text = String::from_utf8(encode_header_file(&msg).unwrap()).unwrap();
    let le: Vec<&str> = text.lines().filter(|l| l.starts_with("LE:")).collect();
    assert_eq!(
        le,
        ["LE:1795530701 <\"c d\"@remote.example> 4.4.1 connection refused"]
    );
}

#[test]
fn hostile_reasons_stay_on_their_line() {
    let mut msg = decode(WITH_LE).unwrap();
    let bob = addr("<bob@remote.example>");
    msg.set_last_error(&bob, 7, "4.0.0 x\nRT: <evil@x>\r\n\0\u{1b}[31m");
    let back = decode(std::str::from_utf8(&encode_header_file(&msg).unwrap()).unwrap()).unwrap();
    assert_eq!(back.rcpt_list, msg.rcpt_list);
    assert_eq!(
        back.last_error(&bob).unwrap().text(),
        "4.0.0 x RT: <evil@x> [31m"
    );
}

#[test]
fn reader_refuses_bad_lines() {
    let good = "LE:1795530700 <bob@remote.example> 4.2.0 busy\n";
    assert!(decode(&WITH_LE.replace("LE:1795530701", "XX:1")).is_ok());
    for (bad, why) in [
        ("LE:\n", "LE: line without address"),
        ("LE:12\n", "LE: line without address"),
        ("LE:+12 <bob@remote.example> x\n", "bad time in LE:"),
        ("LE:x <bob@remote.example> x\n", "bad time in LE:"),
        (
            "LE:99999999999999999999 <bob@remote.example> x\n",
            "bad time in LE:",
        ),
        (
            "LE:1 <eve@remote.example> x\n",
            "LE: line for an address without RT: line",
        ),
        (
            "LE:1 <bob@remote.example>\n",
            "LE: line for an address without RT: line",
        ),
        ("LE:1 <bob@remote.example> \n", "bad text in LE:"),
        ("LE:1 <bob@remote.example> a  b\n", "bad text in LE:"),
        ("LE:1 <bob@remote.example> a\tb\n", "bad text in LE:"),
        ("LE:1 <bob@remote.example> \u{e9}\n", "bad text in LE:"),
        (good, "more than one LE: line for an address"),
    ] {
        // Added to the file as it is, without its own LE: lines but for
        // the last case.
        let base = if bad == good {
            WITH_LE.to_string()
        } else {
            WITH_LE
                .lines()
                .filter(|l| !l.starts_with("LE:"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let text = base.replace("\n\nHD:", &format!("\n{bad}\nHD:"));
        match decode(&text) {
            Err(SpoolError::Corrupt { what, .. }) => assert_eq!(what, why, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

proptest! {
    /// Any reason, any time: the file reads back with the same recipients
    /// and the reason as kept.
    #[test]
    fn any_reason_round_trips(why in ".{0,400}", time in 0i64..i64::MAX, which in 0usize..2) {
        let mut msg = decode(WITH_LE).unwrap();
        let rcpt = msg.rcpt_list[which].clone();
        msg.set_last_error(&rcpt, time, &why);
        let back = decode_header_file(&id(), &encode_header_file(&msg).unwrap(), Path::new("x-H")).unwrap();
        prop_assert_eq!(&back.rcpt_list, &msg.rcpt_list);
        prop_assert_eq!(back.last_error(&rcpt), msg.last_error(&rcpt));
    }
}
