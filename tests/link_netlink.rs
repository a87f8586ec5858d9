//! `online_detect = netlink` (issue 10): in a network namespace of the
//! test, with the smarthost (the harness sink) inside it too, a default
//! route appearing makes the daemon flush the queue once through the
//! route set its interface maps to; a flapping route within the debounce
//! window gives one flush; the route going away is `link down`. A queue
//! run outside the daemon asks the routing table once.
//!
//! Needs root and iproute2 (CI has both; elsewhere the tests say why they
//! skip).

mod support;
use std::fs;
use std::process::Command;

use support::netns::NetNs;
use support::sink::{Sink, SinkConfig};
use support::*;

/// Not root or no `ip`: skipped with a line saying so, except in CI,
/// which must run these.
fn unavailable() -> bool {
    let Err(why) = NetNs::available() else {
        return false;
    };
    assert!(std::env::var_os("CI").is_none(), "CI must run this: {why}");
    eprintln!("SKIPPED (netlink link detection): {why}");
    true
}

/// A namespace with a veth pair `wl0`/`wl0p`, both up, no default route,
/// and the sink listening inside it.
fn network() -> (NetNs, Sink) {
    let ns = NetNs::new();
    ns.ip(&["link", "add", "wl0", "type", "veth", "peer", "name", "wl0p"]);
    ns.ip(&["link", "set", "wl0p", "up"]);
    ns.ip(&["link", "set", "wl0", "up"]);
    let sink = ns.run_in(|| Sink::start(SinkConfig::default()));
    (ns, sink)
}

/// An env detecting links by netlink: `wl*` is `home`, whose route set
/// is the sink; anything else is `other`, which has no routes.
fn env(sink: &Sink) -> Env {
    let env = Env::new(
        "online_detect = netlink\nonline_interfaces = \"wl*:home; *:other\"\nonline_debounce = 2s\n",
    );
    let route = env.path("home.route");
    fs::write(
        &route,
        format!("mail_host = \"127.0.0.1:{}\"\n", sink.addr.port()),
    )
    .unwrap();
    env.add_conf(&format!("query_routes.home = \"{}\"", route.display()));
    env
}

fn queue(env: &Env, subject: &str) {
    let body = format!("From: jo\nSubject: {subject}\n\nhello\n");
    env.ok(&["-odq", "-f", "jo", "bob@remote.example"], body.as_bytes());
}

fn count(env: &Env, line_end: &str) -> usize {
    env.log().lines().filter(|l| l.ends_with(line_end)).count()
}

#[test]
fn link_up_flushes_once_through_the_mapped_route_and_flapping_gives_one_flush() {
    if unavailable() {
        return;
    }
    let (ns, sink) = network();
    let env = env(&sink);
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    queue(&env, "first");
    let d = env.start_daemon_with(&["-q1h"], port, |c| ns.enter(c));
    env.wait_for("the link watcher", || {
        env.log().contains("watching links (netlink)")
    });
    assert!(sink.messages().is_empty(), "offline: nothing sent");

    ns.ip(&["route", "add", "default", "dev", "wl0"]);
    env.wait_for("the flush", || sink.messages().len() == 1);
    env.wait_for("the queue to empty", || env.queued().is_empty());
    assert_eq!(count(&env, "link up: connection home (via wl0)"), 1);
    assert_eq!(count(&env, "flushing the queue for home"), 1);
    assert_eq!(sink.messages()[0].rcpts, ["bob@remote.example"]);

    ns.ip(&["route", "del", "default", "dev", "wl0"]);
    env.wait_for("link down", || count(&env, "link down") == 1);

    // Up, down, up within the debounce window: one flush.
    queue(&env, "second");
    ns.ip(&["route", "add", "default", "dev", "wl0"]);
    ns.ip(&["route", "del", "default", "dev", "wl0"]);
    ns.ip(&["route", "add", "default", "dev", "wl0"]);
    env.wait_for("the second flush", || sink.messages().len() == 2);
    // The link task works in order: once this `link down` is logged, any
    // flush the flapping caused has been logged before it.
    ns.ip(&["route", "del", "default", "dev", "wl0"]);
    env.wait_for("link down again", || count(&env, "link down") == 2);
    assert_eq!(
        count(&env, "flushing the queue for home"),
        2,
        "one flush per settled link-up\n{}",
        env.log()
    );
    assert_eq!(count(&env, "link up: connection home (via wl0)"), 2);
    assert!(d.stop().success());
}

/// A default route through an interface the map sends elsewhere: the
/// flush is for that name, and nothing goes to the `home` sink.
#[test]
fn an_interface_mapped_to_another_name_flushes_that_set() {
    if unavailable() {
        return;
    }
    let (ns, sink) = network();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);
    ns.ip(&["link", "set", "eth0p", "up"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    let env = env(&sink);
    let port = daemon::free_port();
    env.add_conf(&format!("listen_addresses = \"127.0.0.1:{port}\""));
    queue(&env, "stays");
    let d = env.start_daemon_with(&["-q1h"], port, |c| ns.enter(c));
    env.wait_for("the link watcher", || {
        env.log().contains("watching links (netlink)")
    });
    ns.ip(&["route", "add", "default", "dev", "eth0"]);
    env.wait_for("the flush for other", || {
        count(&env, "Finished online queue run.") == 1
    });
    assert_eq!(count(&env, "link up: connection other (via eth0)"), 1);
    assert_eq!(count(&env, "flushing the queue for other"), 1);
    assert!(sink.messages().is_empty(), "`other` has no routes");
    assert_eq!(env.queued().len(), 1);
    assert!(d.stop().success());
}

/// Outside the daemon (`-q`), the connection name comes from one read of
/// the routing table.
#[test]
fn a_queue_run_asks_the_routing_table_once() {
    if unavailable() {
        return;
    }
    let (ns, sink) = network();
    let env = env(&sink);
    queue(&env, "by -q");
    let run_q = || {
        let mut c: Command = env.cmd();
        c.arg("-q");
        ns.enter(&mut c);
        let out = c.output().expect("masqmail -q");
        assert!(out.status.success(), "{}", env.log());
    };
    run_q();
    assert!(env.log().contains("not online (netlink)."), "{}", env.log());
    assert_eq!(env.queued().len(), 1);
    ns.ip(&["route", "add", "default", "dev", "wl0"]);
    run_q();
    assert!(env.queued().is_empty(), "{}", env.log());
    assert_eq!(sink.messages().len(), 1);
}
