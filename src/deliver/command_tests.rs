//! Tests of MDA and pipe delivery with a recorder script that saves its
//! argv, environment, identity, parent and stdin from `/proc`, byte-exact.

use super::*;
use crate::deliver::content::{Body, ContentOptions, test_message};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Commands may run as the mail user or a recipient: let them in.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|e| panic!("{e}"));
        Fixture { dir }
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join("out").join(name)
    }

    fn script(&self, name: &str, body: &str) -> String {
        let p = self.dir.path().join(name);
        let text = format!(
            "#!/bin/sh\nO={}\n{body}\n",
            self.dir.path().join("out").display()
        );
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        p.display().to_string()
    }

    fn recorder(&self) -> String {
        self.script(
            "recorder",
            "/bin/cat /proc/$$/cmdline > $O/argv\n/bin/cat /proc/$$/environ > $O/env\n\
             /bin/cat /proc/$$/status > $O/status\n/bin/cat /proc/$PPID/comm > $O/parent\n\
             /bin/cat > $O/stdin\nexit 0",
        )
    }

    /// Removes earlier recordings (they may belong to another user now).
    fn clear(&self) {
        for name in ["argv", "env", "status", "parent", "stdin"] {
            let _ = std::fs::remove_file(self.out(name));
        }
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The recorded argv without the interpreter and the script path.
    fn argv(&self) -> Vec<Vec<u8>> {
        let raw = self.read("argv");
        let mut v: Vec<Vec<u8>> = raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        v.pop(); // after the final NUL
        v.drain(..2.min(v.len()));
        v
    }
}

fn cfg() -> Config {
    let mut c = Config::with_host_name("test.example");
    c.run_as_user = true;
    c.command_time_limit = Duration::from_secs(30);
    c
}

fn spec(words: &[&str]) -> CommandSpec {
    CommandSpec {
        text: words.join(" "),
        words: words.iter().map(|w| w.to_string()).collect(),
    }
}

fn mda(
    cfg: &Config,
    words: &[&str],
    rcpt: &Address,
    rp: Address,
    body: &[u8],
) -> (Outcome, Vec<u8>) {
    let msg = test_message(rp);
    let vars = Vars::new(cfg, &msg, rcpt, &Address::new("orig", "local.example"));
    let c = Content::new(
        &msg,
        &Address::new("orig", "local.example"),
        Body::Bytes(body),
        ContentOptions::MAILDIR,
        &chrono::Utc::now(),
    );
    let bytes = c.to_vec().unwrap_or_else(|e| panic!("{e}"));
    // A script just written may be "busy" while another test thread forks
    // (the child briefly holds our write fd until it execs): retry.
    for _ in 0..100 {
        match run_mda(cfg, &spec(words), &c, &vars, &rcpt.local) {
            Outcome::Deferred(r) if r.contains("Text file busy") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            got => return (got, bytes),
        }
    }
    panic!("script stays busy");
}

/// `run_pipe`, retried while the script is "busy" (see `mda`).
fn pipe(cfg: &Config, cmd: &str, c: &Content, vars: &Vars) -> Outcome {
    for _ in 0..100 {
        match run_pipe(cfg, cmd, c, vars) {
            Outcome::Deferred(r) if r.contains("Text file busy") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            got => return got,
        }
    }
    panic!("script stays busy");
}

