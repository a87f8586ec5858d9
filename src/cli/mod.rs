//! The sendmail-compatible command line (cli.md): invocation names, switch
//! scanning, and mode resolution, producing one typed [`Invocation`].
//!
//! This module only parses. It opens no file, reads no configuration and
//! checks no privilege: the caller runs the mode, applies the privilege
//! rules of cli.md §4.2 and parses the `-f` value as an RFC 821 path.
//!
//! # Security
//! argv is hostile input (RELIABILITY R23). Values are kept as opaque
//! strings in their own fields, so a `-f` value is only ever a return path
//! and never re-scanned as options; after `--` or the first operand nothing
//! is an option. Non-UTF-8 arguments are refused. Error texts quote user
//! input escaped and shortened, so every diagnostic is one line.

mod argv;
mod names;
mod usage;

pub use argv::parse;
pub use names::{NameDefaults, defaults_for};
pub use usage::USAGE;

use std::path::PathBuf;
use std::time::Duration;

/// EX_USAGE from sysexits.h: every command line error exits with it (R23).
pub const EX_USAGE: i32 = 64;

/// Everything the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    /// `-C file`, as given (not yet canonicalised or checked).
    pub config_file: Option<PathBuf>,
    /// `-d n`; only root may use it (checked by the caller).
    pub debug_level: Option<u32>,
    /// `-f addr`, unparsed: the caller parses it as an RFC 821 path.
    pub return_path: Option<String>,
    /// `-F name`: display name for a generated `From:`.
    pub full_name: Option<String>,
    /// `-i`, `-oi`, or the `rmail` name.
    pub ignore_dots: bool,
    /// `-t`.
    pub recipients_from_headers: bool,
    /// `-odq`.
    pub queue_only: bool,
    /// `-odb`.
    pub background: bool,
    /// 0.2 `-v`: warnings echoed to stdout.
    pub verbose: bool,
    /// `-bD` (sendmail 8.13): a daemon that stays in the foreground.
    pub foreground: bool,
    /// `--json`/`-json` (ours): `-bp`/`mailq` prints JSON Lines.
    pub json: bool,
    /// Recipients (accept mode), message ids (remove mode); ignored otherwise.
    pub operands: Vec<String>,
}

/// The operation mode. Each variant carries what that mode needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Read one message from stdin (`-bm`, or the default with operands/`-t`).
    Accept,
    /// `-bd` (listen) and/or `-q<interval>` (queue runs every interval).
    /// `-q30m` alone gives `listen: false`.
    Daemon {
        queue_interval: Option<Duration>,
        listen: bool,
        /// `-go INTERVAL [NAME]` given with it: the daemon fetches too.
        fetch: Option<FetchEvery>,
    },
    /// `-q`, `-qo NAME`, `runq`.
    QueueRun(QueueRun),
    /// `-bs`, `smtpd`, `in.smtpd`.
    Smtp,
    /// `-bp`, `mailq`.
    List,
    /// `-Mrm`, `mailrm`: the ids are the operands.
    Remove,
    /// `-bV`, `--version`, or no mode, no operands and no `-t`.
    Version,
    /// `--help`: the usage, grouped by task.
    Help,
    /// `-bt ADDRESS…`: what would happen to mail for each address.
    AddressTest,
    /// `-bi`, `newaliases`.
    NoOp,
    /// 0.2 `-g [name]` / `-go [name]`, optionally followed by a queue run
    /// (`-g -q`: fetch first, then run the queue; cli.md §3.4).
    Fetch { what: Fetch, then: Option<QueueRun> },
    /// 0.2 `-go <interval> [name]`: the fetch daemon.
    FetchDaemon {
        interval: Duration,
        name: Option<String>,
    },
    /// `-oauth2 NAME`: authorize once (issue 10); NAME is a route or get
    /// file (path, or file name among the configured ones).
    OAuth2 { name: String },
    /// `--offline` (ours): the connection recorded by `-qo NAME` is over.
    Offline,
}

/// A fetch daemon's schedule (`-go INTERVAL [NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchEvery {
    pub interval: Duration,
    /// The connection; `None`: online detection decides at each fetch.
    pub connection: Option<String>,
}

/// Which queue run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRun {
    /// `-q`: everything deliverable, local and remote.
    All,
    /// `-qo NAME`: remote recipients only, over route set NAME.
    Online { name: String },
}

