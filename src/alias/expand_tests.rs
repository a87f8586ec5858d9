use super::*;
use std::path::Path;

const HOST: &str = "host.example";

fn table(text: &str) -> AliasTable {
    AliasTable::parse(text.as_bytes(), Path::new("aliases"), true)
}

/// Expands `rcpt` (qualified with HOST when bare) and renders the result.
fn run(
    glob: Option<&AliasTable>,
    alias: Option<&AliasTable>,
    caseless: bool,
    rcpt: &str,
) -> Result<Vec<String>, String> {
    let hosts = [
        "localhost".to_string(),
        HOST.to_string(),
        "foo.example.org".into(),
        "example.org".into(),
    ];
    let ctx = AliasContext {
        globalias: glob,
        alias,
        locality: Locality {
            local_hosts: &hosts,
            local_addresses: &[],
            not_local_addresses: &[],
            caseless,
        },
        host_name: HOST,
        caseless,
        forward: None,
    };
    let top = parse_path(rcpt, PipePolicy::Refuse).unwrap().qualify(HOST);
    match expand(&top, &ctx) {
        Expansion::Leaves(l) => Ok(l.iter().map(|a| a.to_string()).collect()),
        Expansion::Failed(why) => Err(why),
    }
}

fn ok(v: &[&str]) -> Result<Vec<String>, String> {
    Ok(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn spec_examples() {
    let t = table(
        "root: \\root, carol\ncarol: \\carol\nbob: \\bob, carol@remote.example\n\
         pipe: |/usr/local/bin/filter arg\nloop1: loop2\nloop2: loop1\n",
    );
    for (rcpt, want) in [
        ("root", ok(&["root@host.example", "carol@host.example"])),
        ("bob", ok(&["bob@host.example", "carol@remote.example"])),
        ("pipe", ok(&["|/usr/local/bin/filter arg@localhost"])),
        ("nobody", ok(&["nobody@host.example"])),
        // Aliases never apply to remote addresses.
        ("root@remote.example", ok(&["root@remote.example"])),
    ] {
        assert_eq!(run(None, Some(&t), false, rcpt), want, "{rcpt}");
    }
    let err = run(None, Some(&t), false, "loop1").unwrap_err();
    assert_eq!(
        err,
        "alias: detected loop, hence ignoring 'loop1@host.example'"
    );
}

/// R14: alias loops are detected during expansion.
#[test]
fn loops_fail_the_recipient() {
    for (file, rcpt) in [
        ("root: root, x\n", "root"),
        ("a: a\n", "a"),
        ("a: b\nb: c\nc: d\nd: a\n", "a"),
        ("a: x, b\nb: \\y, a\n", "a"),
        ("a: b@host.example\nb: A@HOST.EXAMPLE, a\n", "a"),
        ("postmaster: Postmaster\n", "postmaster"),
    ] {
        let r = run(None, Some(&table(file)), false, rcpt);
        assert!(
            matches!(&r, Err(e) if e.contains("detected loop")),
            "{file:?}: {r:?}"
        );
    }
    // Not a loop: the same target reached twice by different branches.
    let t = table("a: b, c\nb: d\nc: d\n");
    assert_eq!(run(None, Some(&t), false, "a"), ok(&["d@host.example"]));
    // `\a` inside a's own expansion is final, hence no loop.
    assert_eq!(
        run(None, Some(&table("a: \\a, b\n")), false, "a"),
        ok(&["a@host.example", "b@host.example"])
    );
}

#[test]
fn case_rules() {
    let t = table("Bob: carol\npostmaster: root\nalice: \\Alice\n");
    for (caseless, rcpt, want) in [
        (false, "Bob", ok(&["carol@host.example"])),
        (false, "bob", ok(&["bob@host.example"])),
        (true, "bob", ok(&["carol@host.example"])),
        (true, "BOB@HOST.EXAMPLE", ok(&["carol@host.example"])),
        (false, "PostMaster", ok(&["root@host.example"])),
        (false, "POSTMASTER@Host.Example", ok(&["root@host.example"])),
        (false, "alice", ok(&["Alice@host.example"])),
    ] {
        assert_eq!(
            run(None, Some(&t), caseless, rcpt),
            want,
            "{rcpt} caseless={caseless}"
        );
    }
}

#[test]
fn glob_aliases() {
    let g = table(
        "postmaster@*: ken\ninfo@foo.example.org: doug\nlist-*@example.org: |/path/to/script\n\
         *@example.org: brian@other.host.net\n",
    );
    let n = table("doug: \\douglas\ninfo: nobody\n");
    for (caseless, rcpt, want) in [
        (false, "info@foo.example.org", ok(&["douglas@host.example"])),
        (
            false,
            "list-foo@example.org",
            ok(&["|/path/to/script@localhost"]),
        ),
        (false, "anyone@example.org", ok(&["brian@other.host.net"])),
        (false, "PostMaster@example.org", ok(&["ken@host.example"])),
        (false, "INFO@foo.example.org", ok(&["INFO@foo.example.org"])),
        (true, "INFO@FOO.example.org", ok(&["douglas@host.example"])),
        // The glob table wins over the normal table; without a glob match
        // the normal table is consulted.
        (false, "info@host.example", ok(&["nobody@host.example"])),
        (false, "remote@other.example", ok(&["remote@other.example"])),
    ] {
        assert_eq!(
            run(Some(&g), Some(&n), caseless, rcpt),
            want,
            "{rcpt} caseless={caseless}"
        );
    }
}

#[test]
fn invalid_items_fail() {
    for (file, needle) in [
        (
            "a: b, <c\n",
            "alias 'a@host.example' expands to invalid address '<c': missing '>'",
        ),
        ("a: \"unterminated\n", "expands to invalid address"),
        ("a: \\<>\n", "expands to invalid address"),
        ("a: <>\n", "null address"),
        ("a:\n", "expands to nothing"),
        (
            "a: b\nb: c@@d\n",
            "alias 'b@host.example' expands to invalid address 'c@@d'",
        ),
    ] {
        let r = run(None, Some(&table(file)), false, "a");
        assert!(
            matches!(&r, Err(e) if e.contains(needle)),
            "{file:?}: {r:?}"
        );
    }
}

/// R17: pipe and file targets from untrusted alias files are refused.
#[test]
fn untrusted_pipes_fail() {
    let t = AliasTable::parse(
        b"a: \\a, |/bin/rm -rf /\nb: c\n",
        Path::new("/home/u/aliases"),
        false,
    );
    let r = run(None, Some(&t), false, "a");
    assert_eq!(
        r,
        Err("pipe alias in untrusted file /home/u/aliases (line 1)".to_string())
    );
    // Addresses from an untrusted file still work.
    assert_eq!(run(None, Some(&t), false, "b"), ok(&["c@host.example"]));
}

/// R15/R16: addresses holding shell syntax stay data.
#[test]
fn hostile_addresses_are_data() {
    // Quoted local parts keep shell syntax verbatim; a bare backquote is
    // no valid address at all.
    let t = table("a: <\"$(touch x); `id`\"@host.example>, \\\"|x\"\n");
    assert_eq!(
        run(None, Some(&t), false, "a"),
        ok(&["\"$(touch x); `id`\"@host.example", "\"|x\"@host.example"])
    );
    let r = run(None, Some(&table("a: `id`\n")), false, "a");
    assert!(
        matches!(&r, Err(e) if e.contains("invalid address '`id`'")),
        "{r:?}"
    );
}

#[test]
fn deep_and_wide_tables_are_bounded() {
    // A chain of 99 links is fine; 150 is too deep.
    let chain = |n: usize| {
        (0..n)
            .map(|i| format!("a{i}: a{}\n", i + 1))
            .collect::<String>()
    };
    assert_eq!(
        run(None, Some(&table(&chain(99))), false, "a0"),
        ok(&["a99@host.example"])
    );
    let r = run(None, Some(&table(&chain(150))), false, "a0");
    assert!(matches!(&r, Err(e) if e.contains("too deep")), "{r:?}");

    // Diamonds: 2^40 paths, each alias has two children.
    let diamonds: String = (0..40)
        .map(|i| format!("d{i}: d{j}, e{j}\ne{i}: d{j}, e{j}\n", j = i + 1))
        .collect();
    let r = run(None, Some(&table(&diamonds)), false, "d0");
    assert!(r.is_err(), "{r:?}");

    // One alias with 2000 targets.
    let wide = format!(
        "w: {}\n",
        (0..2000)
            .map(|i| format!("u{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let r = run(None, Some(&table(&wide)), false, "w");
    assert!(
        matches!(&r, Err(e) if e.contains("more than 1000")),
        "{r:?}"
    );
}

#[test]
fn leaves_are_deduplicated_in_order() {
    let t = table("a: x, b, y, \\x, c\nb: y, z\nc: \\Z\n");
    assert_eq!(
        run(None, Some(&t), false, "a"),
        ok(&[
            "x@host.example",
            "y@host.example",
            "z@host.example",
            "Z@host.example"
        ])
    );
    assert_eq!(
        run(None, Some(&t), true, "a"),
        ok(&["x@host.example", "y@host.example", "z@host.example"])
    );
}

#[test]
fn no_tables() {
    assert_eq!(run(None, None, false, "root"), ok(&["root@host.example"]));
}
