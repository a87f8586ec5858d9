//! Tests of the main configuration loader: every option of the table,
//! defaults, each error kind with its exact `file:line`, lists, inclusion.

use std::path::Path;
use std::time::Duration;

use super::names::{MAIN, Ty};
use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text.as_bytes(), Path::new("m.conf")).map_err(|e| e.to_string())
}

fn ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// A valid value of each type, different from the defaults.
pub(super) fn sample(ty: Ty) -> &'static str {
    match ty {
        Ty::Bool => "yes",
        Ty::Number => "2525",
        Ty::Time => "7m",
        Ty::Str => "some-text",
        Ty::Path => "/some/path",
        Ty::HostName => "other.example",
        Ty::List => "a; b",
        Ty::Addr => "user@x.example",
        Ty::Addrs => "user@x.example; bob",
        Ty::Interface(_) => "host.example:99",
        Ty::Interfaces => "host.example:26; 127.0.0.1",
        Ty::Command => "/bin/echo 'a b' $rcpt",
        Ty::Choice(c) => c[c.len() - 1],
        Ty::Times => "1h;2h",
        Ty::Cidrs => "10.1.0.0/16; 192.0.2.7",
        Ty::SocketAddrs => "127.0.0.1:5353; ::1",
        Ty::Resolvers => "byname",
        Ty::AddrGlobs => "*@x.example; <>",
        Ty::Rewrite => "*: *@x.example",
        Ty::InterfaceMap => "wlan0:home; *:other",
        Ty::Ignored => "whatever",
    }
}

#[test]
fn every_main_option_parses_and_sets_something() {
    let base = format!("{:?}", ok("host_name = h.example"));
    for opt in MAIN {
        let key = if opt.named {
            format!("{}.conn", opt.name)
        } else {
            opt.name.to_string()
        };
        // Booleans: one of the two values differs from the default.
        let values: &[&str] = if opt.ty == Ty::Bool {
            &["yes", "no"]
        } else {
            &[sample(opt.ty)]
        };
        let changed = values.iter().any(|v| {
            let cfg = ok(&format!("host_name = h.example\n{key} = \"{v}\"\n"));
            format!("{cfg:?}") != base
        });
        assert!(changed, "{key} changed nothing");
    }
}

#[test]
fn defaults() {
    let c = ok("host_name = mx.example.org");
    assert_eq!(c.host_name, "mx.example.org");
    assert_eq!(c.local_hosts, ["localhost", "mx", "mx.example.org"]);
    assert_eq!(c.file, Path::new("m.conf"));
    assert_eq!(c.log_dir.as_deref(), Some(Path::new("/var/log/masqmail")));
    assert_eq!(
        c.listen_addresses,
        [Interface {
            host: "localhost".into(),
            port: 25
        }]
    );
    assert!(c.do_relay && !c.do_queue && !c.run_as_user);
    assert_eq!(c.max_defer_time, Duration::from_secs(4 * 86400));
    assert_eq!(c.warn_intervals.len(), 6);
    assert_eq!(c.mbox_default, LocalMethod::Mbox);
    assert_eq!(c.remote_port, 25);
    assert!(
        c.relay_nets
            .iter()
            .any(|n| n.contains(&"192.168.1.1".parse::<std::net::IpAddr>().unwrap()))
    );
    assert_eq!(
        ok("host_name = single").local_hosts,
        ["localhost", "single"]
    );
}

