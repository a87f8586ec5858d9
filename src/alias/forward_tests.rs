use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::address::{Locality, PipePolicy, parse_path};
use crate::alias::{AliasContext, AliasTable, Expansion, expand};

const HOST: &str = "host.example";

fn items(text: &str) -> Vec<ForwardItem> {
    parse(text.as_bytes()).unwrap()
}

#[test]
fn syntax() {
    let got = items(
        "# comment\n\n  # indented comment\nbob, \\alice\n\"|/usr/bin/procmail -a x\"\n\
         /home/alice/log , carol@remote.example,\n|  /bin/cat\n\"/with space/f\"\n",
    );
    assert_eq!(
        got,
        vec![
            ForwardItem::Address("bob".into()),
            ForwardItem::Final(Address::new("alice", "")),
            ForwardItem::Pipe("/usr/bin/procmail -a x".into()),
            ForwardItem::File("/home/alice/log".into()),
            ForwardItem::Address("carol@remote.example".into()),
            ForwardItem::Pipe("/bin/cat".into()),
            ForwardItem::File("/with space/f".into()),
        ]
    );
    assert!(matches!(
        &items("\"unterminated\n")[..],
        [ForwardItem::Invalid { .. }]
    ));
    assert!(matches!(&items("|\n")[..], [ForwardItem::Invalid { .. }]));
    assert!(items("# only a comment\n\n").is_empty());
}

#[test]
fn refused_files() {
    assert!(parse(b"a\0b\n").is_err());
    assert!(parse(b"\xff\n").is_err());
    let many = "x,".repeat(MAX_ITEMS + 1);
    assert!(matches!(parse(many.as_bytes()), Err(e) if e.contains("items")));
    let big = vec![b'#'; MAX_SIZE as usize + 1];
    assert!(matches!(parse(&big), Err(e) if e.contains("bytes")));
}

#[test]
fn targets_round_trip() {
    let p = pipe_leaf("alice", "/usr/bin/procmail -a x");
    assert!(p.is_pipe());
    assert_eq!(
        ForwardTarget::of(&p),
        Some(ForwardTarget::Pipe {
            user: "alice",
            command: "/usr/bin/procmail -a x"
        })
    );
    let f = file_leaf("bob", "/home/bob/x");
    assert_eq!(
        ForwardTarget::of(&f),
        Some(ForwardTarget::File {
            user: "bob",
            path: std::path::Path::new("/home/bob/x")
        })
    );
    // Spool RT: lines hold pipes as their text; they must read back.
    for leaf in [p, f] {
        assert_eq!(parse_path(&leaf.local, PipePolicy::Allow).unwrap(), leaf);
    }
    for plain in ["|/bin/cat", "|~:|x", "|~alice", "|~alice:rel", "alice"] {
        assert_eq!(
            ForwardTarget::of(&Address::new(plain, "localhost")),
            None,
            "{plain}"
        );
    }
}

/// `.forward` files as a table: user → file text.
struct Table(HashMap<&'static str, &'static str>);

impl Forwards for Table {
    fn lookup(&self, addr: &Address) -> Option<ForwardList> {
        let text = self.0.get(addr.local.as_str())?;
        Some(ForwardList {
            user: addr.local.clone(),
            origin: PathBuf::from(format!("/home/{}/.forward", addr.local)),
            items: parse(text.as_bytes()).unwrap(),
        })
    }
}

fn run(
    files: &[(&'static str, &'static str)],
    aliases: &str,
    rcpt: &str,
) -> Result<Vec<String>, String> {
    let table = Table(files.iter().copied().collect());
    let aliases = AliasTable::parse(aliases.as_bytes(), std::path::Path::new("aliases"), true);
    let hosts = ["localhost".to_string(), HOST.to_string()];
    let ctx = AliasContext {
        globalias: None,
        alias: Some(&aliases),
        locality: Locality {
            local_hosts: &hosts,
            local_addresses: &[],
            not_local_addresses: &[],
            caseless: false,
        },
        host_name: HOST,
        caseless: false,
        forward: Some(&table),
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
fn expansion_through_forward_files() {
    let files = [
        (
            "alice",
            "bob, \\alice, carol@remote.example\n|/bin/rec\n/tmp/f\n",
        ),
        ("bob", "\\bob\n"),
        ("self", "self, x@remote.example"),
        ("loop1", "loop2"),
        ("loop2", "loop1"),
        ("bad", "<unbalanced"),
    ];
    let want_alice = ok(&[
        "bob@host.example",
        "alice@host.example",
        "carol@remote.example",
        "|~alice:|/bin/rec@localhost",
        "|~alice:/tmp/f@localhost",
    ]);
    assert_eq!(run(&files, "", "alice"), want_alice);
    // An alias reaching a user goes through the user's .forward ...
    assert_eq!(run(&files, "team: alice\n", "team"), want_alice);
    // ... but `\user` in an alias does not.
    assert_eq!(
        run(&files, "team: \\alice\n", "team"),
        ok(&["alice@host.example"])
    );
    // The user's own address is the mailbox.
    assert_eq!(
        run(&files, "", "self"),
        ok(&["self@host.example", "x@remote.example"])
    );
    assert!(matches!(run(&files, "", "loop1"), Err(e) if e.contains("loop")));
    assert!(run(&files, "", "bad").is_err());
    // Remote addresses are never looked up.
    assert_eq!(
        run(&files, "", "alice@remote.example"),
        ok(&["alice@remote.example"])
    );
}

#[test]
fn alias_pipes_cannot_pose_as_forward_targets() {
    let r = run(&[], "evil: \"|~root:|/bin/sh\"\n", "evil");
    assert!(
        matches!(&r, Err(e) if e.contains("invalid command")),
        "{r:?}"
    );
}
