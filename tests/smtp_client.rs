//! The SMTP client library against the test sink: round trips counted
//! exactly (PIPELINING, CHUNKING, lockstep), HELO fallback, per-recipient
//! outcomes, SIZE/8BITMIME/SMTPUTF8, outbound line ends (R02), a big
//! batch without deadlock, instant_helo. TLS and AUTH: smtp_client_tls.rs.

mod support;

use std::time::Duration;

use masqmail::address::Address;
use masqmail::outbound::smtp::{
    BatchOutcome, ClientOptions, Outgoing, RcptResult, Timeouts, send_batch,
};
use support::sink::{Sink, SinkConfig};

fn opts() -> ClientOptions {
    let t = Duration::from_secs(20);
    ClientOptions {
        helo_name: "client.test".into(),
        pipelining: true,
        instant_helo: false,
        tls: None,
        tls_config: None,
        server_name: "localhost".into(),
        auth: None,
        timeouts: Timeouts {
            greeting: t,
            command: t,
            data_init: t,
            data_final: t,
            write: t,
        },
    }
}

fn addr(s: &str) -> Address {
    let (l, d) = s.split_once('@').unwrap_or((s, ""));
    Address::new(l, d)
}

fn msg(rcpts: &[&str], text: &[u8]) -> Outgoing {
    Outgoing {
        return_path: addr("sender@client.test"),
        rcpts: rcpts.iter().map(|r| addr(r)).collect(),
        text: text.to_vec(),
        body: None,
        smtputf8: false,
        eightbit: false,
        dsn: Default::default(),
    }
}

/// A message of about `size` bytes, numbered.
fn sized(i: usize, size: usize) -> Outgoing {
    let mut text = format!("Subject: message {i}\n\n").into_bytes();
    while text.len() < size {
        text.extend_from_slice(
            format!("line {i} of the body, padded to a decent length.\n").as_bytes(),
        );
    }
    msg(&["rcpt@sink.test"], &text)
}

async fn send(sink: &Sink, opts: &ClientOptions, msgs: &[Outgoing]) -> BatchOutcome {
    let tcp = tokio::net::TcpStream::connect(sink.addr)
        .await
        .expect("connect sink");
    let run = send_batch(tcp, opts, msgs);
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("session hangs")
        .expect("session fails")
}

fn all_accepted(out: &BatchOutcome, n: usize) {
    assert!(out.aborted.is_none(), "{:?}", out.aborted);
    assert_eq!(out.results.len(), n);
    for r in &out.results {
        assert_eq!(r.data, Ok(()));
        assert!(
            r.rcpts.iter().all(|(_, x)| *x == RcptResult::Accepted),
            "{r:?}"
        );
    }
}

/// R29: round trips for N recipients to one host, counted exactly.
#[tokio::test]
async fn pipelining_costs_one_round_trip_per_message() {
    for n in [1, 10, 100] {
        let sink = Sink::start(SinkConfig::default());
        let msgs: Vec<Outgoing> = (0..n).map(|i| sized(i, 2000)).collect();
        let out = send(&sink, &opts(), &msgs).await;
        all_accepted(&out, n);
        // greeting + EHLO + envelope of the first + one per body.
        assert_eq!(out.stats.round_trips, n as u32 + 3, "n = {n}");
        let got = sink.messages();
        assert_eq!(got.len(), n);
        for (i, m) in got.iter().enumerate() {
            assert!(!m.bdat);
            assert!(
                m.text
                    .starts_with(format!("Subject: message {i}\n").as_bytes())
            );
        }
        assert_eq!(sink.round_trips(), n as u32 + 2, "sink side, n = {n}");
    }
}

#[tokio::test]
async fn chunking_costs_constant_round_trips() {
    for n in [1, 10, 100] {
        let sink = Sink::start(SinkConfig {
            chunking: true,
            ..SinkConfig::default()
        });
        let msgs: Vec<Outgoing> = (0..n).map(|i| sized(i, 2048)).collect();
        let out = send(&sink, &opts(), &msgs).await;
        all_accepted(&out, n);
        assert_eq!(out.stats.round_trips, 3, "n = {n}");
        let got = sink.messages();
        assert_eq!(got.len(), n);
        for (m, sent) in got.iter().zip(&msgs) {
            assert!(m.bdat);
            assert_eq!(m.text, sent.text);
        }
    }
}

