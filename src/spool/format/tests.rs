use super::*;
use proptest::prelude::*;

/// spool.md §3.3, as written by 1.0 after accepting a message with `-t`.
const EXAMPLE: &str = "\
1xVrXk-3tM-00
MF:<root@host.example.org>
RT: <alice@remote.example>
RT: <bob@host.example.org>
RT: <carol@remote.example>
RT: <dave@host.example.org>
PR:local
ID:root
DS: 30
TR: 1795530648

HD:Received: by host.example.org (MasqMail 1.0.0, from userid 0)
\tid 1xVrXk-3tM-00; Tue, 24 Nov 2026 14:30:48 +0000
HD:Subject: hello
HD:To: bob, carol@remote.example
HD:From: root@host.example.org
HD:Date: Tue, 24 Nov 2026 14:30:48 +0000
HD:Message-ID: <1xVrXk-3tM-00@host.example.org>
";

/// The same file after a run that delivered the two local recipients.
const AFTER_DELIVERY_ENVELOPE: &str = "\
1xVrXk-3tM-00
MF:<root@host.example.org>
RT: <alice@remote.example>
RT:X<bob@host.example.org>
RT: <carol@remote.example>
RT:X<dave@host.example.org>
RT:X<bob@host.example.org>
RT:X<dave@host.example.org>
PR:local
";

fn id() -> QueueId {
    QueueId::parse("1xVrXk-3tM-00").unwrap()
}

fn decode(text: &[u8]) -> Result<Message, SpoolError> {
    decode_header_file(&id(), text, Path::new("spool/1xVrXk-3tM-00-H"))
}

fn addr(s: &str) -> Address {
    parse_path(s, PipePolicy::Allow).unwrap()
}

fn after_delivery_text() -> String {
    let rest = EXAMPLE.split_once("PR:local\n").unwrap().1;
    format!("{AFTER_DELIVERY_ENVELOPE}{rest}")
}

#[test]
fn golden_example_decodes_and_reencodes_identically() {
    let msg = decode(EXAMPLE.as_bytes()).unwrap();
    assert_eq!(msg.return_path, addr("root@host.example.org"));
    assert_eq!(msg.rcpt_list.len(), 4);
    assert_eq!(msg.rcpt_list[3], addr("dave@host.example.org"));
    assert!(msg.finished.is_empty());
    assert_eq!(msg.protocol, Protocol::Local);
    assert_eq!(msg.ident.as_deref(), Some("root"));
    assert_eq!(msg.received_host, None);
    assert_eq!(
        (msg.data_size, msg.received_time, msg.warning_time),
        (30, 1795530648, None)
    );
    assert_eq!(msg.headers.len(), 6);
    assert_eq!(
        msg.headers[0].raw,
        b"Received: by host.example.org (MasqMail 1.0.0, from userid 0)\n\
          \tid 1xVrXk-3tM-00; Tue, 24 Nov 2026 14:30:48 +0000\n"
    );
    assert!(msg.headers[5].is("message-id"));
    assert_eq!(encode_header_file(&msg).unwrap(), EXAMPLE.as_bytes());
}

#[test]
fn golden_after_delivery() {
    let mut msg = decode(EXAMPLE.as_bytes()).unwrap();
    for a in ["bob@host.example.org", "dave@host.example.org"] {
        msg.mark(&addr(a), Done::Delivered);
        msg.mark_top(&addr(a), Done::Delivered);
    }
    let written = encode_header_file(&msg).unwrap();
    assert_eq!(String::from_utf8(written).unwrap(), after_delivery_text());

    // Read back, finished recipients live in `finished` only (as in 1.0),
    // and the pending ones are exactly alice and carol.
    let back = decode(after_delivery_text().as_bytes()).unwrap();
    let pending: Vec<String> = back.pending().map(ToString::to_string).collect();
    assert_eq!(pending, ["alice@remote.example", "carol@remote.example"]);
    assert_eq!(
        back.finished_state(&addr("bob@host.example.org")),
        Some(Done::Delivered)
    );
    assert_eq!(back.finished.len(), 2, "duplicates are merged");
    assert_eq!(back.headers, msg.headers);
}

