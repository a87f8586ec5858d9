//! R31 end to end: `masqmail -g NAME` against a hostile or odd test POP3
//! server (tests/support/pop3.rs). Covered: RETR cut off before its
//! closing `.` (nothing spooled, nothing deleted, a log line, fetched by
//! the next run); a message holding NUL; bare-LF and smuggling endings
//! with bad dot-stuffing (one message, every byte in it, nothing read as
//! a reply); a message without headers (accepted with generated headers
//! and the X-Warning that the return path is unknown); LIST claiming 2 GB
//! with `max_size` (skipped, never RETRieved, left on the server); UIDL
//! with duplicate ids and ids holding `/`, `..` and spaces (each message
//! fetched once, the UIDL file holds them as lines, no file is named after
//! one); an APOP greeting without timestamp (nothing sent, a log line).
//! Every run ends well inside the fetch's own timeout (no hang).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::pop3::{Fault, Pop3Config, Pop3Server};
use support::{Env, mbox_messages};

/// Far below the POP3 client's 300 s read timeout: a run that takes this
/// long is hanging.
const NO_HANG: Duration = Duration::from_secs(60);

fn message(i: usize) -> Vec<u8> {
    format!("From: Sender <s{i}@far.example>\nSubject: message {i}\n\nbody of message {i}\n")
        .into_bytes()
}

fn server(messages: Vec<Vec<u8>>) -> Pop3Config {
    Pop3Config {
        users: vec![("joe".into(), "secret".into())],
        messages,
        pipelining: true,
        ..Default::default()
    }
}

