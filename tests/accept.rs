//! Accepting mail from stdin (issue 2 point 4, spec delivery.md §3–§4):
//! recipients, -t, dot rules, headers added, size limit, durability.

mod support;
use support::*;

fn queue_only() -> Env {
    Env::new("do_queue = true")
}

#[test]
fn operand_recipients_are_qualified_and_spooled() {
    let env = queue_only();
    env.ok(&["alice", "bob@remote.example"], b"Subject: hi\n\nbody\n");
    let ids = env.queued();
    assert_eq!(ids.len(), 1);
    let h = env.header_file(&ids[0]);
    assert!(h.starts_with(&format!("{}\n", ids[0])), "{h}");
    assert!(h.contains(&format!("RT: <alice@{HOST}>\n")), "{h}");
    assert!(h.contains("RT: <bob@remote.example>\n"), "{h}");
    assert!(h.contains("PR:local\n"), "{h}");
    assert!(h.contains("\nID:"), "{h}");
    assert!(h.contains("DS: 5\n"), "{h}");
    let d = std::fs::read_to_string(env.path("spool").join(format!("{}-D", ids[0]))).unwrap();
    assert_eq!(d, format!("{}\nbody\n", ids[0]));
}

#[test]
fn headers_added_in_spec_order() {
    let env = queue_only();
    env.ok(&["alice"], b"Subject: hello\n\nx\n");
    let h = env.header_file(&env.queued()[0]);
    let hd: Vec<&str> = h.lines().filter(|l| l.starts_with("HD:")).collect();
    let names: Vec<&str> = hd
        .iter()
        .map(|l| l[3..].split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Received", "Subject", "From", "To", "Date", "Message-ID"],
        "{h}"
    );
    let id = &env.queued()[0];
    assert!(
        h.contains(&format!("HD:Received: by {HOST} (MasqMail ")),
        "{h}"
    );
    assert!(
        h.contains(&format!("\tid {id}\n\tfor <alice@{HOST}>; ")),
        "{h}"
    );
    assert!(h.contains("HD:To: undisclosed-recipients:;\n"), "{h}");
    assert!(
        h.contains(&format!("HD:Message-ID: <{id}@{HOST}>\n")),
        "{h}"
    );
    // Date: Www, DD Mmm YYYY HH:MM:SS +ZZZZ
    let date = hd.iter().find(|l| l.starts_with("HD:Date: ")).unwrap();
    let v = &date["HD:Date: ".len()..];
    assert_eq!(v.len(), 31, "{v}");
    assert_eq!(&v[3..5], ", ");
    assert!(matches!(&v[26..27], "+" | "-"), "{v}");
}

#[test]
fn existing_headers_are_kept_and_from_not_duplicated() {
    let env = queue_only();
    let msg = b"From: Someone <s@x.example>\nTo: a@b.example\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <m@x>\n\nbody\n";
    env.ok(&["alice"], msg);
    let h = env.header_file(&env.queued()[0]);
    assert_eq!(h.matches("HD:From:").count(), 1, "{h}");
    assert_eq!(h.matches("HD:To:").count(), 1, "{h}");
    assert_eq!(h.matches("HD:Date:").count(), 1, "{h}");
    assert_eq!(h.matches("HD:Message-ID:").count(), 1, "{h}");
    assert!(h.contains("HD:From: Someone <s@x.example>\n"));
    // one recipient → `for` clause; more than one → none
    env.ok(&["alice", "bob"], b"Subject: two\n\nx\n");
    let two = env
        .queued()
        .into_iter()
        .map(|id| env.header_file(&id))
        .find(|h| h.contains("Subject: two"))
        .unwrap();
    assert!(!two.contains("\tfor <"), "{two}");
}

#[test]
fn generated_from_uses_return_path_and_full_name() {
    let env = queue_only();
    env.ok(
        &["-f", "sender", "-F", "Jo \"Q\" User", "alice"],
        b"Subject: x\n\nx\n",
    );
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains(&format!("MF:<sender@{HOST}>\n")), "{h}");
    assert!(
        h.contains(&format!("HD:From: \"Jo \\\"Q\\\" User\" <sender@{HOST}>\n")),
        "{h}"
    );
}

