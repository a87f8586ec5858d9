//! R33: a queue run killed (SIGKILL through a crash point) at each
//! delivery step, then run again: every recipient is delivered at least
//! once, only the recipient in flight at the kill may get a second copy,
//! and the spool stays valid.
//!
//! The queue: three remote messages and a mixed one (local and remote)
//! that go to the harness's SMTP sink over one pipelined connection, and
//! local ones for an mbox user, a Maildir user and an MDA user. The spool
//! lists messages in random order, so each test finds the message in
//! flight from what the first run left behind.
//!
//! What is "in flight": for a remote delivery, the one recipient whose
//! reply was outstanding; for a local one, the message whose local step
//! was running — its local copies are recorded together after that step
//! (one spool update per message, not one per recipient), so a kill in
//! the middle may repeat that message's earlier local copies too, never
//! another message's.

mod support;

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use support::sink::{Sink, SinkConfig};
use support::{Env, HOST, mbox_messages};

/// (subject, recipients) of the queued messages.
fn queue() -> Vec<(String, Vec<String>)> {
    let far = |n: u32| format!("far{n}@remote.example");
    let local = |u: &str| format!("{u}@{HOST}");
    vec![
        ("m1".into(), vec![far(1)]),
        ("m2".into(), vec![far(2)]),
        ("m3".into(), vec![far(3)]),
        ("m4".into(), vec![local("alice")]),
        ("m5".into(), vec![local("md")]),
        ("m6".into(), vec![local("bob")]),
        (
            "m7".into(),
            vec![local("alice"), local("md"), local("bob"), far(4)],
        ),
    ]
}

/// Deliveries per (subject, recipient).
type Counts = HashMap<(String, String), usize>;

/// What may arrive twice.
#[derive(Debug)]
enum Flight {
    /// This message to this recipient (a remote reply outstanding).
    Recipient(String, String),
    /// Any local copy of this message (its local step was running).
    Local(String),
}

impl Flight {
    fn covers(&self, (subject, rcpt): &(String, String)) -> bool {
        match self {
            Flight::Recipient(s, r) => s == subject && r == rcpt,
            Flight::Local(s) => s == subject && !rcpt.ends_with("@remote.example"),
        }
    }
}

struct Fixture {
    env: Env,
    sink: Sink,
}

impl Fixture {
    fn new() -> Fixture {
        let sink = Sink::start(SinkConfig::default());
        let env = Env::new("");
        for d in ["maildirs", "mda"] {
            std::fs::create_dir(env.path(d)).unwrap();
        }
        let route = env.path("sink.route");
        std::fs::write(
            &route,
            format!(
                // One connection: these tests pin which single message is
                // in flight; with more connections there is one per
                // connection (parallel_flush.rs).
                "mail_host = \"127.0.0.1:{}\"\ntls = \"none\"\nmax_parallel_connections = 1\n",
                sink.addr.port()
            ),
        )
        .unwrap();
        // The MDA delivers into its own directory: a temp file renamed
        // into place, so a copy is either whole or absent.
        let mda = env.script(
            "mda",
            &format!(
                "#!/bin/sh\nt=$(mktemp {d}/tmp.XXXXXX) && cat > \"$t\" && mv \"$t\" \"$t.msg\"\n",
                d = env.path("mda").display()
            ),
        );
        env.add_conf(&format!(
            "maildir_users = \"md\"\nmaildir_dir = \"{}\"\nmda_users = \"bob\"\nmda = \"{}\"\n\
             permanent_routes = \"{}\"",
            env.path("maildirs").display(),
            mda.display(),
            route.display()
        ));
        for (subject, rcpts) in queue() {
            let mut args = vec!["-odq", "-f", "sender@remote.example"];
            args.extend(rcpts.iter().map(String::as_str));
            env.ok(
                &args,
                format!("Subject: {subject}\n\nbody of {subject}\n").as_bytes(),
            );
        }
        Fixture { env, sink }
    }

    /// `-q` with the crash point armed; it must die by SIGKILL.
    fn crash(&self, point: &str) {
        let out = self
            .env
            .cmd()
            .arg("-q")
            .env("MASQMAIL_CRASHPOINT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point} was not reached: {:?}\nlog: {}",
            out.status,
            self.env.log()
        );
    }

    fn counts(&self) -> Counts {
        let mut c = Counts::new();
        let mut add = |text: &str, rcpt: &str| {
            *c.entry((subject(text), rcpt.to_string())).or_default() += 1;
        };
        for m in self.sink.messages() {
            for r in &m.rcpts {
                add(&String::from_utf8_lossy(&m.text), r);
            }
        }
        for m in mbox_messages(&self.env.mbox("alice")) {
            add(&m, &format!("alice@{HOST}"));
        }
        for m in files(&self.env.path("maildirs/md/new"), "") {
            add(&m, &format!("md@{HOST}"));
        }
        for m in files(&self.env.path("mda"), ".msg") {
            add(&m, &format!("bob@{HOST}"));
        }
        c
    }

    /// The second run, then the R33 checks: each recipient at least once,
    /// a second copy only for `in_flight`, the spool empty and valid.
    fn recover_and_check(&self, in_flight: Option<Flight>) {
        self.recover();
        self.check(in_flight);
    }

    fn recover(&self) {
        self.env.ok(&["-q"], b"");
    }

