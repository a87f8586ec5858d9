//! The SMTP server (issue 3): -bs and -bd dialogues, ESMTP extensions,
//! pipelining, BDAT, limits, relay policy, STARTTLS. Real binary, real
//! sockets on 127.0.0.1, ephemeral ports.

mod support;
use std::process::Stdio;

use support::smtp::{Client, Reply};
use support::*;

fn codes(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.code).collect()
}

fn client(d: &daemon::Daemon) -> Client {
    let mut c = Client::connect(d.addr).expect("connect");
    let g = c.read_reply().expect("greeting");
    assert_eq!(g.code, 220, "{}", g.text());
    c
}

fn ehlo(c: &mut Client) -> Reply {
    let r = c.cmd("EHLO client.example").expect("ehlo");
    assert_eq!(r.code, 250);
    r
}

#[test]
fn bs_session_on_stdin_is_local() {
    let env = Env::new("");
    let mut child = env
        .cmd()
        .arg("-bs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn -bs");
    let mut c = Client::over(
        child.stdout.take().expect("out"),
        child.stdin.take().expect("in"),
    );
    assert_eq!(c.read_reply().unwrap().code, 220);
    ehlo(&mut c);
    // a local session may use unqualified addresses
    let r = c
        .send_message("jo", &["alice"], b"Subject: via -bs\r\n\r\nhello\r\n")
        .unwrap();
    assert_eq!(r.code, 250, "{}", r.text());
    assert!(r.text().contains("id="), "{}", r.text());
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(child.wait().unwrap().success());
    let mbox = env.mbox("alice");
    assert!(
        mbox.contains("Subject: via -bs") && mbox.contains("Return-path: <jo@host.example.org>"),
        "{mbox}"
    );
    assert!(
        env.log().contains("<= <jo@host.example.org> with ESMTP"),
        "{}",
        env.log()
    );
}

#[test]
fn daemon_accepts_delivers_and_stops_cleanly() {
    let env = Env::new("");
    let d = env.daemon(&[]);
    // issue 7: the harness returns after `ready`, which comes after the
    // pid file; reading it here used to race with the daemon
    let pid = std::fs::read_to_string(env.path("run/masqmail.pid")).unwrap();
    assert_eq!(pid.trim(), d.pid().to_string(), "-bD writes its own pid");
    let mut c = client(&d);
    let caps = ehlo(&mut c).text();
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SIZE 0",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "SMTPUTF8",
    ] {
        assert!(caps.contains(ext), "{ext} missing: {caps}");
    }
    assert!(
        !caps.contains("STARTTLS"),
        "no certificate, no STARTTLS: {caps}"
    );
    let r = c
        .send_message(
            "sender@remote.example",
            &["alice@host.example.org"],
            b"Subject: over tcp\r\n\r\nbody\r\n",
        )
        .unwrap();
    assert_eq!((r.code, r.enhanced()), (250, Some("2.0.0")), "{}", r.text());
    env.wait_for("delivery to alice", || {
        env.mbox("alice").contains("Subject: over tcp")
    });
    let log = env.log();
    assert!(
        log.contains("<= <sender@remote.example> host=127.0.0.1 with ESMTP"),
        "{log}"
    );
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    let status = d.stop();
    assert!(status.success(), "{status:?}");
    assert!(env.log().contains("daemon quitting"), "{}", env.log());
}

/// R06: 503 5.5.1 out of order, 554 5.5.1 DATA without recipients.
#[test]
fn every_reply_has_an_enhanced_code_and_order_is_checked() {
    let env = Env::new("do_queue = true");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    let r = c.cmd("MAIL FROM:<a@b.example>").unwrap();
    assert_eq!(
        (r.code, r.enhanced()),
        (503, Some("5.5.1")),
        "MAIL before EHLO"
    );
    ehlo(&mut c);
    let r = c.cmd("RCPT TO:<alice@host.example.org>").unwrap();
    assert_eq!(
        (r.code, r.enhanced()),
        (503, Some("5.5.1")),
        "RCPT before MAIL"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>").unwrap().code, 250);
    let r = c.cmd("MAIL FROM:<a@b.example>").unwrap();
    assert_eq!((r.code, r.enhanced()), (503, Some("5.5.1")), "second MAIL");
    let r = c.cmd("DATA").unwrap();
    assert_eq!(
        (r.code, r.enhanced()),
        (554, Some("5.5.1")),
        "DATA without recipients"
    );
    for (cmd, code) in [
        ("NOOP", 250),
        ("VRFY alice", 252),
        ("HELP", 214),
        ("RSET", 250),
        ("FOO", 500),
    ] {
        let r = c.cmd(cmd).unwrap();
        assert_eq!(r.code, code, "{cmd}: {}", r.text());
        assert!(r.enhanced().is_some(), "{cmd}: {}", r.text());
    }
    // unqualified addresses from the network are refused
    assert_eq!(c.cmd("MAIL FROM:<a>").unwrap().code, 501);
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x")
            .unwrap()
            .code,
        250
    );
    assert_eq!(c.cmd("RCPT TO:<alice> NOTIFY=NEVER").unwrap().code, 501);
    assert_eq!(
        c.cmd("RCPT TO:<alice@host.example.org> NOTIFY=NEVER ORCPT=rfc822;alice@host.example.org")
            .unwrap()
            .code,
        250
    );
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
}

