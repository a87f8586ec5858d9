//! Proves the test SMTP client (tests/support/smtp.rs) and the test CA
//! against a tiny scripted server thread, including a STARTTLS upgrade
//! with `masqmail::tls::server_config`. The real server is tested with
//! the same client elsewhere; this file pins the client's own behaviour.

mod support;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use support::smtp::{Client, Duplex, Reply, dot_stuff};

/// What the scripted server saw.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<String>,
    /// The DATA lines exactly as received (still dot-stuffed, with CRLF).
    data: Vec<u8>,
    /// For each MAIL: whether the next command arrived with it in one read.
    pipelined: Vec<bool>,
    tls: bool,
}

/// One connection: a greeting, then scripted answers; STARTTLS upgrades
/// with `tls` (server config) when given.
fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> (SocketAddr, JoinHandle<io::Result<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (sock, _) = listener.accept()?;
        sock.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut seen = Seen::default();
        let mut rd: BufReader<Box<dyn Duplex>> = BufReader::new(Box::new(sock));
        rd.get_mut().write_all(b"220 test.example ESMTP\r\n")?;
        loop {
            let mut line = String::new();
            if rd.read_line(&mut line)? == 0 {
                return Ok(seen);
            }
            let cmd = line.trim_end().to_string();
            seen.commands.push(cmd.clone());
            let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-test.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                "MAIL" => {
                    seen.pipelined.push(!rd.buffer().is_empty());
                    b"250 2.1.0 sender ok\r\n"
                }
                "RCPT" if cmd.contains("<nobody@") => b"550 5.1.1 no such user\r\n",
                "RCPT" => b"250 2.1.5 recipient ok\r\n",
                "DATA" => {
                    rd.get_mut().write_all(b"354 go ahead\r\n")?;
                    loop {
                        let mut l = Vec::new();
                        if rd.read_until(b'\n', &mut l)? == 0 {
                            return Ok(seen);
                        }
                        if l == b".\r\n" {
                            break;
                        }
                        seen.data.extend_from_slice(&l);
                    }
                    b"250 2.0.0 queued as X\r\n"
                }
                "STARTTLS" => {
                    let Some(config) = tls.clone() else {
                        rd.get_mut().write_all(b"502 5.5.1 no TLS\r\n")?;
                        continue;
                    };
                    assert!(rd.buffer().is_empty(), "pipelined after STARTTLS");
                    let mut sock = rd.into_inner();
                    sock.write_all(b"220 2.0.0 ready to start TLS\r\n")?;
                    let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                    let mut stream = rustls::StreamOwned::new(conn, sock);
                    while stream.conn.is_handshaking() {
                        // A failed handshake ends the session, as in a real server.
                        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                            seen.commands.push(format!("handshake failed: {e}"));
                            return Ok(seen);
                        }
                    }
                    seen.tls = true;
                    rd = BufReader::new(Box::new(stream));
                    continue;
                }
                "QUIT" => {
                    rd.get_mut().write_all(b"221 2.0.0 bye\r\n")?;
                    return Ok(seen);
                }
                _ => b"500 5.5.2 unknown command\r\n",
            };
            rd.get_mut().write_all(reply)?;
            rd.get_mut().flush()?;
        }
    });
    (addr, handle)
}

#[test]
fn plain_session_multiline_pipeline_and_dot_stuffing() {
    let (addr, server) = serve(None);
    let mut c = Client::connect(addr).unwrap();
    let g = c.greeting().unwrap();
    assert_eq!((g.code, g.text()), (220, "test.example ESMTP".to_string()));
    let ehlo = c.cmd("EHLO client.example").unwrap();
    assert_eq!(ehlo.code, 250);
    assert_eq!(ehlo.lines, ["test.example", "PIPELINING", "STARTTLS"]);
    assert_eq!(
        ehlo.to_string(),
        "250-test.example\n250-PIPELINING\n250 STARTTLS"
    );
    assert_eq!(ehlo.enhanced(), None);

    let replies = c
        .pipeline(&[
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.org>",
            "RCPT TO:<nobody@example.org>",
        ])
        .unwrap();
    let codes: Vec<(u16, Option<&str>)> = replies.iter().map(|r| (r.code, r.enhanced())).collect();
    assert_eq!(
        codes,
        [
            (250, Some("2.1.0")),
            (250, Some("2.1.5")),
            (550, Some("5.1.1"))
        ]
    );

    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(&dot_stuff(b"Subject: x\n\n.one\n..two\r\nlast"))
        .unwrap();
    assert_eq!(c.read_reply().unwrap().enhanced(), Some("2.0.0"));

    // send_message stops at a refused recipient and says which.
    let err = c
        .send_message("a@example.org", &["nobody@example.org"], b"x")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("RCPT TO:<nobody@example.org>: 550 5.1.1"),
        "{err}"
    );
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    drop(c);

    let seen = server.join().unwrap().unwrap();
    assert_eq!(
        seen.pipelined,
        [true, false],
        "pipeline() writes once; send_message waits"
    );
    assert_eq!(seen.data, b"Subject: x\r\n\r\n..one\r\n...two\r\nlast\r\n");
    assert!(!seen.tls);
}

