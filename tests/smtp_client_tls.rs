//! The SMTP client's TLS and AUTH against the test sink: every mechanism
//! over STARTTLS (the sink verifies), no credentials in clear, required
//! STARTTLS, and R07 (plaintext injected after the STARTTLS reply).

mod support;

use std::time::Duration;

use masqmail::address::Address;
use masqmail::outbound::smtp::{
    AuthMech, AuthOptions, BatchOutcome, ClientOptions, Outgoing, RcptResult, SessionError,
    Timeouts, TlsMode, send_batch,
};
use support::ca::{self, TestCa};
use support::sink::{Sink, SinkConfig};

const LOGIN: &str = "user@client.test";
const SECRET: &str = "s3cret pass";

fn opts(ca: Option<&TestCa>, tls: Option<TlsMode>, mech: Option<AuthMech>) -> ClientOptions {
    let t = Duration::from_secs(20);
    ClientOptions {
        helo_name: "client.test".into(),
        pipelining: true,
        instant_helo: false,
        tls,
        tls_config: ca.map(|ca| {
            masqmail::tls::client_config(Some(&ca.ca_pem), true, None).expect("client config")
        }),
        server_name: "localhost".into(),
        auth: Some(AuthOptions {
            mech,
            login: LOGIN.into(),
            secret: SECRET.into(),
        }),
        timeouts: Timeouts {
            greeting: t,
            command: t,
            data_init: t,
            data_final: t,
            write: t,
        },
    }
}

fn sink_cfg(ca: Option<&TestCa>) -> SinkConfig {
    SinkConfig {
        starttls: ca.map(|ca| (ca.cert_pem.clone(), ca.key_pem.clone())),
        auth: Some((LOGIN.into(), SECRET.into())),
        auth_required: true,
        ..SinkConfig::default()
    }
}

fn msgs() -> Vec<Outgoing> {
    vec![Outgoing {
        return_path: Address::new("sender", "client.test"),
        rcpts: vec![Address::new("r", "sink.test")],
        text: b"Subject: tls\n\nhello\n".to_vec(),
        body: None,
        smtputf8: false,
        eightbit: false,
        dsn: Default::default(),
    }]
}

async fn send(sink: &Sink, opts: &ClientOptions) -> Result<BatchOutcome, SessionError> {
    let tcp = tokio::net::TcpStream::connect(sink.addr)
        .await
        .expect("connect sink");
    tokio::time::timeout(Duration::from_secs(60), send_batch(tcp, opts, &msgs()))
        .await
        .expect("session hangs")
}

fn delivered(out: &BatchOutcome) {
    assert!(out.aborted.is_none(), "{:?}", out.aborted);
    assert_eq!(out.results[0].rcpts[0].1, RcptResult::Accepted);
}

#[tokio::test]
async fn every_mechanism_over_starttls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let cases = [
        (Some(AuthMech::Plain), AuthMech::Plain, "PLAIN", 1),
        (Some(AuthMech::Login), AuthMech::Login, "LOGIN", 3),
        (Some(AuthMech::CramMd5), AuthMech::CramMd5, "CRAM-MD5", 2),
        (Some(AuthMech::Xoauth2), AuthMech::Xoauth2, "XOAUTH2", 1),
        (None, AuthMech::CramMd5, "CRAM-MD5", 2),
    ];
    for (wanted, used, name, auth_trips) in cases {
        for tls in [None, Some(TlsMode::StartTls)] {
            let sink = Sink::start(sink_cfg(Some(&ca)));
            let out = send(&sink, &opts(Some(&ca), tls, wanted))
                .await
                .expect("session");
            delivered(&out);
            assert!(out.tls);
            assert_eq!(out.auth, Some(used));
            let got = sink.messages();
            assert_eq!(got.len(), 1);
            assert!(got[0].tls);
            assert_eq!(got[0].auth.as_deref(), Some(name));
            // greeting, EHLO, STARTTLS, EHLO, AUTH, envelope, body.
            assert_eq!(out.stats.round_trips, 4 + auth_trips + 2, "{name}");
        }
    }
}

