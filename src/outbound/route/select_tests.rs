use std::path::{Path, PathBuf};

use super::*;
use crate::message::{Header, Protocol};

fn cfg() -> Config {
    Config::with_host_name("host.example.org")
}

fn route(text: &str) -> Route {
    Route::parse(text.as_bytes(), Path::new("r.route"), &cfg()).unwrap()
}

fn addr(s: &str) -> Address {
    crate::address::parse_path(s, crate::address::PipePolicy::Refuse).unwrap()
}

fn msg(rp: &str, from: Option<&str>) -> Message {
    Message {
        id: QueueId::parse("1xVrXk-3tM-00").unwrap(),
        return_path: addr(rp),
        rcpt_list: vec![addr("bob@remote.example")],
        top_done: Vec::new(),
        finished: Vec::new(),
        protocol: Protocol::Local,
        received_host: None,
        ident: None,
        data_size: 0,
        received_time: 0,
        warning_time: None,
        fetched_as: None,
        dsn: Default::default(),
        last_errors: Vec::new(),
        headers: from
            .map(|f| Header::new("From", f))
            .into_iter()
            .chain([Header::new("Subject", "x")])
            .collect(),
    }
}

#[test]
fn message_filters() {
    let carol = "allowed_senders = \"carol;*@*example.org;web*@example.com\"";
    for (conf, rp, from, want) in [
        ("", "a@b.example", None, true),
        ("", "<>", None, true),
        (carol, "carol@any.where", None, true),
        (carol, "Carol@any.where", None, false),
        (carol, "x@sub.EXAMPLE.org", None, true),
        (carol, "webmaster@example.com", None, true),
        (carol, "webmaster@example.co", None, false),
        (carol, "<>", None, false),
        // §18.3: `<>` matches the null sender, and nothing else.
        ("allowed_senders = \"<>\"", "<>", None, true),
        ("allowed_senders = \"<>\"", "a@b", None, false),
        ("denied_senders = \"<>\"", "<>", None, false),
        ("denied_senders = \"<>\"", "a@b", None, true),
        // deny wins over allow
        (
            "allowed_senders = \"*\"\ndenied_senders = \"*@spam.example\"",
            "x@SPAM.example",
            None,
            false,
        ),
        (
            "allowed_senders = \"*\"\ndenied_senders = \"*@spam.example\"",
            "x@ham.example",
            None,
            true,
        ),
        // 0.2 mail locals: exact, case-sensitive
        ("allowed_mail_locals = \"alice;bob\"", "alice@x", None, true),
        (
            "allowed_mail_locals = \"alice;bob\"",
            "Alice@x",
            None,
            false,
        ),
        ("allowed_mail_locals = \"alice;bob\"", "<>", None, false),
        ("not_allowed_mail_locals = \"root\"", "root@x", None, false),
        ("not_allowed_mail_locals = \"root\"", "rooty@x", None, true),
        // 0.2 return paths
        (
            "allowed_return_paths = \"<>;*@home.example\"",
            "<>",
            None,
            true,
        ),
        (
            "allowed_return_paths = \"<>;*@home.example\"",
            "a@HOME.example",
            None,
            true,
        ),
        (
            "allowed_return_paths = \"<>;*@home.example\"",
            "a@away.example",
            None,
            false,
        ),
        (
            "not_allowed_return_paths = \"<a@b.example>\"",
            "a@b.example",
            None,
            false,
        ),
        // From: header filter, unqualified From qualified with host_name
        (
            "allowed_from_hdrs = \"*@host.example.org\"",
            "x@y",
            Some("root"),
            true,
        ),
        (
            "allowed_from_hdrs = \"*@host.example.org\"",
            "x@y",
            Some("Root <root@other.example>"),
            false,
        ),
        (
            "allowed_from_hdrs = \"*@host.example.org\"",
            "x@y",
            None,
            true,
        ),
        (
            "allowed_from_hdrs = \"*@host.example.org\"",
            "x@y",
            Some("\"A, B\" <b@HOST.example.org>, c@d"),
            true,
        ),
        // first address only
        ("denied_from_hdrs = \"c@d\"", "x@y", Some("a@b, c@d"), true),
        (
            "denied_from_hdrs = \"a\"",
            "x@y",
            Some("(c) a@b, c@d"),
            false,
        ),
        // unparsable From: skips the route
        (
            "allowed_from_hdrs = \"*\"",
            "x@y",
            Some("undisclosed:;"),
            false,
        ),
        ("denied_from_hdrs = \"z\"", "x@y", Some("<<<"), false),
        // without From filters an unparsable From does not matter
        ("", "x@y", Some("<<<"), true),
    ] {
        let r = route(conf);
        assert_eq!(
            accepts_message(&r, &cfg(), &msg(rp, from)),
            want,
            "{conf:?} rp={rp} from={from:?}"
        );
    }
}

