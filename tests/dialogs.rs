//! SMTP conversations as files (STYLE.md §2.7, RELIABILITY R01–R08): every
//! `tests/dialogs/*.dlg` is one conversation with the SMTP server, run
//! in-process over `tokio::io::duplex` (no sockets, no binary) against a
//! fresh temporary spool. Adding a case is adding a file.
//!
//! # Format
//! One directive per line; blank lines and lines starting with `#` are
//! ignored (there are no comments after a directive). Trailing blanks are
//! ignored: use `~>` to send them.
//!
//! ```text
//! peer 192.0.2.7        client address (the default; outside relay_nets)
//! peer 127.0.0.1        inside relay_nets
//! peer local            a local `-bs` user (login jo, uid 1000)
//! config KEY = VALUE    a masqmail.conf line applied before the session
//! tls                   the session runs as on an implicit-TLS listener
//!                       (`tls_listen_addresses`): TLS counts as active
//!                       (the in-memory stream stands for the TLS layer)
//! user LINE             a line of the SMTP AUTH passwd-file (`user:{PLAIN}pw`);
//!                       with any, AUTH is offered (inside TLS)
//! <~ PREFIX             read one reply (all its lines); its LAST line must
//!                       start with PREFIX, e.g. `250 2.1.0`
//! <... PREFIX           the same, and the reply must have several lines
//! <* N PREFIX           N replies, each as `<~ PREFIX`
//! <eof                  the server must close the connection
//! -> TEXT               send TEXT and CRLF (`->` alone: an empty line)
//! ~> "BYTES"            send raw bytes; escapes \r \n \t \\ \" \0 \xNN
//! => N "BYTES"          send N copies of BYTES (or of a bare word: `=> 3000 x`)
//! expect spool.count == N        messages (`*-H` files) in the spool now
//! expect body contains "BYTES"   the only message's `-D` file holds BYTES
//! expect body lacks "BYTES"      ... does not hold BYTES
//! expect header contains "BYTES" the only message's `-H` file holds BYTES
//! expect header lacks "BYTES"
//! expect reply contains "TEXT"   the last reply read (lines joined by \n)
//! expect reply lacks "TEXT"
//! ```
//!
//! `peer` and `config` come before everything else. The server is
//! `mx.example` (its local domain), `do_queue` is on, `queue_minfree` is 0,
//! and no on_accepted hook is set, so nothing is ever delivered.
//!
//! Every read and write has a [`TIMEOUT`]: a wrong expectation fails, it
//! never hangs. When the file ends, the client closes its side; any reply
//! not read by then, a server task that did not end, or a `*.tmp` file
//! left in the spool fails the case. Failures name `file:line`, what was
//! expected and what came. `DIALOG=word cargo test --test dialogs` runs
//! only the files whose name contains `word`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use masqmail::config::Config;
use masqmail::inbound::smtp::auth_file::AuthTable;
use masqmail::inbound::smtp::{Peer, ServerCtx, serve, serve_encrypted};
use masqmail::spool::Spool;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The longest any read or write may wait.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes buffered in each direction of the in-memory connection.
const PIPE: usize = 1 << 20;
const HOST: &str = "mx.example";

#[derive(Debug)]
enum Op {
    /// A reply (`min_lines` 2 for `<...`), `count` times.
    Reply {
        prefix: String,
        min_lines: usize,
        count: usize,
    },
    Send(Vec<u8>),
    Eof,
    SpoolCount(usize),
    /// In which file (`"body"`, `"header"`, `"reply"`), what, and whether it must be there.
    Contains {
        what: &'static str,
        needle: Vec<u8>,
        present: bool,
    },
}

struct Script {
    peer: Peer,
    /// (dialog line, masqmail.conf line)
    config: Vec<(usize, String)>,
    /// `tls`: as on an implicit-TLS listener.
    tls: bool,
    /// `user` lines: the AUTH passwd-file.
    users: Vec<String>,
    ops: Vec<(usize, Op)>,
}