#[test]
fn values() {
    let c = ok(concat!(
        "local_addresses = \"bob; carol@other.example\"\n",
        "log_user = watcher\n",
        "local_hosts = \"a.example; *.b.example\"\n",
        "host_name = late.example\n",
        "log_dir = \"\"\n",
        "errmsg_file = /t/fail.tpl\n",
        "mda = \"/usr/bin/procmail -a 'x y' -d ${rcpt_local}\"\n",
        "dns_servers = \"127.0.0.1; [::1]:5353; ::1; 192.0.2.1:54\"\n",
        "listen_addresses = \"0.0.0.0:2525; [::1]:26; localhost\"\n",
        "mserver_iface = dialer\n",
        "mbox_default = MDA\n",
        "query_routes.isp = \"/r/a; /r/b\"\n",
        "online_routes.isp = /r/ignored\n",
        "connect_route.other = /r/c\n",
        "alias_local_caseless = on\n",
        "warn_intervals = \"30m; 1d\"\n",
        "online_detect = pipe\n",
        "get.pop = /g/pop\n",
        "online_gets.isp = \"pop; /g/x\"\n",
    ));
    assert_eq!(
        c.local_addresses,
        [
            Address::new("bob", "late.example"),
            Address::new("carol", "other.example")
        ]
    );
    assert_eq!(c.log_user, Some(Address::new("watcher", "late.example")));
    assert_eq!(c.local_hosts, ["a.example", "*.b.example"]);
    assert_eq!(c.log_dir, None);
    assert_eq!(c.errmsg_file.as_deref(), Some(Path::new("/t/fail.tpl")));
    let mda = c.mda.unwrap();
    assert_eq!(
        mda.words,
        ["/usr/bin/procmail", "-a", "x y", "-d", "${rcpt_local}"]
    );
    assert_eq!(mda.text, "/usr/bin/procmail -a 'x y' -d ${rcpt_local}");
    let dns: Vec<String> = c.dns_servers.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        dns,
        ["127.0.0.1:53", "[::1]:5353", "[::1]:53", "192.0.2.1:54"]
    );
    let ifs: Vec<(&str, u16)> = c
        .listen_addresses
        .iter()
        .map(|i| (i.host.as_str(), i.port))
        .collect();
    assert_eq!(ifs, [("0.0.0.0", 2525), ("::1", 26), ("localhost", 25)]);
    assert_eq!(
        c.mserver_iface,
        Some(Interface {
            host: "dialer".into(),
            port: 224
        })
    );
    assert_eq!(c.mbox_default, LocalMethod::Mda);
    let qr: Vec<(&str, usize)> = c
        .query_routes
        .iter()
        .map(|(n, l)| (n.as_str(), l.len()))
        .collect();
    assert_eq!(
        qr,
        [("isp", 2), ("other", 1)],
        "first definition of a NAME wins"
    );
    assert!(c.caseless_matching);
    assert_eq!(
        c.warn_intervals,
        [Duration::from_secs(1800), Duration::from_secs(86400)]
    );
    assert_eq!(c.online_detect, Some(OnlineDetect::Pipe));
    assert_eq!(c.gets, [("pop".to_string(), "/g/pop".into())]);
    assert_eq!(
        c.online_gets,
        [(
            "isp".to_string(),
            vec!["pop".to_string(), "/g/x".to_string()]
        )]
    );
}

#[test]
fn lexical_rules_through_the_loader() {
    let c = ok(
        "host_name = h.example junk after\ndo_queue = true # note\nmbox_users = \"a;\n  b ;\n\n;c\"\n",
    );
    assert_eq!(c.host_name, "h.example");
    assert!(c.do_queue);
    assert_eq!(c.mbox_users, ["a", "b", "c"]);
    for (v, want) in [
        ("Yes", true),
        ("ON", true),
        ("trueish", true),
        ("off", false),
        ("No", false),
        ("FALSE", false),
    ] {
        assert_eq!(
            ok(&format!("host_name = h\ndo_queue = {v}")).do_queue,
            want,
            "{v}"
        );
    }
}