#[tokio::test]
async fn big_chunked_batch_does_not_deadlock() {
    let sink = Sink::start(SinkConfig {
        chunking: true,
        ..SinkConfig::default()
    });
    let msgs: Vec<Outgoing> = (0..200).map(|i| sized(i, 50_000)).collect();
    let out = send(&sink, &opts(), &msgs).await;
    all_accepted(&out, 200);
    assert_eq!(out.stats.round_trips, 3);
    assert_eq!(sink.messages().len(), 200);
}

#[tokio::test]
async fn no_esmtp_falls_back_to_helo_in_lockstep() {
    let sink = Sink::start(SinkConfig {
        esmtp: false,
        ..SinkConfig::default()
    });
    let msgs = vec![
        msg(&["a@sink.test", "b@sink.test"], b"Subject: 1\n\none\n"),
        msg(&["c@sink.test", "d@sink.test"], b"Subject: 2\n\ntwo\n"),
    ];
    let out = send(&sink, &opts(), &msgs).await;
    all_accepted(&out, 2);
    // greeting, EHLO, HELO; per message MAIL, 2 RCPT, DATA, dot.
    assert_eq!(out.stats.round_trips, 3 + 2 * 5);
    let raw = String::from_utf8_lossy(&sink.raw_log()).into_owned();
    assert!(
        raw.contains("EHLO client.test\r\nHELO client.test\r\n"),
        "{raw}"
    );
    assert_eq!(sink.messages()[1].rcpts, ["c@sink.test", "d@sink.test"]);
}

#[tokio::test]
async fn pipelining_off_by_option_is_lockstep() {
    let sink = Sink::start(SinkConfig::default());
    let o = ClientOptions {
        pipelining: false,
        ..opts()
    };
    let out = send(&sink, &o, &[sized(0, 100), sized(1, 100)]).await;
    all_accepted(&out, 2);
    assert_eq!(out.stats.round_trips, 2 + 2 * 4);
}

/// R29: each recipient's status recorded on its own.
#[tokio::test]
async fn per_recipient_outcomes() {
    for chunking in [false, true] {
        let sink = Sink::start(SinkConfig {
            chunking,
            reject_rcpts: vec!["bad@sink.test".into(), "bad2@sink.test".into()],
            defer_rcpts: vec!["later@sink.test".into()],
            ..SinkConfig::default()
        });
        let msgs = vec![
            msg(
                &["ok@sink.test", "bad@sink.test", "later@sink.test"],
                b"Subject: 1\n\n1\n",
            ),
            msg(&["bad@sink.test", "bad2@sink.test"], b"Subject: 2\n\n2\n"),
            msg(&["ok2@sink.test"], b"Subject: 3\n\n3\n"),
        ];
        let out = send(&sink, &opts(), &msgs).await;
        assert!(out.aborted.is_none(), "{:?}", out.aborted);
        let r = &out.results;
        assert_eq!(r[0].rcpts[0].1, RcptResult::Accepted);
        assert!(matches!(&r[0].rcpts[1].1, RcptResult::Failed(t) if t.starts_with("550 5.1.1")));
        assert!(matches!(&r[0].rcpts[2].1, RcptResult::Deferred(t) if t.starts_with("450")));
        assert!(
            r[1].rcpts
                .iter()
                .all(|(_, x)| matches!(x, RcptResult::Failed(_)))
        );
        assert!(matches!(&r[1].data, Err((true, _))), "{:?}", r[1].data);
        assert_eq!(r[2].rcpts[0].1, RcptResult::Accepted);
        let got = sink.messages();
        assert_eq!(got.len(), 2, "chunking {chunking}");
        assert_eq!(got[0].rcpts, ["ok@sink.test"]);
        assert_eq!(got[1].rcpts, ["ok2@sink.test"]);
    }
}