#[test]
fn dialogs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialogs");
    let filter = std::env::var("DIALOG").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/dialogs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "dlg"))
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dialog files in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let name = format!(
            "tests/dialogs/{}",
            file.file_name().unwrap().to_string_lossy()
        );
        match run_file(file, &name) {
            Ok(()) => eprintln!("dialog {name}: ok"),
            Err(e) => {
                eprintln!("dialog {e}");
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} dialogs failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn run_file(path: &Path, name: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let script = parse(&text).map_err(|e| format!("{name}:{e}"))?;
    let tmp = tempfile::tempdir().map_err(|e| format!("{name}: tempdir: {e}"))?;
    let root = tmp.path();
    for d in ["spool", "lock", "log", "mail", "run"] {
        std::fs::create_dir(root.join(d)).map_err(|e| format!("{name}: mkdir: {e}"))?;
    }
    let cfg = config(root, &script.config).map_err(|e| format!("{name}:{e}"))?;
    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir).map_err(|e| format!("{name}: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("{name}: runtime: {e}"))?;
    let auth = match script.users.is_empty() {
        true => None,
        false => {
            let text = script.users.join("\n");
            let table = AuthTable::parse(text.as_bytes(), &root.join("passwd"))
                .map_err(|e| format!("{name}: {e}"))?;
            Some(Arc::new(table))
        }
    };
    rt.block_on(converse(script, cfg, spool, auth))
        .map_err(|(line, e)| match line {
            0 => format!("{name}: {e}"),
            n => format!("{name}:{n}: {e}"),
        })
}

/// The base configuration plus the dialog's `config` lines.
fn config(root: &Path, extra: &[(usize, String)]) -> Result<Config, String> {
    let r = root.display();
    let mut text = format!(
        "host_name = \"{HOST}\"\nrun_as_user = true\ndo_queue = true\nqueue_minfree = 0\n\
         spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
         mail_dir = \"{r}/mail\"\npid_dir = \"{r}/run\"\n"
    );
    let base_lines = text.lines().count();
    for (_, line) in extra {
        text.push_str(line);
        text.push('\n');
    }
    Config::parse(text.as_bytes(), &root.join("masqmail.conf")).map_err(|e| {
        let at = (e.line as usize)
            .checked_sub(base_lines + 1)
            .and_then(|i| extra.get(i))
            .map_or(0, |(l, _)| *l);
        format!("{at}: config: {}", e.kind)
    })
}

// --- the conversation ------------------------------------------------------

type Fail = (usize, String);

async fn converse(
    script: Script,
    cfg: Config,
    spool: Spool,
    auth: Option<Arc<AuthTable>>,
) -> Result<(), Fail> {
    let spool_dir = cfg.spool_dir.clone();
    let ctx = Arc::new(ServerCtx::new(Arc::new(cfg), spool, None, None).with_auth(auth));
    let (client_io, server_io) = tokio::io::duplex(PIPE);
    let server = match script.tls {
        true => tokio::spawn(serve_encrypted(server_io, ctx, script.peer)),
        false => tokio::spawn(serve(server_io, ctx, script.peer)),
    };
    let mut c = Client {
        io: client_io,
        buf: Vec::new(),
        last: Vec::new(),
    };
    for (line, op) in script.ops {
        step(&mut c, &spool_dir, op).await.map_err(|e| (line, e))?;
    }
    // The end of the file: nothing may be left unread, the server must end.
    let _ = tokio::time::timeout(TIMEOUT, c.io.shutdown()).await;
    let mut rest = std::mem::take(&mut c.buf);
    let read_rest = tokio::time::timeout(TIMEOUT, c.io.read_to_end(&mut rest)).await;
    if !rest.is_empty() {
        return Err((
            0,
            format!("output nobody expected at the end: {}", show(&rest)),
        ));
    }
    if read_rest.is_err() {
        return Err((0, "the server did not close after the client did".into()));
    }
    match tokio::time::timeout(TIMEOUT, server).await {
        Err(_) => return Err((0, "the server task did not end".into())),
        Ok(Err(e)) => return Err((0, format!("the server task failed: {e}"))),
        Ok(Ok(())) => {}
    }
    let tmp = spool_files(&spool_dir, ".tmp");
    if !tmp.is_empty() {
        return Err((0, format!("temporary files left in the spool: {tmp:?}")));
    }
    Ok(())
}

async fn step(c: &mut Client, spool_dir: &Path, op: Op) -> Result<(), String> {
    match op {
        Op::Send(bytes) => c.send(&bytes).await,
        Op::Reply {
            prefix,
            min_lines,
            count,
        } => {
            for i in 0..count {
                let lines = c.reply().await.map_err(|got| {
                    format!("expected reply {}{prefix:?}, got {got}", nth(i, count))
                })?;
                let last = lines.last().map_or("", String::as_str);
                if !last.starts_with(&prefix) || lines.len() < min_lines {
                    let shape = if min_lines > 1 { "multi-line " } else { "" };
                    return Err(format!(
                        "expected {shape}reply {}{prefix:?}, got {:?}",
                        nth(i, count),
                        lines.join("\n")
                    ));
                }
            }
            Ok(())
        }
        Op::Eof => c.eof().await,
        Op::SpoolCount(want) => {
            let got = spool_files(spool_dir, "-H").len();
            if got == want {
                Ok(())
            } else {
                Err(format!("expected spool.count == {want}, got {got}"))
            }
        }
        Op::Contains {
            what,
            needle,
            present,
        } => {
            let hay = match what {
                "reply" => c.last.join("\n").into_bytes(),
                suffix => only_message_file(spool_dir, if suffix == "body" { "-D" } else { "-H" })?,
            };
            let found = hay
                .windows(needle.len().max(1))
                .any(|w| w == needle.as_slice());
            if found == present {
                return Ok(());
            }
            let verb = if present { "contains" } else { "lacks" };
            Err(format!(
                "expected {what} {verb} {}, got {}",
                show(&needle),
                show(&hay)
            ))
        }
    }
}

fn nth(i: usize, count: usize) -> String {
    if count == 1 {
        String::new()
    } else {
        format!("{} of {count} ", i + 1)
    }
}

/// The client end: bytes read and not yet taken, and the last reply.
struct Client {
    io: DuplexStream,
    buf: Vec<u8>,
    last: Vec<String>,
}

impl Client {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(TIMEOUT, self.io.write_all(bytes)).await {
            Err(_) => Err(format!(
                "could not send within {TIMEOUT:?} (server not reading)"
            )),
            Ok(Err(e)) => Err(format!("could not send: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads more; `Ok(false)` at EOF.
    async fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(TIMEOUT, self.io.read(&mut chunk)).await {
            Err(_) => Err(format!("nothing within {TIMEOUT:?}")),
            Ok(Err(e)) => Err(format!("read error {e}")),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
        }
    }

    /// One reply line without its CRLF (which must be there).
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=p).collect();
                let Some(text) = raw.strip_suffix(b"\r\n") else {
                    return Err(format!("a reply line without CRLF: {}", show(&raw)));
                };
                return String::from_utf8(text.to_vec())
                    .map_err(|_| format!("a reply line that is not UTF-8: {}", show(&raw)));
            }
            if !self.fill().await? {
                return Err(match self.buf.is_empty() {
                    true => "EOF".to_string(),
                    false => format!("EOF after {}", show(&self.buf)),
                });
            }
        }
    }

    /// One whole reply: lines `NNN-` up to the line `NNN ` (or `NNN`).
    async fn reply(&mut self) -> Result<Vec<String>, String> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line = self.line().await.map_err(|e| match lines.is_empty() {
                true => e,
                false => format!("{e} inside reply {:?}", lines.join("\n")),
            })?;
            let b = line.as_bytes();
            let well_formed = b.len() >= 3
                && b[..3].iter().all(u8::is_ascii_digit)
                && matches!(b.get(3), None | Some(b' ') | Some(b'-'))
                && lines.first().is_none_or(|f| f[..3] == line[..3]);
            if !well_formed {
                lines.push(line);
                return Err(format!("a malformed reply {:?}", lines.join("\n")));
            }
            let more = b.get(3) == Some(&b'-');
            lines.push(line);
            if !more {
                self.last = lines.clone();
                return Ok(lines);
            }
        }
    }

    async fn eof(&mut self) -> Result<(), String> {
        if !self.buf.is_empty() {
            return Err(format!("expected EOF, got {}", show(&self.buf)));
        }
        match self.fill().await {
            Ok(false) => Ok(()),
            Ok(true) => Err(format!("expected EOF, got {}", show(&self.buf))),
            Err(e) => Err(format!("expected EOF, got {e}")),
        }
    }
}