#[test]
fn recipient_filters() {
    for (conf, rcpt, want) in [
        ("", "a@b.example", true),
        (
            "allowed_recipients = \"*@lan.example;boss\"",
            "x@LAN.example",
            true,
        ),
        (
            "allowed_recipients = \"*@lan.example;boss\"",
            "boss@anywhere",
            true,
        ),
        (
            "allowed_recipients = \"*@lan.example;boss\"",
            "Boss@anywhere",
            false,
        ),
        (
            "allowed_recipients = \"*@lan.example;boss\"",
            "x@wan.example",
            false,
        ),
        ("allowed_recipients = \"<>\"", "x@wan.example", false),
        (
            "denied_recipients = \"*@*.lan.example\"",
            "x@a.lan.example",
            false,
        ),
        (
            "denied_recipients = \"*@*.lan.example\"",
            "x@lan.example",
            true,
        ),
        (
            "allowed_recipients = \"*\"\ndenied_recipients = \"x@*\"",
            "x@a",
            false,
        ),
        ("allowed_rcpt_domains = \"*.lan;lan\"", "x@A.LAN", true),
        ("allowed_rcpt_domains = \"*.lan;lan\"", "x@lan", true),
        ("allowed_rcpt_domains = \"*.lan;lan\"", "x@wan", false),
        (
            "not_allowed_rcpt_domains = \"wan*\"",
            "x@wan.example",
            false,
        ),
        ("not_allowed_rcpt_domains = \"wan*\"", "x@lan.example", true),
        (
            "allowed_rcpt_domains = \"*\"\nnot_allowed_rcpt_domains = \"*\"",
            "x@lan",
            false,
        ),
    ] {
        let r = route(conf);
        assert_eq!(accepts_rcpt(&r, &addr(rcpt)), want, "{conf:?} {rcpt}");
    }
}

fn rcpts(list: &[&str]) -> Vec<Address> {
    list.iter().map(|s| addr(s)).collect()
}

#[test]
fn claims_follow_the_route_steps() {
    let c = cfg();
    let lan = route("allowed_recipients = \"*@lan.example\"\nlast_route = true");
    let any = route("");
    let only_alice = route("allowed_senders = \"alice@*\"");
    let m = msg("bob@host.example.org", None);
    let all = rcpts(&["a@lan.example", "b@wan.example", "c@LAN.example"]);

    let mut claims = Claims::default();
    // A sender filter that fails skips the route: nothing claimed.
    assert!(claims.offer(&only_alice, &c, &m, &all).is_empty());
    let first = claims.offer(&lan, &c, &m, &all);
    assert_eq!(first, rcpts(&["a@lan.example", "c@LAN.example"]));
    assert!(claims.is_claimed(&m.id, &all[0]));
    // Even if the lan route deferred them, later routes do not see them.
    assert_eq!(claims.offer(&any, &c, &m, &all), rcpts(&["b@wan.example"]));
    // Without last_route, deferred recipients are offered again.
    assert_eq!(
        claims.offer(&any, &c, &m, &all[1..2]),
        rcpts(&["b@wan.example"])
    );
    // Claims are per message.
    let mut other = msg("bob@host.example.org", None);
    other.id = QueueId::parse("1xVrXk-3tN-00").unwrap();
    assert!(!claims.is_claimed(&other.id, &all[0]));
    assert_eq!(claims.offer(&any, &c, &other, &all), all);
    // No candidates, no route.
    assert!(claims.offer(&any, &c, &m, &[]).is_empty());
}

#[test]
fn run_route_files() {
    let mut c = cfg();
    c.permanent_routes = vec![PathBuf::from("/p1"), PathBuf::from("/p2")];
    c.query_routes = vec![
        ("isp".into(), vec![PathBuf::from("/isp1")]),
        (
            "work".into(),
            vec![PathBuf::from("/w1"), PathBuf::from("/w2")],
        ),
        ("isp".into(), vec![PathBuf::from("/second")]),
    ];
    let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
    for (name, want) in [
        (None, p(&["/p1", "/p2"])),
        (Some("isp"), p(&["/p1", "/p2", "/isp1"])),
        (Some("work"), p(&["/p1", "/p2", "/w1", "/w2"])),
        (Some("ISP"), p(&["/p1", "/p2"])),
        (Some("nope"), p(&["/p1", "/p2"])),
    ] {
        assert_eq!(route_files(&c, name), want, "{name:?}");
    }
}

#[test]
fn local_nets() {
    let mut c = cfg();
    c.local_nets = vec!["*.lan".into(), "intra.example".into()];
    for (rcpt, want) in [
        ("a@pc1.LAN", true),
        ("a@intra.example", true),
        ("a@sub.intra.example", false),
        ("a@lan", false),
        ("a", false),
    ] {
        assert_eq!(local_net_applies(&c, &addr(rcpt)), want, "{rcpt}");
    }
    let r = default_local_net_route(&c);
    assert_eq!(r.resolve_list, [Resolver::ByName]);
    assert!(r.connect_error_fail && r.mail_host.is_none() && r.pipe.is_none());
}

/// `-bt` names the option that made a route refuse: the first failing
/// filter, deny lists winning over allow lists.
#[test]
fn refusals_name_the_option() {
    let r = route("allowed_senders = \"*@example.org\"\ndenied_senders = \"x@*\"");
    assert_eq!(
        message_refusal(&r, &cfg(), &msg("a@other.example", None)),
        Some(Refusal::NotAllowed("allowed_senders"))
    );
    assert_eq!(
        message_refusal(&r, &cfg(), &msg("x@example.org", None)),
        Some(Refusal::Denied("denied_senders"))
    );
    assert_eq!(
        message_refusal(&r, &cfg(), &msg("a@example.org", None)),
        None
    );
    let r = route("denied_from_hdrs = \"*@spam.example\"");
    assert_eq!(
        message_refusal(
            &r,
            &cfg(),
            &msg("a@b.example", Some("Eve <e@spam.example>"))
        ),
        Some(Refusal::Denied("denied_from_hdrs"))
    );
    let r = route("allowed_rcpt_domains = \"example.net\"");
    assert_eq!(
        rcpt_refusal(&r, &addr("bob@remote.example")),
        Some(Refusal::NotAllowed("allowed_rcpt_domains"))
    );
    assert_eq!(
        Refusal::Denied("denied_recipients").to_string(),
        "listed in denied_recipients"
    );
}
