//! Server-side SMTP AUTH and relay rights per connection (issue 11),
//! end to end: the real daemon on 127.0.0.1, clients bound to 127.0.0.2
//! (Linux routes all of 127/8 to lo; outside a `relay_nets` of
//! 127.0.0.1/32), STARTTLS with a throwaway CA, and real clients: swaks
//! and Python's smtplib (installed by .ci/run; CI must run these).

mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use support::smtp::{Client, Reply, TIMEOUT};
use support::*;

/// `doveadm pw -s SHA512-CRYPT -p sesame`.
const JO: &str = "jo:{SHA512-CRYPT}$6$oHPlYebSwlsNYhsn$KG7YoQgbhMC0V5.c/hbwcHzw1tw/CFfy9BQI32RTTNLBj2eFZHj9UUtKMTraTlKgm2eQmWmZxT.BbnGIfz.SV.";
const PASSWORD: &str = "sesame";
const WRONG: &str = "not-the-password-4711";

/// An env with a test CA's certificate, the auth file (0600) and
/// `relay_nets = 127.0.0.1/32` plus `extra`.
fn auth_env(extra: &str) -> (Env, ca::TestCa) {
    let env = Env::new(&format!("do_queue = true\n{extra}"));
    let ca = ca::make(&env.path("ca"));
    let passwd = env.path("passwd");
    std::fs::write(&passwd, format!("# users\n{JO}\n")).expect("passwd");
    set_mode(&passwd, 0o600);
    env.add_conf(&format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\nsmtp_auth_file = \"{}\"\n",
        ca.cert_pem.display(),
        ca.key_pem.display(),
        passwd.display()
    ));
    (env, ca)
}

/// A TCP connection from 127.0.0.2 to `to`.
fn from_127_0_0_2(to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let local = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 0));
    bind(fd.as_raw_fd(), &local).expect("bind 127.0.0.2");
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 daemon")
    };
    connect(fd.as_raw_fd(), &SockaddrIn::from(to)).expect("connect");
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

/// A client from 127.0.0.2, greeted, after EHLO; returns the EHLO reply.
fn outside_client(d: &daemon::Daemon) -> (Client, Reply) {
    let mut c = Client::from_duplex(from_127_0_0_2(d.addr));
    assert_eq!(c.greeting().expect("greeting").code, 220);
    let ehlo = c.cmd("EHLO client.example").expect("ehlo");
    assert_eq!(ehlo.code, 250);
    (c, ehlo)
}

fn starttls(c: &mut Client, ca: &ca::TestCa) -> Reply {
    c.starttls(&ca.ca_pem, "localhost").expect("starttls");
    let ehlo = c.cmd("EHLO client.example").expect("ehlo");
    assert_eq!(ehlo.code, 250);
    ehlo
}

fn plain(user: &str, pw: &str) -> String {
    STANDARD.encode(format!("\0{user}\0{pw}"))
}

fn line(r: &Reply) -> String {
    r.to_string()
}