fn spool_files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The `-D` or `-H` file of the one message in the spool.
fn only_message_file(dir: &Path, suffix: &str) -> Result<Vec<u8>, String> {
    let files = spool_files(dir, suffix);
    match files.as_slice() {
        [one] => std::fs::read(dir.join(one)).map_err(|e| format!("{one}: {e}")),
        _ => Err(format!(
            "expected exactly one message in the spool, found {}",
            files.len()
        )),
    }
}

/// Bytes for a failure message, shortened in the middle when long.
fn show(bytes: &[u8]) -> String {
    const KEEP: usize = 300;
    if bytes.len() <= 2 * KEEP {
        return format!("{:?}", String::from_utf8_lossy(bytes));
    }
    format!(
        "{:?} ... ({} bytes) ... {:?}",
        String::from_utf8_lossy(&bytes[..KEEP]),
        bytes.len(),
        String::from_utf8_lossy(&bytes[bytes.len() - KEEP..])
    )
}

// --- the file format -------------------------------------------------------

fn parse(text: &str) -> Result<Script, String> {
    let mut script = Script {
        peer: tcp_peer("192.0.2.7")?,
        config: Vec::new(),
        tls: false,
        users: Vec::new(),
        ops: Vec::new(),
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        let at = |e: String| format!("{n}: {e}");
        if matches!(word, "peer" | "config" | "tls" | "user") && !script.ops.is_empty() {
            return Err(at(format!("`{word}` must come before the conversation")));
        }
        let op = match word {
            "peer" => {
                script.peer = match rest {
                    "local" => Peer::Local {
                        login: "jo".into(),
                        uid: 1000,
                    },
                    ip => tcp_peer(ip).map_err(at)?,
                };
                continue;
            }
            "config" => {
                script.config.push((n, rest.to_string()));
                continue;
            }
            "tls" if rest.is_empty() => {
                script.tls = true;
                continue;
            }
            "user" => {
                script.users.push(nonempty(rest).map_err(at)?);
                continue;
            }
            "<~" | "<..." => Op::Reply {
                prefix: nonempty(rest).map_err(at)?,
                min_lines: if word == "<~" { 1 } else { 2 },
                count: 1,
            },
            "<*" => {
                let (count, prefix) = rest.split_once(' ').unwrap_or((rest, ""));
                Op::Reply {
                    prefix: nonempty(prefix.trim()).map_err(at)?,
                    min_lines: 1,
                    count: number(count).map_err(at)?,
                }
            }
            "<eof" if rest.is_empty() => Op::Eof,
            "->" => Op::Send(format!("{rest}\r\n").into_bytes()),
            "~>" => Op::Send(quoted(rest).map_err(at)?),
            "=>" => {
                let (count, what) = rest.split_once(' ').unwrap_or((rest, ""));
                let count = number(count).map_err(at)?;
                let what = what.trim();
                let unit = match what.starts_with('"') {
                    true => quoted(what).map_err(at)?,
                    false => nonempty(what).map_err(at)?.into_bytes(),
                };
                Op::Send(unit.repeat(count))
            }
            "expect" => expectation(rest).map_err(at)?,
            _ => return Err(at(format!("unknown directive {line:?}"))),
        };
        script.ops.push((n, op));
    }
    Ok(script)
}