/// R26: unterminated quote, unknown option, garbage: file:line: what.
#[test]
fn errors_with_file_and_line() {
    for (text, want) in [
        (
            "do_queue = yes\n",
            "m.conf: missing required option `host_name`",
        ),
        (
            "host_name = h\nmail_dri = /x\n",
            "m.conf:2: unknown option `mail_dri` (did you mean `mail_dir`?)",
        ),
        (
            "host_name = h\nfrobnicate = 1\n",
            "m.conf:2: unknown option `frobnicate`",
        ),
        (
            "host_name = h\n\ndo_queue = 1\n",
            "m.conf:3: `do_queue`: cannot parse value '1' as a boolean (yes/no, on/off, true/false)",
        ),
        (
            "host_name = h\ndo_queue =\n",
            "m.conf:2: `do_queue`: cannot parse value '' as a boolean (yes/no, on/off, true/false)",
        ),
        (
            "host_name = h\nmax_msg_size = 10k\n",
            "m.conf:2: `max_msg_size`: '10k' is not a valid number",
        ),
        (
            "host_name = h\nremote_port = 70000\n",
            "m.conf:2: `remote_port`: '70000' is not a valid number",
        ),
        (
            "host_name = h\nmax_defer_time = 4\n",
            "m.conf:2: `max_defer_time`: '4' is not a valid time interval (like 30m, 4h, 2d, 1w)",
        ),
        (
            "host_name = h\nwarn_intervals = \"1h;x\"\n",
            "m.conf:2: `warn_intervals`: 'x' is not a valid time interval (like 30m, 4h, 2d, 1w)",
        ),
        (
            "host_name = h\nlocal_addresses = a@b@c\n",
            "m.conf:2: invalid address 'a@b@c' in `local_addresses`: excess characters at end of string",
        ),
        (
            "host_name = h\nlog_user = \"|/bin/sh\"\n",
            "m.conf:2: invalid address '|/bin/sh' in `log_user`: no pipe addresses allowed here",
        ),
        (
            "host_name = h\nmda = procmail\n",
            "m.conf:2: `mda`: bad command 'procmail': program 'procmail' must be an absolute path",
        ),
        (
            "host_name = h\nmda = \"/bin/x 'open\"\n",
            "m.conf:2: `mda`: bad command '/bin/x 'open': unterminated single quote",
        ),
        (
            "host_name = h\nonline_query = \"/bin/x > /tmp/f\"\n",
            "m.conf:2: `online_query`: bad command '/bin/x > /tmp/f': shell operator '>' is not supported (no shell is run)",
        ),
        (
            "host_name = h\nlisten_addresses = h:abc\n",
            "m.conf:2: `listen_addresses`: bad interface 'h:abc': port must be a number from 1 to 65535",
        ),
        (
            "host_name = h\nlisten_addresses = :25\n",
            "m.conf:2: `listen_addresses`: bad interface ':25': empty host",
        ),
        (
            "host_name = h\nrelay_nets = 10.0.0.0/33\n",
            "m.conf:2: `relay_nets`: '10.0.0.0/33' is not a network in CIDR notation (like 192.168.0.0/16)",
        ),
        (
            "host_name = h\ndns_servers = ns.example\n",
            "m.conf:2: `dns_servers`: 'ns.example' is not an IP address with optional port",
        ),
        (
            "host_name = h\nmbox_default = maildrop\n",
            "m.conf:2: `mbox_default`: 'maildrop' must be one of mbox, mda, maildir",
        ),
        (
            "host_name = h\nquery_routes = /r\n",
            "m.conf:2: `query_routes` needs a name after the dot (`query_routes.NAME`)",
        ),
        (
            "host_name = \"a b\"\n",
            "m.conf:1: `host_name`: bad host name 'a b'",
        ),
        (
            "host_name = \"h\r\nBcc: x\"\n",
            "m.conf:1: `host_name`: bad host name 'h\nBcc: x'",
        ),
        (
            "host_name = h\nspool_dir = \"\"\n",
            "m.conf:2: `spool_dir`: empty path",
        ),
        (
            "host_name = h\nlog_dir = \"/x\n",
            "m.conf:2: unterminated quoted value of `log_dir`",
        ),
        (
            "host_name = h\nlog_dir /x\n",
            "m.conf:2: '=' expected after `log_dir`",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), want, "{text:?}");
    }
}