/// R09/R11: -F with a newline is refused (exit 64), nothing spooled.
#[test]
fn full_name_with_newline_is_refused() {
    // R11: -F must never inject a header.
    let env = queue_only();
    let out = env.run(&["-F", "Name\nBcc: victim@x.example", "alice"], b"x\n");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(env.queued().is_empty());
}

#[test]
fn null_sender_with_f() {
    let env = queue_only();
    env.ok(&["-f", "<>", "alice"], b"Subject: x\n\nx\n");
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains("MF:<>\n"), "{h}");
    assert!(h.contains("HD:From: \n"), "{h}");
}

/// R11: -t with Bcc: the Bcc recipients get it, the Bcc: header is removed.
#[test]
fn recipients_from_headers_added_to_operands_and_bcc_removed() {
    let env = queue_only();
    let msg = b"To: bob, carol@remote.example\nCc: \"Dave D\" <dave@remote.example>\nBcc: eve\nSubject: t\n\nx\n";
    env.ok(&["-t", "alice"], msg);
    let h = env.header_file(&env.queued()[0]);
    let rts: Vec<&str> = h.lines().filter(|l| l.starts_with("RT:")).collect();
    assert_eq!(
        rts,
        [
            format!("RT: <alice@{HOST}>").as_str(),
            &format!("RT: <bob@{HOST}>"),
            "RT: <carol@remote.example>",
            "RT: <dave@remote.example>",
            &format!("RT: <eve@{HOST}>"),
        ],
        "{h}"
    );
    assert!(!h.contains("Bcc"), "{h}");
    assert!(h.contains("HD:To: bob, carol@remote.example\n"));
}

/// R11: Bcc: never leaves in the message.
#[test]
fn bcc_removed_even_without_t() {
    let env = queue_only();
    env.ok(&["alice"], b"Bcc: secret@x.example\nSubject: t\n\nx\n");
    let h = env.header_file(&env.queued()[0]);
    assert!(!h.contains("Bcc") && !h.contains("secret"), "{h}");
}

#[test]
fn envelope_to_and_return_path_headers_removed() {
    let env = queue_only();
    env.ok(
        &["alice"],
        b"Return-Path: <x@y>\nEnvelope-To: z@y\nSubject: t\n\nx\n",
    );
    let h = env.header_file(&env.queued()[0]);
    assert!(
        !h.contains("Return-Path") && !h.contains("Envelope-To"),
        "{h}"
    );
}

/// R23: -t with no recipients fails with one line.
#[test]
fn t_without_any_recipient_fails() {
    let env = queue_only();
    let out = env.run(&["-t"], b"Subject: nobody\n\nx\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no recipients."), "{}", stderr(&out));
    assert!(
        env.spool_files().iter().all(|f| !f.ends_with("-H")),
        "{:?}",
        env.spool_files()
    );
}

#[test]
fn dot_rules_without_and_with_i() {
    let env = queue_only();
    // without -i: a lone dot ends the message, a leading dot is removed
    env.ok(
        &["alice"],
        b"Subject: a\n\n..leading\nline\n.\nafter the dot\n",
    );
    // with -oi: dots are data
    env.ok(
        &["-oi", "alice"],
        b"Subject: b\n\n..leading\n.\nafter the dot\n",
    );
    env.ok(&["-i", "alice"], b"Subject: c\n\n.\nno final newline");
    let mut bodies: Vec<(String, String)> = env
        .queued()
        .into_iter()
        .map(|id| {
            let h = env.header_file(&id);
            let d = std::fs::read_to_string(env.path("spool").join(format!("{id}-D"))).unwrap();
            (h, d[id.len() + 1..].to_string())
        })
        .collect();
    bodies.sort_by_key(|(h, _)| {
        h.lines()
            .find(|l| l.starts_with("HD:Subject"))
            .unwrap()
            .to_string()
    });
    assert_eq!(bodies[0].1, ".leading\nline\n");
    assert_eq!(bodies[1].1, "..leading\n.\nafter the dot\n");
    assert_eq!(bodies[2].1, ".\nno final newline\n");
}

