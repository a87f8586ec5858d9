//! The POP3 fetch row: 100 messages of 2 KB fetched and deleted from a
//! private Dovecot through the latency proxy (100 ms per round trip) by
//! `masqmail -g` (pipelined when offered, a durable spool commit per
//! message, local delivery) and by Debian's fetchmail (each message to
//! `cat > /dev/null`): wall time and turns (server flights at the proxy).

use std::path::Path;

use crate::dovecot::{self, Dovecot, Options};
use crate::fetch::{self, N};
use crate::table::{Row, Value, ms};

pub fn rows(bin: &Path) -> Vec<Row> {
    let figure = format!("POP3 fetch of {N} × 2 KB, 100 ms RTT (other peer: fetchmail)");
    if !dovecot::installed() {
        let why = Value::Missing("dovecot not installed".into());
        return vec![Row::versus(figure, why.clone(), Value::none(), why)];
    }
    let dc = Dovecot::start(Options::default());
    let (turns, wall) = fetch::masqmail(bin, &dc, None, true);
    let ours = cell(wall.as_secs_f64(), turns, "");
    let fetchmail = match fetch::fetchmail(&dc) {
        Some((turns, wall)) => cell(wall.as_secs_f64(), turns, "fetchmail "),
        None => Value::Missing("fetchmail not installed".into()),
    };
    eprintln!("fetch: ours {}, {}", ours.text(), fetchmail.text());
    vec![Row::versus(figure, ours, Value::none(), fetchmail).ratio_to_other()]
}

fn cell(secs: f64, turns: u32, who: &str) -> Value {
    Value::Num(secs, format!("{who}{}, {turns} turns", ms(secs)))
}