fn tcp_peer(ip: &str) -> Result<Peer, String> {
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("bad peer address {ip:?}"))?;
    Ok(Peer::Tcp(std::net::SocketAddr::new(ip, 49152)))
}

fn nonempty(s: &str) -> Result<String, String> {
    match s.is_empty() {
        true => Err("missing argument".into()),
        false => Ok(s.to_string()),
    }
}

fn number(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("expected a number, got {s:?}"))
}

fn expectation(rest: &str) -> Result<Op, String> {
    if let Some(n) = rest.strip_prefix("spool.count == ") {
        return Ok(Op::SpoolCount(number(n.trim())?));
    }
    let mut words = rest.splitn(3, ' ');
    let (what, verb, arg) = (words.next(), words.next(), words.next());
    let what = match what {
        Some("body") => "body",
        Some("header") => "header",
        Some("reply") => "reply",
        _ => return Err(format!("unknown expectation {rest:?}")),
    };
    let present = match verb {
        Some("contains") => true,
        Some("lacks") => false,
        _ => return Err(format!("expected `contains` or `lacks` in {rest:?}")),
    };
    Ok(Op::Contains {
        what,
        needle: quoted(arg.unwrap_or("").trim())?,
        present,
    })
}

/// A double-quoted string with Rust-like escapes: \r \n \t \\ \" \0 \xNN.
fn quoted(s: &str) -> Result<Vec<u8>, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .filter(|_| s.len() >= 2)
        .ok_or_else(|| format!("expected a \"quoted string\", got {s:?}"))?;
    let mut out = Vec::new();
    let mut bytes = inner.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'"' => return Err(format!("unescaped quote inside {s:?}")),
            b'\\' => out.push(match bytes.next() {
                Some(b'r') => b'\r',
                Some(b'n') => b'\n',
                Some(b't') => b'\t',
                Some(b'0') => 0,
                Some(b'\\') => b'\\',
                Some(b'"') => b'"',
                Some(b'x') => {
                    let hex = [bytes.next(), bytes.next()];
                    let hex: Vec<u8> = hex.into_iter().flatten().collect();
                    std::str::from_utf8(&hex)
                        .ok()
                        .filter(|h| h.len() == 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| format!("bad \\x escape in {s:?}"))?
                }
                other => {
                    return Err(format!(
                        "unknown escape \\{} in {s:?}",
                        other.map_or(String::new(), |b| (b as char).to_string())
                    ));
                }
            }),
            b => out.push(b),
        }
    }
    Ok(out)
}

#[test]
fn format_errors_name_the_line() {
    let bad = [
        ("<~ 220\nfrobnicate\n", "2: unknown directive"),
        ("-> EHLO x\npeer 127.0.0.1\n", "2: `peer` must come"),
        ("~> \"a\\qb\"\n", "1: unknown escape"),
        ("~> unquoted\n", "1: expected a \"quoted string\""),
        ("=> many x\n", "1: expected a number"),
        (
            "\n\nexpect body has \"x\"\n",
            "3: expected `contains` or `lacks`",
        ),
    ];
    for (text, want) in bad {
        let got = parse(text).err().unwrap_or_default();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
    assert_eq!(quoted(r#""a\r\n\x41\0\"\\""#).unwrap(), b"a\r\nA\0\"\\");
}
