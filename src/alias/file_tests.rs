use super::*;
use std::os::unix::fs::PermissionsExt;

fn items(line: &str) -> Vec<AliasItem> {
    let t = AliasTable::parse(line.as_bytes(), Path::new("aliases"), true);
    assert_eq!(t.entries.len(), 1, "{line:?}");
    t.entries[0].items.clone()
}

fn addr(s: &str) -> AliasItem {
    AliasItem::Address(s.into())
}

fn invalid(line: &str) -> bool {
    items(line)
        .iter()
        .any(|i| matches!(i, AliasItem::Invalid { .. }))
}

#[test]
fn items_of_a_line() {
    for (line, want) in [
        (
            "root: \\root, carol",
            vec![AliasItem::Final(Address::new("root", "")), addr("carol")],
        ),
        (
            "bob: \\bob, carol@remote.example",
            vec![
                AliasItem::Final(Address::new("bob", "")),
                addr("carol@remote.example"),
            ],
        ),
        (
            "pipe: |/usr/local/bin/filter arg",
            vec![AliasItem::Pipe("|/usr/local/bin/filter arg".into())],
        ),
        (
            "pipe: \"|/bin/cmd a, b\" ignored, x",
            vec![AliasItem::Pipe("|/bin/cmd a, b".into()), addr("x")],
        ),
        (
            "r: \"\\\\root\"",
            vec![AliasItem::Final(Address::new("root", ""))],
        ),
        // A single backslash inside quotes only escapes the `r`.
        ("r: \"\\root\"", vec![addr("root")]),
        ("a:b,c", vec![addr("b"), addr("c")]),
        ("a :   b  ,   c   ", vec![addr("b"), addr("c")]),
        ("a: b,, c,", vec![addr("b"), addr("c")]),
        ("a: \"x\\\"y\"", vec![addr("x\"y")]),
        ("a: <b@c.example>", vec![addr("<b@c.example>")]),
        ("a:", vec![]),
        ("a: b\r", vec![addr("b")]),
        (
            "a: \\<x@y.example>",
            vec![AliasItem::Final(Address::new("x", "y.example"))],
        ),
    ] {
        assert_eq!(items(line), want, "{line:?}");
    }
}

#[test]
fn bad_items_are_kept_as_invalid() {
    for line in [
        "a: \"unterminated",
        "a: \\<>",
        "a: \\|cmd",
        "a: \\a@@b",
        "a: \"\\",
        "a: \"|x\ry\"",
    ] {
        assert!(invalid(line), "{line:?}");
    }
}

#[test]
fn keys_and_comments() {
    let text = b"# comment\n  # indented is not a comment: x\n\nno colon here\n: empty key\n\
        Key Spaces : v\nroot: a\nroot: b\n";
    let t = AliasTable::parse(text, Path::new("f"), true);
    let keys: Vec<(&str, u32)> = t.entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        keys,
        [
            ("  # indented is not a comment", 2),
            ("Key Spaces", 6),
            ("root", 7),
            ("root", 8)
        ]
    );
    assert_eq!(
        t.find(|k| k == "root").map(|e| e.line),
        Some(7),
        "first duplicate wins"
    );
}

#[test]
fn hostile_bytes_do_not_crash() {
    let mut text = b"good: a\nnul: b\0c\nbad: \xff\xfe\ntail: d".to_vec();
    let long = format!("long: {}\n", vec!["x".repeat(300); 100].join(", "));
    text.extend_from_slice(long.as_bytes());
    let t = AliasTable::parse(&text, Path::new("f"), true);
    let keys: Vec<&str> = t.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["good", "tail"]);
    // `tail: d` had no newline, so the long line was glued to it.
    assert_eq!(t.entries[1].items.len(), 100);

    let t = AliasTable::parse(long.as_bytes(), Path::new("f"), true);
    assert_eq!(t.entries[0].items.len(), 100);
    assert!(
        t.entries[0]
            .items
            .iter()
            .all(|i| matches!(i, AliasItem::Address(s) if s.len() == 300))
    );
}

proptest::proptest! {
    #[test]
    fn any_bytes_parse(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = AliasTable::parse(&bytes, Path::new("fuzz"), true);
    }
}

fn write(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join("aliases");
    std::fs::write(&p, "p: |/bin/true\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// R17: an alias file owned by another user or writable by others is untrusted.
#[test]
fn trust_follows_owner_and_mode() {
    let me = nix::unistd::geteuid().as_raw();
    let trusting_me = FileTrust { uids: vec![me] };
    let stranger = FileTrust {
        uids: vec![me.wrapping_add(4242)],
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (mode, trust, want) in [
        (0o644, &trusting_me, true),
        (0o600, &trusting_me, true),
        (0o664, &trusting_me, false),
        (0o646, &trusting_me, false),
        (0o644, &stranger, false),
    ] {
        let p = write(dir.path(), mode);
        let t = AliasTable::load_trusting(&p, trust).unwrap();
        assert_eq!(t.pipes_trusted, want, "mode {mode:o} trust {trust:?}");
        assert_eq!(t.entries[0].items, [AliasItem::Pipe("|/bin/true".into())]);
    }
}

#[test]
fn writable_directory_is_not_trusted() {
    let me = nix::unistd::geteuid().as_raw();
    let trust = FileTrust { uids: vec![me] };
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), 0o644);
    for (mode, want) in [
        (0o777, false),
        (0o1777, true),
        (0o775, false),
        (0o700, true),
    ] {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(
            AliasTable::load_trusting(&p, &trust).unwrap().pipes_trusted,
            want,
            "dir {mode:o}"
        );
    }
}

#[test]
fn load_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        AliasTable::load(&missing),
        Err(AliasError::Io { .. })
    ));
    assert!(matches!(
        AliasTable::load(dir.path()),
        Err(AliasError::NotRegular { .. })
    ));
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert!(matches!(
        AliasTable::load(&fifo),
        Err(AliasError::NotRegular { .. })
    ));
}
