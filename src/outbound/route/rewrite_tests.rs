use std::path::Path;

use super::*;
use crate::config::RewriteRule;
use crate::message::{Protocol, QueueId};

fn cfg() -> Config {
    Config::with_host_name("host.example.org")
}

fn route(text: &str) -> Route {
    Route::parse(text.as_bytes(), Path::new("r.route"), &cfg()).unwrap()
}

fn addr(s: &str) -> Address {
    parse_path(s, PipePolicy::Refuse).unwrap()
}

fn raw(h: &[u8]) -> Header {
    Header { raw: h.to_vec() }
}

fn msg(rp: &str, headers: &[&[u8]]) -> Message {
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
        headers: headers.iter().map(|h| raw(h)).collect(),
    }
}

const EXAMPLE: &str = concat!(
    "map_return_path_addresses = \"root: rootpub@public.example; *: *@public.example\"\n",
    "map_h_from_addresses      = \"root: Root User <rootpub@public.example>\"\n",
    "map_outgoing_addresses    = \"dave: *@dave.example\"\n",
);

/// delivery.md §11.2, byte for byte.
#[test]
fn worked_example() {
    let r = route(EXAMPLE);
    for (rp, want) in [
        ("root@host.example.org", "rootpub@public.example"),
        ("eve@host.example.org", "eve@public.example"),
        ("x@elsewhere.example", "x@elsewhere.example"),
    ] {
        assert_eq!(rewrite(&r, &cfg(), &msg(rp, &[])).return_path, addr(want));
    }
    let headers: [(&[u8], &[u8]); 8] = [
        (
            b"From: root@host.example.org\n",
            b"From: Root User <rootpub@public.example>\n",
        ),
        (
            b"From: Someone <root@host.example.org>\n",
            b"From: Someone <rootpub@public.example>\n",
        ),
        (
            b"From: root (comment), dave\n",
            b"From: Root User <rootpub@public.example>, dave@dave.example\n",
        ),
        (
            b"Reply-To: \"Q\" <dave>, other@x.example,\n  root@localhost\n",
            b"Reply-To: \"Q\" <dave@dave.example>, other@x.example,\n  root@localhost\n",
        ),
        (
            b"Mail-Followup-To: dave@host, eve\n",
            b"Mail-Followup-To: dave@dave.example, eve\n",
        ),
        (b"Sender: root (the admin)\n", b"Sender: root (the admin)\n"),
        (b"To: dave, root\n", b"To: dave, root\n"),
        (b"Subject: root dave\n", b"Subject: root dave\n"),
    ];
    let input: Vec<&[u8]> = headers.iter().map(|h| h.0).collect();
    let out = rewrite(&r, &cfg(), &msg("root@host.example.org", &input));
    assert_eq!(out.headers.len(), headers.len());
    for (got, (orig, want)) in out.headers.iter().zip(headers) {
        assert_eq!(
            String::from_utf8_lossy(&got.raw),
            String::from_utf8_lossy(want),
            "{}",
            String::from_utf8_lossy(orig)
        );
    }
}

/// (route, return path, header in, header out)
fn check(cases: &[(&str, &str, &[u8], &[u8])]) {
    for &(conf, rp, input, want) in cases {
        let out = rewrite(&route(conf), &cfg(), &msg(rp, &[input]));
        assert_eq!(
            String::from_utf8_lossy(&out.headers[0].raw),
            String::from_utf8_lossy(want),
            "{conf:?} {}",
            String::from_utf8_lossy(input)
        );
    }
}

const DOM: &str = "map_h_from_addresses = \"*: *@out.example\"";
const FULL: &str = "map_h_from_addresses = \"root: Root User <rootpub@public.example>\"";