#[test]
fn relay_from_outside_needs_auth_over_starttls() {
    let (env, ca) = auth_env("relay_nets = 127.0.0.1/32");
    let d = env.daemon(&[]);
    let (mut c, ehlo) = outside_client(&d);
    assert!(!ehlo.text().contains("AUTH"), "not before STARTTLS: {ehlo}");
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain("jo", PASSWORD)))
        .unwrap();
    assert!(line(&r).starts_with("538 5.7.11"), "{r}");
    assert_eq!(c.cmd("MAIL FROM:<jo@far.example>").unwrap().code, 250);
    let r = c.cmd("RCPT TO:<friend@elsewhere.example>").unwrap();
    assert!(line(&r).starts_with("550 5.7.1"), "{r}");
    assert_eq!(c.cmd("RSET").unwrap().code, 250);

    let ehlo = starttls(&mut c, &ca);
    assert!(ehlo.text().contains("AUTH PLAIN LOGIN"), "{ehlo}");
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain("jo", WRONG)))
        .unwrap();
    assert!(line(&r).starts_with("535 5.7.8"), "{r}");
    let r = c.cmd("RCPT TO:<friend@elsewhere.example>").unwrap();
    assert_eq!(r.code, 503, "no transaction: {r}");
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain("jo", PASSWORD)))
        .unwrap();
    assert!(line(&r).starts_with("235 2.7.0"), "{r}");
    let r = c
        .send_message(
            "jo@far.example",
            &["friend@elsewhere.example"],
            b"Subject: relayed\r\n\r\nafter AUTH\r\n",
        )
        .expect("relayed after AUTH");
    assert_eq!(r.code, 250, "{r}");
    let queued = env.queued();
    assert_eq!(queued.len(), 1);
    let header = env.header_file(&queued[0]);
    assert!(header.contains("\nID:jo\n"), "the spool's ident: {header}");
    assert!(
        header.contains("from 127.0.0.2 (authenticated as jo)") && header.contains("with ESMTPSA"),
        "{header}"
    );
    let log = env.log();
    assert!(
        log.contains("127.0.0.2: authenticated as jo (PLAIN)"),
        "{log}"
    );
    assert!(
        log.contains("127.0.0.2: AUTH PLAIN failed for user jo"),
        "{log}"
    );
    for secret in [PASSWORD, WRONG] {
        assert!(!log.contains(secret), "a password in the log: {log}");
    }
}

/// Wrong password and unknown user: the same 535, and from the third
/// failure of the address on, a growing delay (1 s, 2 s, …).
#[test]
fn failures_get_535_and_the_back_off() {
    let (env, ca) = auth_env("relay_nets = 127.0.0.1/32");
    let d = env.daemon(&[]);
    let (mut c, _) = outside_client(&d);
    starttls(&mut c, &ca);
    let mut took = Vec::new();
    for user in ["jo", "nobody", "jo", "nobody"] {
        let start = Instant::now();
        let r = c
            .cmd(&format!("AUTH PLAIN {}", plain(user, WRONG)))
            .unwrap();
        took.push(start.elapsed());
        assert_eq!(
            line(&r),
            "535 5.7.8 Authentication credentials invalid",
            "{user}"
        );
    }
    // The first two are answered at once (no upper bound asserted: a
    // loaded machine is slow, not wrong); the log names the back-off only
    // from the third on.
    assert!(took[2] >= Duration::from_millis(950), "{took:?}");
    assert!(took[3] >= Duration::from_millis(1950), "{took:?}");
    // Another session from the same address is remembered.
    let (mut c2, _) = outside_client(&d);
    starttls(&mut c2, &ca);
    let start = Instant::now();
    let r = c2
        .cmd(&format!("AUTH PLAIN {}", plain("jo", WRONG)))
        .unwrap();
    assert!(line(&r).starts_with("535 5.7.8"), "{r}");
    assert!(
        start.elapsed() >= Duration::from_millis(3900),
        "shared back-off"
    );
    let log = env.log();
    assert!(
        log.contains("127.0.0.2: 3 failed authentications; back-off"),
        "{log}"
    );
    assert!(!log.contains(WRONG), "{log}");
}

