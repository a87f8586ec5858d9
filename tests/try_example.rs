//! The README's first command, `examples/try.sh` (issue 10): the whole
//! road without root — local delivery, a message in over SMTP queued while
//! offline, the link coming up and the queue arriving, rewritten, at a
//! second masqmail acting as the provider's smarthost, and mail fetched
//! from a local POP3 source. Run on a copy of `examples/`, with the
//! binaries this test run built (`cargo test` builds the examples too).
//! The script itself waits on files with a deadline, never a fixed time.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "local" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn try_sh_shows_the_whole_road() {
    let pop3_source: PathBuf = Path::new(support::BIN)
        .parent()
        .unwrap()
        .join("examples/pop3_source");
    assert!(
        pop3_source.is_file(),
        "{} is missing: `cargo test` builds the examples (run the whole suite)",
        pop3_source.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("examples");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &examples,
    );
    let out = Command::new("bash")
        .arg(examples.join("try.sh"))
        .env("MASQMAIL", support::BIN)
        .env("POP3_SOURCE", &pop3_source)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "try.sh failed: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "S: 250 2.0.0 OK id=",
        "== <bob@remote.example>",
        "Return-path: <alice@provider.example>",
        "From: Alice Example <alice@provider.example>",
        "Subject: sent while offline",
        "mail queue is empty.",
        "Subject: waiting for you at the provider",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Both daemons were stopped by the script.
    for pid_file in ["local/run/masqmail.pid", "local/provider/run/masqmail.pid"] {
        let pid = std::fs::read_to_string(examples.join(pid_file)).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let gone = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                    s.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z'))
                })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !gone() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "daemon {pid} still runs"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}