#[test]
fn header_cases() {
    check(&[
        // domain-only replacement keeps everything around the domain
        (DOM, "a@b", b"From: joe@host.example.org (Joe)\n", b"From: joe@out.example (Joe)\n"),
        (DOM, "a@b", b"From: joe\n", b"From: joe@out.example\n"),
        (DOM, "a@b", b"From: Joe <joe@LOCALHOST>\n", b"From: Joe <joe@out.example>\n"),
        (DOM, "a@b", b"From: \"j o e\"@host\n", b"From: \"j o e\"@out.example\n"),
        (DOM, "a@b", b"From: joe@elsewhere.example\n", b"From: joe@elsewhere.example\n"),
        // comments inside the addr-spec: the addr-spec is written anew
        (DOM, "a@b", b"From: joe (x) @ host\n", b"From: joe@out.example\n"),
        // quoted display names with commas and `<`, comments with `<`
        (FULL, "a@b", b"From: \"Smith, <John>\" <root@host>\n", b"From: \"Smith, <John>\" <rootpub@public.example>\n"),
        (FULL, "a@b", b"From: root (see <here>) , x@y.example\n", b"From: Root User <rootpub@public.example>, x@y.example\n"),
        // the blanks after a replaced bare mailbox go with it (masqmail)
        (FULL, "a@b", b"From: root , list@x.example\n", b"From: Root User <rootpub@public.example>, list@x.example\n"),
        (FULL, "a@b", b"From: root \t\n", b"From: Root User <rootpub@public.example>\n"),
        (FULL, "a@b", b"From: (c) root@host\n", b"From: (c) rootpub@public.example\n"),
        (FULL, "a@b", b"From: rooty, root\n", b"From: rooty, Root User <rootpub@public.example>\n"),
        // folding with tabs and several lines is kept
        (
            FULL,
            "a@b",
            b"From: x@y.example,\n\troot@host.example.org\n\t(admin),\n root\n",
            b"From: x@y.example,\n\tRoot User <rootpub@public.example>,\n Root User <rootpub@public.example>\n",
        ),
        // groups and partial parses leave the header alone
        (DOM, "a@b", b"From: undisclosed-recipients:;\n", b"From: undisclosed-recipients:;\n"),
        (DOM, "a@b", b"From: joe, friends: a@b;\n", b"From: joe, friends: a@b;\n"),
        (DOM, "a@b", b"From: joe <\n", b"From: joe <\n"),
        (DOM, "a@b", b"From:\n", b"From:\n"),
        (DOM, "a@b", b"From: (only a comment)\n", b"From: (only a comment)\n"),
        // 8-bit display names are kept; 8-bit addresses stop the parse
        (FULL, "a@b", b"From: \xe9t\xe9 <root@host>\n", b"From: \xe9t\xe9 <rootpub@public.example>\n"),
        (DOM, "a@b", b"From: r\xe9ot@host\n", b"From: r\xe9ot@host\n"),
        // exact names, any case (§18.10)
        (DOM, "a@b", b"FROM: joe\n", b"FROM: joe@out.example\n"),
        (DOM, "a@b", b"From-X: joe\n", b"From-X: joe\n"),
        (
            "map_h_reply_to_addresses = \"*: *@out.example\"",
            "a@b",
            b"Re: joe\n",
            b"Re: joe\n",
        ),
        // map_outgoing_addresses is the fallback for every header map
        ("map_outgoing_addresses = \"*: *@o.example\"", "a@b", b"Sender: x\n", b"Sender: x@o.example\n"),
        ("map_outgoing_addresses = \"*: *@o.example\"", "a@b", b"Reply-To: x\n", b"Reply-To: x@o.example\n"),
        ("map_outgoing_addresses = \"*: *@o.example\"", "a@b", b"Mail-Followup-To: x\n", b"Mail-Followup-To: x@o.example\n"),
        ("map_outgoing_addresses = \"*: *@o.example\"", "a@b", b"To: x\n", b"To: x\n"),
        ("map_outgoing_addresses = \"*: *@o.example\"", "a@b", b"Cc: x\n", b"Cc: x\n"),
        (
            "map_h_sender_addresses = \"x: X <x@s.example>\"\nmap_outgoing_addresses = \"*: *@o.example\"",
            "a@b",
            b"Sender: x, y\n",
            b"Sender: X <x@s.example>, y@o.example\n",
        ),
        (
            "map_h_mail_followup_to_addresses = \"x: *@m.example\"",
            "a@b",
            b"Mail-Followup-To: x@host, y@host\n",
            b"Mail-Followup-To: x@m.example, y@host\n",
        ),
    ]);
}