#[test]
fn network_message_fields_and_pipes() {
    let text = "\
1xVrXk-3tM-00
MF:<>
RT: |/usr/bin/procmail -d bob
RT:F<x@y.example>
PR:ESMTP
RH:127.0.0.1
DS: 0
TR: 5
TW: 9

";
    let msg = decode(text.as_bytes()).unwrap();
    assert!(msg.return_path.is_null());
    assert_eq!(
        msg.rcpt_list,
        [Address::new("|/usr/bin/procmail -d bob", "localhost")]
    );
    assert_eq!(msg.finished, [(addr("x@y.example"), Done::Failed)]);
    assert_eq!(msg.protocol, Protocol::Esmtp);
    assert_eq!(msg.received_host.as_deref(), Some("127.0.0.1"));
    assert_eq!(msg.warning_time, Some(9));
    assert_eq!(encode_header_file(&msg).unwrap(), text.as_bytes());
}

#[test]
fn lenient_where_the_spec_says_so() {
    // Caseless tags, optional whitespace, unknown tags, old protocol names.
    let text = "1xVrXk-3tM-00\nmf: <a@b>\nrt: <c@d>\nZZ:whatever\nPr:esmtp\nds:7\ntr:\t8 \n\n";
    let msg = decode(text.as_bytes()).unwrap();
    assert_eq!((msg.data_size, msg.received_time), (7, 8));
    assert_eq!(msg.protocol, Protocol::Esmtp);
    for (pr, want) in [
        ("smtp", Protocol::Smtp),
        ("SMTP", Protocol::Smtp),
        ("pop3", Protocol::Pop3),
        ("uucp", Protocol::Unknown),
    ] {
        let t = format!("1xVrXk-3tM-00\nMF:<a@b>\nRT: <c@d>\nPR:{pr}\nDS: 1\nTR: 1\n\n");
        assert_eq!(decode(t.as_bytes()).unwrap().protocol, want, "{pr}");
    }
}