#[test]
fn crlf_input_is_converted_and_bare_cr_kept() {
    let env = queue_only();
    env.ok(
        &["-oi", "alice"],
        b"Subject: crlf\r\n\r\nline one\r\nbare\rcr\r\n",
    );
    let id = &env.queued()[0];
    let d = std::fs::read(env.path("spool").join(format!("{id}-D"))).unwrap();
    assert_eq!(&d[id.len() + 1..], b"line one\nbare\rcr\n");
    assert!(env.header_file(id).contains("HD:Subject: crlf\n"));
}

#[test]
fn eight_bit_and_long_lines_survive() {
    let env = Env::new("");
    let long = "x".repeat(200_000);
    let mut body = format!("Subject: 8bit\n\nGrüße \u{1F600}\n{long}\n").into_bytes();
    body.extend_from_slice(b"latin1 \xe9\xe8\n");
    env.ok(&["-oi", "alice"], &body);
    let mbox = env.mbox_bytes("alice");
    assert!(mbox.windows(long.len()).any(|w| w == long.as_bytes()));
    assert!(mbox.windows(9).any(|w| w == b"latin1 \xe9\xe8"));
    assert!(String::from_utf8_lossy(&mbox).contains("Grüße \u{1F600}"));
}

#[test]
fn max_msg_size_is_enforced() {
    let env = Env::new("do_queue = true\nmax_msg_size = 100");
    let ok = format!("Subject: s\n\n{}\n", "y".repeat(99));
    env.ok(&["alice"], ok.as_bytes());
    let big = format!("Subject: s\n\n{}\n", "y".repeat(100));
    let out = env.run(&["alice"], big.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("max message size exceeded."),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.queued().len(), 1);
}

/// R23: recipients like -oQ/tmp or |cmd are refused.
#[test]
fn invalid_and_pipe_operands_are_refused() {
    let env = queue_only();
    let out = env.run(&["a..b@x"], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid recipient address 'a..b@x'"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["--", "|/bin/sh"], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no pipe addresses allowed here"),
        "{}",
        stderr(&out)
    );
    assert!(env.queued().is_empty());
}

#[test]
fn header_pipe_recipients_are_never_accepted() {
    let env = queue_only();
    let out = env.run(
        &["-t"],
        b"To: |/bin/sh, \"|/bin/true\"@x\nSubject: x\n\nx\n",
    );
    assert!(
        env.queued()
            .iter()
            .all(|id| !env.header_file(id).contains("RT: <|"))
    );
    assert!(
        env.queued()
            .iter()
            .all(|id| !env.header_file(id).contains("|/bin/sh>")),
        "{}",
        stderr(&out)
    );
}

/// R23: -f '"a\" -X/tmp/x -oQ/tmp/ b"@c' is only an address; no file appears.
#[test]
fn injection_attempt_through_f_is_just_an_address() {
    // R23: the value of -f is only ever an address.
    let env = queue_only();
    let out = env.run(&["-f", "\"a\\\" -X/tmp/x -oQ/tmp/ b\"@c", "alice"], b"x\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains("MF:<\"a\\\" -X/tmp/x -oQ/tmp/ b\"@c>\n"), "{h}");
    assert_eq!(h.lines().filter(|l| l.starts_with("MF:")).count(), 1);
}

#[test]
fn many_messages_per_second_get_distinct_ids() {
    let env = queue_only();
    for i in 0..30 {
        env.ok(&["alice"], format!("Subject: {i}\n\nx\n").as_bytes());
    }
    assert_eq!(env.queued().len(), 30);
}

#[test]
fn no_temp_files_left_after_accept() {
    let env = queue_only();
    env.ok(&["alice"], b"x\n");
    assert!(
        env.spool_files().iter().all(|f| !f.ends_with(".tmp")),
        "{:?}",
        env.spool_files()
    );
}
