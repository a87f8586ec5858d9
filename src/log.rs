//! Logging setup (delivery.md §14, cli.md §4.3 step 8): one global
//! `tracing` subscriber writing masqmail's log lines.
//!
//! Destinations, chosen by [`init`] from the configuration:
//! * main log: `<log_dir>/masqmail.log`, or syslog (`use_syslog`: ident
//!   `masqmail`, pid, facility mail), or stderr when `log_dir` is empty;
//!   info and above. Lines: `YYYY-MM-DD HH:MM:SS [<pid>] <level>: <text>`,
//!   levels `error warning info debug`, event and span fields appended as
//!   ` key=value`.
//! * `<log_dir>/debug.log` when `debug_level > 0`: everything, debug events
//!   included (levels 1–3 → `DEBUG`, 4 and up → `TRACE` too). Without a
//!   `log_dir` the debug events go to the main destination instead.
//! * [`LogOptions::also_stderr`]: errors echoed, as bare text, to the
//!   user's stderr (delivery.md §18 item 7: diagnostics belong on the
//!   terminal, not only in the log).
//! * [`LogOptions::verbose`] (0.2 `-v`): warnings and errors echoed to stdout.
//!
//! Before the configuration is read, [`init_stderr_only`] logs to stderr.
//! Calling `init` later replaces the destinations of the same subscriber.
//!
//! # Security
//! Log files are opened by `open.rs` against link attacks (R25) and are
//! close-on-exec, so MDAs and pipes never inherit them. Text is escaped to
//! one line per event. Call `init` after the identity switch, so the files
//! are created by and owned by the mail user.

mod format;
mod layer;
mod open;
mod syslog;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::Config;
use layer::{Dest, LogLayer, Shared, Sinks, Style, Target};

/// What the invocation adds to the configured logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Echo errors to stderr as plain text (accept mode and other
    /// interactive modes; not for daemons, whose stderr is gone).
    pub also_stderr: bool,
    /// 0.2 `-v`: echo warnings and errors to stdout.
    pub verbose: bool,
}

/// Logging could not be set up; the caller exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log directory or file could not be opened or inspected.
    #[error("cannot open log file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file (or its directory) exists but failed a safety check (R25).
    #[error("refusing log file {}: {check}", path.display())]
    Unsafe { path: PathBuf, check: &'static str },
    /// Another global tracing subscriber was installed first.
    #[error("a different global log subscriber is already installed")]
    ForeignSubscriber,
}

/// Returned by [`init`]. Logging stays active for the life of the process;
/// dropping the guard changes nothing (every line is written unbuffered).
#[derive(Debug)]
#[must_use = "keep the guard for the process lifetime"]
pub struct LogGuard {
    _private: (),
}

/// The effective debug level (config or `-d`), for code that adds detail
/// by level (5–6: internal matching) beyond what DEBUG/TRACE distinguish.
pub fn debug_level() -> u32 {
    DEBUG_LEVEL.load(Ordering::Relaxed)
}

static DEBUG_LEVEL: AtomicU32 = AtomicU32::new(0);

/// The destinations of the one global subscriber; `None` if installing it
/// failed because another subscriber was there first.
static GLOBAL: OnceLock<Option<Shared>> = OnceLock::new();

/// Logs to stderr (info and above), for the time before the configuration
/// is read. Does nothing if a foreign global subscriber is installed.
pub fn init_stderr_only() {
    let sinks = Sinks {
        targets: vec![Target {
            dest: Dest::Stderr,
            style: Style::Full,
            max: LevelFilter::INFO,
        }],
    };
    let _ = install(sinks);
}

/// Keeps log lines in memory until [`init`] knows where they go: what
/// happens before the configuration is read (notices about 0.2 option
/// names, say) then lands in the configured log like everything else.
pub fn init_buffered() {
    let sinks = Sinks {
        targets: vec![Target {
            dest: Dest::Memory(Default::default()),
            style: Style::Full,
            max: LevelFilter::INFO,
        }],
    };
    let _ = install(sinks);
}

/// Opens the configured destinations and makes them the global log. The
/// caller has applied `-d` to `cfg.debug_level` already.
pub fn init(cfg: &Config, opts: LogOptions) -> Result<LogGuard, LogError> {
    let sinks = build(cfg, opts)?;
    DEBUG_LEVEL.store(cfg.debug_level, Ordering::Relaxed);
    install(sinks)?;
    Ok(LogGuard { _private: () })
}

/// Installs the global subscriber on first use, then swaps in `sinks`.
fn install(sinks: Sinks) -> Result<(), LogError> {
    let shared = GLOBAL.get_or_init(|| {
        let shared: Shared = Arc::default();
        let layer = LogLayer {
            sinks: Arc::clone(&shared),
        };
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .ok()
            .map(|()| shared)
    });
    let shared = shared.as_ref().ok_or(LogError::ForeignSubscriber)?;
    let old = std::mem::replace(
        &mut *shared.write().unwrap_or_else(PoisonError::into_inner),
        sinks,
    );
    // Callsites cached their interest under the old maximum level.
    tracing::callsite::rebuild_interest_cache();
    let layer = LogLayer {
        sinks: Arc::clone(shared),
    };
    for target in old.targets {
        if let Dest::Memory(lines) = target.dest {
            for (level, text) in lines.into_inner().unwrap_or_else(PoisonError::into_inner) {
                layer.write(&level, &text);
            }
        }
    }
    Ok(())
}

/// The most verbose level for a debug level (§14: 1 basic flow, 3 headers,
/// 4 protocol dialogue, 5–6 internals).
fn debug_filter(debug_level: u32) -> LevelFilter {
    match debug_level {
        0 => LevelFilter::INFO,
        1..=3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Chooses and opens the destinations (pure apart from opening files).
fn build(cfg: &Config, opts: LogOptions) -> Result<Sinks, LogError> {
    let debug = debug_filter(cfg.debug_level);
    let mut targets = Vec::new();
    let main_dest = match (&cfg.log_dir, cfg.use_syslog) {
        (_, true) => {
            syslog::open();
            Dest::Syslog
        }
        (Some(dir), false) => Dest::File(open::open_log(dir, "masqmail.log")?),
        (None, false) => Dest::Stderr,
    };
    let main_on_stderr = matches!(main_dest, Dest::Stderr);
    // Without a directory for debug.log, the main destination takes the
    // debug lines itself.
    let main_max = if cfg.log_dir.is_none() {
        debug
    } else {
        LevelFilter::INFO
    };
    targets.push(Target {
        dest: main_dest,
        style: Style::Full,
        max: main_max,
    });
    if let (Some(dir), true) = (&cfg.log_dir, cfg.debug_level > 0) {
        targets.push(Target {
            dest: Dest::File(open::open_log(dir, "debug.log")?),
            style: Style::Full,
            max: debug,
        });
    }
    if opts.also_stderr && !main_on_stderr {
        targets.push(Target {
            dest: Dest::Stderr,
            style: Style::Bare,
            max: LevelFilter::ERROR,
        });
    }
    if opts.verbose {
        targets.push(Target {
            dest: Dest::Stdout,
            style: Style::Bare,
            max: LevelFilter::WARN,
        });
    }
    Ok(Sinks { targets })
}

#[cfg(test)]
mod tests;
