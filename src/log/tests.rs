//! Tests of the destinations and the line format through a scoped
//! subscriber (the global one can be set only once per process).

use super::*;
use std::fs;
use std::path::Path;
use std::sync::RwLock;

use tracing::{debug, error, info, info_span, trace, warn};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(dir: Option<&Path>, debug_level: u32) -> Config {
    let mut cfg = Config::with_host_name("host.example");
    cfg.log_dir = dir.map(Path::to_path_buf);
    cfg.debug_level = debug_level;
    cfg
}

/// Runs `f` with a subscriber writing to the sinks `build` chose.
fn with_log(cfg: &Config, opts: LogOptions, f: impl FnOnce()) -> TestResult {
    let sinks = build(cfg, opts)?;
    let layer = LogLayer {
        sinks: Arc::new(RwLock::new(sinks)),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    Ok(())
}

fn emit_all_levels() {
    error!(id = "1a-2b", "could not deliver");
    warn!("disk almost full");
    info!(id = "1a-2b", rp = "<a@b.example>", "accepted");
    debug!("debug detail");
    trace!("S: 250 ok");
    // Other crates' debug output is never wanted.
    debug!(target: "rustls::conn", "handshake detail");
    info!(target: "rustls::conn", "foreign info");
}

/// The text after `YYYY-MM-DD HH:MM:SS [pid] ` of each line, after checking
/// that prefix.
fn texts(path: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let content = fs::read_to_string(path)?;
    let pid = format!(" [{}] ", std::process::id());
    let mut out = Vec::new();
    for line in content.lines() {
        let (time, rest) = line.split_at_checked(19).ok_or("short line")?;
        let digits: String = time.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(digits.len(), 14, "{line}");
        assert_eq!(&time[4..5], "-", "{line}");
        assert_eq!(&time[13..14], ":", "{line}");
        let text = rest
            .strip_prefix(&pid)
            .ok_or_else(|| format!("no pid: {line}"))?;
        out.push(text.to_string());
    }
    Ok(out)
}

#[test]
fn main_log_without_debugging() -> TestResult {
    let dir = tempfile::tempdir()?;
    with_log(
        &config(Some(dir.path()), 0),
        LogOptions::default(),
        emit_all_levels,
    )?;
    assert_eq!(
        texts(&dir.path().join("masqmail.log"))?,
        [
            "error: could not deliver id=1a-2b",
            "warning: disk almost full",
            "info: accepted id=1a-2b rp=<a@b.example>",
            "info: foreign info",
        ]
    );
    assert!(!dir.path().join("debug.log").exists());
    Ok(())
}

#[test]
fn debug_log_by_level() -> TestResult {
    for (level, want_trace) in [(1, false), (3, false), (4, true), (6, true)] {
        let dir = tempfile::tempdir()?;
        with_log(
            &config(Some(dir.path()), level),
            LogOptions::default(),
            emit_all_levels,
        )?;
        // The main log is unchanged by debugging.
        assert_eq!(
            texts(&dir.path().join("masqmail.log"))?.len(),
            4,
            "level {level}"
        );
        let debug = texts(&dir.path().join("debug.log"))?;
        let mut want = vec![
            "error: could not deliver id=1a-2b",
            "warning: disk almost full",
            "info: accepted id=1a-2b rp=<a@b.example>",
            "debug: debug detail",
        ];
        if want_trace {
            want.push("debug: S: 250 ok");
        }
        want.push("info: foreign info");
        assert_eq!(debug, want, "level {level}");
    }
    Ok(())
}

#[test]
fn span_fields_and_hostile_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    with_log(&config(Some(dir.path()), 0), LogOptions::default(), || {
        let outer = info_span!("smtp", peer = "192.0.2.1");
        let _o = outer.enter();
        let inner = info_span!("msg", id = tracing::field::Empty);
        inner.record("id", "1x-9");
        let _i = inner.enter();
        info!(from = "evil\n2024-01-01 00:00:00 [1] info: forged", "MAIL");
    })?;
    assert_eq!(
        texts(&dir.path().join("masqmail.log"))?,
        ["info: MAIL from=\"evil\\n2024-01-01 00:00:00 [1] info: forged\" peer=192.0.2.1 id=1x-9"]
    );
    Ok(())
}