/// R06: a pipelined group mixing good and bad commands: replies in order.
#[test]
fn pipelined_group_and_pipelined_body() {
    let env = Env::new("do_queue = true\nrelay_nets = \"10.0.0.0/8\"");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    let replies = c
        .pipeline(&[
            "MAIL FROM:<s@remote.example>",
            "RCPT TO:<alice@host.example.org>",
            "RCPT TO:<x@elsewhere.example>",
            "RCPT TO:<bob@host.example.org>",
            "DATA",
        ])
        .unwrap();
    assert_eq!(codes(&replies), [250, 250, 550, 250, 354]);
    assert_eq!(replies[2].enhanced(), Some("5.7.1"));
    c.send(b"Subject: one\r\n\r\nfirst\r\n.\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().code, 250);
    // a whole transaction, body included, in one write
    c.send(
        b"MAIL FROM:<s@remote.example>\r\nRCPT TO:<carol@host.example.org>\r\nDATA\r\n\
          Subject: two\r\n\r\nsecond\r\n.\r\nNOOP\r\n",
    )
    .unwrap();
    let got: Vec<u16> = (0..5).map(|_| c.read_reply().unwrap().code).collect();
    assert_eq!(got, [250, 250, 354, 250, 250]);
    assert_eq!(env.queued().len(), 2);
    let all: String = env.queued().iter().map(|id| env.header_file(id)).collect();
    assert!(
        all.contains("RT: <alice@host.example.org>") && all.contains("RT: <bob@host.example.org>")
    );
    assert!(!all.contains("elsewhere"), "{all}");
}

/// R05: BDAT sizes (huge, negative), BDAT after a failed BDAT, clean state after.
#[test]
fn bdat_chunks_and_errors() {
    let env = Env::new("do_queue = true\nmax_msg_size = 1000");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    let part1 = b"Subject: chunked\r\n\r\nline one\r";
    let part2 = b"\nline two\r\n";
    c.send(format!("BDAT {}\r\n", part1.len()).as_bytes())
        .unwrap();
    c.send(part1).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 250);
    c.send(format!("BDAT {} LAST\r\n", part2.len()).as_bytes())
        .unwrap();
    c.send(part2).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!(r.code, 250, "{}", r.text());
    let id = &env.queued()[0];
    let data = std::fs::read_to_string(env.path("spool").join(format!("{id}-D"))).unwrap();
    assert_eq!(
        data,
        format!("{id}\nline one\nline two\n"),
        "CRLF split over chunks"
    );
    // bad sizes
    for bad in ["BDAT -1", "BDAT 18446744073709551616", "BDAT", "BDAT 12x"] {
        let r = c.cmd(bad).unwrap();
        assert_eq!(
            (r.code, r.enhanced()),
            (501, Some("5.5.4")),
            "{bad}: {}",
            r.text()
        );
    }
    // BDAT without a transaction: the chunk is still read, then refused
    c.send(b"BDAT 5 LAST\r\nhello").unwrap();
    assert_eq!(c.read_reply().unwrap().code, 503);
    // too large: the bytes are read, 552, and the next transaction works
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    let big = vec![b'x'; 2000];
    c.send(format!("BDAT {} LAST\r\n", big.len()).as_bytes())
        .unwrap();
    c.send(&big).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.code, r.enhanced()), (552, Some("5.3.4")), "{}", r.text());
    let r = c
        .send_message(
            "s@remote.example",
            &["alice@host.example.org"],
            b"Subject: after\r\n\r\nok\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250);
    assert_eq!(env.queued().len(), 2);
}

