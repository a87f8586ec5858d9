//! The `sendmail -odq -t` rows: the median wall time of handing a 2 KB
//! message to ours and to Postfix's `sendmail` (postdrop into the
//! maildrop queue of a private instance), and the floor both are held
//! to: spawning a trivial process (`/bin/true`) plus writing and
//! fsyncing one 2 KB file in a directory on the same disk. The three are
//! measured in turns, in one loop, so that noise hits them alike.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::postfix::{Options, Postfix};
use crate::table::{Goal, Row, Value, ms};

pub fn rows(bin: &Path, runs: usize) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = crate::conf::write(dir.path(), "");
    let message = message();
    let pf = Postfix::start(&Options {
        relay_port: 9,
        ..Options::default()
    });
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut pf_failed = None;
    for i in 0..runs {
        times[0].push(floor(dir.path(), &message, i));
        let mut ours = Command::new(bin);
        ours.arg("-C").arg(&conf);
        times[1].push(submit(ours, &message).unwrap_or_else(|e| panic!("ours: {e}")));
        if let Ok(pf) = &pf {
            match submit(pf.sendmail(), &message) {
                Ok(t) => times[2].push(t),
                Err(e) => pf_failed = Some(format!("failed: {e}")),
            }
        }
    }
    let [floor, ours, postfix] = times.map(median);
    let pf_value = match (&pf, pf_failed) {
        (Err(why), _) => Value::Missing(why.clone()),
        (_, Some(why)) => Value::Missing(why),
        _ => time(postfix),
    };
    let floor = time(floor);
    vec![
        Row::versus(
            "floor: spawn `/bin/true` + write and fsync one 2 KB file",
            floor.clone(),
            Value::none(),
            Value::none(),
        ),
        Row::versus(
            format!("`sendmail -odq -t`, 2 KB, median of {runs} (other peer: the floor)"),
            time(ours),
            pf_value,
            floor,
        )
        .ratio_to_other()
        .target("≤ 1.5 × floor", Goal::AtMost(1.5)),
    ]
}

fn time(d: Duration) -> Value {
    Value::Num(d.as_secs_f64(), ms(d.as_secs_f64()))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn floor(dir: &Path, message: &[u8], i: usize) -> Duration {
    let start = Instant::now();
    let ok = Command::new("/bin/true")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "/bin/true");
    let path = dir.join(format!("floor.{i}"));
    let mut f = std::fs::File::create(&path).expect("floor file");
    f.write_all(message).expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    let t = start.elapsed();
    let _ = std::fs::remove_file(path);
    t
}

/// `cmd -odq -t` with `message` on stdin; its wall time.
fn submit(mut cmd: Command, message: &[u8]) -> Result<Duration, String> {
    let start = Instant::now();
    let mut child = cmd
        .args(["-odq", "-t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(message).map_err(|e| e.to_string())?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let t = start.elapsed();
    if status.success() {
        Ok(t)
    } else {
        Err(status.to_string())
    }
}

fn message() -> Vec<u8> {
    let mut m = b"From: bench@bench.example.org\nTo: bob@remote.example\n".to_vec();
    m.extend_from_slice(&crate::flush::message(false));
    m
}