    fn check(&self, in_flight: Option<Flight>) {
        let counts = self.counts();
        for (subject, rcpts) in queue() {
            for r in rcpts {
                let n = counts.get(&(subject.clone(), r.clone())).copied();
                assert!(n.unwrap_or(0) >= 1, "{subject} to {r} lost: {counts:?}");
            }
        }
        for (pair, n) in &counts {
            assert!(
                *n == 1 || (*n == 2 && in_flight.as_ref().is_some_and(|f| f.covers(pair))),
                "{pair:?} {n} times; only {in_flight:?} may be twice: {counts:?}\nlog: {}",
                self.env.log()
            );
        }
        assert!(self.env.queued().is_empty(), "{}", self.env.log());
        assert!(
            self.env.spool_files().iter().all(|f| f.ends_with(".tmp")),
            "only temp files may be left: {:?}",
            self.env.spool_files()
        );
        assert!(
            !self.env.log().contains("Undeliverable"),
            "{}",
            self.env.log()
        );
    }
}

fn subject(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("?")
        .trim()
        .to_string()
}

/// The texts of the files in `dir` whose names end with `suffix`.
fn files(dir: &std::path::Path, suffix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// The message of the first run's only delivery to `rcpt`: its local
/// step was in flight.
fn only(counts: &Counts, rcpt: &str) -> Option<Flight> {
    let got: Vec<_> = counts.keys().filter(|(_, r)| r == rcpt).collect();
    assert_eq!(
        got.len(),
        1,
        "one delivery to {rcpt} before the kill: {counts:?}"
    );
    Some(Flight::Local(got[0].0.clone()))
}

/// The `n`-th message the sink received (from 0), as the one in flight.
fn on_the_wire(f: &Fixture, n: usize) -> Option<Flight> {
    let sent = f.sink.messages();
    let m = sent.get(n)?;
    Some(Flight::Recipient(
        subject(&String::from_utf8_lossy(&m.text)),
        m.rcpts[0].clone(),
    ))
}

/// R33: killed after the second remote `250` was read, before the spool
/// knows: only that message goes out again; the first one, accepted
/// earlier on the same connection, was concluded before (on the old code
/// the whole chunk was concluded after the session, so both went twice).
#[test]
fn killed_after_a_remote_250() {
    let f = Fixture::new();
    f.crash("remote-accepted:2");
    assert_eq!(f.sink.messages().len(), 2, "two accepted on the connection");
    let in_flight = on_the_wire(&f, 1);
    // The first concluded; the one in flight and the two not sent yet stay.
    assert_eq!(f.env.queued().len(), 3, "{}", f.env.log());
    f.recover_and_check(in_flight);
}

/// R33: killed mid-SMTP transfer, the second message's text written and
/// its reply not read: the sink may or may not have taken it; either way
/// it is the only one that may arrive twice.
#[test]
fn killed_mid_smtp_transfer() {
    let f = Fixture::new();
    f.crash("smtp-data-sent:2");
    // The sink's second message over both runs is the one in flight if
    // the sink took it before the kill; else it is the second run's first,
    // which cannot arrive twice anyway. Known only once the sink is done.
    f.recover();
    f.check(on_the_wire(&f, 1));
}

/// R33: killed mid-mbox append (written, not yet synced): that recipient
/// may get the message twice, nobody else.
#[test]
fn killed_mid_mbox_append() {
    let f = Fixture::new();
    f.crash("mbox-written:1");
    let in_flight = only(&f.counts(), &format!("alice@{HOST}"));
    f.recover_and_check(in_flight);
}

/// R33/R19: killed while taking the mbox dotlock (its pid written, not yet
/// linked to `alice.lock`): no lock is left that names nobody, so the next
/// run delivers at once instead of deferring until the lock is stale.
#[test]
fn killed_while_taking_the_dotlock() {
    let f = Fixture::new();
    f.crash("mbox-dotlock-written:1");
    assert!(
        !f.env.path("mail/alice.lock").exists(),
        "no dotlock left behind"
    );
    f.recover_and_check(None);
}

/// R33: killed after the Maildir link into `new/` was synced, before the
/// spool update.
#[test]
fn killed_after_the_maildir_link() {
    let f = Fixture::new();
    f.crash("maildir-new-synced:1");
    let in_flight = only(&f.counts(), &format!("md@{HOST}"));
    f.recover_and_check(in_flight);
}

/// R33: killed mid-MDA: the MDA has the whole message and finishes on
/// its own; its exit status is never read, so that copy is sent again.
#[test]
fn killed_mid_mda() {
    let f = Fixture::new();
    f.crash("mda-fed:1");
    let bob = format!("bob@{HOST}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f.counts().keys().any(|(_, r)| *r == bob) {
        assert!(Instant::now() < deadline, "the orphaned MDA never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let in_flight = only(&f.counts(), &bob);
    f.recover_and_check(in_flight);
}

/// R33: killed after a later remote `250`: the mixed message's local
/// copies, delivered before the SMTP session, were written to the spool
/// before it, so they are never delivered again.
#[test]
fn local_copies_of_a_mixed_message_survive_a_remote_kill() {
    let f = Fixture::new();
    f.crash("remote-accepted:4");
    assert_eq!(f.sink.messages().len(), 4);
    let in_flight = on_the_wire(&f, 3);
    f.recover_and_check(in_flight);
}