/// R08: after ten failed attempts the session gets `421 4.7.0` and is
/// closed, and a new session from that address is refused at AUTH too.
/// (The back-off makes this test take about 40 s of server-side delay.)
#[test]
fn ten_failures_close_the_session_with_421() {
    let (env, ca) = auth_env("relay_nets = 127.0.0.1/32");
    let d = env.daemon(&[]);
    let (mut c, _) = outside_client(&d);
    starttls(&mut c, &ca);
    let mut last = None;
    for n in 1..=10 {
        let r = c
            .cmd(&format!("AUTH PLAIN {}", plain("jo", WRONG)))
            .unwrap();
        if n < 10 {
            assert_eq!(
                line(&r),
                "535 5.7.8 Authentication credentials invalid",
                "{n}"
            );
        }
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!((r.code, r.enhanced()), (421, Some("4.7.0")), "{r}");
    assert!(c.read_reply().is_err(), "closed after the 421");
    let (mut c2, _) = outside_client(&d);
    starttls(&mut c2, &ca);
    let r = c2
        .cmd(&format!("AUTH PLAIN {}", plain("jo", PASSWORD)))
        .unwrap();
    assert_eq!(
        r.code, 421,
        "the address stays blocked, even with the right password: {r}"
    );
    assert!(!env.log().contains(WRONG) && !env.log().contains(PASSWORD));
}

/// `relay_nets.NAME`: the online connection decides; switching
/// `online_query`'s answer changes the next session's rights, no restart.
#[test]
fn relay_follows_the_online_connection() {
    let env = Env::new("do_queue = true");
    let answer = env.path("connection");
    std::fs::write(&answer, "home\n").expect("answer");
    env.add_conf(&format!(
        "relay_nets = 127.0.0.0/8\nrelay_nets.home = 127.0.0.0/8\nonline_query = \"/bin/cat {}\"\n",
        answer.display()
    ));
    let d = env.daemon(&[]);
    let rcpt = |want: u16| {
        let (mut c, _) = outside_client(&d);
        assert_eq!(c.cmd("MAIL FROM:<jo@far.example>").unwrap().code, 250);
        let r = c.cmd("RCPT TO:<friend@elsewhere.example>").unwrap();
        let _ = c.cmd("QUIT");
        r.code == want
    };
    assert!(rcpt(250), "home: 127.0.0.2 relays");
    std::fs::write(&answer, "hotel\n").expect("answer");
    env.wait_for("a session on the hotel network to be refused", || rcpt(550));
    let bt = env.ok(&["-bt", "someone@elsewhere.example"], b"");
    assert!(
        bt.contains(
            "relaying allowed from: 127.0.0.1/32, ::1/128 (loopback only: no relay_nets.hotel)"
        ),
        "{bt}"
    );
    std::fs::write(&answer, "home\n").expect("answer");
    env.wait_for("a session at home to relay again", || rcpt(250));
    let bt = env.ok(&["-bt", "someone@elsewhere.example"], b"");
    assert!(
        bt.contains("relaying allowed from: 127.0.0.1/32, ::1/128, 127.0.0.0/8 (loopback and relay_nets.home)"),
        "{bt}"
    );
    let log = env.log();
    assert!(
        log.contains("relaying: connection hotel is online"),
        "{log}"
    );
}

/// Without `online_query` or `online_detect`, the ppp-style hooks tell
/// the daemon: `-qo NAME` (ip-up) makes NAME online for the very next
/// session, `--offline` (ip-down) ends it; nothing recorded is no
/// connection, so only loopback relays.
#[test]
fn relay_follows_qo_and_offline() {
    let env = Env::new("do_queue = true");
    env.add_conf("relay_nets = 127.0.0.0/8\nrelay_nets.home = 127.0.0.0/8\n");
    let d = env.daemon(&[]);
    let rcpt = || {
        let (mut c, _) = outside_client(&d);
        assert_eq!(c.cmd("MAIL FROM:<jo@far.example>").unwrap().code, 250);
        let r = c.cmd("RCPT TO:<friend@elsewhere.example>").unwrap();
        let _ = c.cmd("QUIT");
        r.code
    };
    assert_eq!(
        rcpt(),
        550,
        "no connection told yet: 127.0.0.2 may not relay"
    );
    env.ok(&["-qo", "home"], b"");
    assert_eq!(rcpt(), 250, "after -qo home the next session relays");
    let bt = env.ok(&["-bt", "someone@elsewhere.example"], b"");
    assert!(bt.contains("(loopback and relay_nets.home)"), "{bt}");
    env.ok(&["-qo", "hotel"], b"");
    assert_eq!(rcpt(), 550, "-qo hotel: no relay_nets.hotel");
    env.ok(&["-qo", "home"], b"");
    assert_eq!(rcpt(), 250);
    env.ok(&["--offline"], b"");
    assert_eq!(
        rcpt(),
        550,
        "after --offline the next session may not relay"
    );
    let log = env.log();
    assert!(
        log.contains("connection home recorded as online (until masqmail --offline)"),
        "{log}"
    );
    assert!(log.contains("relaying: no connection online"), "{log}");
}

/// The tools people use: swaks with `--auth` over STARTTLS, verifying the
/// certificate against the test CA.
#[test]
fn swaks_submits_with_auth_over_starttls() {
    if !tool("swaks") {
        return;
    }
    let (env, ca) = auth_env("relay_nets = 127.0.0.1/32");
    let d = env.daemon(&[]);
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &d.addr.ip().to_string(),
            "--port",
            &d.addr.port().to_string(),
        ])
        .args(["--local-interface", "127.0.0.2", "--helo", "client.example"])
        .args([
            "--from",
            "jo@far.example",
            "--to",
            "friend@elsewhere.example",
        ])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            "jo",
            "--auth-password",
            PASSWORD,
        ])
        .args(["-tls", "--tls-verify", "--tls-ca-path"])
        .arg(&ca.ca_pem)
        .args(["--header", "Subject: by swaks", "--timeout", "20"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("swaks");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", support::stderr(&out));
    assert!(text.contains("235 2.7.0"), "{text}");
    assert_eq!(env.queued().len(), 1, "{text}");
}

/// Python's smtplib: `starttls()` trusting the test CA and `login()`
/// (PLAIN), then LOGIN with its two prompts, and `SMTP_SSL` on an
/// implicit-TLS listener (`tls_listen_addresses`, RFC 8314).
#[test]
fn python_smtplib_login() {
    if !tool("python3") {
        return;
    }
    let tls_port = daemon::free_port();
    let (env, ca) = auth_env(&format!(
        "relay_nets = 127.0.0.1/32\ntls_listen_addresses = 127.0.0.1:{tls_port}"
    ));
    let d = env.daemon(&[]);
    let script = format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile={ca:?})
src = ("127.0.0.2", 0)
s = smtplib.SMTP("127.0.0.1", {port}, source_address=src, timeout=20)
s.starttls(context=ctx)
s.login("jo", "{pw}")
s.sendmail("jo@far.example", ["friend@elsewhere.example"], "Subject: plain\r\n\r\nby smtplib\r\n")
s.quit()
s = smtplib.SMTP("127.0.0.1", {port}, source_address=src, timeout=20)
s.starttls(context=ctx)
s.ehlo()
s.user, s.password = "jo", "{pw}"
code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
assert code == 235, code
s.sendmail("jo@far.example", ["friend@elsewhere.example"], "Subject: login\r\n\r\nby smtplib\r\n")
s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", {tls_port}, source_address=src, context=ctx, timeout=20)
s.ehlo()
assert "starttls" not in s.esmtp_features, s.esmtp_features
s.login("jo", "{pw}")
s.sendmail("jo@far.example", ["friend@elsewhere.example"], "Subject: implicit\r\n\r\nby smtplib\r\n")
s.quit()
try:
    s = smtplib.SMTP_SSL("127.0.0.1", {tls_port}, source_address=src, context=ctx, timeout=20)
    s.login("jo", "{wrong}")
    raise SystemExit("a wrong password was accepted")
except smtplib.SMTPAuthenticationError as e:
    assert e.smtp_code == 535, e
print("ok")
"#,
        ca = ca.ca_pem.display().to_string(),
        port = d.addr.port(),
        pw = PASSWORD,
        wrong = WRONG,
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("python3");
    assert!(
        out.status.success() && stdout(&out).contains("ok"),
        "{}\n{}",
        stdout(&out),
        support::stderr(&out)
    );
    assert_eq!(env.queued().len(), 3);
    assert!(!env.log().contains(PASSWORD));
}

/// A passwd-file others may read is refused: the daemon does not start.
#[test]
fn readable_auth_file_stops_the_start() {
    let (env, _ca) = auth_env("");
    set_mode(&env.path("passwd"), 0o644);
    env.add_conf(&format!(
        "listen_addresses = \"127.0.0.1:{}\"",
        daemon::free_port()
    ));
    let mut child = env
        .cmd()
        .arg("-bD")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started with a readable auth file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    assert!(!status.success());
    let err = support::stderr(&out);
    assert!(err.contains("chmod 600"), "{err}");
}

/// Whether `name` is on PATH; CI must have it (.ci/run installs it).
fn tool(name: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this: {name} is missing (.ci/run installs it)"
        );
        eprintln!("{name} not installed: skipped");
    }
    found
}
