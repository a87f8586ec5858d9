//! systemd integration of the daemon (issue 10): readiness, reload and
//! stop notices on `$NOTIFY_SOCKET` (a datagram socket the test listens
//! on, as `systemd-notify` would), and SIGHUP re-reading the
//! configuration while a client is in the middle of DATA: that message is
//! still accepted, and the next session runs under the new configuration.
//! Every wait is on something observable (a datagram, a log line).

mod support;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

use support::daemon::free_port;
use support::smtp::Client;
use support::*;

/// The next notice from the daemon (waits up to 30 s).
fn notice(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notice within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Waits until the log has `line` after byte `from`.
fn wait_log(env: &Env, from: usize, line: &str) {
    env.wait_for(line, || {
        env.log().get(from..).is_some_and(|l| l.contains(line))
    });
}

#[test]
fn notify_socket_gets_ready_reloading_and_stopping() {
    let env = Env::new("");
    let port = free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    let path = env.path("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = env
        .cmd()
        .arg("-bD")
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    assert_eq!(notice(&sock), "READY=1");
    // READY=1 comes after the sockets are bound: a client is served now.
    let mut c = Client::connect(format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    drop(c);
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let reloading = notice(&sock);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec = reloading.rsplit('=').next().unwrap();
    assert!(usec.parse::<u64>().is_ok_and(|u| u > 0), "{reloading}");
    assert_eq!(notice(&sock), "READY=1");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(notice(&sock), "STOPPING=1");
    assert!(child.wait().unwrap().success());
}

#[test]
fn sighup_mid_data_keeps_the_message_and_applies_to_the_next_session() {
    let env = Env::new("");
    let d = env.daemon(&[]);
    let mut c = Client::connect(d.addr).unwrap();
    let greeting = c.read_reply().unwrap();
    assert!(greeting.text().contains(HOST), "{}", greeting.text());
    assert_eq!(c.cmd("EHLO client.example").unwrap().code, 250);
    assert_eq!(c.cmd("MAIL FROM:<jo@client.example>").unwrap().code, 250);
    assert_eq!(c.cmd(&format!("RCPT TO:<alice@{HOST}>")).unwrap().code, 250);
    assert_eq!(c.cmd("DATA").unwrap().code, 354);
    c.send(b"Subject: across a reload\r\n\r\nfirst half\r\n")
        .unwrap();

    // The new configuration: another host name (seen in the greeting); the
    // old one stays a local domain, so the message is delivered here.
    let conf = std::fs::read_to_string(&env.conf).unwrap();
    let conf = conf.replace(
        &format!("host_name = \"{HOST}\""),
        &format!(
            "host_name = \"new.example.net\"\nlocal_hosts = \"localhost;{HOST};new.example.net\""
        ),
    );
    std::fs::write(&env.conf, conf).unwrap();
    let from = env.log().len();
    d.signal(libc::SIGHUP);
    wait_log(&env, from, "configuration reloaded");

    c.send(b"second half\r\n.\r\n").unwrap();
    let r = c.read_reply().unwrap();
    assert_eq!(r.code, 250, "the message in DATA is accepted: {}", r.text());
    assert_eq!(c.cmd("QUIT").unwrap().code, 221);
    env.wait_for("the delivery", || env.mbox("alice").contains("second half"));
    let mbox = env.mbox("alice");
    assert!(mbox.contains("first half\nsecond half"), "{mbox}");
    assert!(
        mbox.contains(&format!("by {HOST}")),
        "the session that started before the reload keeps its configuration: {mbox}"
    );

    let mut next = Client::connect(d.addr).unwrap();
    let greeting = next.read_reply().unwrap();
    assert!(
        greeting.text().contains("new.example.net"),
        "the next session runs under the new configuration: {}",
        greeting.text()
    );
}

#[test]
fn a_broken_config_on_sighup_keeps_the_old_one() {
    let env = Env::new("");
    let d = env.daemon(&[]);
    let conf = std::fs::read_to_string(&env.conf).unwrap();
    std::fs::write(&env.conf, format!("{conf}\nthis is not an option\n")).unwrap();
    let from = env.log().len();
    d.signal(libc::SIGHUP);
    wait_log(
        &env,
        from,
        "configuration not reloaded, the old one stays: ",
    );
    let log = env.log();
    let line = log[from..]
        .lines()
        .find(|l| l.contains("not reloaded"))
        .unwrap()
        .to_string();
    assert!(
        line.contains(&format!("{}:", env.conf.display())),
        "names the file and line: {line}"
    );
    let mut c = Client::connect(d.addr).unwrap();
    let r = c.read_reply().unwrap();
    assert!(r.code == 220 && r.text().contains(HOST), "{}", r.text());
    // A changed listen address is kept (the sockets are the daemon's).
    let port = free_port();
    std::fs::write(
        &env.conf,
        format!("{conf}\nlisten_addresses = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let from = env.log().len();
    d.signal(libc::SIGHUP);
    wait_log(&env, from, "configuration reloaded");
    assert!(
        env.log()[from..].contains("listen_addresses changed: it takes effect after a restart"),
        "{}",
        env.log()
    );
    let mut c = Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
}
