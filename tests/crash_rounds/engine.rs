//! The kill -9 rounds behind `cargo bench --bench crash` and
//! `tests/crash_rounds.rs` (issue 9): random SIGKILLs from outside, so
//! they run with whatever binary the caller has (no crash points needed).
//!
//! * R32: `masqmail -bs` takes messages in a loop until it is killed at a
//!   random moment; every message whose `250` came back must be in the
//!   spool byte for byte; a message without its `250` may be there only
//!   when it was the one in flight (at most one per kill); `-H` never
//!   without `-D`.
//! * R33: queue runs (an SMTP sink over one connection, an mbox user, a
//!   Maildir user) killed at random moments and restarted until the queue
//!   is empty; nothing is lost, and each kill leaves at most one message
//!   delivered but not recorded — the only ones that may arrive twice.
//!
//! All randomness comes from one seed, printed by the caller.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::sink::{Sink, SinkConfig};

const HOST: &str = "host.example.org";

/// A small xorshift generator: the whole run replays from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What one part counted.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub rounds: usize,
    /// R32: messages whose 250 the client got; R33: messages queued.
    pub acknowledged: usize,
    /// (message, recipient) pairs delivered (R32: messages spooled intact).
    pub delivered: usize,
    pub lost: usize,
    /// Copies beyond the first (R32: spooled without their 250).
    pub duplicated: usize,
    /// Of those, the ones that were in flight at a kill.
    pub duplicated_in_flight: usize,
    /// Kills after which more than one message was half done, and spool
    /// entries that are invalid (`-H` without `-D`, a wrong body).
    pub violations: Vec<String>,
}

impl Tally {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == self.duplicated_in_flight && self.violations.is_empty()
    }
}

/// A private installation: config, spool, mailboxes.
struct Install {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Install {
    fn new(extra: &str) -> Install {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path().display().to_string();
        for d in ["mail", "maildirs"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let conf = dir.path().join("masqmail.conf");
        std::fs::write(
            &conf,
            format!(
                "host_name = \"{HOST}\"\nrun_as_user = true\nspool_dir = \"{r}/spool\"\n\
                 lock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\nmail_dir = \"{r}/mail\"\n\
                 pid_dir = \"{r}/run\"\nmaildir_users = \"md\"\nmaildir_dir = \"{r}/maildirs\"\n{extra}\n"
            ),
        )
        .expect("conf");
        Install { dir, conf }
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(bin);
        c.arg("-C")
            .arg(&self.conf)
            .env_remove("MASQMAIL_CRASHPOINT");
        c
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// (id, header text, data text) of every header file; `-H` without
    /// `-D` is reported.
    fn spool(&self, violations: &mut Vec<String>) -> Vec<(String, String, Vec<u8>)> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.path("spool")) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix("-H") else {
                continue;
            };
            let h = std::fs::read_to_string(e.path()).unwrap_or_default();
            match std::fs::read(self.path(&format!("spool/{id}-D"))) {
                Ok(d) => out.push((id.to_string(), h, d)),
                Err(_) => violations.push(format!("{id}-H without -D")),
            }
        }
        out
    }
}

/// Kills `child` after `delay` unless it ended before; true when killed.
fn kill_after(child: &mut Child, delay: Duration) -> bool {
    let deadline = std::time::Instant::now() + delay;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(2)));
    }
}