#[test]
fn starttls_upgrade_then_message() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::ca::make(dir.path());
    let config = masqmail::tls::server_config(&ca.cert_pem, &ca.key_pem).unwrap();
    let (addr, server) = serve(Some(config));
    let mut c = Client::connect(addr).unwrap();
    c.greeting().unwrap();
    c.cmd("EHLO client.example").unwrap();
    let r = c.starttls(&ca.ca_pem, "localhost").unwrap();
    assert_eq!((r.code, r.enhanced()), (220, Some("2.0.0")));
    assert!(c.is_tls());
    assert_eq!(c.cmd("EHLO client.example").unwrap().lines.len(), 3);
    let r = c
        .send_message(
            "a@example.org",
            &["b@example.org", "c@example.org"],
            b"hi\n.\n",
        )
        .unwrap();
    assert_eq!(r.code, 250);
    c.cmd("QUIT").unwrap();
    drop(c);
    let seen = server.join().unwrap().unwrap();
    assert!(seen.tls);
    assert_eq!(seen.data, b"hi\r\n..\r\n");
    assert_eq!(
        seen.commands
            .iter()
            .filter(|c| c.starts_with("RCPT"))
            .count(),
        2
    );
}

#[test]
fn starttls_rejects_wrong_name_other_ca_and_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::ca::make(&dir.path().join("a"));
    let other = support::ca::make(&dir.path().join("b"));
    for (trust, name, want) in [
        (&ca.ca_pem, "mail.example.org", "not valid for name"),
        (&other.ca_pem, "localhost", "UnknownIssuer"),
    ] {
        let config = masqmail::tls::server_config(&ca.cert_pem, &ca.key_pem).unwrap();
        let (addr, server) = serve(Some(config));
        let mut c = Client::connect(addr).unwrap();
        c.greeting().unwrap();
        let err = c.starttls(trust, name).unwrap_err();
        assert!(err.to_string().contains(want), "{name}: {err}");
        assert!(!c.is_tls());
        drop(c);
        let seen = server.join().unwrap().unwrap();
        assert!(!seen.tls);
    }
    // A server without TLS answers 502: an Err that quotes the reply.
    let (addr, server) = serve(None);
    let mut c = Client::connect(addr).unwrap();
    c.greeting().unwrap();
    let err = c.starttls(&ca.ca_pem, "localhost").unwrap_err();
    assert!(err.to_string().contains("502 5.5.1 no TLS"), "{err}");
    drop(c);
    server.join().unwrap().unwrap();
}

#[test]
fn ca_covers_ipv4_and_ipv6_names() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::ca::make(dir.path());
    for name in ["127.0.0.1", "::1"] {
        let config = masqmail::tls::server_config(&ca.cert_pem, &ca.key_pem).unwrap();
        let (addr, server) = serve(Some(config));
        let mut c = Client::connect(addr).unwrap();
        c.greeting().unwrap();
        c.starttls(&ca.ca_pem, name).unwrap();
        c.cmd("QUIT").unwrap();
        drop(c);
        assert!(server.join().unwrap().unwrap().tls, "{name}");
    }
}

/// `Client::over` with an in-memory script: parsing and its strictness.
fn replies_from(script: &'static [u8]) -> Vec<io::Result<Reply>> {
    let mut c = Client::over(script, io::sink());
    (0..2).map(|_| c.read_reply()).collect()
}

#[test]
fn reply_parsing_is_strict() {
    let ok = replies_from(b"220 hi\r\n250-a\r\n250\r\n");
    assert_eq!(ok[0].as_ref().unwrap().lines, ["hi"]);
    assert_eq!(ok[1].as_ref().unwrap().lines, ["a", ""]);
    let cases: &[(&'static [u8], &str)] = &[
        (b"220 hi\n", "without CRLF"),
        (b"22 hi\r\n", "malformed"),
        (b"220x\r\n", "malformed"),
        (b"250-a\r\n251 b\r\n", "code changes"),
        (b"250-a\r\n", "connection closed"),
        (b"", "connection closed"),
    ];
    for (script, want) in cases {
        let err = replies_from(script).remove(0).unwrap_err();
        assert!(err.to_string().contains(want), "{script:?}: {err}");
    }
    let r = Reply {
        code: 250,
        lines: vec!["2.1.5x ok".into()],
    };
    assert_eq!(r.enhanced(), None);
    let r = Reply {
        code: 451,
        lines: vec!["4.3.0 try later".into()],
    };
    assert_eq!(r.enhanced(), Some("4.3.0"));
}

#[test]
fn over_drives_a_child_process() {
    // `sh` plays a server: greets, then echoes what it reads as a reply.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"printf '220 sh\r\n'; read l; printf '250 got %s\n' "$l" | sed 's/\r//; s/$/\r/'"#)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, inp) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let mut c = Client::over(out, inp);
    assert_eq!(c.greeting().unwrap().code, 220);
    assert_eq!(c.cmd("NOOP").unwrap().text(), "got NOOP");
    assert!(c.read_reply().is_err(), "EOF after the child exits");
    drop(c);
    child.wait().unwrap();
}

#[test]
fn dot_stuff_table() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"", b".\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b"a\n", b"a\r\n.\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b"x\n.\n", b"x\r\n..\r\n.\r\n"),
        (b"a.b\n..\n", b"a.b\r\n...\r\n.\r\n"),
        (b"\n\n", b"\r\n\r\n.\r\n"),
    ];
    for (body, want) in cases {
        assert_eq!(
            dot_stuff(body),
            *want,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}
