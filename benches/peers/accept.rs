//! Acceptance rows: 2 KiB messages per second taken by our `-bD` daemon
//! and by Postfix's smtpd from 1 and from 10 concurrent clients, over a
//! new connection per message (as LAN clients send; the target rows) and
//! over one connection per client; then the RSS of each whole process
//! tree, idle and at its peak over these rows.
//!
//! Both servers get the same load (`benches/smtp/load.rs`, pipelined
//! MAIL/RCPT/DATA, every reply checked) and neither delivers: ours has
//! `do_queue = true`, Postfix puts each message on hold — written and
//! fsynced as usual, with no queue manager work after it that would eat
//! into the next round. Best of `rounds`, the servers taking turns.

use std::path::Path;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::load::{self, Connections};
use crate::postfix::{Options, Postfix};
use crate::table::{Goal, Row, Value, kib};
use crate::tree::{self, Sampler};

pub fn rows(bin: &Path, rounds: usize, per_client: usize) -> Vec<Row> {
    let ours = Daemon::start(bin);
    let pf = Postfix::start(&Options {
        relay_port: 9,
        hold: true,
        ..Options::default()
    });
    // Let both settle (Postfix starts pickup, qmgr and postlogd after
    // its master).
    std::thread::sleep(Duration::from_millis(500));
    let idle_ours = kib(tree::rss_kb(ours.pid()));
    let pf_root = pf.as_ref().ok().and_then(Postfix::master_pid);
    let idle_pf = match (&pf, pf_root) {
        (Ok(_), Some(pid)) => kib(tree::rss_kb(pid)),
        (Ok(_), None) => Value::Missing("no master.pid".into()),
        (Err(why), _) => Value::Missing(why.clone()),
    };
    let peak_ours = Sampler::start(ours.pid());
    let peak_pf = pf_root.map(Sampler::start);

    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (clients, how) in [
        (1, Connections::PerMessage),
        (10, Connections::PerMessage),
        (1, Connections::Persistent),
        (10, Connections::Persistent),
    ] {
        let mut best = [0.0f64; 2];
        let mut pf_failed = None;
        for round in 0..rounds {
            for k in 0..2 {
                let i = (k + round) % 2;
                let addr = match (i, &pf) {
                    (0, _) => ours.addr,
                    (_, Ok(p)) => p.addr,
                    (_, Err(_)) => continue,
                };
                match load::rate(addr, clients, per_client, how) {
                    Ok(r) => best[i] = best[i].max(r),
                    Err(why) if i == 0 => panic!("ours: {why}\n{}", ours.log_tail(20)),
                    Err(why) => pf_failed = Some(format!("failed: {why}")),
                }
            }
        }
        let per = |v: f64| Value::Num(v, format!("{v:.0}/s"));
        let pf_value = match (&pf, pf_failed) {
            (Err(why), _) => Value::Missing(why.clone()),
            (_, Some(why)) => Value::Missing(why),
            _ => per(best[1]),
        };
        eprintln!(
            "accept {clients} clients: ours {:.0}/s, Postfix {}",
            best[0],
            pf_value.text()
        );
        let (how_text, goal) = match how {
            Connections::PerMessage => ("new connection per message", Goal::AtLeast(1.5)),
            Connections::Persistent => ("one connection per client", Goal::Info),
        };
        let target = match goal {
            Goal::Info => "–",
            _ => "≥ 1.5 × Postfix",
        };
        let figure = format!("accept 2 KiB msgs/s, {clients} client(s), {how_text}");
        rows.push(
            Row::versus(figure, per(best[0]), pf_value.clone(), Value::none()).target(target, goal),
        );
        rates.push((best[0], pf_value));
    }
    for (i, how_text) in [
        (0, "new connection per message"),
        (2, "one connection per client"),
    ] {
        let scale = |one: f64, ten: f64| Value::Num(ten / one, format!("{:.2} ×", ten / one));
        let ours_scale = scale(rates[i].0, rates[i + 1].0);
        let pf_scale = match (rates[i].1.num(), rates[i + 1].1.num()) {
            (Some(one), Some(ten)) => scale(one, ten),
            _ => Value::Missing(rates[i + 1].1.text().to_string()),
        };
        let checked = ours_scale.num();
        rows.push(
            Row::versus(
                format!("accept: 10 clients / 1 client, {how_text}"),
                ours_scale,
                pf_scale,
                Value::none(),
            )
            .without_ratio()
            .target_on(
                "ours ≥ 1.0 (10 never slower than 1)",
                Goal::AtLeast(1.0),
                checked,
            ),
        );
    }
    let idle_checked = idle_ours.num();
    rows.push(
        Row::versus(
            "idle RSS, whole process tree",
            idle_ours,
            idle_pf,
            Value::none(),
        )
        .target_on("ours ≤ 3 MiB", Goal::AtMost(3.0 * 1024.0), idle_checked),
    );
    let pf_peak = match (&pf, &peak_pf) {
        (Ok(_), Some(s)) => kib(s.peak_kb()),
        (Err(why), _) => Value::Missing(why.clone()),
        (Ok(_), None) => Value::Missing("no master.pid".into()),
    };
    rows.push(Row::versus(
        "peak RSS over the accept rows, whole process tree",
        kib(peak_ours.peak_kb()),
        pf_peak,
        Value::none(),
    ));
    rows
}