/// R32: `rounds` sessions of `masqmail -bs`, each killed after a random
/// delay of up to `max_ms`.
pub fn r32(bin: &str, rng: &mut Rng, rounds: usize, max_ms: u64) -> Tally {
    let inst = Install::new("do_queue = true");
    let mut t = Tally {
        rounds,
        ..Tally::default()
    };
    let mut acked: HashMap<String, Vec<u8>> = HashMap::new();
    let mut unacked: HashMap<String, Vec<u8>> = HashMap::new();
    for round in 0..rounds {
        let mut child = inst
            .cmd(bin)
            .arg("-bs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn -bs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let bodies: Vec<Vec<u8>> = (0..50)
            .map(|n| body(&format!("r{round}-{n}"), 200 + rng.below(20_000) as usize))
            .collect();
        let client = std::thread::spawn(move || session(stdin, stdout, bodies));
        kill_after(&mut child, Duration::from_millis(rng.below(max_ms)));
        let _ = child.kill();
        let _ = child.wait();
        let (ok, sent) = client.join().expect("client thread");
        for (token, full) in sent.into_iter() {
            let body = body_part(&full).to_vec();
            if ok.contains(&token) {
                acked.insert(token, body);
            } else {
                unacked.insert(token, body);
            }
        }
    }
    t.acknowledged = acked.len();
    let mut found: HashSet<String> = HashSet::new();
    for (id, _, data) in inst.spool(&mut t.violations) {
        let text = data.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
        let token = token_of(text);
        match acked.get(&token).or_else(|| unacked.get(&token)) {
            Some(b) if b.as_slice() == text => {}
            _ => t.violations.push(format!("{id}: body not as sent")),
        }
        if !found.insert(token.clone()) {
            t.violations.push(format!("{token} spooled twice"));
        }
        if unacked.contains_key(&token) {
            // Committed, killed before the 250 was written or read.
            t.duplicated += 1;
            t.duplicated_in_flight += 1;
        }
    }
    t.delivered = acked.keys().filter(|k| found.contains(*k)).count();
    t.lost = t.acknowledged - t.delivered;
    if t.duplicated > rounds {
        t.violations
            .push("more unacknowledged messages spooled than kills".into());
    }
    t
}

/// One `-bs` session: messages until the server goes away. Returns the
/// tokens with a 250 and every (token, body) whose DATA went out.
fn session(
    mut w: std::process::ChildStdin,
    r: std::process::ChildStdout,
    bodies: Vec<Vec<u8>>,
) -> (HashSet<String>, Vec<(String, Vec<u8>)>) {
    let mut r = BufReader::new(r);
    let mut ok = HashSet::new();
    let mut sent = Vec::new();
    let reply = |r: &mut BufReader<std::process::ChildStdout>| -> Option<String> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line);
            }
        }
    };
    if reply(&mut r).is_none()
        || w.write_all(b"EHLO client\r\n").is_err()
        || reply(&mut r).is_none()
    {
        return (ok, sent);
    }
    for b in bodies {
        let token = token_of(&b);
        let mut wire =
            b"MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@host.example.org>\r\nDATA\r\n"
                .to_vec();
        let (Ok(()), Some(_), Some(_), Some(go)) = (
            w.write_all(&wire),
            reply(&mut r),
            reply(&mut r),
            reply(&mut r),
        ) else {
            break;
        };
        if !go.starts_with("354") {
            break;
        }
        wire.clear();
        for line in b.split_inclusive(|&c| c == b'\n') {
            wire.extend_from_slice(&line[..line.len() - 1]);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        sent.push((token.clone(), b));
        if w.write_all(&wire).is_err() {
            break;
        }
        match reply(&mut r) {
            Some(l) if l.starts_with("250") => {
                ok.insert(token);
            }
            _ => break,
        }
    }
    (ok, sent)
}

/// A message body: headers with the token, then filler lines.
fn body(token: &str, size: usize) -> Vec<u8> {
    let mut b = format!("Subject: {token}\n\ntoken {token}\n").into_bytes();
    while b.len() < size {
        b.extend_from_slice(b"The quick brown fox jumps over the lazy dog.\n");
    }
    b
}

/// What the data file keeps: the text after the header section.
fn body_part(text: &[u8]) -> &[u8] {
    text.windows(2)
        .position(|w| w == b"\n\n")
        .map_or(text, |n| &text[n + 2..])
}

/// The token of a text that has a `Subject:` or `token` line.
fn token_of(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").or(l.strip_prefix("token ")))
        .unwrap_or("?")
        .trim()
        .to_string()
}

/// The recipients of an R33 message `n`: a mix of the sink (one
/// connection for all), the mbox user and the Maildir user.
fn rcpts(n: usize) -> Vec<String> {
    let far = format!("far{n}@remote.example");
    let alice = format!("alice@{HOST}");
    let md = format!("md@{HOST}");
    match n % 5 {
        0 | 1 => vec![far],
        2 => vec![alice],
        3 => vec![md],
        _ => vec![alice, md, far],
    }
}