fn env_for(srv: &Pop3Server, extra: &str) -> Env {
    let env = Env::new("");
    let get = env.path("isp.get");
    std::fs::write(
        &get,
        format!(
            "server = 127.0.0.1\nport = {}\nuser = joe\npass = secret\naddress = joe\ntls = none\n{extra}\n",
            srv.port()
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    env
}

/// `masqmail -g isp`, killed and failed if it runs past [`NO_HANG`];
/// asserts exit 0 (a failed session is logged, not an exit status).
fn fetch(env: &Env) {
    let mut c = env.cmd();
    c.args(["-g", "isp"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > NO_HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("masqmail -g hangs\nlog: {}", env.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\nlog: {}", env.log());
}

/// Files in the spool directory itself (messages and temp files).
fn spool_entries(env: &Env) -> Vec<String> {
    env.spool_files()
        .into_iter()
        .filter(|n| !env.path("spool").join(n).is_dir())
        .collect()
}

fn count(msgs: &[String], needle: &str) -> usize {
    msgs.iter().filter(|m| m.contains(needle)).count()
}

/// R31: RETR closed before its final dot: not spooled, not deleted, a log line; the next run fetches it once.
#[test]
fn r31_retr_without_closing_dot_spools_nothing_and_is_fetched_next_run() {
    let mut cfg = server(vec![message(1)]);
    cfg.fault = Fault::RetrWithoutDot(1);
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "do_uidl = true");
    fetch(&env);
    let log = env.log();
    assert!(
        log.contains("connection closed reading a message"),
        "a clear log line: {log}"
    );
    assert!(env.mbox("joe").is_empty(), "nothing delivered");
    assert_eq!(spool_entries(&env), Vec::<String>::new(), "no spool file");
    assert!(srv.lines().iter().all(|l| !l.starts_with("DELE")));
    assert_eq!(srv.remaining(), 1, "still on the server");
    // The server answers normally now (the fault was the first RETR only).
    fetch(&env);
    let msgs = mbox_messages(&env.mbox("joe"));
    assert_eq!(msgs.len(), 1);
    assert_eq!(count(&msgs, "body of message 1\n"), 1);
    assert_eq!(srv.remaining(), 0);
}

/// R31: NUL bytes: in the body they are kept; in a header the message is refused with a log line and left on the server; the next message is still fetched; no hang, no crash.
#[test]
fn r31_nul_bytes_in_a_message() {
    let body_nul = b"From: a@far.example\nSubject: nul in body\n\nbefore\0after\n".to_vec();
    let header_nul = b"From: b@far.example\nSubject: nul\0in header\n\nbody x\n".to_vec();
    let srv = Pop3Server::start(server(vec![body_nul, header_nul, message(3)]));
    let env = env_for(&srv, "");
    fetch(&env);
    let mbox = env.mbox_bytes("joe");
    let text = String::from_utf8_lossy(&mbox).into_owned();
    let msgs = mbox_messages(&text);
    assert!(
        mbox.windows(12).any(|w| w == b"before\0after"),
        "NUL in the body kept: {text:?}"
    );
    assert_eq!(count(&msgs, "body of message 3\n"), 1, "{text}");
    // NUL in a header cannot be spooled (the -H format refuses it, R09):
    // refused with a log line, left on the server (not deleted, not
    // lost), no spool file left behind.
    assert_eq!(count(&msgs, "body x\n"), 0, "{text}");
    assert!(
        env.log()
            .contains("message #2 not spooled: Could not write spool file: cannot write header to the spool: contains NUL"),
        "{}",
        env.log()
    );
    assert!(
        srv.lines().iter().all(|l| l != "DELE 2"),
        "{:?}",
        srv.lines()
    );
    assert_eq!(srv.remaining(), 1);
    assert_eq!(spool_entries(&env), Vec::<String>::new());
}

/// R31: bare LF lines, smuggling endings and bad dot-stuffing inside a message: only CR LF . CR LF ends it; nothing after a look-alike is read as a server reply.
#[test]
fn r31_bare_lf_and_smuggling_endings_stay_inside_one_message() {
    let smuggle = b"From: a@far.example\nSubject: smuggle\n\n\
        bare-lf line\n.\n+OK fake reply one\r\n.\nafter-lf-dot\n.\r\nafter-dot-crlf\r\n\
        \r.\r\nafter-cr-dot\r\n..doubled\r\n.single\r\nend of smuggle\r\n."
        .to_vec();
    let next = b"From: b@far.example\r\nSubject: next\r\n\r\nbody of next\r\n.".to_vec();
    let mut cfg = server(vec![smuggle, next]);
    cfg.raw = true;
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "");
    fetch(&env);
    let mbox = env.mbox("joe");
    let msgs = mbox_messages(&mbox);
    assert_eq!(msgs.len(), 2, "{mbox}");
    let first = msgs
        .iter()
        .find(|m| m.contains("Subject: smuggle"))
        .expect("the smuggling message");
    for part in [
        "bare-lf line\n",
        "+OK fake reply one",
        "after-lf-dot",
        "after-dot-crlf",
        "after-cr-dot",
        "\n.doubled\n",
        "\nsingle\n",
        "end of smuggle\n",
    ] {
        assert!(first.contains(part), "{part:?} missing in {first:?}");
    }
    assert_eq!(count(&msgs, "body of next\n"), 1);
    assert_eq!(srv.remaining(), 0);
}

/// R31: a message with no headers at all is accepted with generated headers and the X-Warning that the return path is unknown (fetchmail CVE-2005-4348).
#[test]
fn r31_headerless_message_gets_generated_headers() {
    let bare = b"no header here, just text\nand a second line\n".to_vec();
    let srv = Pop3Server::start(server(vec![bare]));
    let env = env_for(&srv, "");
    fetch(&env);
    let msgs = mbox_messages(&env.mbox("joe"));
    assert_eq!(msgs.len(), 1, "{}", env.log());
    let m = &msgs[0];
    for h in [
        "\nX-Warning: real return path is unkown",
        "\nDate: ",
        "\nMessage-ID: <",
        "\nFrom: ",
        "\nReceived: from 127.0.0.1",
    ] {
        assert!(m.contains(h), "{h:?} not generated: {m}");
    }
    assert!(m.contains("and a second line\n"), "{m}");
    assert_eq!(srv.remaining(), 0);
}

/// R31: LIST claiming 2 GB with max_size: skipped with a log line, never RETRieved, left on the server; the other message fetched.
#[test]
fn r31_list_claiming_two_gigabytes_is_skipped_under_max_size() {
    let mut cfg = server(vec![message(1), message(2)]);
    cfg.list_sizes = Some(vec![2 << 30, message(2).len() as u64]);
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "max_size = 1000000");
    fetch(&env);
    assert!(
        env.log()
            .contains("size of message #1 (2147483648) > max_size"),
        "{}",
        env.log()
    );
    assert!(
        srv.lines().iter().all(|l| l != "RETR 1"),
        "{:?}",
        srv.lines()
    );
    let msgs = mbox_messages(&env.mbox("joe"));
    assert_eq!(msgs.len(), 1);
    assert_eq!(count(&msgs, "body of message 2\n"), 1);
    assert_eq!(srv.remaining(), 1, "the big one stays");
}

/// Every path under `root`, relative.
fn walk(root: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        out.push(e.path().display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&e.path(), out);
        }
    }
}

