//! Going online (issue 4): `-qo NAME` sends the queue through the routes
//! of that connection, rewritten per route; direct MX delivery with the
//! harness's DNS server; wrapper and pipe transports; round trips counted
//! on the test server.

mod support;
use std::fs;

use support::dns::{DnsServer, Record};
use support::sink::{Sink, SinkConfig};
use support::*;

/// An env with route file `isp.route` (the given lines) as
/// `query_routes.isp`.
fn with_route(extra_main: &str, route: &str) -> Env {
    let env = Env::new(extra_main);
    fs::write(env.path("isp.route"), route).unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    env
}

fn smarthost(sink: &Sink, extra: &str) -> String {
    format!("mail_host = \"127.0.0.1:{}\"\n{extra}\n", sink.addr.port())
}

fn queue(env: &Env, n: usize, rcpt: &str) {
    for i in 0..n {
        let body = format!("From: jo\nSubject: m{i}\n\n{}\n", "text ".repeat(400));
        env.ok(&["-odq", "-f", "jo", rcpt], body.as_bytes());
    }
}

#[test]
fn qo_sends_the_queue_to_the_smarthost_rewritten() {
    let sink = Sink::start(SinkConfig::default());
    let env = with_route(
        "",
        &smarthost(
            &sink,
            "set_return_path_domain = \"provider.example\"\nmap_h_from_addresses = \"jo: Jo Q <jo.q@provider.example>\"",
        ),
    );
    env.ok(
        &["-odq", "-f", "jo", "alice", "bob@remote.example"],
        b"From: Jo <jo>\nSubject: out\n\nhello\n",
    );
    // the local recipient is delivered at once by -q, the remote one waits
    env.ok(&["-q"], b"");
    assert!(env.mbox("alice").contains("Subject: out"));
    assert_eq!(env.queued().len(), 1, "remote recipient still queued");
    assert!(sink.messages().is_empty());
    env.ok(&["-qo", "isp"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.from, "jo@provider.example");
    assert_eq!(m.rcpts, ["bob@remote.example"]);
    let text = String::from_utf8_lossy(&m.text);
    assert!(
        text.contains("From: Jo Q <jo.q@provider.example>\n")
            || text.contains("From: Jo <jo.q@provider.example>"),
        "{text}"
    );
    assert!(
        text.contains("Subject: out") && text.contains("\nhello\n"),
        "{text}"
    );
    let log = env.log();
    assert!(
        log.contains("Starting online queue run.") && log.contains("using '"),
        "{log}"
    );
    assert!(
        log.contains("=> <bob@remote.example> host=127.0.0.1"),
        "{log}"
    );
}

#[test]
fn unknown_connection_and_offline_keep_mail_queued() {
    let sink = Sink::start(SinkConfig::default());
    let env = with_route("", &smarthost(&sink, ""));
    queue(&env, 1, "bob@remote.example");
    env.ok(&["-qo", "other"], b"");
    env.ok(&["-q"], b"");
    assert_eq!(env.queued().len(), 1);
    assert!(sink.messages().is_empty());
    assert!(
        env.log()
            .contains("route list with name 'other' not found."),
        "{}",
        env.log()
    );
}

#[test]
fn online_query_makes_q_and_instant_delivery_use_the_link() {
    let sink = Sink::start(SinkConfig::default());
    let env = with_route("", &smarthost(&sink, ""));
    let query = env.script("online", "#!/bin/sh\necho isp\n");
    env.add_conf(&format!("online_query = \"{}\"\n", query.display()));
    env.ok(
        &["-f", "jo", "bob@remote.example"],
        b"Subject: instant\n\nx\n",
    );
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert!(env.queued().is_empty());
}

#[test]
fn rejected_recipients_bounce_deferred_ones_stay() {
    let sink = Sink::start(SinkConfig {
        reject_rcpts: vec!["nobody@remote.example".into()],
        defer_rcpts: vec!["later@remote.example".into()],
        ..SinkConfig::default()
    });
    let env = with_route("", &smarthost(&sink, ""));
    env.ok(
        &[
            "-odq",
            "-f",
            "jo",
            "ok@remote.example",
            "nobody@remote.example",
            "later@remote.example",
        ],
        b"Subject: mixed\n\nx\n",
    );
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(sink.messages()[0].rcpts, ["ok@remote.example"]);
    // the failure notice goes to jo (local) and is delivered by a -q run
    env.ok(&["-q"], b"");
    let bounce = env.mbox("jo");
    assert!(
        bounce.contains("nobody@remote.example") && bounce.contains("550"),
        "{bounce}"
    );
    let ids = env.queued();
    assert_eq!(ids.len(), 1);
    let h = env.header_file(&ids[0]);
    assert!(
        h.contains("RT: <later@remote.example>") && h.contains("RT:X<ok@remote.example>"),
        "{h}"
    );
}

/// Round trips are counted by the client (a wait for replies after it
/// wrote all it could; logged at debug level): with PIPELINING one per
/// message plus the setup (greeting, EHLO, and the final write); with
/// CHUNKING a constant whatever the batch size. One connection here
/// (`max_parallel_connections = 1`); spreading: parallel_flush.rs.
#[test]
fn round_trips_pipelining_and_chunking() {
    for (chunking, n, want) in [
        (false, 1, 4),
        (false, 10, 13),
        (false, 100, 103),
        (true, 1, 3),
        (true, 10, 3),
        (true, 100, 3),
    ] {
        let sink = Sink::start(SinkConfig {
            chunking,
            ..SinkConfig::default()
        });
        let env = with_route(
            "debug_level = 1",
            &smarthost(&sink, "max_parallel_connections = 1"),
        );
        queue(&env, n, "bob@remote.example");
        env.ok(&["-qo", "isp"], b"");
        assert_eq!(sink.messages().len(), n, "{}", env.log());
        assert_eq!(sink.connections(), 1, "one connection for the batch");
        let debug = fs::read_to_string(env.path("log/debug.log")).unwrap();
        let line = debug
            .lines()
            .find(|l| l.contains("round trip(s)"))
            .expect("round trips logged");
        assert!(
            line.contains(&format!(": {want} round trip(s)")),
            "chunking={chunking} n={n}: {line}"
        );
        assert!(env.queued().is_empty());
    }
}

#[test]
fn direct_delivery_to_the_mx_from_dns() {
    let sink = Sink::start(SinkConfig::default());
    let dns = DnsServer::start(vec![
        Record::mx("remote.example", 10, "mx.remote.example"),
        Record::a("mx.remote.example", "127.0.0.1"),
        Record::null_mx("nomail.example"),
    ]);
    let env = with_route(
        &format!("dns_servers = \"{}\"", dns.addr()),
        &format!(
            "smtp_port = {}\nresolve_list = \"dns_mx\"\n",
            sink.addr.port()
        ),
    );
    env.ok(
        &["-odq", "-f", "jo", "bob@remote.example", "x@nomail.example"],
        b"Subject: direct\n\nx\n",
    );
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert_eq!(sink.messages()[0].rcpts, ["bob@remote.example"]);
    // null MX fails at once: a notice to jo
    env.ok(&["-q"], b"");
    assert!(env.mbox("jo").contains("x@nomail.example"), "{}", env.log());
    assert!(env.queued().is_empty(), "{}", env.log());
}

#[test]
fn connection_failure_defers_or_fails_with_connect_error_fail() {
    let port = daemon::free_port();
    let env = with_route("", &format!("mail_host = \"127.0.0.1:{port}\"\n"));
    queue(&env, 1, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(env.queued().len(), 1, "deferred");
    fs::write(
        env.path("isp.route"),
        format!("mail_host = \"127.0.0.1:{port}\"\nconnect_error_fail = true\n"),
    )
    .unwrap();
    env.ok(&["-qo", "isp"], b"");
    env.ok(&["-q"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    assert!(env.mbox("jo").contains("bob@remote.example"));
}

#[test]
fn wrapper_route_speaks_smtp_to_another_masqmail() {
    // the far side: another masqmail, reached through `-bs` as the wrapper
    let far = Env::new("");
    let env = with_route(
        "",
        &format!("wrapper = \"{BIN} -C {} -bs\"\n", far.conf.display()),
    );
    env.ok(
        &["-odq", "-f", "jo", "dave@elsewhere.example"],
        b"Subject: wrapped\n\nx\n",
    );
    env.ok(&["-qo", "isp"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let far_queue: String = far.queued().iter().map(|id| far.header_file(id)).collect();
    assert!(
        far_queue.contains("RT: <dave@elsewhere.example>"),
        "{far_queue}\n{}",
        env.log()
    );
    assert!(far_queue.contains("HD:Subject: wrapped"), "{far_queue}");
}

#[test]
fn pipe_route_runs_the_command_per_recipient() {
    let env = Env::new("");
    let out = env.path("piped");
    let script = env.script(
        "uucp",
        &format!(
            "#!/bin/sh\necho \"to=$1\" >> {0}\ncat >> {0}\n",
            out.display()
        ),
    );
    fs::write(
        env.path("isp.route"),
        format!(
            "pipe = \"{} ${{rcpt}}\"\npipe_fromline = true\n",
            script.display()
        ),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    env.ok(
        &["-odq", "-f", "jo", "a@remote.example", "b@remote.example"],
        b"Subject: piped\n\nx\n",
    );
    env.ok(&["-qo", "isp"], b"");
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("to=a@remote.example") && text.contains("to=b@remote.example"),
        "{text}"
    );
    assert!(
        text.contains("\nFrom jo@host.example.org "),
        "pipe_fromline: {text}"
    );
    assert!(!text.contains("Envelope-to:"), "{text}");
    assert!(env.queued().is_empty(), "{}", env.log());
}

/// STARTTLS verified against the test CA, then AUTH with the secret from
/// a command; and never credentials in clear.
#[test]
fn starttls_and_auth_through_a_route() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca::make(dir.path());
    let sink = Sink::start(SinkConfig {
        starttls: Some((ca.cert_pem.clone(), ca.key_pem.clone())),
        auth: Some(("jo".into(), "s3cret".into())),
        auth_required: true,
        ..SinkConfig::default()
    });
    let env = Env::new("");
    let secret = env.script("secret", "#!/bin/sh\necho s3cret\n");
    fs::write(
        env.path("isp.route"),
        format!(
            "mail_host = \"localhost:{}\"\ntls = \"starttls\"\ntls_ca_file = \"{}\"\nauth_login = \"jo\"\n\
             auth_secret_command = \"{}\"\nauth_name = \"cram-md5\"\n",
            sink.addr.port(),
            ca.ca_pem.display(),
            secret.display()
        ),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    queue(&env, 2, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 2, "{}", env.log());
    assert!(
        msgs.iter().all(|m| m.tls && m.auth.is_some()),
        "over TLS, authenticated"
    );
    assert!(env.queued().is_empty());

    // a certificate from another CA: nothing is sent, mail stays queued
    let other = ca::make(&env.path(""));
    let route = fs::read_to_string(env.path("isp.route")).unwrap().replace(
        &ca.ca_pem.display().to_string(),
        &other.ca_pem.display().to_string(),
    );
    fs::write(env.path("isp.route"), route).unwrap();
    queue(&env, 1, "carol@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(env.queued().len(), 1, "deferred, not bounced");
}

/// permanent_routes are used by every run, also plain -q and instant
/// delivery, before any online set.
#[test]
fn permanent_routes_work_without_a_connection() {
    let sink = Sink::start(SinkConfig::default());
    let env = Env::new("");
    fs::write(
        env.path("always.route"),
        smarthost(&sink, "allowed_recipients = \"*@partner.example\""),
    )
    .unwrap();
    env.add_conf(&format!(
        "permanent_routes = \"{}\"\n",
        env.path("always.route").display()
    ));
    env.ok(
        &["-f", "jo", "a@partner.example", "b@other.example"],
        b"Subject: perm\n\nx\n",
    );
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "{}", env.log());
    assert_eq!(
        msgs[0].rcpts,
        ["a@partner.example"],
        "the route's recipient filter"
    );
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains("RT: <b@other.example>"), "{h}");
}

/// The mservdetect helper (delivery.md §17), as a program.
#[test]
fn mservdetect_reports_the_connection() {
    use std::io::{Read, Write};
    let bin = env!("CARGO_BIN_EXE_mservdetect");
    for (status, online) in [
        ("UP dsl:1\n", true),
        ("UP dsl:-1\n", false),
        ("DOWN\n", false),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"READY\n").unwrap();
            let mut cmd = [0u8; 5];
            s.read_exact(&mut cmd).unwrap();
            s.write_all(status.as_bytes()).unwrap();
        });
        let out = std::process::Command::new(bin)
            .args(["127.0.0.1", &port.to_string()])
            .output()
            .unwrap();
        server.join().unwrap();
        assert_eq!(out.status.success(), online, "{status}");
        assert_eq!(stdout(&out), if online { "dsl\n" } else { "" }, "{status}");
    }
    let out = std::process::Command::new(bin).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("usage: "));
}

/// Mail received by the daemon while online goes out at once, from the
/// daemon's delivery thread.
#[test]
fn daemon_relays_at_once_when_online() {
    let sink = Sink::start(SinkConfig::default());
    let env = with_route("", &smarthost(&sink, ""));
    let query = env.script("online", "#!/bin/sh\necho isp\n");
    env.add_conf(&format!("online_query = \"{}\"\n", query.display()));
    let d = env.daemon(&[]);
    let mut c = smtp::Client::connect(d.addr).unwrap();
    assert_eq!(c.read_reply().unwrap().code, 220);
    assert_eq!(c.cmd("EHLO lan.example").unwrap().code, 250);
    let r = c
        .send_message(
            "jo@host.example.org",
            &["far@remote.example"],
            b"Subject: relay\r\n\r\nx\r\n",
        )
        .unwrap();
    assert_eq!(r.code, 250);
    let _ = c.cmd("QUIT");
    env.wait_for("the relay", || {
        sink.messages().len() == 1 && env.queued().is_empty()
    });
    assert_eq!(sink.messages()[0].rcpts, ["far@remote.example"]);
}

/// 0.2 local nets: recipients in `local_nets` go through `local_net_route`
/// in every run (not only when online).
#[test]
fn local_net_route_in_every_run() {
    let sink = Sink::start(SinkConfig::default());
    let env = Env::new("");
    fs::write(env.path("lan.route"), smarthost(&sink, "")).unwrap();
    env.add_conf(&format!(
        "local_nets = \"*.lan\"\nlocal_net_route = \"{}\"\n",
        env.path("lan.route").display()
    ));
    env.ok(
        &["-f", "jo", "pc@office.lan", "far@remote.example"],
        b"Subject: lan\n\nx\n",
    );
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "{}", env.log());
    assert_eq!(msgs[0].rcpts, ["pc@office.lan"]);
    let h = env.header_file(&env.queued()[0]);
    assert!(h.contains("RT: <far@remote.example>"), "{h}");
}