/// R10: every kind of damaged -H is refused per file, naming the line.
#[test]
fn corrupt_files_name_the_line() {
    let good_env = "MF:<a@b>\nRT: <c@d>\nPR:local\nDS: 1\nTR: 1\n";
    let cases: Vec<(String, u32, &str)> = vec![
        (String::new(), 1, "empty file"),
        (
            "1xVrXk-3tM-01\n".to_string() + good_env + "\n",
            1,
            "first line is not the message id",
        ),
        (
            format!("1xVrXk-3tM-00\n{good_env}"),
            7,
            "no empty line after the envelope",
        ),
        (
            format!("1xVrXk-3tM-00\n{good_env}\nHD:Subject: x"),
            8,
            "last line has no line feed (truncated?)",
        ),
        (
            format!("1xVrXk-3tM-00\nMF:<a@b>\n{good_env}\n"),
            3,
            "more than one MF: line",
        ),
        (
            "1xVrXk-3tM-00\nRT: <c@d>\nDS: 1\nTR: 1\n\n".to_string(),
            5,
            "no MF: line",
        ),
        (
            "1xVrXk-3tM-00\nMF:<a@b>\nDS: 1\nTR: 1\n\n".to_string(),
            5,
            "no RT: line",
        ),
        (
            "1xVrXk-3tM-00\nMF:<a@b>\nRT: <c@d>\nTR: 1\n\n".to_string(),
            5,
            "no DS: line",
        ),
        (
            "1xVrXk-3tM-00\nMF:<a@b>\nRT: <c@d>\nDS: 1\n\n".to_string(),
            5,
            "no TR: line",
        ),
        (
            format!("1xVrXk-3tM-00\nRT:Y<e@f>\n{good_env}\n"),
            2,
            "bad recipient status character",
        ),
        (
            format!("1xVrXk-3tM-00\nRT:\n{good_env}\n"),
            2,
            "RT: line without status and address",
        ),
        (
            format!("1xVrXk-3tM-00\nRT: <e f@g>\n{good_env}\n"),
            2,
            "unparsable recipient address",
        ),
        (
            format!("1xVrXk-3tM-00\nRT: <>\n{good_env}\n"),
            2,
            "empty recipient address",
        ),
        (
            "1xVrXk-3tM-00\nMF:|/bin/sh\n".to_string(),
            2,
            "unparsable sender address",
        ),
        (
            "1xVrXk-3tM-00\nDS: 1x\n".to_string(),
            2,
            "bad number in DS:",
        ),
        (
            "1xVrXk-3tM-00\nDS: -1\n".to_string(),
            2,
            "bad number in DS:",
        ),
        (
            "1xVrXk-3tM-00\nTR: 99999999999999999999\n".to_string(),
            2,
            "bad number in TR:",
        ),
        ("1xVrXk-3tM-00\nTW:\n".to_string(), 2, "bad number in TW:"),
        (
            "1xVrXk-3tM-00\nMF\n".to_string(),
            2,
            "envelope line without a tag",
        ),
        ("1xVrXk-3tM-00\nMF:<a\0@b>\n".to_string(), 2, "NUL byte"),
        (
            format!("1xVrXk-3tM-00\n{good_env}\n\tcont\n"),
            8,
            "continuation line before the first header",
        ),
        (
            format!("1xVrXk-3tM-00\n{good_env}\nHD:A: b\nRT: <evil@x>\n"),
            9,
            "line is neither a header nor a continuation line",
        ),
    ];
    for (text, line, what) in cases {
        match decode(text.as_bytes()) {
            Err(SpoolError::Corrupt {
                line: l, what: w, ..
            }) => assert_eq!((l, w), (line, what), "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let err = decode(b"x\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spool/1xVrXk-3tM-00-H:1: first line is not the message id"
    );
    // Non-UTF-8 envelope values are refused, but headers are 8-bit clean.
    assert!(decode(b"1xVrXk-3tM-00\nMF:<\xff@b>\n").is_err());
    let mut bytes = format!("1xVrXk-3tM-00\n{good_env}\nHD:Subject: ").into_bytes();
    bytes.extend_from_slice(b"\xe4\r\n\tx\n");
    assert_eq!(
        decode(&bytes).unwrap().headers[0].raw,
        b"Subject: \xe4\r\n\tx\n"
    );
}

fn sample() -> Message {
    decode(EXAMPLE.as_bytes()).unwrap()
}

/// R09: CR, LF, NUL in every -H value are refused by the encoder.
#[test]
fn encoder_refuses_injection() {
    type Edit = fn(&mut Message);
    let cases: [(Edit, &str); 13] = [
        (
            |m| m.return_path = Address::new("a\nRT: <evil@x>", "b"),
            "MF",
        ),
        (
            |m| m.return_path = Address::new("|/bin/sh", "localhost"),
            "MF",
        ),
        (
            |m| m.rcpt_list[0] = Address::new("a", "b\rRT: <evil@x>"),
            "RT",
        ),
        (|m| m.rcpt_list[0] = Address::new("a\0", "b"), "RT"),
        (|m| m.rcpt_list[0] = Address::new("a b", "c"), "RT"),
        (|m| m.rcpt_list[0] = Address::new("a>", "c"), "RT"),
        (
            |m| m.rcpt_list[0] = Address::new("|cmd ", "localhost"),
            "RT",
        ),
        (
            |m| m.rcpt_list[0] = Address::new("|cmd", "example.org"),
            "RT",
        ),
        (|m| m.rcpt_list[0] = Address::null(), "RT"),
        (|m| m.received_host = Some("h\nRT: <evil@x>".into()), "RH"),
        (|m| m.ident = Some(" root".into()), "ID"),
        (
            |m| m.headers[1].raw = b"Subject: x\nRT: <evil@x>\n".to_vec(),
            "header",
        ),
        (|m| m.headers[1].raw = b"Subject: x".to_vec(), "header"),
    ];
    for (i, (edit, field)) in cases.into_iter().enumerate() {
        let mut m = sample();
        edit(&mut m);
        match encode_header_file(&m) {
            Err(SpoolError::Unencodable { field: f, .. }) => assert_eq!(f, field, "case {i}"),
            other => panic!("case {i}: {other:?}"),
        }
    }
    let mut m = sample();
    m.headers[1].raw = b"Subject: a\0b\n".to_vec();
    assert!(encode_header_file(&m).is_err());
    m.rcpt_list.clear();
    assert!(encode_header_file(&m).is_err(), "no recipients at all");
}

// ---- properties (RELIABILITY.md R09, R10) ----

/// Address parts drawn from characters that matter to the format and the
/// parser: brackets, quotes, pipes, whitespace, line breaks, NUL, UTF-8.
fn part() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range('a', 'z'),
            1 => proptest::sample::select(vec![
                '<', '>', '@', '|', '"', '\\', ' ', '\t', '\r', '\n', '\0', '.', ':', ',', '[', ']', 'é', '-'
            ]),
        ],
        0..8,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn hostile_address() -> impl Strategy<Value = Address> {
    (part(), part(), any::<bool>()).prop_map(|(l, d, pipe)| {
        if pipe {
            Address::new(format!("|{l}"), "localhost")
        } else {
            Address::new(l, d)
        }
    })
}

/// Mostly well-formed values, so that whole messages often get through the
/// encoder and the round trip is really exercised.
fn address() -> impl Strategy<Value = Address> {
    prop_oneof![3 => plain_recipient(), 1 => hostile_address()]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9.]{1,10}", 1 => part()]
}