/// R33: batches of `batch` messages, queue runs killed after a random
/// delay of up to `max_ms`, restarted until the queue is empty; `rounds`
/// kills in all.
pub fn r33(bin: &str, rng: &mut Rng, rounds: usize, batch: usize, max_ms: u64) -> Tally {
    let sink = Sink::start(SinkConfig::default());
    let route_text = format!(
        "mail_host = \"127.0.0.1:{}\"\ntls = \"none\"\n",
        sink.addr.port()
    );
    let probe = Install::new("");
    let route = probe.path("sink.route");
    std::fs::write(&route, route_text).expect("route");
    let inst = Install::new(&format!("permanent_routes = \"{}\"", route.display()));
    let mut t = Tally::default();
    let mut want: Vec<(String, String)> = Vec::new();
    // Pairs delivered but still pending in the spool after some kill: the
    // only ones allowed to arrive twice.
    let mut in_flight: HashSet<(String, String)> = HashSet::new();
    let mut n = 0;
    while t.rounds < rounds {
        for _ in 0..batch {
            let token = format!("q{n}");
            let rs = rcpts(n);
            let mut c = inst.cmd(bin);
            c.args(["-odq", "-f", "s@remote.example"]).args(&rs);
            submit(c, &body(&token, 200 + rng.below(8_000) as usize));
            want.extend(rs.into_iter().map(|r| (token.clone(), r)));
            n += 1;
            t.acknowledged += 1;
        }
        loop {
            let connections_before = sink.connections();
            let mut child = inst
                .cmd(bin)
                .arg("-q")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn -q");
            let killed = t.rounds < rounds
                && kill_after(&mut child, Duration::from_millis(rng.below(max_ms)));
            if !killed {
                let _ = child.wait();
                if pending(&inst, &mut t.violations).is_empty() {
                    break;
                }
                continue;
            }
            t.rounds += 1;
            // What this kill left half done: delivered, not recorded. The
            // sink may still be reading what the killed run sent.
            sink.quiesce();
            let counts = deliveries(&inst, &sink);
            let open: HashSet<(String, String)> = pending(&inst, &mut t.violations)
                .into_iter()
                .filter(|p| counts.get(p).copied().unwrap_or(0) > 0)
                .collect();
            let new: HashSet<&String> = open
                .iter()
                .filter(|p| !in_flight.contains(*p))
                .map(|(m, _)| m)
                .collect();
            // One message per connection at most: a parallel flush
            // (issue 12) has one in flight on each.
            let connections = (sink.connections() - connections_before).max(1) as usize;
            if new.len() > connections {
                t.violations.push(format!(
                    "kill {} left {} messages half done over {connections} connection(s): {new:?}",
                    t.rounds,
                    new.len()
                ));
            }
            in_flight.extend(open);
        }
    }
    let counts = deliveries(&inst, &sink);
    for pair in &want {
        match counts.get(pair).copied().unwrap_or(0) {
            0 => t.lost += 1,
            k => {
                t.delivered += 1;
                t.duplicated += k - 1;
                if in_flight.contains(pair) {
                    t.duplicated_in_flight += k - 1;
                } else if k > 1 {
                    t.violations.push(format!(
                        "{pair:?} arrived {k} times but was never in flight at a kill"
                    ));
                }
            }
        }
    }
    t
}

fn submit(mut c: Command, text: &[u8]) {
    let mut child = c.stdin(Stdio::piped()).spawn().expect("spawn submit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text)
        .expect("write");
    assert!(child.wait().expect("wait").success(), "submission failed");
}

/// (token, recipient) pairs still pending in the spool.
fn pending(inst: &Install, violations: &mut Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, h, d) in inst.spool(violations) {
        let token = token_of(d.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default());
        let done: HashSet<&str> = h
            .lines()
            .filter_map(|l| {
                l.strip_prefix("RT:X<")
                    .or_else(|| l.strip_prefix("RL:X<"))?
                    .strip_suffix('>')
            })
            .collect();
        for l in h.lines() {
            if let Some(a) = l.strip_prefix("RT: <").and_then(|a| a.strip_suffix('>'))
                && !done.contains(a)
            {
                out.push((token.clone(), a.to_string()));
            }
        }
    }
    out
}

/// Copies per (token, recipient), partial mbox copies included.
fn deliveries(inst: &Install, sink: &Sink) -> HashMap<(String, String), usize> {
    let mut c: HashMap<(String, String), usize> = HashMap::new();
    let mut add = |text: &[u8], rcpt: &str| {
        *c.entry((token_of(text), rcpt.to_string())).or_default() += 1;
    };
    for m in sink.messages() {
        for r in &m.rcpts {
            add(&m.text, r);
        }
    }
    let mbox = std::fs::read(inst.path("mail/alice")).unwrap_or_default();
    for m in mbox_messages(&String::from_utf8_lossy(&mbox)) {
        add(m.as_bytes(), &format!("alice@{HOST}"));
    }
    if let Ok(rd) = std::fs::read_dir(inst.path("maildirs/md/new")) {
        for e in rd.flatten() {
            add(
                &std::fs::read(e.path()).unwrap_or_default(),
                &format!("md@{HOST}"),
            );
        }
    }
    c
}

fn mbox_messages(mbox: &str) -> Vec<String> {
    let mut msgs: Vec<String> = Vec::new();
    let mut prev_empty = true;
    for line in mbox.split_inclusive('\n') {
        if prev_empty && line.starts_with("From ") {
            msgs.push(String::new());
        }
        if let Some(m) = msgs.last_mut() {
            m.push_str(line);
        }
        prev_empty = line == "\n";
    }
    msgs
}

/// The table the bench prints and the test logs.
pub fn table(parts: &[(&str, &Tally)]) -> String {
    let mut s = String::from(
        "| part | rounds | acknowledged | delivered | lost | duplicated | of which in flight | violations |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (name, t) in parts {
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.rounds,
            t.acknowledged,
            t.delivered,
            t.lost,
            t.duplicated,
            t.duplicated_in_flight,
            t.violations.len()
        );
    }
    for (name, t) in parts {
        for v in &t.violations {
            s += &format!("{name}: {v}\n");
        }
    }
    s
}