/// 0.2 `online_detect = mserver`: a masqdialer server says which link is up.
#[test]
fn online_detect_mserver_selects_the_route_set() {
    use std::io::{Read, Write};
    let sink = Sink::start(SinkConfig::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"READY\n");
            let mut cmd = [0u8; 5];
            let _ = s.read_exact(&mut cmd);
            let _ = s.write_all(b"UP isp:1\n");
        }
    });
    let env = with_route(
        &format!("online_detect = mserver\nmserver_iface = \"127.0.0.1:{port}\""),
        &smarthost(&sink, ""),
    );
    queue(&env, 1, "bob@remote.example");
    env.ok(&["-q"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert!(
        env.log().contains("detected online configuration `isp'"),
        "{}",
        env.log()
    );
}

/// An MX that answers 421 is skipped for the next one (RFC 5321 §5.1).
#[test]
fn a_busy_mx_is_skipped_for_the_next() {
    use std::io::Write;
    let sink = Sink::start(SinkConfig::default());
    let port = sink.addr.port();
    let Ok(busy) = std::net::TcpListener::bind(("127.0.0.2", port)) else {
        eprintln!("127.0.0.2 not usable here: skipping");
        return;
    };
    std::thread::spawn(move || {
        for mut s in busy.incoming().flatten() {
            let _ = s.write_all(b"421 busy, try later\r\n");
        }
    });
    let dns = DnsServer::start(vec![
        Record::mx("remote.example", 10, "busy.remote.example"),
        Record::mx("remote.example", 20, "backup.remote.example"),
        Record::a("busy.remote.example", "127.0.0.2"),
        Record::a("backup.remote.example", "127.0.0.1"),
    ]);
    let env = with_route(
        &format!("dns_servers = \"{}\"", dns.addr()),
        &format!("smtp_port = {port}\nresolve_list = \"dns_mx\"\n"),
    );
    queue(&env, 1, "bob@remote.example");
    env.ok(&["-qo", "isp"], b"");
    assert_eq!(sink.messages().len(), 1, "{}", env.log());
    assert!(env.queued().is_empty());
}