#[tokio::test]
async fn wrong_password_is_a_temporary_auth_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let sink = Sink::start(SinkConfig {
        auth: Some((LOGIN.into(), "other".into())),
        ..sink_cfg(Some(&ca))
    });
    let err = send(&sink, &opts(Some(&ca), None, None))
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, SessionError::AuthRefused(t) if t.contains("535")),
        "{err}"
    );
    assert!(!err.is_permanent());
    assert!(sink.messages().is_empty());
}

/// R28: AUTH PLAIN in cleartext only: no credential leaves.
#[tokio::test]
async fn no_credentials_in_clear() {
    let sink = Sink::start(SinkConfig {
        auth_in_clear: true,
        ..sink_cfg(None)
    });
    // Opportunistic TLS with a server without STARTTLS: refuse AUTH.
    let err = send(&sink, &opts(None, None, Some(AuthMech::Plain)))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, SessionError::Auth(t) if t.contains("unencrypted")),
        "{err}"
    );
    let raw = String::from_utf8_lossy(&sink.raw_log()).into_owned();
    assert!(!raw.contains("AUTH") && !raw.contains("MAIL"), "{raw}");

    // `tls = none` said explicitly: allowed.
    let out = send(
        &sink,
        &opts(None, Some(TlsMode::None), Some(AuthMech::Plain)),
    )
    .await
    .expect("session");
    delivered(&out);
    assert!(!out.tls);
    assert_eq!(sink.messages()[0].auth.as_deref(), Some("PLAIN"));
}

/// R28: STARTTLS stripped from EHLO: nothing sent.
#[tokio::test]
async fn required_starttls_not_offered_sends_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let sink = Sink::start(sink_cfg(None));
    let err = send(&sink, &opts(Some(&ca), Some(TlsMode::StartTls), None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, SessionError::Tls(_)), "{err}");
    assert!(!err.is_permanent());
    let raw = String::from_utf8_lossy(&sink.raw_log()).into_owned();
    assert_eq!(raw, "EHLO client.test\r\n");
}

/// R28: self-signed, expired, wrong-name certificates: nothing sent, precise log line.
#[tokio::test]
async fn untrusted_certificate_is_no_silent_fallback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_ca = ca::make(&dir.path().join("server"));
    let other_ca = ca::make(&dir.path().join("other"));
    let sink = Sink::start(sink_cfg(Some(&server_ca)));
    // Opportunistic: STARTTLS is offered, the handshake fails: no plaintext.
    let err = send(&sink, &opts(Some(&other_ca), None, None))
        .await
        .expect_err("must fail");
    assert!(matches!(err, SessionError::Tls(_)), "{err}");
    let raw = String::from_utf8_lossy(&sink.raw_log()).into_owned();
    assert!(!raw.contains("MAIL") && !raw.contains("AUTH"), "{raw}");
}

/// R07, client side: `250 fake` sent in clear right after the STARTTLS
/// reply must not be taken as the reply to the EHLO sent over TLS.
#[tokio::test]
async fn r07_injected_reply_after_starttls_is_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let sink = Sink::start(SinkConfig {
        starttls_reply: Some(b"220 go ahead\r\n250 fake\r\n".to_vec()),
        ..sink_cfg(Some(&ca))
    });
    let out = send(
        &sink,
        &opts(Some(&ca), Some(TlsMode::StartTls), Some(AuthMech::Plain)),
    )
    .await
    .expect("session");
    delivered(&out);
    // Had "250 fake" been the EHLO reply, AUTH would not have been offered.
    assert_eq!(out.auth, Some(AuthMech::Plain));
    assert_eq!(sink.messages()[0].auth.as_deref(), Some("PLAIN"));
}

#[tokio::test]
async fn smtps_from_the_first_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca::make(dir.path());
    let sink = Sink::start(SinkConfig {
        smtps: true,
        ..sink_cfg(Some(&ca))
    });
    let out = send(
        &sink,
        &opts(Some(&ca), Some(TlsMode::Smtps), Some(AuthMech::Login)),
    )
    .await
    .expect("session");
    delivered(&out);
    assert!(out.tls);
    // greeting, EHLO, AUTH LOGIN (3), envelope, body.
    assert_eq!(out.stats.round_trips, 7);
    assert!(sink.messages()[0].tls);
}