#[tokio::test]
async fn size_limit_fails_the_big_message_only() {
    let sink = Sink::start(SinkConfig {
        size: Some(1000),
        ..SinkConfig::default()
    });
    let big = sized(0, 2000);
    let small = msg(&["r@sink.test"], b"Subject: small\n\nhi\n");
    let out = send(&sink, &opts(), &[big, small]).await;
    assert!(matches!(&out.results[0].rcpts[0].1, RcptResult::Failed(t) if t.contains("exceeds")));
    assert!(matches!(&out.results[0].data, Err((true, _))));
    assert_eq!(out.results[1].rcpts[0].1, RcptResult::Accepted);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    // The exact wire size: CRLF line ends.
    assert_eq!(got[0].data, b"Subject: small\r\n\r\nhi\r\n.\r\n");
    assert_eq!(got[0].params, ["SIZE=22"]);
}

#[tokio::test]
async fn eightbitmime_and_smtputf8() {
    let sink = Sink::start(SinkConfig::default());
    let eight = msg(&["r@sink.test"], "Subject: grüße\n\nä\n".as_bytes());
    let utf8 = msg(&["jörg@sink.test"], b"Subject: x\n\ny\n");
    let out = send(&sink, &opts(), &[eight, utf8.clone()]).await;
    assert_eq!(out.results[0].data, Ok(()));
    assert!(matches!(&out.results[1].rcpts[0].1, RcptResult::Failed(t) if t.contains("SMTPUTF8")));
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].params.contains(&"BODY=8BITMIME".to_string()),
        "{:?}",
        got[0].params
    );

    let sink = Sink::start(SinkConfig {
        smtputf8: true,
        ..SinkConfig::default()
    });
    let out = send(&sink, &opts(), &[utf8]).await;
    all_accepted(&out, 1);
    let got = sink.messages();
    assert!(
        got[0].params.contains(&"SMTPUTF8".to_string()),
        "{:?}",
        got[0].params
    );
    assert_eq!(got[0].rcpts, ["jörg@sink.test"]);
}

/// R02: hostile line ends in a stored body reach the wire as CRLF lines,
/// dot-stuffed, with exactly one end of data.
#[tokio::test]
async fn r02_outbound_line_ends_and_dots() {
    let body: &[u8] = b"Subject: r02\n\nbefore\n.\nlone\rcr\n\r.\r\n.\n..x\nlast";
    let want: &[u8] = b"Subject: r02\n\nbefore\n.\nlone\ncr\n\n.\n.\n..x\nlast\n";
    for chunking in [false, true] {
        let sink = Sink::start(SinkConfig {
            chunking,
            ..SinkConfig::default()
        });
        let out = send(&sink, &opts(), &[msg(&["r@sink.test"], body)]).await;
        all_accepted(&out, 1);
        let got = &sink.messages()[0];
        let d = &got.data;
        for (i, &b) in d.iter().enumerate() {
            assert!(
                b != b'\r' || d.get(i + 1) == Some(&b'\n'),
                "bare CR at {i}: {d:?}"
            );
            assert!(
                b != b'\n' || (i > 0 && d[i - 1] == b'\r'),
                "bare LF at {i}: {d:?}"
            );
        }
        assert_eq!(got.text, want, "chunking {chunking}");
        if !chunking {
            assert_eq!(
                d.windows(5).filter(|w| w == b"\r\n.\r\n").count(),
                1,
                "{d:?}"
            );
            assert!(d.ends_with(b"\r\nlast\r\n.\r\n"));
            assert!(d.windows(10).any(|w| w == b"\r\n..\r\n..\r\n"), "{d:?}");
        }
        // The session stayed in step: no stray command after the message.
        let raw = String::from_utf8_lossy(&sink.raw_log()).into_owned();
        assert!(raw.ends_with("QUIT\r\n"), "{raw}");
    }
}

#[tokio::test]
async fn instant_helo_does_not_wait_for_the_greeting() {
    let sink = Sink::start(SinkConfig::default());
    let o = ClientOptions {
        instant_helo: true,
        ..opts()
    };
    let out = send(&sink, &o, &[sized(0, 100)]).await;
    all_accepted(&out, 1);
    // greeting and EHLO reply in one wait, then 2 for the message.
    assert_eq!(out.stats.round_trips, 3);
}