#[test]
fn include_files() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "# users\n  alice  \n\nbob\r\n#x\ncarol;dave\n").unwrap();
    let c = ok(&format!(
        "host_name = h\nmbox_users = \"zed; {}\"",
        users.display()
    ));
    assert_eq!(c.mbox_users, ["zed", "alice", "bob", "carol;dave"]);
    let missing = dir.path().join("nope");
    let e = parse(&format!(
        "host_name = h\n\nmda_users = {}\n",
        missing.display()
    ))
    .unwrap_err();
    let want = format!(
        "m.conf:3: could not open {} for reading (in `mda_users`): ",
        missing.display()
    );
    assert!(e.starts_with(&want), "{e}");
    // Lists without "incl" keep a `/` item as it is.
    let c = ok(&format!(
        "host_name = h\npermanent_routes = {}",
        missing.display()
    ));
    assert_eq!(c.permanent_routes, [missing]);
}

/// R26: a file including itself.
#[test]
fn a_file_including_itself_does_not_loop() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("masqmail.conf");
    let text = format!("host_name = h.example\nmbox_users = {}\n", conf.display());
    std::fs::write(&conf, &text).unwrap();
    let c = Config::load(&conf).unwrap();
    assert_eq!(c.mbox_users, text.lines().collect::<Vec<_>>());
    // As addresses, the lines are invalid: an error, still no loop.
    std::fs::write(
        &conf,
        format!(
            "host_name = h.example\nlocal_addresses = {}\n",
            conf.display()
        ),
    )
    .unwrap();
    let e = Config::load(&conf).unwrap_err().to_string();
    assert!(
        e.contains(":2: invalid address 'host_name = h.example' in `local_addresses`"),
        "{e}"
    );
}

#[test]
fn host_name_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mailname");
    std::fs::write(&f, "  mx.example.org  \nsecond line\n").unwrap();
    let c = ok(&format!(
        "host_name = {}\nlocal_addresses = bob",
        f.display()
    ));
    assert_eq!(c.host_name, "mx.example.org");
    assert_eq!(c.local_hosts, ["localhost", "mx", "mx.example.org"]);
    assert_eq!(c.local_addresses, [Address::new("bob", "mx.example.org")]);
    std::fs::write(&f, "\n").unwrap();
    let e = parse(&format!("host_name = {}", f.display())).unwrap_err();
    assert_eq!(e, "m.conf:1: `host_name`: bad host name ''");
    let e = parse(&format!("host_name = {}/missing", dir.path().display())).unwrap_err();
    assert!(e.starts_with("m.conf:1: could not open "), "{e}");
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.conf");
    let e = Config::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{e}"
    );
    let e = Config::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read the file: ", dir.path().display())),
        "{e}"
    );
}

#[test]
fn include_of_an_endless_file_is_refused() {
    let e = parse("host_name = h\nmbox_users = /dev/zero\n").unwrap_err();
    assert_eq!(
        e,
        "m.conf:2: included file /dev/zero (in `mbox_users`): file too large"
    );
}

