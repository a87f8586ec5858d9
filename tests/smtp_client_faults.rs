//! The SMTP client against a scripted, misbehaving server: hostile replies
//! (R27) and partial failures, including a connection lost after the
//! final dot (R29).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use masqmail::address::Address;
use masqmail::outbound::smtp::{
    BatchOutcome, ClientOptions, Outgoing, RcptResult, SessionError, Timeouts, send_batch,
};

const CLOSE: &[u8] = b"CLOSE";

/// A one-connection server: sends `script[0]` as the greeting, then for
/// each command line (the whole body counting as one, after a 354) the
/// next entry; [`CLOSE`] closes the connection.
fn scripted(script: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
        let mut w = tcp.try_clone().expect("clone");
        let mut r = BufReader::new(tcp);
        let mut in_data = false;
        for (i, reply) in script.into_iter().enumerate() {
            if i > 0 {
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if !in_data || line == b".\r\n" {
                        break;
                    }
                }
            }
            if reply == CLOSE {
                return;
            }
            in_data = reply.starts_with(b"354");
            if w.write_all(&reply).is_err() {
                return;
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    addr
}

fn opts() -> ClientOptions {
    let t = Duration::from_secs(10);
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

fn lines(v: &[&[u8]]) -> Vec<Vec<u8>> {
    v.iter().map(|l| l.to_vec()).collect()
}

async fn run(script: Vec<Vec<u8>>, rcpts: &[&str]) -> Result<BatchOutcome, SessionError> {
    let addr = scripted(script);
    let msg = Outgoing {
        return_path: Address::new("s", "client.test"),
        rcpts: rcpts.iter().map(|r| Address::new(*r, "x.test")).collect(),
        text: b"Subject: x\n\nbody\n".to_vec(),
        body: None,
        smtputf8: false,
        eightbit: false,
        dsn: Default::default(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::time::timeout(Duration::from_secs(30), send_batch(tcp, &opts(), &[msg]))
        .await
        .expect("hangs")
}

const GREET: &[u8] = b"220 x ESMTP\r\n";
const EHLO: &[u8] = b"250-x\r\n250 PIPELINING\r\n";
const OK: &[u8] = b"250 ok\r\n";

#[tokio::test]
async fn r29_two_of_three_and_drop_after_dot() {
    let script = lines(&[GREET, EHLO, OK, OK, b"550 no\r\n", OK, b"354 go\r\n", CLOSE]);
    let out = run(script, &["a", "b", "c"]).await.expect("session ran");
    assert!(
        matches!(out.aborted, Some(SessionError::Closed(_))),
        "{:?}",
        out.aborted
    );
    let r = &out.results[0].rcpts;
    // The dot went out but no 250 came: retried later, never "delivered".
    assert!(matches!(&r[0].1, RcptResult::Deferred(_)), "{r:?}");
    assert!(
        matches!(&r[1].1, RcptResult::Failed(t) if t == "550 no"),
        "{r:?}"
    );
    assert!(matches!(&r[2].1, RcptResult::Deferred(_)), "{r:?}");
}

#[tokio::test]
async fn r29_452_to_data_defers() {
    let script = lines(&[
        GREET,
        EHLO,
        OK,
        OK,
        OK,
        b"452 4.3.1 full\r\n",
        b"221 bye\r\n",
    ]);
    let out = run(script, &["a", "b"]).await.expect("session ran");
    assert!(out.aborted.is_none(), "{:?}", out.aborted);
    let m = &out.results[0];
    assert_eq!(m.data, Err((false, "452 4.3.1 full".into())));
    assert!(
        m.rcpts
            .iter()
            .all(|(_, x)| matches!(x, RcptResult::Deferred(_))),
        "{m:?}"
    );
}

#[tokio::test]
async fn r29_drop_after_354_defers() {
    let script = lines(&[GREET, EHLO, OK, OK, b"354 go\r\n"]);
    let out = run(script, &["a"]).await.expect("session ran");
    assert!(out.aborted.is_some());
    assert!(matches!(
        &out.results[0].rcpts[0].1,
        RcptResult::Deferred(_)
    ));
}

#[tokio::test]
async fn r27_hostile_replies_are_protocol_errors() {
    let huge = [b"250-".as_slice(), &vec![b'x'; 1 << 20], b"\r\n250 ok\r\n"].concat();
    let many = [b"250-x\r\n".repeat(100_000), b"250 ok\r\n".to_vec()].concat();
    for ehlo in [
        huge,
        many,
        b"2500 x\r\n".to_vec(),
        b"25O x\r\n".to_vec(),
        b"250-a\r\n550 b\r\n".to_vec(),
        b"250 a\0b\r\n".to_vec(),
    ] {
        let err = run(lines(&[GREET, &ehlo]), &["a"])
            .await
            .expect_err("must fail");
        assert!(matches!(err, SessionError::Protocol(_)), "{err}");
        assert!(!err.is_permanent());
    }
    // A hostile reply in the middle: the message is deferred.
    let script = lines(&[GREET, EHLO, OK, b"25O x\r\n"]);
    let out = run(script, &["a"]).await.expect("session ran");
    assert!(
        matches!(out.aborted, Some(SessionError::Protocol(_))),
        "{:?}",
        out.aborted
    );
    assert!(matches!(
        &out.results[0].rcpts[0].1,
        RcptResult::Deferred(_)
    ));
}

#[tokio::test]
async fn greeting_554_is_permanent() {
    let err = run(lines(&[b"554 go away\r\n"]), &["a"])
        .await
        .expect_err("must fail");
    assert!(err.is_permanent(), "{err}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let addr = scripted(lines(&[GREET]));
    let o = ClientOptions {
        timeouts: Timeouts {
            command: Duration::from_millis(200),
            ..opts().timeouts
        },
        ..opts()
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let err = send_batch(tcp, &o, &[]).await.expect_err("must time out");
    assert!(
        matches!(&err, SessionError::Timeout(w) if w.contains("EHLO")),
        "{err}"
    );
    assert!(!err.is_permanent());
}

/// R28: STARTTLS offered and then refused: no fallback to plaintext.
/// R28: STARTTLS answered 454: deferred, no fallback to cleartext.
#[tokio::test]
async fn starttls_454_is_no_fallback() {
    let addr = scripted(lines(&[
        GREET,
        b"250-x\r\n250 STARTTLS\r\n",
        b"454 4.7.0 no TLS now\r\n",
    ]));
    let o = ClientOptions {
        tls_config: Some(masqmail::tls::client_config(None, false, None).expect("config")),
        ..opts()
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let err = send_batch(tcp, &o, &[]).await.expect_err("must fail");
    assert!(
        matches!(&err, SessionError::Tls(t) if t.contains("454")),
        "{err}"
    );
}