/// R01: no ending other than CRLF.CRLF splits a message.
/// R01: every smuggled ending over the real daemon: at most one message spooled.
#[test]
fn smuggling_variants_never_split_a_message() {
    let endings: [&[u8]; 9] = [
        b"\n.\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r",
        b"\r\n.\r",
        b"\r.\r\n",
        b"\r\n\x00.\r\n",
        b"\r\n.\x00\r\n",
        b"\n.\r",
    ];
    let env = Env::new("do_queue = true");
    let d = env.daemon(&[]);
    for (i, ending) in endings.iter().enumerate() {
        let mut c = client(&d);
        ehlo(&mut c);
        assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
        assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
        assert_eq!(c.cmd("DATA").unwrap().code, 354);
        let mut body = format!("Subject: smuggle {i}\r\n\r\nfirst").into_bytes();
        body.extend_from_slice(ending);
        body.extend_from_slice(
            b"MAIL FROM:<spoof@victim.example>\r\nRCPT TO:<bob@host.example.org>\r\nDATA\r\nspoofed\r\n.\r\n",
        );
        c.send(&body).unwrap();
        let r = c.read_reply().unwrap();
        assert_eq!(r.code, 250, "variant {i}: {}", r.text());
        assert_eq!(
            c.cmd("QUIT").unwrap().code,
            221,
            "variant {i}: nothing pipelined after the one message"
        );
        let ids = env.queued();
        assert_eq!(
            ids.len(),
            i + 1,
            "variant {i} {ending:?} produced {} messages",
            ids.len() - i
        );
    }
    for id in env.queued() {
        let h = env.header_file(&id);
        assert!(!h.contains("bob") && !h.contains("spoof"), "{h}");
    }
}

/// R04: 10 kB command, 64 KiB EHLO, long data lines, many RCPTs: clear replies, session goes on.
#[test]
fn oversized_input_gets_clear_replies() {
    let env = Env::new("do_queue = true\nmax_msg_size = 5000");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    let long = format!("EHLO {}", "x".repeat(10_000));
    let r = c.cmd(&long).unwrap();
    assert_eq!((r.code, r.enhanced()), (500, Some("5.5.2")), "{}", r.text());
    // the session goes on
    ehlo(&mut c);
    let r = c
        .cmd("MAIL FROM:<s@remote.example> SIZE=999999999999")
        .unwrap();
    assert_eq!((r.code, r.enhanced()), (552, Some("5.3.4")));
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    let rcpts: Vec<String> = (0..1001)
        .map(|i| format!("RCPT TO:<u{i}@host.example.org>"))
        .collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let replies = c.pipeline(&refs).unwrap();
    assert!(replies[..1000].iter().all(|r| r.code == 250));
    assert_eq!(
        (replies[1000].code, replies[1000].enhanced()),
        (452, Some("4.5.3"))
    );
    assert_eq!(c.cmd("RSET").unwrap().code, 250);
    // a body over max_msg_size, without SIZE: 552 after the end, nothing spooled
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(6000));
    let r = c
        .send_message(
            "s@remote.example",
            &["alice@host.example.org"],
            big.as_bytes(),
        )
        .unwrap();
    assert_eq!((r.code, r.enhanced()), (552, Some("5.3.4")), "{}", r.text());
    assert!(env.spool_files().is_empty(), "{:?}", env.spool_files());
    // a long data line without newline stays bounded and is refused by size
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(&vec![b'z'; 5 * 1024 * 1024]).unwrap();
    c.send(b"\r\n.\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().code, 552);
    assert_eq!(c.cmd("NOOP").unwrap().code, 250);
}

#[test]
fn disconnect_mid_data_leaves_nothing() {
    let env = Env::new("do_queue = true");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(b"Subject: cut\r\n\r\nhalf a message").unwrap();
    drop(c);
    // the next session works, and the cut message never appears
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(env.spool_files().is_empty(), "{:?}", env.spool_files());
    env.wait_for("the abandoned message in the log", || {
        env.log().contains("abandoned")
    });
}