/// Link detection (issue 10): methods, the interface map, metered, the
/// debounce; a bad map entry or method is a `file:line:` error.
#[test]
fn link_detection_options() {
    let c = ok(concat!(
        "host_name = h\n",
        "online_detect = NetLink\n",
        "online_interfaces = \"wlan0:home; ppp* : mobile;*:other\"\n",
        "online_metered = mobile\n",
        "online_debounce = 2s\n",
    ));
    assert_eq!(c.online_detect, Some(OnlineDetect::Netlink));
    let map: Vec<(&str, &str)> = c
        .online_interfaces
        .iter()
        .map(|(g, n)| (g.as_str(), n.as_str()))
        .collect();
    assert_eq!(map, [("wlan0", "home"), ("ppp*", "mobile"), ("*", "other")]);
    assert_eq!(c.online_metered.as_deref(), Some("mobile"));
    assert_eq!(c.online_debounce, Duration::from_secs(2));
    let d = ok("host_name = h\nonline_detect = networkmanager\n");
    assert_eq!(d.online_detect, Some(OnlineDetect::NetworkManager));
    assert_eq!(d.online_debounce, Duration::from_secs(5), "default");
    assert!(d.online_interfaces.is_empty() && d.online_metered.is_none());
    for (text, want) in [
        (
            "host_name = h\nonline_interfaces = \"wlan0:home; eth0\"\n",
            "m.conf:2: `online_interfaces`: 'eth0' is not `INTERFACE:NAME` (like `wlan0:home` or `ppp*:mobile`)",
        ),
        (
            "host_name = h\n\nonline_interfaces = \":home\"\n",
            "m.conf:3: `online_interfaces`: ':home' is not `INTERFACE:NAME` (like `wlan0:home` or `ppp*:mobile`)",
        ),
        (
            "host_name = h\nonline_debounce = 5\n",
            "m.conf:2: `online_debounce`: '5' is not a valid time interval (like 30m, 4h, 2d, 1w)",
        ),
    ] {
        let e = Config::parse(text.as_bytes(), Path::new("m.conf")).expect_err(text);
        assert_eq!(e.to_string(), want);
    }
    let e = Config::parse(
        b"host_name = h\nonline_detect = wifi\n",
        Path::new("m.conf"),
    )
    .expect_err("bad method");
    assert!(
        e.to_string()
            .starts_with("m.conf:2: `online_detect`: 'wifi' must be one of"),
        "{e}"
    );
}

/// Issue 11: `relay_nets.NAME` beside the plain `relay_nets`, the SMTP
/// AUTH file and the implicit-TLS listeners (port 465 by default).
#[test]
fn relay_nets_per_connection_and_auth() {
    let c = ok(concat!(
        "host_name = h.example\n",
        "relay_nets = 10.0.0.0/8\n",
        "relay_nets.home = \"192.168.1.0/24; fd00::/8\"\n",
        "relay_nets.home = 10.9.0.0/16\n",
        "relay_nets.office = 172.16.0.0/12\n",
        "smtp_auth_file = /etc/masqmail/passwd\n",
        "tls_listen_addresses = \"localhost; 0.0.0.0:4650\"\n",
    ));
    assert_eq!(
        c.relay_nets,
        ["10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()]
    );
    let named: Vec<(&str, usize)> = c
        .relay_nets_by_connection
        .iter()
        .map(|(n, l)| (n.as_str(), l.len()))
        .collect();
    assert_eq!(named, [("home", 2), ("office", 1)], "first definition wins");
    assert_eq!(
        c.smtp_auth_file.as_deref(),
        Some(Path::new("/etc/masqmail/passwd"))
    );
    let tls: Vec<(&str, u16)> = c
        .tls_listen_addresses
        .iter()
        .map(|i| (i.host.as_str(), i.port))
        .collect();
    assert_eq!(tls, [("localhost", 465), ("0.0.0.0", 4650)]);
    assert_eq!(
        parse("host_name = h\nrelay_nets.home = 10.0.0.0/33\n").unwrap_err(),
        "m.conf:2: `relay_nets.home`: '10.0.0.0/33' is not a network in CIDR notation (like 192.168.0.0/16)"
    );
}

/// `.forward` files are on unless turned off; a bad value names file:line.
#[test]
fn forward_files_option() {
    assert!(ok("host_name = h.example").forward_files);
    assert!(!ok("host_name = h.example\nforward_files = false\n").forward_files);
    assert_eq!(
        parse("host_name = h.example\nforward_files = maybe\n").err(),
        Some(
            "m.conf:2: `forward_files`: cannot parse value 'maybe' as a boolean (yes/no, on/off, true/false)"
                .to_string()
        )
    );
}