fn header() -> impl Strategy<Value = Header> {
    let plain = (
        "[A-Za-z-]{1,10}",
        "[ -~]{0,20}",
        proptest::option::of("[ \t][ -~]{0,10}"),
    )
        .prop_map(|(n, v, c)| {
            let mut raw = format!("{n}: {v}\n");
            if let Some(c) = c {
                raw.push_str(&c);
                raw.push('\n');
            }
            Header {
                raw: raw.into_bytes(),
            }
        });
    let hostile =
        proptest::collection::vec(prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>()], 0..30)
            .prop_map(|raw| Header { raw });
    prop_oneof![3 => plain, 1 => hostile]
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![3 => plain_recipient().prop_filter("not a pipe", |a| !a.is_pipe()), 1 => hostile_address()],
        proptest::collection::vec(address(), 0..3),
        proptest::collection::vec((address(), any::<bool>()), 0..2),
        proptest::option::of(value()),
        proptest::collection::vec(header(), 0..3),
        any::<(u64, i64, Option<i64>)>(),
    )
        .prop_map(|(sender, rcpts, finished, host, headers, (size, tr, tw))| {
            let mut msg = sample();
            msg.return_path = sender;
            msg.rcpt_list = rcpts;
            for (a, ok) in finished {
                let done = if ok { Done::Delivered } else { Done::Failed };
                msg.mark(&a, done);
                msg.mark_top(&a, done);
            }
            msg.received_host = host.clone();
            msg.ident = host;
            msg.headers = headers;
            (msg.data_size, msg.received_time, msg.warning_time) = (size, tr, tw);
            msg
        })
}