/// Which POP3 fetch (0.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `-g`: every `get.NAME`.
    All,
    /// `-g NAME`: only `get.NAME`.
    Named(String),
    /// `-go [NAME]`: the gets of `online_gets.<connection>`; without a name
    /// online detection decides.
    Online { connection: Option<String> },
}

impl Mode {
    /// The number used in `operation mode was already specified (<old> vs.
    /// <new>)` (cli.md §4.1); the 0.2 fetch modes take 9 and 10.
    pub fn number(&self) -> u8 {
        match self {
            Mode::Accept => 1,
            Mode::Daemon { .. } => 2,
            Mode::QueueRun(_) => 3,
            Mode::Smtp => 4,
            Mode::List => 5,
            Mode::Remove => 6,
            Mode::Version => 7,
            Mode::NoOp => 8,
            Mode::Fetch { .. } => 9,
            Mode::FetchDaemon { .. } => 10,
            Mode::Help => 11,
            Mode::AddressTest => 12,
            Mode::OAuth2 { .. } => 13,
            Mode::Offline => 14,
        }
    }
}

/// A command line error. Every variant exits with [`EX_USAGE`]; the text is
/// one line (user input inside is escaped and shortened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A switch neither era knows (`-X`, `-bx`, `-it`, `--foo`, `-`).
    #[error("unrecognized option '{}'", shown(.option))]
    Unknown { option: String },
    /// A switch whose value is mandatory came without one.
    #[error("{option} requires {what} arg.")]
    MissingValue {
        option: &'static str,
        what: &'static str,
    },
    /// A second, different mode (cli.md §4.1).
    #[error("operation mode was already specified ({old} vs. {new})")]
    ModeConflict { old: u8, new: u8 },
    /// `-q<ival>` or `-go <ival>` that is not `DIGITS UNIT` (§18 item 13).
    #[error("invalid interval '{}' for {option}", shown(.value))]
    InvalidInterval { option: &'static str, value: String },
    /// `-d` with something that is not a decimal number.
    #[error("invalid debug level '{}'", shown(.value))]
    InvalidDebugLevel { value: String },
    /// `--json` without `-bp` or the `mailq` name.
    #[error("--json is only valid with -bp or mailq")]
    JsonWithoutList,
    /// `argv[index]` is not UTF-8.
    #[error("argument {index} is not valid UTF-8")]
    NotUtf8 { index: usize },
}

impl CliError {
    /// The process exit code for this error: always EX_USAGE (R23 overrides
    /// the 1 of cli.md §6.1).
    pub fn exit_code(&self) -> i32 {
        EX_USAGE
    }
}

/// The `-bV` line, e.g. `MasqMail 0.1.0 +resolver +auth`. The version is
/// this crate's (`env!("CARGO_PKG_VERSION")`), not the C program's.
pub fn version_line() -> String {
    format!("MasqMail {} +resolver +auth", env!("CARGO_PKG_VERSION"))
}

/// Longest piece of user input quoted in an error message.
const SHOWN_MAX: usize = 64;

/// User input made safe for a one-line diagnostic: control characters
/// escaped, long text cut with `...`.
fn shown(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == SHOWN_MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_one_line() {
        for (err, want) in [
            (
                CliError::Unknown {
                    option: "-X".into(),
                },
                "unrecognized option '-X'",
            ),
            (
                CliError::Unknown {
                    option: "-a\nb\r\u{1b}".into(),
                },
                "unrecognized option '-a\\nb\\r\\u{1b}'",
            ),
            (
                CliError::MissingValue {
                    option: "-f",
                    what: "address",
                },
                "-f requires address arg.",
            ),
            (
                CliError::ModeConflict { old: 5, new: 3 },
                "operation mode was already specified (5 vs. 3)",
            ),
        ] {
            assert_eq!(err.to_string(), want);
            assert_eq!(err.exit_code(), 64);
        }
        let long = CliError::Unknown {
            option: "-".repeat(10_000),
        }
        .to_string();
        assert!(long.len() < 100 && long.ends_with("...'"), "{long}");
    }

    #[test]
    fn version() {
        let v = version_line();
        assert!(v.starts_with("MasqMail "), "{v}");
        assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.ends_with(" +resolver +auth"), "{v}");
    }
}