/// R12: the open-relay matrix from 127.0.0.2 (outside relay_nets): 5.7.1 for every non-local form.
#[test]
fn relay_policy_for_untrusted_clients() {
    // 127.0.0.1 is outside relay_nets here
    let env = Env::new("do_queue = true\nrelay_nets = \"10.0.0.0/8\"");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(
        c.cmd("MAIL FROM:<alice@host.example.org>").unwrap().code,
        250
    );
    for rcpt in [
        "<u@external.example>",
        "<u%external.example@host.example.org>",
        "<external.example!u@host.example.org>",
        "<@host.example.org:u@external.example>",
        "<\"u@external.example\"@host.example.org>",
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}")).unwrap();
        assert_eq!(
            (r.code, r.enhanced()),
            (550, Some("5.7.1")),
            "{rcpt}: {}",
            r.text()
        );
    }
    assert_eq!(c.cmd("RCPT TO:<ALICE@HOST.EXAMPLE.ORG>").unwrap().code, 250);
    // trusted (default relay_nets include loopback): relaying is allowed
    let env = Env::new("do_queue = true");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<u@external.example>").unwrap().code, 250);
}

/// R07: STARTTLS plus a command in one write: the injected command is thrown away.
#[test]
fn starttls_with_a_test_ca_and_no_plaintext_injection() {
    let env = Env::new("do_queue = true");
    let ca = ca::make(&env.path(""));
    env.add_conf(&format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        ca.cert_pem.display(),
        ca.key_pem.display()
    ));
    let d = env.daemon(&[]);
    let mut c = client(&d);
    assert!(ehlo(&mut c).text().contains("STARTTLS"));
    // R07: a command sent together with STARTTLS must not survive the handshake
    let r = c
        .starttls_with_injection(
            &ca.ca_pem,
            "localhost",
            b"MAIL FROM:<x@injected.example>\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 220);
    let caps = ehlo(&mut c).text();
    assert!(!caps.contains("STARTTLS"), "{caps}");
    let r = c.cmd("MAIL FROM:<s@remote.example>").unwrap();
    assert_eq!(r.code, 250, "the injected MAIL had no effect: {}", r.text());
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(b"Subject: secret\r\n\r\nover tls\r\n.\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap().code, 250);
    assert_eq!(env.queued().len(), 1);
}

/// R39: connections over max_connections get 421 4.7.0 at once.
#[test]
fn connections_over_the_limit_get_421() {
    let env = Env::new("max_connections = 2");
    let d = env.daemon(&[]);
    // the harness waits for the `ready` log line: no probe holds a slot
    let mut held: Vec<Client> = (0..2).map(|_| client(&d)).collect();
    let mut c = Client::connect(d.addr).unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.code, r.enhanced()), (421, Some("4.7.0")), "{}", r.text());
    held.pop();
    // a freed slot is usable again
    env.wait_for("a free slot", || {
        let mut c = Client::connect(d.addr).unwrap();
        c.read_reply().map(|r| r.code == 220).unwrap_or(false)
    });
}

#[test]
fn interval_queue_runs_in_the_daemon() {
    let env = Env::new("");
    env.ok(&["-odq", "alice"], b"Subject: queued\n\nx\n");
    let _d = env.daemon(&["-q1s"]);
    // the mailbox is written before the spool entry goes: wait for both
    env.wait_for("the interval run", || {
        env.mbox("alice").contains("Subject: queued") && env.queued().is_empty()
    });
}