/// Ordinary addresses, quoted local parts and pipe commands: all of them
/// must be accepted, so that the refusal path cannot hide an encoder that
/// refuses everything.
fn plain_recipient() -> impl Strategy<Value = Address> {
    prop_oneof![
        (
            "[a-z0-9+-]{1,6}(\\.[a-z0-9+-]{1,6})?",
            "[a-z]{1,8}\\.example"
        )
            .prop_map(|(l, d)| Address::new(l, d)),
        ("[a-z ]{1,5}", "[a-z]{1,8}").prop_map(|(l, d)| Address::new(format!("\"{l}\""), d)),
        "[a-z/ -]{0,10}[a-z]".prop_map(|c| Address::new(format!("|{c}"), "localhost")),
    ]
}

/// What a read gives back: finished recipients only in `finished`.
fn normalised(mut msg: Message) -> Message {
    let finished = msg.finished.clone();
    msg.rcpt_list
        .retain(|r| !finished.iter().any(|(a, _)| a == r));
    msg.top_done = finished;
    msg
}

proptest! {
    #[test]
    fn envelopes_round_trip_or_are_refused(msg in message()) {
        match encode_header_file(&msg) {
            Ok(bytes) => prop_assert_eq!(decode(&bytes).unwrap(), normalised(msg)),
            Err(SpoolError::Unencodable { .. }) => {}
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        }
    }

    #[test]
    fn plain_envelopes_are_never_refused(
        rcpts in proptest::collection::vec(plain_recipient(), 1..4),
        sender in "[a-z0-9+-]{1,6}@[a-z]{1,8}\\.example",
    ) {
        let mut msg = sample();
        msg.return_path = parse_path(&sender, PipePolicy::Refuse).unwrap();
        msg.rcpt_list = rcpts;
        let bytes = encode_header_file(&msg).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn damaged_example_never_panics_or_invents_recipients(
        cut in 0usize..600, pos in 0usize..600, byte in any::<u8>(),
    ) {
        let mut bytes = EXAMPLE.as_bytes().to_vec();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        bytes.truncate(cut.max(1));
        if let Ok(msg) = decode(&bytes) {
            let original = sample();
            // A byte flip may alter an address, but never add one.
            prop_assert!(msg.rcpt_list.len() <= original.rcpt_list.len());
            prop_assert!(msg.finished.len() <= 1);
        }
    }
}

/// A target finished while the envelope recipient of the same address
/// still waits (`root: \root, dave@remote`) is written as `RL:` and read
/// back as a finished target only: the envelope recipient stays pending,
/// so its waiting targets are not dropped (issue 9).
#[test]
fn leaf_finished_under_a_pending_envelope_recipient() {
    let mut msg = sample();
    let root = msg.rcpt_list[0].clone();
    msg.mark(&root, Done::Delivered);
    let text = String::from_utf8(encode_header_file(&msg).unwrap()).unwrap();
    assert!(text.contains(&format!("RT: <{root}>\n")), "{text}");
    assert!(text.contains(&format!("RL:X<{root}>\n")), "{text}");
    assert!(!text.contains(&format!("RT:X<{root}>")), "{text}");
    let back = decode(text.as_bytes()).unwrap();
    assert_eq!(back.top_state(&root), None, "still pending as a recipient");
    assert_eq!(back.finished_state(&root), Some(Done::Delivered));
    assert!(!back.is_complete());
    assert_eq!(encode_header_file(&back).unwrap(), text.as_bytes());
    // Once the envelope recipient is done too, the plain 1.0 line is back.
    let mut done = back;
    done.mark_top(&root, Done::Delivered);
    let text = String::from_utf8(encode_header_file(&done).unwrap()).unwrap();
    assert!(
        text.contains(&format!("RT:X<{root}>")) && !text.contains("RL:"),
        "{text}"
    );
    for bad in ["RL: <a@b.example>\n", "RL:Q<a@b.example>\n", "RL:X<>\n"] {
        let file = format!("{}{bad}", &EXAMPLE[..EXAMPLE.find("PR:").unwrap()]);
        let file = file + &EXAMPLE[EXAMPLE.find("PR:").unwrap()..];
        assert!(decode(file.as_bytes()).is_err(), "{bad:?} is refused");
    }
}
