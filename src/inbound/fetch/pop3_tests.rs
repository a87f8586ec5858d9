//! The fetch dialogue without sockets: responses in, command groups out.

use super::*;

pub(super) fn ok(text: &str) -> Response {
    Response::Status(Status {
        ok: true,
        text: text.into(),
    })
}

pub(super) fn err(text: &str) -> Response {
    Response::Status(Status {
        ok: false,
        text: text.into(),
    })
}

pub(super) fn list(lines: &[&str]) -> Response {
    Response::List(lines.iter().map(|l| l.as_bytes().to_vec()).collect())
}

pub(super) fn plan() -> Plan {
    Plan {
        user: "joe".into(),
        secret: "pw".into(),
        apop: false,
        sasl: None,
        tls: TlsPolicy::IfOffered,
        do_uidl: true,
        do_uidl_dele: false,
        do_keep: false,
        max_size: 0,
        max_size_delete: false,
        max_count: 0,
        known: HashSet::new(),
    }
}

pub(super) fn lines(step: &Step) -> Vec<String> {
    match step {
        Step::Send(cmds) => cmds.iter().map(Command::line).collect(),
        other => vec![format!("{other:?}")],
    }
}

/// Feeds the responses of one group; the step after its last one.
pub(super) fn answer(s: &mut Session, responses: Vec<Response>) -> Step {
    let n = responses.len();
    for (i, r) in responses.into_iter().enumerate() {
        let step = s.on_response(r).unwrap();
        if i + 1 < n {
            assert_eq!(step, None, "a step before the group was answered");
        } else {
            return step.expect("a step after the group");
        }
    }
    unreachable!()
}

const GREETING: &str = "POP3 ready <1.2@pop.example>";

#[test]
fn pipelined_fetch_of_n_messages_takes_six_turns() {
    let mut s = Session::new(plan(), "pop.example:995");
    s.tls_active = true; // as after pop3s
    let mut turns = 1; // connect + greeting
    let step = s
        .greeting(Status {
            ok: true,
            text: GREETING.into(),
        })
        .unwrap();
    assert_eq!(lines(&step), ["CAPA"]);
    turns += 1;
    let step = answer(&mut s, vec![list(&["USER", "PIPELINING", "UIDL"])]);
    assert_eq!(lines(&step), ["USER joe", "PASS pw"]);
    turns += 1;
    let step = answer(&mut s, vec![ok(""), ok("")]);
    assert_eq!(lines(&step), ["UIDL", "LIST"]);
    turns += 1;
    let uidl: Vec<String> = (1..=100).map(|n| format!("{n} uid-{n}")).collect();
    let sizes: Vec<String> = (1..=100).map(|n| format!("{n} 2000")).collect();
    let uidl: Vec<&str> = uidl.iter().map(String::as_str).collect();
    let sizes: Vec<&str> = sizes.iter().map(String::as_str).collect();
    let step = answer(&mut s, vec![list(&uidl), list(&sizes)]);
    let retr = lines(&step);
    assert_eq!(retr.len(), 100);
    assert_eq!(retr[0], "RETR 1");
    turns += 1;
    let step = answer(&mut s, (0..100).map(|_| Response::Stored).collect());
    let close = lines(&step);
    assert_eq!(close.len(), 101);
    assert_eq!(close[0], "DELE 1");
    assert_eq!(close[100], "QUIT");
    turns += 1;
    let step = answer(&mut s, (0..101).map(|_| ok("")).collect());
    assert_eq!(step, Step::Done);
    assert_eq!(turns, 6);
    assert_eq!(s.summary().fetched, 100);
    assert_eq!(s.summary().deleted, 100);
    assert_eq!(s.uid_of(7), Some("uid-7"));
}

#[test]
fn without_pipelining_one_command_per_turn() {
    let mut s = Session::new(plan(), "pop");
    s.tls_active = true;
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert_eq!(lines(&answer(&mut s, vec![err("no CAPA")])), ["USER joe"]);
    assert_eq!(lines(&answer(&mut s, vec![ok("")])), ["PASS pw"]);
    assert_eq!(lines(&answer(&mut s, vec![ok("")])), ["UIDL"]);
    assert_eq!(
        lines(&answer(&mut s, vec![list(&["1 a", "2 b"])])),
        ["LIST"]
    );
    assert_eq!(
        lines(&answer(&mut s, vec![list(&["1 10", "2 20"])])),
        ["RETR 1"]
    );
    assert_eq!(lines(&answer(&mut s, vec![Response::Stored])), ["RETR 2"]);
    // Message 2 could not be spooled: it is not deleted.
    assert_eq!(
        lines(&answer(&mut s, vec![Response::NotStored])),
        ["DELE 1"]
    );
    assert_eq!(lines(&answer(&mut s, vec![ok("")])), ["QUIT"]);
    assert_eq!(answer(&mut s, vec![ok("bye")]), Step::Done);
    assert_eq!(s.summary().fetched, 1);
}

