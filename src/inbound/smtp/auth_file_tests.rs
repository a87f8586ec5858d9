//! The passwd-file: each scheme with a hash made by `doveadm pw` or
//! `openssl passwd -6` (password `sesame`), the refusals with their line,
//! and the file's mode and owner.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::*;

const SHA512: &str = "{SHA512-CRYPT}$6$oHPlYebSwlsNYhsn$KG7YoQgbhMC0V5.c/hbwcHzw1tw/CFfy9BQI32RTTNLBj2eFZHj9UUtKMTraTlKgm2eQmWmZxT.BbnGIfz.SV.";
const OPENSSL6: &str = "$6$abcdefgh$Bk2D4uYVcw0FbFPsWa0iJZ1DNfy8v6OjKcRcuBfMkWD1KdADPVnmQf5cr0O8HfAYpq1XrrjdgIRINkwgSKJ8/1";
const BLF: &str = "{BLF-CRYPT}$2y$05$biwz2grtpmDwMGYWvi2CMeHPZKpzy5BsYUJjaglhAzNxi.nfOWMwq";
const ARGON: &str = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$jPaJpf8o9FwwqY7Tr4HTgw$WvMUpSLOwIebyc0zqopV6OO6AE/u8IdnxlDgLXMMKVc";
const SHA256: &str =
    "{SHA256-CRYPT}$5$YmsaKlO4w2p6j5/U$Z3Kaln.080CXlJ2QVRSHdw3XH1Jbfgwq/Ejln4O1Ye0";

fn table(text: &str) -> Result<AuthTable, String> {
    AuthTable::parse(text.as_bytes(), Path::new("pw")).map_err(|e| e.to_string())
}

#[test]
fn every_scheme_verifies() {
    let text = format!(
        "# users\n\nsha:{SHA512}\nopenssl:{OPENSSL6}::::\nblf:{BLF}:1000:1000::/home/blf::\n\
         argon:{ARGON}\nsha256:{SHA256}\nclear:{{PLAIN}}sesame\ncrypt:{{CRYPT}}{OPENSSL6}\n"
    );
    let t = table(&text).expect("table");
    assert_eq!(t.len(), 7);
    for user in ["sha", "openssl", "blf", "argon", "sha256", "clear", "crypt"] {
        assert!(t.verify(user, b"sesame"), "{user}");
        assert!(!t.verify(user, b"Sesame"), "{user}");
        assert!(!t.verify(user, b""), "{user}");
        assert!(!t.verify(user, b"sesame\0"), "{user}");
    }
    assert!(
        !t.verify("nobody", b"sesame"),
        "unknown user, the dummy's password"
    );
    assert!(!t.verify("SHA", b"sesame"), "user names are exact");
}

#[test]
fn refusals_name_their_line() {
    for (text, want) in [
        ("a:{MD5}x\n", "pw:1: unsupported scheme {MD5}"),
        ("\n\nb\n", "pw:3: not `user:{SCHEME}password`"),
        ("a:{SHA512-CRYPT}$1$x$y\n", "pw:1: not a SHA512-CRYPT hash"),
        ("a:{SHA512-CRYPT}$6$\n", "pw:1: not a SHA512-CRYPT hash"),
        ("a:{BLF-CRYPT}$2y$05$short\n", "pw:1: not a BLF-CRYPT hash"),
        (
            "a:{ARGON2ID}$argon2id$nonsense\n",
            "pw:1: not a ARGON2ID hash",
        ),
        ("a:plaintext\n", "pw:1: not a crypt"),
        ("a:{PLAIN}\n", "pw:1: empty password"),
        (":{PLAIN}x\n", "pw:1: empty user name"),
        ("a b:{PLAIN}x\n", "pw:1: blank or control"),
        ("a:{PLAIN}x\na:{PLAIN}y\n", "pw:2: user a given again"),
    ] {
        let got = table(text).expect_err(text);
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn empty_file_knows_nobody() {
    let t = table("# nobody yet\n").expect("table");
    assert!(t.is_empty());
    assert!(!t.verify("a", b""));
}

#[test]
fn group_or_world_readable_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("passwd");
    std::fs::write(&path, "u:{PLAIN}sesame\n").expect("write");
    for mode in [0o640, 0o604, 0o620, 0o644] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let e = AuthTable::load(&path).expect_err("refused");
        assert!(matches!(e, AuthFileError::Mode { .. }), "{mode:o}: {e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let t = AuthTable::load(&path).expect("0600 is fine");
    assert!(t.verify("u", b"sesame"));
    let missing = AuthTable::load(&dir.path().join("none")).expect_err("missing");
    assert!(matches!(missing, AuthFileError::Io { .. }));
}

#[test]
fn constant_time_compare() {
    assert!(same(b"abc", b"abc"));
    assert!(same(b"", b""));
    for (a, b) in [
        (&b"abc"[..], &b"abd"[..]),
        (b"abc", b"ab"),
        (b"ab", b"abc"),
        (b"", b"a"),
    ] {
        assert!(!same(a, b), "{a:?} {b:?}");
    }
}
