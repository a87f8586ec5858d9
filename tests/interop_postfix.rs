//! Interop with Debian's Postfix (issue 4): masqmail flushes its queue to
//! Postfix's `smtp-sink` as the smarthost, with PIPELINING, and each
//! message arrives whole. Skipped (with a message) where Postfix is not
//! installed; `.ci/run` installs it.

mod support;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

struct SinkProcess(Child);

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_smtp_sink(dump: &Path, port: u16) -> SinkProcess {
    let mut c = Command::new(SMTP_SINK);
    if is_root() {
        c.args(["-u", "nobody"]);
    }
    // -d: one file per transaction; -c: count; backlog 10
    c.arg("-d")
        .arg(format!("{}/%Y%m%d%H%M%S.", dump.display()))
        .arg(format!("127.0.0.1:{port}"))
        .arg("10")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = c.spawn().expect("smtp-sink");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smtp-sink does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    SinkProcess(child)
}

#[test]
fn queue_flushes_to_postfix_smtp_sink() {
    if !Path::new(SMTP_SINK).exists() {
        eprintln!("{SMTP_SINK} not installed (apt-get install postfix): skipping");
        return;
    }
    let env = Env::new("");
    let dump = env.path("dump");
    fs::create_dir(&dump).unwrap();
    set_mode(&dump, 0o777);
    set_mode(env.dir.path(), 0o755);
    let port = daemon::free_port();
    let _sink = start_smtp_sink(&dump, port);
    fs::write(
        env.path("isp.route"),
        format!("mail_host = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    env.add_conf(&format!(
        "query_routes.isp = \"{}\"\n",
        env.path("isp.route").display()
    ));
    for i in 0..5 {
        let body = format!("Subject: interop {i}\n\nline\n.\n..dots\nend {i}\n");
        env.ok(
            &["-odq", "-oi", "-f", "jo", "rcpt@remote.example"],
            body.as_bytes(),
        );
    }
    env.ok(&["-qo", "isp"], b"");
    assert!(env.queued().is_empty(), "{}", env.log());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut texts: Vec<String>;
    loop {
        texts = fs::read_dir(&dump)
            .unwrap()
            .filter_map(|e| fs::read_to_string(e.ok()?.path()).ok())
            .collect();
        if texts.len() >= 5 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(texts.len(), 5, "{}", env.log());
    for i in 0..5 {
        let t = texts
            .iter()
            .find(|t| t.contains(&format!("Subject: interop {i}")))
            .expect("message");
        // the dot lines survived the dot-stuffing round trip
        assert!(
            t.contains("\nline\r\n.\r\n..dots\r\nend") || t.contains("\nline\n.\n..dots\nend"),
            "{t}"
        );
    }
}
