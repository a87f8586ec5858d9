//! Flush rows: N queued 2 KB messages sent through the latency proxy (50
//! ms each way) to a PIPELINING-only and to a CHUNKING server, plain and
//! with STARTTLS + AUTH PLAIN, by:
//! * ours: `masqmail -qo isp` (turns: its waits for replies, from its
//!   debug log);
//! * Postfix: the messages queued with its `sendmail` and held by
//!   `defer_transports = smtp`, then `postqueue -f`; timed until the
//!   server holds them all (Postfix opens parallel connections);
//! * msmtp: one run per message, one after the other (what a user
//!   without a queue manager does).
//!
//! Peers' turns are the server's flights counted at the proxy, summed
//! over all their connections, with the connection count.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flush::{self, LOGIN, Link, RCPT, SECRET};
use crate::postfix::{Options, Postfix};
use crate::table::{Goal, Row, Value, ms};

const MSMTP: &str = "/usr/bin/msmtp";
const SENDER: &str = "sender@bench.example";

pub fn rows(bin: &Path, sizes: &[usize]) -> Vec<Row> {
    let mut rows = Vec::new();
    for chunking in [false, true] {
        for secure in [false, true] {
            let link = Link::start(chunking, secure);
            let pf = Postfix::start(&Options {
                relay_port: link.proxy.port(),
                tls: secure.then(|| (link.ca.ca_pem.clone(), LOGIN.into(), SECRET.into())),
                hold: false,
            });
            for &n in sizes {
                rows.extend(context_rows(bin, &link, &pf, n));
            }
        }
    }
    rows
}

fn context_rows(bin: &Path, link: &Link, pf: &Result<Postfix, String>, n: usize) -> Vec<Row> {
    let f = flush::masqmail(bin, link, n);
    let wall = f.wall.as_secs_f64();
    let ours = Value::Num(
        wall,
        format!("{}, {} turns / {} conn.", ms(wall), f.turns, f.connections),
    );
    let postfix = match pf {
        Ok(pf) => postfix(pf, link, n).unwrap_or_else(|e| Value::Missing(format!("failed: {e}"))),
        Err(why) => Value::Missing(why.clone()),
    };
    let msmtp = msmtp(link, n).unwrap_or_else(Value::Missing);
    eprintln!(
        "flush {} {} N={n}: ours {}, Postfix {}, {}",
        link.server(),
        link.link(),
        ours.text(),
        postfix.text(),
        msmtp.text()
    );
    let figure = format!(
        "flush N = {n}, {} server, {}, 100 ms RTT",
        link.server(),
        link.link()
    );
    let row = Row::versus(figure, ours, postfix, msmtp);
    let mut rows = Vec::new();
    match (link.chunking, link.secure, n) {
        (false, _, 100) => rows.push(row.target("≤ 1.0 × Postfix", Goal::AtMost(1.0))),
        (true, false, 100) => {
            rows.push(row.target_on("ours < 0.5 s", Goal::Below(0.5), Some(wall)));
            // Several sessions read `total (a+b)`: the total counts.
            let total = f.turns.split(' ').next().unwrap_or_default();
            let t = total.parse::<f64>().ok();
            rows.push(
                Row::versus(
                    format!("flush N = {n}, CHUNKING server, plain: turns"),
                    t.map_or(Value::Missing(f.turns.clone()), |v| {
                        Value::Num(v, format!("{v:.0}"))
                    }),
                    Value::none(),
                    Value::none(),
                )
                .target_on("ours ≤ 3", Goal::AtMost(3.0), t),
            );
        }
        _ => rows.push(row),
    }
    rows
}

/// Queue `n` with Postfix's sendmail, wait until all are deferred, then
/// `postqueue -f` and wait until the server has them.
fn postfix(pf: &Postfix, link: &Link, n: usize) -> Result<Value, String> {
    let body = flush::message(false);
    for _ in 0..n {
        let mut cmd = pf.sendmail();
        cmd.args(["-f", SENDER, RCPT]);
        pipe_to(cmd, &body)?;
    }
    pf.wait_deferred(n, Duration::from_secs(60))?;
    let before = link.sink.messages().len();
    link.proxy.reset();
    let start = Instant::now();
    pf.flush()?;
    if !link.wait_for(before + n, Duration::from_secs(120)) {
        return Err(format!("not all delivered: {}", pf.log_tail(1)));
    }
    let wall = start.elapsed().as_secs_f64();
    let value = Value::Num(
        wall,
        format!(
            "{}, {} flights / {} conn.",
            ms(wall),
            link.proxy.turns(),
            link.proxy.connections()
        ),
    );
    // Empty again before the next N (its connection cache may linger).
    pf.wait_deferred(0, Duration::from_secs(60))?;
    Ok(value)
}

/// msmtp, one run per message; `Err` is the cell's text.
fn msmtp(link: &Link, n: usize) -> Result<Value, String> {
    if !Path::new(MSMTP).exists() {
        return Err("msmtp not installed".into());
    }
    let rc = link.dir.path().join("msmtprc");
    std::fs::write(&rc, "").map_err(|e| e.to_string())?;
    let body = flush::message(false);
    let before = link.sink.messages().len();
    link.proxy.reset();
    let start = Instant::now();
    for _ in 0..n {
        let mut cmd = Command::new(MSMTP);
        cmd.arg(format!("--file={}", rc.display()))
            .arg("--host=localhost")
            .arg(format!("--port={}", link.proxy.port()))
            .arg(format!("--from={SENDER}"));
        if link.secure {
            cmd.args(["--tls=on", "--tls-starttls=on", "--auth=plain"])
                .arg(format!("--tls-trust-file={}", link.ca.ca_pem.display()))
                .arg(format!("--user={LOGIN}"))
                .arg(format!("--passwordeval=echo {SECRET}"));
        } else {
            cmd.args(["--tls=off", "--auth=off"]);
        }
        cmd.args(["--", RCPT]);
        pipe_to(cmd, &body).map_err(|e| format!("msmtp failed: {e}"))?;
    }
    let wall = start.elapsed().as_secs_f64();
    if link.sink.messages().len() != before + n {
        return Err("msmtp: not all delivered".into());
    }
    Ok(Value::Num(
        wall,
        format!(
            "msmtp {}, {} flights / {} conn.",
            ms(wall),
            link.proxy.turns(),
            link.proxy.connections()
        ),
    ))
}

fn pipe_to(mut cmd: Command, body: &[u8]) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