#[test]
fn destinations() -> TestResult {
    fn shape(s: &Sinks) -> Vec<(&'static str, Style, LevelFilter)> {
        s.targets
            .iter()
            .map(|t| {
                let d = match t.dest {
                    Dest::File(_) => "file",
                    Dest::Stderr => "stderr",
                    Dest::Stdout => "stdout",
                    Dest::Syslog => "syslog",
                    Dest::Memory(_) => "memory",
                };
                (d, t.style, t.max)
            })
            .collect()
    }
    let dir = tempfile::tempdir()?;
    let d = Some(dir.path());
    let echo = LogOptions {
        also_stderr: true,
        verbose: true,
    };
    use LevelFilter as L;
    for (cfg, opts, want) in [
        (
            config(d, 0),
            LogOptions::default(),
            vec![("file", Style::Full, L::INFO)],
        ),
        (
            config(d, 2),
            echo,
            vec![
                ("file", Style::Full, L::INFO),
                ("file", Style::Full, L::DEBUG),
                ("stderr", Style::Bare, L::ERROR),
                ("stdout", Style::Bare, L::WARN),
            ],
        ),
        // No log_dir: stderr takes the debug lines, and no echo is doubled.
        (
            config(None, 0),
            echo,
            vec![
                ("stderr", Style::Full, L::INFO),
                ("stdout", Style::Bare, L::WARN),
            ],
        ),
        (
            config(None, 5),
            LogOptions::default(),
            vec![("stderr", Style::Full, L::TRACE)],
        ),
        (
            Config {
                use_syslog: true,
                ..config(d, 1)
            },
            LogOptions {
                also_stderr: true,
                verbose: false,
            },
            vec![
                ("syslog", Style::Full, L::INFO),
                ("file", Style::Full, L::DEBUG),
                ("stderr", Style::Bare, L::ERROR),
            ],
        ),
    ] {
        assert_eq!(
            shape(&build(&cfg, opts)?),
            want,
            "{:?} {}",
            cfg.log_dir,
            cfg.debug_level
        );
    }
    Ok(())
}

#[test]
fn unsafe_log_files_stop_init() -> TestResult {
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("target");
    fs::write(&target, "")?;
    std::os::unix::fs::symlink(&target, dir.path().join("masqmail.log"))?;
    let err = build(&config(Some(dir.path()), 0), LogOptions::default()).err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("masqmail.log") && text.contains("symbolic link"),
        "{text}"
    );

    // debug.log is checked too, but only opened when debugging.
    let dir = tempfile::tempdir()?;
    fs::hard_link(&target, dir.path().join("debug.log"))?;
    assert!(build(&config(Some(dir.path()), 0), LogOptions::default()).is_ok());
    let err = build(&config(Some(dir.path()), 1), LogOptions::default()).err();
    assert!(matches!(
        err,
        Some(LogError::Unsafe {
            check: "has more than one link",
            ..
        })
    ));
    assert_eq!(fs::read_to_string(&target)?, "");
    Ok(())
}

#[test]
fn global_init_writes_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    init_stderr_only();
    let _guard = init(&config(Some(dir.path()), 2), LogOptions::default())?;
    assert_eq!(debug_level(), 2);
    // Other tests may log through the global subscriber meanwhile: look for
    // our lines, not for an exact file.
    std::thread::spawn(|| {
        info!(marker = "global-test", "hello");
        debug!(marker = "global-test", "details");
    })
    .join()
    .map_err(|_| "logging thread panicked")?;
    let main = texts(&dir.path().join("masqmail.log"))?;
    assert!(
        main.contains(&"info: hello marker=global-test".to_string()),
        "{main:?}"
    );
    assert!(!main.iter().any(|l| l.contains("details")), "{main:?}");
    let debug = texts(&dir.path().join("debug.log"))?;
    assert!(
        debug.contains(&"debug: details marker=global-test".to_string()),
        "{debug:?}"
    );
    // Back to stderr so later tests do not write into a removed directory.
    init_stderr_only();
    Ok(())
}
