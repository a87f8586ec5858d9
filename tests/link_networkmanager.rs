//! `online_detect = networkmanager` (issue 10): a fake NetworkManager
//! served by the test on a private D-Bus bus; the daemon, pointed at it
//! by `DBUS_SYSTEM_BUS_ADDRESS`, flushes the queue through the route set
//! named by the primary connection's id when it changes, and through
//! `online_metered`'s set while the connection is metered. A queue run
//! outside the daemon reads the properties once.
//!
//! Needs `dbus-daemon` (CI installs it; elsewhere the tests say why they
//! skip).

#[path = "support/dbus.rs"]
mod dbus;
mod support;

use std::fs;

use dbus::{Bus, FakeNm, METERED_NO, METERED_YES};
use support::pop3::{Pop3Config, Pop3Server};
use support::sink::{Sink, SinkConfig};
use support::*;

fn unavailable() -> bool {
    let Err(why) = Bus::available() else {
        return false;
    };
    assert!(std::env::var_os("CI").is_none(), "CI must run this: {why}");
    eprintln!("SKIPPED (NetworkManager link detection): {why}");
    true
}

/// An env following NetworkManager: `home` and `mobile` (for metered
/// connections) each have a route set of their own sink.
fn env(home: &Sink, mobile: &Sink) -> Env {
    let env =
        Env::new("online_detect = networkmanager\nonline_metered = mobile\nonline_debounce = 1s\n");
    for (name, sink) in [("home", home), ("mobile", mobile)] {
        let route = env.path(&format!("{name}.route"));
        let host = format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port());
        fs::write(&route, host).unwrap();
        env.add_conf(&format!("query_routes.{name} = \"{}\"", route.display()));
    }
    env
}

fn queue(env: &Env, subject: &str) {
    let body = format!("From: jo\nSubject: {subject}\n\nhello\n");
    env.ok(&["-odq", "-f", "jo", "bob@remote.example"], body.as_bytes());
}

fn count(env: &Env, line_end: &str) -> usize {
    env.log().lines().filter(|l| l.ends_with(line_end)).count()
}

fn subjects(sink: &Sink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.text).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn switching_the_primary_connection_flushes_its_route_set_and_metered_maps() {
    if unavailable() {
        return;
    }
    let (home, mobile) = (
        Sink::start(SinkConfig::default()),
        Sink::start(SinkConfig::default()),
    );
    let env = env(&home, &mobile);
    let bus = Bus::start(env.dir.path());
    let nm = FakeNm::start(&bus, &["home", "Café"]);
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    queue(&env, "first");
    let d = env.start_daemon_with(&["-q1h"], port, |c| {
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    });
    env.wait_for("the link watcher", || {
        env.log().contains("watching links (NetworkManager)")
    });
    assert!(home.messages().is_empty(), "no primary connection: offline");

    nm.set_primary(1, METERED_NO);
    env.wait_for("the flush for home", || home.messages().len() == 1);
    env.wait_for("the queue to empty", || env.queued().is_empty());
    assert_eq!(subjects(&home), ["first"]);
    assert_eq!(count(&env, "link up: connection home (via home)"), 1);

    // A metered connection: the `mobile` route set, not its id's.
    queue(&env, "second");
    nm.set_primary(2, METERED_YES);
    env.wait_for("the flush for mobile", || mobile.messages().len() == 1);
    assert_eq!(subjects(&mobile), ["second"]);
    assert_eq!(count(&env, "link up: connection mobile (via Café)"), 1);

    nm.set_primary(0, METERED_NO);
    env.wait_for("link down", || count(&env, "link down") == 1);
    assert_eq!(count(&env, "flushing the queue for home"), 1);
    assert_eq!(count(&env, "flushing the queue for mobile"), 1);
    assert_eq!(home.messages().len(), 1, "nothing more for home");
    assert!(d.stop().success());
}

/// Outside the daemon (`-q`), one read of NetworkManager's properties.
#[test]
fn a_queue_run_asks_networkmanager_once() {
    if unavailable() {
        return;
    }
    let (home, mobile) = (
        Sink::start(SinkConfig::default()),
        Sink::start(SinkConfig::default()),
    );
    let env = env(&home, &mobile);
    let bus = Bus::start(env.dir.path());
    let nm = FakeNm::start(&bus, &["home"]);
    queue(&env, "by -q");
    let run_q = || {
        let mut c = env.cmd();
        c.arg("-q").env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
        let out = c.output().expect("masqmail -q");
        assert!(out.status.success(), "{}", env.log());
    };
    run_q();
    assert!(
        env.log().contains("not online (NetworkManager)."),
        "{}",
        env.log()
    );
    assert_eq!(env.queued().len(), 1);
    nm.set_primary(1, METERED_NO);
    run_q();
    assert!(env.queued().is_empty(), "{}", env.log());
    assert_eq!(subjects(&home), ["by -q"]);
}

/// A fetch daemon (`-go`, no `-q`) fetches the connection's
/// `online_gets` when it comes up, and does not flush the queue.
#[test]
fn a_fetch_daemon_fetches_the_gets_of_the_connection_that_came_up() {
    if unavailable() {
        return;
    }
    let srv = Pop3Server::start(Pop3Config {
        users: vec![("joe".into(), "secret".into())],
        messages: vec![b"From: far@far.example\nSubject: fetched\n\nhi\n".to_vec()],
        ..Default::default()
    });
    let (home, mobile) = (
        Sink::start(SinkConfig::default()),
        Sink::start(SinkConfig::default()),
    );
    let env = env(&home, &mobile);
    let get = env.path("isp.get");
    let text = format!(
        "server = 127.0.0.1\nport = {}\nuser = joe\npass = secret\naddress = joe\ntls = none\n",
        srv.port()
    );
    fs::write(&get, text).unwrap();
    env.add_conf(&format!(
        "get.isp = \"{}\"\nonline_gets.home = isp",
        get.display()
    ));
    let bus = Bus::start(env.dir.path());
    let nm = FakeNm::start(&bus, &["home"]);
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    queue(&env, "stays");
    let d = env.start_daemon_with(&["-go1h"], port, |c| {
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    });
    env.wait_for("the link watcher", || {
        env.log().contains("watching links (NetworkManager)")
    });
    assert_eq!(srv.connections(), 0, "offline at the start: no fetch");
    nm.set_primary(1, METERED_NO);
    env.wait_for("the fetched message", || {
        mbox_messages(&env.mbox("joe")).len() == 1
    });
    assert_eq!(srv.remaining(), 0);
    assert_eq!(count(&env, "link up: connection home (via home)"), 1);
    assert_eq!(count(&env, "flushing the queue for home"), 0);
    assert!(home.messages().is_empty(), "a fetch daemon does not flush");
    assert!(d.stop().success());
}