#[test]
fn old_options() {
    let sfd = "set_h_from_domain = out.example";
    let srd = "set_h_reply_to_domain = r.example";
    check(&[
        (
            sfd,
            "a@b",
            b"From: joe, Ann <ann@host>\n",
            b"From: joe@out.example, Ann <ann@out.example>\n",
        ),
        // 1.0 locality also for the 0.2 options (see module doc)
        (
            sfd,
            "a@b",
            b"From: joe@far.example\n",
            b"From: joe@far.example\n",
        ),
        // ignored when a From map is set, even if it does not match
        (
            "set_h_from_domain = out.example\nmap_h_from_addresses = \"z: *@z.example\"",
            "a@b",
            b"From: joe\n",
            b"From: joe\n",
        ),
        (srd, "a@b", b"Reply-To: joe\n", b"Reply-To: joe@r.example\n"),
        (srd, "a@b", b"From: joe\n", b"From: joe\n"),
        // a value that is no domain is ignored, never spliced in
        (
            "set_h_from_domain = \"bad\nX-Evil: 1\"",
            "a@b",
            b"From: joe\n",
            b"From: joe\n",
        ),
        (
            "set_h_from_domain = \"a b\"",
            "a@b",
            b"From: joe\n",
            b"From: joe\n",
        ),
        // expand_h_sender_domain: the outgoing return-path domain
        (
            "expand_h_sender_domain = yes\nset_return_path_domain = rp.example",
            "me@host",
            b"Sender: joe (J), Ann <ann@localhost>\n",
            b"Sender: joe@rp.example (J), Ann <ann@rp.example>\n",
        ),
        // expand_h_sender_address: only when written in the route file
        ("", "me@host", b"Sender: joe\n", b"Sender: joe\n"),
        (
            "expand_h_sender_address = yes\nset_return_path_domain = rp.example",
            "me@host",
            b"Sender: joe,\n ann\n",
            b"Sender: me@rp.example\n",
        ),
        (
            "expand_h_sender_address = no",
            "me@host",
            b"Sender: joe\n",
            b"Sender: joe\n",
        ),
        (
            "expand_h_sender_address = yes",
            "<>",
            b"Sender: joe\n",
            b"Sender: joe\n",
        ),
    ]);
}

#[test]
fn return_path_rules() {
    for (conf, rp, want) in [
        (
            "set_return_path_domain = out.example",
            "eve@host.example.org",
            "eve@out.example",
        ),
        (
            "set_return_path_domain = out.example",
            "eve",
            "eve@out.example",
        ),
        (
            "set_return_path_domain = out.example",
            "eve@far.example",
            "eve@far.example",
        ),
        (
            "set_return_path_domain = out.example\nmap_return_path_addresses = \"eve: e@e.example\"",
            "eve@localhost",
            "e@e.example",
        ),
        (
            "set_return_path_domain = out.example\nmap_outgoing_addresses = \"eve: e@e.example\"",
            "eve@localhost",
            "eve@out.example",
        ),
        // map_outgoing_addresses: only the address part of the replacement
        (
            "map_outgoing_addresses = \"eve: Eve <e@pub.example>\"",
            "eve@host",
            "e@pub.example",
        ),
        (
            "map_return_path_addresses = \"Eve: x@y.example\"",
            "eve@host",
            "eve@host",
        ),
        // §18.4: the null sender is never rewritten
        (
            "map_return_path_addresses = \"*: *@public.example\"",
            "<>",
            "<>",
        ),
        (
            "map_outgoing_addresses = \"*: *@public.example\"",
            "<>",
            "<>",
        ),
        ("set_return_path_domain = out.example", "<>", "<>"),
        ("set_return_path_domain = \"x\ny\"", "eve@host", "eve@host"),
    ] {
        let out = rewrite(&route(conf), &cfg(), &msg(rp, &[]));
        assert_eq!(out.return_path, addr(want), "{conf:?} {rp}");
    }
}