/// R31: known UIDs, max_size and max_count in the plan.
#[test]
fn known_uids_too_large_and_max_count() {
    let mut p = plan();
    p.known = ["a".to_string()].into_iter().collect();
    p.do_uidl_dele = true;
    p.max_size = 100;
    p.max_count = 1;
    let mut s = Session::new(p, "pop");
    s.tls_active = true;
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    answer(&mut s, vec![list(&["PIPELINING"])]);
    answer(&mut s, vec![ok(""), ok("")]);
    let step = answer(
        &mut s,
        vec![
            list(&["1 a", "2 b", "3 c", "4 d"]),
            list(&["1 10", "2 100", "3 10", "4 10"]),
        ],
    );
    // 1 known (deleted with do_uidl_dele), 2 too large, 3 fetched, 4 over max_count.
    assert_eq!(lines(&step), ["DELE 1", "RETR 3"]);
    let step = answer(&mut s, vec![ok(""), Response::Stored]);
    assert_eq!(lines(&step), ["DELE 3", "QUIT"]);
    let sum = s.summary().clone();
    assert_eq!((sum.known, sum.too_large, sum.fetched), (1, 1, 1));
}

#[test]
fn do_keep_never_deletes() {
    let mut p = plan();
    p.do_keep = true;
    let mut s = Session::new(p, "pop");
    s.tls_active = true;
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    answer(&mut s, vec![list(&["PIPELINING"])]);
    answer(&mut s, vec![ok(""), ok("")]);
    answer(&mut s, vec![list(&["1 a"]), list(&["1 10"])]);
    assert_eq!(lines(&answer(&mut s, vec![Response::Stored])), ["QUIT"]);
}

#[test]
fn tls_policies() {
    // Offered: STLS, then CAPA again over TLS.
    let mut s = Session::new(plan(), "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert_eq!(
        lines(&answer(&mut s, vec![list(&["STLS", "PIPELINING"])])),
        ["STLS"]
    );
    assert_eq!(answer(&mut s, vec![ok("go")]), Step::StartTls);
    assert_eq!(lines(&s.tls_started()), ["CAPA"]);
    assert_eq!(
        lines(&answer(&mut s, vec![list(&["PIPELINING"])])),
        ["USER joe", "PASS pw"]
    );
    // Not offered and not allowed in clear: refused before USER.
    let mut s = Session::new(plan(), "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    let e = s.on_response(list(&["USER"])).unwrap_err();
    assert!(matches!(e, Pop3Error::Cleartext { .. }), "{e}");
    // Required and not offered.
    let mut p = plan();
    p.tls = TlsPolicy::Required;
    let mut s = Session::new(p, "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert!(matches!(
        s.on_response(list(&[])).unwrap_err(),
        Pop3Error::Tls { .. }
    ));
    // STLS refused.
    let mut s = Session::new(plan(), "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    answer(&mut s, vec![list(&["STLS"])]);
    assert!(matches!(
        s.on_response(err("no")).unwrap_err(),
        Pop3Error::Tls { .. }
    ));
    // tls = none: USER/PASS in clear.
    let mut p = plan();
    p.tls = TlsPolicy::Never;
    let mut s = Session::new(p, "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert_eq!(lines(&answer(&mut s, vec![list(&["STLS"])])), ["USER joe"]);
}

#[test]
fn apop_and_login_failures() {
    let mut p = plan();
    p.apop = true;
    p.tls = TlsPolicy::Never;
    let mut s = Session::new(p.clone(), "pop");
    s.greeting(Status {
        ok: true,
        text: GREETING.into(),
    })
    .unwrap();
    let step = answer(&mut s, vec![err("")]);
    let want = crate::pop3::login::apop_digest("<1.2@pop.example>", "pw");
    assert_eq!(lines(&step), [format!("APOP joe {want}")]);
    assert!(matches!(
        s.on_response(err("bad")).unwrap_err(),
        Pop3Error::Login { .. }
    ));
    // No timestamp in the greeting.
    let mut s = Session::new(p, "pop");
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    assert!(matches!(
        s.on_response(err("")).unwrap_err(),
        Pop3Error::Login { .. }
    ));
    // A bad greeting.
    let mut s = Session::new(plan(), "pop");
    assert!(matches!(
        s.greeting(Status {
            ok: false,
            text: "busy".into()
        })
        .unwrap_err(),
        Pop3Error::Greeting { .. }
    ));
}

/// R31: duplicate UIDs and odd UIDL/LIST lines handled consistently.
#[test]
fn hostile_lists_are_filtered() {
    let uids = parse_uidl(&[
        b"1 ok-uid".to_vec(),
        b"x nonsense".to_vec(),
        format!("2 {}", "u".repeat(71)).into_bytes(),
        b"3 \x01bad".to_vec(),
        b"99999999999 big".to_vec(),
    ]);
    assert_eq!(uids, vec![(1, "ok-uid".to_string())]);
    let sizes = parse_list(&[
        b"1 10".to_vec(),
        b"2 -5".to_vec(),
        b"3 184467440737095516160".to_vec(),
    ]);
    assert_eq!(sizes, vec![(1, 10)]);
}

#[test]
fn empty_mailbox_quits() {
    let mut s = Session::new(plan(), "pop");
    s.tls_active = true;
    s.greeting(Status {
        ok: true,
        text: "hi".into(),
    })
    .unwrap();
    answer(&mut s, vec![list(&["PIPELINING"])]);
    answer(&mut s, vec![ok(""), ok("")]);
    assert_eq!(lines(&answer(&mut s, vec![list(&[]), list(&[])])), ["QUIT"]);
}
