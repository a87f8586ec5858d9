use proptest::prelude::*;

use super::*;

/// Each address as (text, item text, spec text, bare).
fn parsed(value: &[u8]) -> Vec<(String, String, String, bool)> {
    let text = |r: &Range<usize>| String::from_utf8_lossy(&value[r.clone()]).into_owned();
    parse_address_list(value)
        .iter()
        .map(|a| (a.addr.to_string(), text(&a.item), text(&a.spec), a.bare))
        .collect()
}

type Want<'a> = &'a [(&'a str, &'a str, &'a str, bool)];

#[test]
fn address_lists() {
    let cases: &[(&[u8], Want)] = &[
        (
            b"alice, bob",
            &[
                ("alice", "alice", "alice", true),
                ("bob", "bob", "bob", true),
            ],
        ),
        (
            b" a@b.example ",
            &[("a@b.example", "a@b.example", "a@b.example", true)],
        ),
        (
            b" Alice Smith <alice@x.example>",
            &[(
                "alice@x.example",
                "Alice Smith <alice@x.example>",
                "alice@x.example",
                false,
            )],
        ),
        (
            b"\"Smith, Alice\" <a@x>,b@y",
            &[
                ("a@x", "\"Smith, Alice\" <a@x>", "a@x", false),
                ("b@y", "b@y", "b@y", true),
            ],
        ),
        (
            b"John Q. Public <jqp@x.example>",
            &[(
                "jqp@x.example",
                "John Q. Public <jqp@x.example>",
                "jqp@x.example",
                false,
            )],
        ),
        (
            b"root (comment), dave",
            &[
                ("root", "root (comment)", "root", true),
                ("dave", "dave", "dave", true),
            ],
        ),
        (
            b"(lead) root@x",
            &[("root@x", "(lead) root@x", "root@x", false)],
        ),
        (b"<a@b> (c) (d)", &[("a@b", "<a@b> (c) (d)", "a@b", false)]),
        (b"a, , b,", &[("a", "a", "a", true), ("b", "b", "b", true)]),
        (b",,a,,", &[("a", "a", "a", true)]),
        (b"(only a comment), a", &[("a", "a", "a", true)]),
        (b"<@r1,@r2:u@d>", &[("u@d", "<@r1,@r2:u@d>", "u@d", false)]),
        (
            b"\"a b\"@c",
            &[("\"a b\"@c", "\"a b\"@c", "\"a b\"@c", true)],
        ),
        (
            b"\"a\\\"b\"@c",
            &[("\"a\\\"b\"@c", "\"a\\\"b\"@c", "\"a\\\"b\"@c", true)],
        ),
        (b"\"a@b\" <c@d>", &[("c@d", "\"a@b\" <c@d>", "c@d", false)]),
        (
            b"u@[192.0.2.1]",
            &[("u@[192.0.2.1]", "u@[192.0.2.1]", "u@[192.0.2.1]", true)],
        ),
        (
            b"a.b.c@d.e",
            &[("a.b.c@d.e", "a.b.c@d.e", "a.b.c@d.e", true)],
        ),
        (b"a@b.", &[("a@b.", "a@b.", "a@b.", true)]),
        (
            b"a (x (nested \\) y) z) @ b",
            &[(
                "a@b",
                "a (x (nested \\) y) z) @ b",
                "a (x (nested \\) y) z) @ b",
                true,
            )],
        ),
        (b"a\n\t@b", &[("a@b", "a\n\t@b", "a\n\t@b", true)]),
        (
            b"x@y (c) ,\r\n z",
            &[("x@y", "x@y (c)", "x@y", true), ("z", "z", "z", true)],
        ),
        (
            "jörg@bücher.example".as_bytes(),
            &[(
                "jörg@bücher.example",
                "jörg@bücher.example",
                "jörg@bücher.example",
                true,
            )],
        ),
        (
            "Jörg <j@x>".as_bytes(),
            &[("j@x", "Jörg <j@x>", "j@x", false)],
        ),
        (
            b"Name \xff\xfe <a@b>",
            &[("a@b", "Name \u{fffd}\u{fffd} <a@b>", "a@b", false)],
        ),
        (b"", &[]),
        (b" \r\n\t", &[]),
        // Groups are not supported: parsing stops at them.
        (b"group: a@b, c@d;", &[]),
        (b"undisclosed-recipients:;", &[]),
        (b"a@b, group: c@d;", &[("a@b", "a@b", "a@b", true)]),
        // Anything unreadable ends the list; what came before stays.
        (b"a@b, Alice Smith", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, <>", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, |/bin/sh", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, <|cmd@x>", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, \"unterminated", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, (unterminated", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, c@d\xff", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, \xc3\x28@d", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, c\x01", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b, c@d\0", &[("a@b", "a@b", "a@b", true)]),
        (b"a@b c", &[]),
        (b"a@b;", &[]),
        (b"a@b >", &[]),
        (b"a@b\\", &[]),
        (b"<a@b", &[]),
        (b"a@b@c", &[]),
        (b"a..b@c", &[]),
        (b".a@c", &[]),
        (b"a.@c", &[]),
        (b"a@", &[]),
        (b"a@b_c", &[]),
        (b"a@[1.2.3.4", &[]),
        (b"a`b@c", &[]),
        (b"<a@b>>", &[]),
        (b"\"fold\r\n ed\"@x", &[]),
        (b"@a:b@c", &[]),
    ];
    for &(input, want) in cases {
        let want: Vec<_> = want
            .iter()
            .map(|&(a, i, s, b)| (a.to_string(), i.to_string(), s.to_string(), b))
            .collect();
        assert_eq!(parsed(input), want, "{:?}", String::from_utf8_lossy(input));
    }
}

/// The header rewriting of delivery.md §11.1, as the rewriter will do it:
/// `maps` in lookup order, local part → replacement text.
fn rewrite(value: &str, maps: &[(&str, &str)]) -> String {
    let local_hosts = ["localhost", "host", "host.example.org"];
    let mut out = value.to_string();
    // Back to front, so earlier spans stay valid.
    for a in parse_address_list(value.as_bytes()).iter().rev() {
        let local = a.addr.domain.is_empty()
            || local_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&a.addr.domain));
        let Some(&(_, repl)) = maps.iter().find(|(k, _)| local && *k == a.addr.local) else {
            continue;
        };
        if let Some(domain) = repl.strip_prefix("*@") {
            out.replace_range(a.spec.clone(), &format!("{}@{domain}", a.addr.local));
        } else if a.bare {
            out.replace_range(a.item.clone(), repl);
        } else {
            let bare = parse_address_list(repl.as_bytes())[0].addr.to_string();
            out.replace_range(a.spec.clone(), &bare);
        }
    }
    out
}

#[test]
fn worked_example_11_2() {
    let outgoing = ("dave", "*@dave.example");
    let from = [("root", "Root User <rootpub@public.example>"), outgoing];
    for (value, maps, want) in [
        (
            " root@host.example.org",
            &from[..],
            " Root User <rootpub@public.example>",
        ),
        (
            " Someone <root@host.example.org>",
            &from[..],
            " Someone <rootpub@public.example>",
        ),
        (
            " root (comment), dave",
            &from[..],
            " Root User <rootpub@public.example>, dave@dave.example",
        ),
        (
            " \"Q\" <dave>, other@x.example,\n  root@localhost",
            &[outgoing][..],
            " \"Q\" <dave@dave.example>, other@x.example,\n  root@localhost",
        ),
        (
            " dave@host, eve",
            &[outgoing][..],
            " dave@dave.example, eve",
        ),
        (" root (the admin)", &[outgoing][..], " root (the admin)"),
        // Not really local: left alone.
        (
            " dave@x.example, root@elsewhere",
            &from[..],
            " dave@x.example, root@elsewhere",
        ),
    ] {
        assert_eq!(rewrite(value, maps), want, "{value:?}");
    }
}

/// The properties every result must have, for any input.
fn check(value: &[u8]) -> Result<(), TestCaseError> {
    let list = parse_address_list(value);
    let mut prev_end = 0;
    for a in &list {
        prop_assert!(prev_end <= a.item.start, "items overlap: {list:?}");
        prop_assert!(
            a.item.start <= a.spec.start && a.spec.start < a.spec.end,
            "{a:?}"
        );
        prop_assert!(
            a.spec.end <= a.item.end && a.item.end <= value.len(),
            "{a:?}"
        );
        prop_assert_eq!(a.bare, a.item.start == a.spec.start);
        prev_end = a.item.end;
        let again = parse_address_list(&value[a.spec.clone()]);
        prop_assert_eq!(again.len(), 1, "spec {:?}", &value[a.spec.clone()]);
        prop_assert_eq!(&again[0].addr, &a.addr);
        prop_assert_eq!(again[0].spec.clone(), 0..a.spec.len());
        let again = parse_address_list(&value[a.item.clone()]);
        prop_assert_eq!(again.len(), 1, "item {:?}", &value[a.item.clone()]);
        prop_assert_eq!(&again[0].addr, &a.addr);
        prop_assert_eq!(
            parse_path(&a.addr.to_string(), PipePolicy::Refuse),
            Ok(a.addr.clone())
        );
    }
    Ok(())
}

const FRAGMENTS: &[&str] = &[
    "a",
    "bob",
    "x.y",
    "@",
    "<",
    ">",
    ",",
    " ",
    "\r\n ",
    "\n\t",
    "(c)",
    "(a(b)c)",
    "(\\))",
    "\"q\"",
    "\"a\\\"b\"",
    "[1.2.3.4]",
    ":",
    ";",
    ".",
    "ü",
    "\u{a0}",
    "|",
    "\\",
    "\"",
    "(",
    "[",
    "\0",
    "\r",
    "\u{85}",
    "`",
];

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(options)
}

/// One list element, mostly well-formed, sometimes with noise in it.
fn element() -> impl Strategy<Value = String> {
    let ws = pick(&["", " ", "\r\n ", "\n\t", " (c) ", "(a(b)\\)c)"]);
    let local = pick(&["a", "b.c", "\"q r\"", "\"a\\\"b\"", "ü", "x (c) . y"]);
    let domain = pick(&["", "@x", "@x.y", " @ [1.2.3.4]", "@bücher.example", "@x."]);
    let phrase = pick(&["", "Name ", "\"Q, R\" ", "A. B ", "J\u{f6}rg "]);
    let route = pick(&["", "", "@r1:", "@r1,@r2:"]);
    let noise = pick(&[
        "<", ">", ":", ";", "(", "\"", "[", "\\", "\0", "|", "\u{a0}", "`",
    ]);
    let angle = any::<bool>();
    let noise = prop::option::weighted(0.1, noise);
    (ws.clone(), phrase, angle, route, local, domain, noise, ws).prop_map(
        |(lead, phrase, angle, route, local, domain, noise, tail)| {
            let noise = noise.unwrap_or_default();
            if angle {
                format!("{lead}{phrase}<{route}{local}{domain}>{noise}{tail}")
            } else {
                format!("{lead}{local}{noise}{domain}{tail}")
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_bytes(value in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&value)?;
    }

    #[test]
    fn address_like_text(parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40)) {
        check(parts.concat().as_bytes())?;
    }

    #[test]
    fn address_lists_with_noise(
        items in prop::collection::vec(element(), 0..6),
        seps in prop::collection::vec(pick(&[",", ", ", ",\r\n ", " , , "]), 6),
    ) {
        let mut value = String::new();
        for (item, sep) in items.iter().zip(&seps) {
            value.push_str(item);
            value.push_str(sep);
        }
        check(value.as_bytes())?;
    }
}