/// R31: UIDL with duplicate ids and ids holding `/`, `..` and spaces: each message fetched once over several runs (do_keep), the UIDL file holds the ids as lines, no file is named after one.
#[test]
fn r31_hostile_uids_are_handled_consistently_and_never_name_a_file() {
    let uids = ["dup", "dup", "../../escape", "a/b", "with space"];
    let mut cfg = server((1..=5).map(message).collect());
    cfg.uids = Some(uids.iter().map(|u| u.to_string()).collect());
    let srv = Pop3Server::start(cfg);
    let env = env_for(&srv, "do_uidl = true\ndo_keep = true");
    for _ in 0..3 {
        fetch(&env);
    }
    let msgs = mbox_messages(&env.mbox("joe"));
    for i in 1..=5 {
        assert_eq!(
            count(&msgs, &format!("body of message {i}\n")),
            1,
            "message {i}\nlog: {}",
            env.log()
        );
    }
    assert_eq!(srv.remaining(), 5, "kept");
    // The ids are lines of the one UIDL file (a UID is one word: the
    // first word of "with space").
    let popuidl = env.path("spool/popuidl");
    let names: Vec<_> = std::fs::read_dir(&popuidl)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["joe@127.0.0.1"]);
    let mut lines: Vec<String> = std::fs::read_to_string(popuidl.join("joe@127.0.0.1"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, ["../../escape", "a/b", "dup", "with"]);
    // Nothing anywhere is named after an id, inside or outside the env.
    let mut paths = Vec::new();
    walk(env.dir.path(), &mut paths);
    for p in &paths {
        let name = Path::new(p).file_name().unwrap().to_string_lossy();
        assert!(
            !["dup", "escape", "b", "with", "space"].contains(&name.as_ref()),
            "{p}"
        );
    }
    assert!(!env.dir.path().parent().unwrap().join("escape").exists());
}

/// R31: APOP asked for but the greeting has no timestamp: nothing is sent for login, a log line, nothing fetched or deleted.
#[test]
fn r31_apop_greeting_without_timestamp_sends_nothing() {
    let srv = Pop3Server::start(server(vec![message(1)]));
    let env = env_for(&srv, "protocol = apop");
    fetch(&env);
    assert!(
        env.log().contains("greeting has no timestamp"),
        "{}",
        env.log()
    );
    assert!(
        srv.lines()
            .iter()
            .all(|l| !["APOP", "USER", "PASS", "RETR", "DELE"]
                .iter()
                .any(|v| l.starts_with(v))),
        "{:?}",
        srv.lines()
    );
    assert!(env.mbox("joe").is_empty());
    assert_eq!(srv.remaining(), 1);
}