/// Started as root: binds, then runs as the mail user; local delivery
/// still writes the mailbox as the recipient.
/// R24: started as root, the daemon's sessions run as the mail user.
#[test]
fn as_root_the_daemon_drops_to_the_mail_user() {
    if !is_root() {
        eprintln!("not root: skipping");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let env = Env::new("");
    let conf = std::fs::read_to_string(&env.conf)
        .unwrap()
        .replace("run_as_user = true", "run_as_user = false");
    std::fs::write(&env.conf, conf).unwrap();
    set_mode(env.dir.path(), 0o755);
    set_mode(&env.path("mail"), 0o1777);
    let d = env.daemon(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let mail = nix::unistd::User::from_name("mail")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let uids: Vec<u32> = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        (uids[0], uids[1]),
        (mail, mail),
        "real and effective uid: {status}"
    );
    let mut c = client(&d);
    ehlo(&mut c);
    let r = c
        .send_message(
            "s@remote.example",
            &["nobody@host.example.org"],
            b"Subject: root\r\n\r\nx\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250, "{}", r.text());
    env.wait_for("delivery", || env.mbox("nobody").contains("Subject: root"));
    let _ = c.cmd("QUIT");
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    assert_eq!(
        std::fs::metadata(env.path("mail/nobody")).unwrap().uid(),
        nobody
    );
    assert!(d.stop().success());
}

/// R36: below queue_minfree new mail gets 452 4.3.1 (sendmail: exit 75),
/// while queue runs go on delivering.
/// R36: queue_minfree above the real free space: 452 4.3.1, exit 75, queue runs go on.
#[test]
fn free_space_admission() {
    let env = Env::new("");
    env.ok(&["-odq", "alice"], b"Subject: before\n\nx\n");
    let conf =
        std::fs::read_to_string(&env.conf).unwrap() + "queue_minfree = 1152921504606846976\n";
    std::fs::write(&env.conf, conf).unwrap();
    let out = env.run(&["bob"], b"Subject: refused\n\nx\n");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not enough free space"),
        "{}",
        stderr(&out)
    );
    let d = env.daemon(&[]);
    let mut c = client(&d);
    ehlo(&mut c);
    let r = c.cmd("MAIL FROM:<s@remote.example>").unwrap();
    assert_eq!((r.code, r.enhanced()), (452, Some("4.3.1")), "{}", r.text());
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    env.ok(&["-q"], b"");
    assert!(env.mbox("alice").contains("Subject: before"));
    assert!(env.queued().is_empty());
}

/// R40: an idle client is dropped after smtp_command_timeout with 421.
/// R40: an idle client, and one idle mid-DATA, get 421 4.4.2.
#[test]
fn idle_clients_time_out() {
    let env = Env::new("smtp_command_timeout = 1s\nsmtp_data_timeout = 1s");
    let d = env.daemon(&[]);
    let mut c = client(&d);
    let r = c.read_reply().unwrap();
    assert_eq!((r.code, r.enhanced()), (421, Some("4.4.2")), "{}", r.text());
    // in the middle of DATA too, and nothing is spooled
    let mut c = client(&d);
    ehlo(&mut c);
    assert_eq!(c.cmd("MAIL FROM:<s@remote.example>").unwrap().code, 250);
    assert_eq!(c.cmd("RCPT TO:<alice@host.example.org>").unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(b"Subject: slow\r\n").unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!((r.code, r.enhanced()), (421, Some("4.4.2")), "{}", r.text());
    assert!(env.queued().is_empty());
}

/// IPv6: every listen_addresses entry is bound, `[::1]:port` included, and
/// a loopback IPv6 client is inside the default relay_nets.
#[test]
fn listens_on_ipv6_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipping");
        return;
    }
    let env = Env::new("do_queue = true");
    let port = daemon::free_port();
    let conf = std::fs::read_to_string(&env.conf).unwrap()
        + &format!("listen_addresses = \"127.0.0.1:{port};[::1]:{port}\"\n");
    std::fs::write(&env.conf, conf).unwrap();
    let _d = env.start_daemon(&[], port);
    let addr: std::net::SocketAddr = format!("[::1]:{port}").parse().unwrap();
    let mut c = Client::connect(addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    ehlo(&mut c);
    let r = c
        .send_message(
            "s@remote.example",
            &["u@far.example"],
            b"Subject: v6\r\n\r\nx\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250, "{}", r.text());
    assert!(env.log().contains("host=::1 with ESMTP"), "{}", env.log());
}

/// `-bs` from inetd: stdin is a TCP socket, so its peer is the client
/// (network rules: qualified addresses, `host=` in the log).
#[test]
fn bs_on_an_inetd_socket_sees_the_peer() {
    use std::os::fd::OwnedFd;
    let env = Env::new("do_queue = true");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut c = Client::connect(addr).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    let out: OwnedFd = server_side.try_clone().unwrap().into();
    let inp: OwnedFd = server_side.into();
    let mut child = env
        .cmd()
        .arg("-bs")
        .stdin(Stdio::from(inp))
        .stdout(Stdio::from(out))
        .spawn()
        .unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    ehlo(&mut c);
    assert_eq!(
        c.cmd("MAIL FROM:<unqualified>").unwrap().code,
        501,
        "network rules apply"
    );
    let r = c
        .send_message(
            "s@remote.example",
            &["alice@host.example.org"],
            b"Subject: inetd\r\n\r\nx\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250);
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    assert!(child.wait().unwrap().success());
    assert!(
        env.log().contains("host=127.0.0.1 with ESMTP"),
        "{}",
        env.log()
    );
}