/// R16: each expanded variable is one argv element.
#[test]
fn variables_stay_single_arguments() {
    let fx = Fixture::new();
    let rec = fx.recorder();
    let marker = fx.dir.path().join("M");
    let m = marker.display().to_string();
    for value in [
        format!(";touch {m};"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("\"dq\" 'sq' {m}"),
        "with  spaces".to_string(),
        "*".to_string(),
        "-oQ/tmp".to_string(),
        "\\$rcpt".to_string(),
    ] {
        let rcpt = Address::new(value.clone(), "local.example");
        let (got, bytes) = mda(
            &cfg(),
            &[&rec, "-d", "${rcpt_local}", "-f", "$return_path"],
            &rcpt,
            Address::new(value.clone(), "x.example"),
            b"From me\nbody\n",
        );
        assert_eq!(got, Outcome::Delivered, "{value:?}");
        let want: Vec<Vec<u8>> = vec![
            b"-d".to_vec(),
            value.clone().into_bytes(),
            b"-f".to_vec(),
            format!("{value}@x.example").into_bytes(),
        ];
        assert_eq!(fx.argv(), want, "{value:?}");
        assert!(!marker.exists(), "{value:?} ran a command");
        assert_eq!(fx.read("stdin"), bytes);
        let parent = String::from_utf8_lossy(&fx.read("parent"))
            .trim()
            .to_string();
        assert!(
            !["sh", "dash", "bash"].contains(&parent.as_str()),
            "started through a shell: {parent}"
        );
    }
}

#[test]
fn environment_is_exactly_the_spec() {
    let fx = Fixture::new();
    let rec = fx.recorder();
    for rp in [Address::new("s", "x.example"), Address::null()] {
        let msg_rp = rp.clone();
        let (got, _) = mda(
            &cfg(),
            &[&rec],
            &Address::new("bob", "alias.example"),
            rp,
            b"x\n",
        );
        assert_eq!(got, Outcome::Delivered);
        let mut env: Vec<String> = fx
            .read("env")
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        env.sort();
        let rps = msg_rp.to_string();
        let mut want = vec![
            "DOMAIN=local.example".to_string(),
            "LOCAL_PART=orig".into(),
            "LOGNAME=orig".into(),
            "MESSAGE_ID=1xVrXk-3tM-00".into(),
            "QUALIFY_DOMAIN=test.example".into(),
            "RECEIVED_HOST=".into(),
            format!("RETURN_PATH={rps}"),
            format!("SENDER={rps}"),
            format!("SENDER_DOMAIN={}", msg_rp.domain),
            format!("SENDER_LOCAL={}", msg_rp.local),
            "USER=orig".into(),
        ];
        want.sort();
        assert_eq!(env, want);
    }
}

#[test]
fn pipes_split_without_expansion() {
    let fx = Fixture::new();
    let rec = fx.recorder();
    let msg = test_message(Address::new("s", "x.example"));
    let vars = Vars::new(
        &cfg(),
        &msg,
        &Address::new("|x", "localhost"),
        &Address::new("orig", "local.example"),
    );
    let c = Content::new(
        &msg,
        &Address::new("orig", "local.example"),
        Body::Bytes(b"x\n"),
        ContentOptions::MAILDIR,
        &chrono::Utc::now(),
    );
    let cmd = format!("'{rec}' 'a b' $rcpt_local \"$(touch M)\" ;");
    assert_eq!(pipe(&cfg(), &cmd, &c, &vars), Outcome::Delivered);
    assert_eq!(
        fx.argv(),
        vec![
            b"a b".to_vec(),
            b"$rcpt_local".to_vec(),
            b"$(touch M)".to_vec(),
            b";".to_vec()
        ]
    );
    assert!(
        matches!(run_pipe(&cfg(), "'open", &c, &vars), Outcome::Failed(r) if r.contains("unterminated"))
    );
}

/// R22: exit codes, signals, garbage output, EPIPE: the result comes from the exit status.
#[test]
fn exit_statuses() {
    let fx = Fixture::new();
    let big = vec![b'y'; 4 << 20];
    let rcpt = Address::new("bob", "x");
    let cases: Vec<(&str, &[u8], &str, &str)> = vec![
        ("exit 0", b"x\n", "delivered", ""),
        ("echo garbage; exit 0", b"x\n", "delivered", ""),
        (
            "exit 75",
            b"x\n",
            "deferred",
            "returned 75 (temporary failure)",
        ),
        (
            "echo oops; echo more >&2; exit 67",
            b"x\n",
            "failed",
            "returned 67 (addressee unknown): oops more",
        ),
        ("exit 1", b"x\n", "failed", "returned 1 (unknown error)"),
        ("kill -TERM $$", b"x\n", "deferred", "killed by signal 15"),
        ("exec 0<&-; exit 0", &big, "delivered", ""),
        ("exec 0<&-; /bin/sleep 0.2; exit 0", &big, "delivered", ""),
        (
            "/usr/bin/yes garbage | /usr/bin/head -c 100000000; exit 67",
            b"x\n",
            "failed",
            "[output truncated]",
        ),
    ];
    for (i, (body, input, kind, text)) in cases.into_iter().enumerate() {
        let s = fx.script(&format!("s{i}"), body);
        let (got, _) = mda(&cfg(), &[&s], &rcpt, Address::new("a", "b"), input);
        let (k, reason) = match &got {
            Outcome::Delivered | Outcome::PassedOn => ("delivered", ""),
            Outcome::Deferred(r) => ("deferred", r.as_str()),
            Outcome::Failed(r) => ("failed", r.as_str()),
        };
        assert_eq!(k, kind, "{body}: {got:?}");
        assert!(reason.contains(text), "{body}: {reason}");
        assert!(
            reason.len() <= crate::exec::MAX_CAPTURE + 200,
            "{body}: reason of {} bytes",
            reason.len()
        );
        if !reason.is_empty() {
            assert!(reason.contains(&format!("process '{s}'")), "{reason}");
        }
    }
}

#[test]
fn commands_that_cannot_start() {
    let rcpt = Address::new("bob", "x");
    for (words, text) in [
        (vec!["/nonexistent/mda"], "cannot start"),
        (vec!["./relative"], "absolute path"),
        (vec!["no-such-command-xq7"], "not found"),
        (vec![], "empty command"),
        (
            vec!["$unset_variable_expands_to_nothing"],
            "empty command name",
        ),
    ] {
        let (got, _) = mda(&cfg(), &words, &rcpt, Address::new("a", "b"), b"x\n");
        assert!(
            matches!(&got, Outcome::Failed(r) if r.contains(text)),
            "{words:?}: {got:?}"
        );
    }
    // A bare name is found in the fixed path, not the caller's PATH.
    let (got, _) = mda(&cfg(), &["true"], &rcpt, Address::new("a", "b"), b"x\n");
    assert_eq!(got, Outcome::Delivered);
}

/// R22: a hung MDA: its whole process group is killed at the deadline, then defer.
#[test]
fn timeout_kills_the_process_group() {
    let fx = Fixture::new();
    let s = fx.script("sleeper", "/bin/sleep 1000 &\necho $! > $O/pid\nwait");
    let mut c = cfg();
    c.command_time_limit = Duration::from_millis(500);
    let (got, _) = mda(
        &c,
        &[&s],
        &Address::new("bob", "x"),
        Address::new("a", "b"),
        b"x\n",
    );
    assert!(
        matches!(&got, Outcome::Deferred(r) if r.contains("time limit")),
        "{got:?}"
    );
    let pid = String::from_utf8_lossy(&fx.read("pid")).trim().to_string();
    assert!(!pid.is_empty());
    // Gone, or a zombie waiting for init: either way no longer running.
    let dead = (0..100).any(|_| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
        if stat.is_empty() || state == Some(Some('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
        false
    });
    assert!(dead, "the script's child sleep survived");
}

/// R17/R24: commands drop to the configured user.
#[test]
fn as_root_commands_never_run_as_root() {
    let fx = Fixture::new();
    let rec = fx.recorder();
    let mut c = cfg();
    c.run_as_user = false;
    let uid_of = |fx: &Fixture| -> String {
        let status = String::from_utf8_lossy(&fx.read("status")).into_owned();
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap_or("")
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .to_string()
    };
    if !nix::unistd::getuid().is_root() {
        // No identity change without root: the command runs as we are.
        let (got, _) = mda(
            &c,
            &[&rec],
            &Address::new("nobody", "x"),
            Address::new("a", "b"),
            b"x\n",
        );
        assert_eq!(got, Outcome::Delivered);
        assert_eq!(uid_of(&fx), nix::unistd::getuid().to_string());
        return;
    }
    let Ok((mail_uid, _)) = privs::mail_user() else {
        panic!("no mail user")
    };
    for (rcpt, want) in [
        ("nobody", "65534".to_string()),
        ("no-such-user-xq7", mail_uid.to_string()),
        ("root", mail_uid.to_string()),
    ] {
        fx.clear();
        let (got, _) = mda(
            &c,
            &[&rec],
            &Address::new(rcpt, "x"),
            Address::new("a", "b"),
            b"x\n",
        );
        assert_eq!(got, Outcome::Delivered, "{rcpt}");
        assert_eq!(uid_of(&fx), want, "{rcpt}");
        let status = String::from_utf8_lossy(&fx.read("status")).into_owned();
        let groups = status
            .lines()
            .find(|l| l.starts_with("Groups:"))
            .unwrap_or("Groups: ?")
            .to_string();
        assert!(!groups.split_whitespace().any(|g| g == "0"), "{groups}");
    }
    let msg = test_message(Address::new("s", "x.example"));
    let vars = Vars::new(
        &c,
        &msg,
        &Address::new("|x", "localhost"),
        &Address::new("nobody", "local.example"),
    );
    let content = Content::new(
        &msg,
        &Address::new("nobody", "x"),
        Body::Bytes(b"x\n"),
        ContentOptions::MAILDIR,
        &chrono::Utc::now(),
    );
    fx.clear();
    assert_eq!(pipe(&c, &rec, &content, &vars), Outcome::Delivered);
    assert_eq!(
        uid_of(&fx),
        mail_uid.to_string(),
        "alias pipes run as the mail user"
    );
}