/// A replacement holding a control character can only come from a
/// hand-built route; the splicer refuses it all the same.
#[test]
fn control_characters_never_spliced() {
    let mut r = route("");
    let bare: &[u8] = b"From: joe\n";
    let named: &[u8] = b"From: Joe <joe@host>\n";
    for (repl, header, want) in [
        (Replacement::Domain("a\nBcc: victim@x".into()), bare, bare),
        (Replacement::Domain("a\nBcc: victim@x".into()), named, named),
        (
            Replacement::Address {
                text: "X\r\nBcc: victim@x <x@y>".into(),
                addr: Address::new("x", "y"),
            },
            bare,
            bare,
        ),
        // Only the bare address is spliced here, and it is clean.
        (
            Replacement::Address {
                text: "X\r\nBcc: victim@x <x@y>".into(),
                addr: Address::new("x", "y"),
            },
            named,
            b"From: Joe <x@y>\n",
        ),
        (
            Replacement::Address {
                text: "x@y".into(),
                addr: Address::new("x\0", "y"),
            },
            named,
            named,
        ),
    ] {
        r.map_h_from_addresses = RewriteMap(vec![RewriteRule {
            key: "*".into(),
            replacement: repl,
        }]);
        let out = rewrite(&r, &cfg(), &msg("a@b", &[header]));
        assert_eq!(out.headers[0].raw, want);
    }
}

#[test]
fn long_headers() {
    let n = 5000;
    let mut h = b"From: ".to_vec();
    let mut want = h.clone();
    for i in 0..n {
        let sep: &[u8] = if i + 1 == n { b"\n" } else { b",\n " };
        h.extend_from_slice(format!("u{i}@host").as_bytes());
        h.extend_from_slice(sep);
        want.extend_from_slice(format!("u{i}@out.example").as_bytes());
        want.extend_from_slice(sep);
    }
    let out = rewrite(&route(DOM), &cfg(), &msg("a@b", &[&h]));
    assert_eq!(out.headers[0].raw, want);
    // A long run of nested comments is not an address list: unchanged.
    let mut deep = b"From: joe ".to_vec();
    deep.extend(std::iter::repeat_n(b'(', 50_000));
    deep.push(b'\n');
    let out = rewrite(&route(DOM), &cfg(), &msg("a@b", &[&deep]));
    assert_eq!(out.headers[0].raw, deep);
}

#[test]
fn every_occurrence_and_order_kept() {
    let out = rewrite(
        &route(DOM),
        &cfg(),
        &msg("a@b", &[b"From: a\n", b"To: a\n", b"from: b\n"]),
    );
    let got: Vec<&[u8]> = out.headers.iter().map(|h| &h.raw[..]).collect();
    assert_eq!(
        got,
        [
            &b"From: a@out.example\n"[..],
            b"To: a\n",
            b"from: b@out.example\n"
        ]
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Control bytes other than TAB and folding LFs (LF + blank): these
    /// start lines or could; a rewrite may drop a fold inside the mailbox
    /// it replaces, never anything else.
    fn controls(b: &[u8]) -> usize {
        b.iter()
            .enumerate()
            .filter(|&(i, &c)| match c {
                b'\t' => false,
                b'\n' => !matches!(b.get(i + 1), Some(b' ' | b'\t')),
                c => c < b' ' || c == 0x7f,
            })
            .count()
    }

    proptest! {
        /// Whatever the header holds, rewriting adds no control byte (no
        /// line, no field), keeps the field name, and changes nothing
        /// when no rule applies.
        #[test]
        fn no_injection(value in proptest::collection::vec(
            prop_oneof![
                Just(b'\n'), Just(b'\t'), Just(b' '), Just(b','), Just(b'<'), Just(b'>'),
                Just(b'('), Just(b')'), Just(b'"'), Just(b'@'), Just(b':'), Just(b';'),
                Just(b'\\'), Just(b'r'), Just(b'h'), Just(0xe9), Just(0), Just(b'\r'),
            ],
            0..60,
        )) {
            let mut h = b"From: ".to_vec();
            h.extend_from_slice(&value);
            h.push(b'\n');
            let r = route("map_h_from_addresses = \"r: Root User <root@public.example>; h: *@o.example\"");
            let out = rewrite(&r, &cfg(), &msg("a@b", &[&h]));
            let got = &out.headers[0].raw;
            prop_assert_eq!(controls(got), controls(&h));
            prop_assert!(got.starts_with(b"From: "));
            let none = rewrite(&route(""), &cfg(), &msg("a@b", &[&h]));
            prop_assert_eq!(&none.headers[0].raw, &h);
        }
    }
}
