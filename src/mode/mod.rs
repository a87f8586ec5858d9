//! Running an invocation: the startup sequence of cli.md §4.3, then the
//! chosen mode. The binaries are thin wrappers around [`main`].
//!
//! Every failure ends here as one line on stderr and an exit code
//! ([`Exit`]); nothing below this module prints or exits.
//!
//! # Security
//! argv and stdin are hostile (R23). `-d` is refused to non-root callers
//! before the configuration is read; a `-C` file given by a non-root
//! caller forces `run_as_user`, so a private config can never make
//! masqmail act with privileges the caller does not have.

mod accept;
mod address_test;
mod fetch;
mod oauth2;
mod queue;
mod smtp;
mod startup;

use std::ffi::OsString;

use crate::cli::{self, Invocation, Mode, QueueRun};
use crate::config::Config;

/// Exit codes (cli.md §6.1; sysexits where ours differ).
pub mod code {
    pub const OK: i32 = 0;
    /// Refusals, invalid addresses, accept errors (cli.md §6.1).
    pub const FAIL: i32 = 1;
    /// The main configuration is unreadable or invalid.
    pub const CONFIG: i32 = 5;
    pub const USAGE: i32 = crate::cli::EX_USAGE;
    /// EX_UNAVAILABLE: a mode that a later release implements.
    pub const UNAVAILABLE: i32 = 69;
    /// EX_TEMPFAIL: the message could not be spooled; try again.
    pub const TEMPFAIL: i32 = 75;
    /// EX_CONFIG: the spool or lock directory has the wrong owner or is
    /// writable by group or others.
    pub const UNSAFE_DIR: i32 = 78;
}

/// How an invocation ends when it does not succeed: the one line for
/// stderr and the exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn new(code: i32, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }

    pub fn fail(message: impl Into<String>) -> Exit {
        Exit::new(code::FAIL, message)
    }
}

/// Runs masqmail as invoked by `argv0` with `args`; returns the exit code.
pub fn main(argv0: OsString, args: Vec<OsString>) -> i32 {
    startup::ensure_std_fds();
    match run(&argv0, &args) {
        Ok(code) => code,
        Err(exit) => {
            if !exit.message.is_empty() {
                eprintln!("{}", exit.message);
            }
            exit.code
        }
    }
}

fn run(argv0: &OsString, args: &[OsString]) -> Result<i32, Exit> {
    let inv = cli::parse(argv0, args)
        .map_err(|e| Exit::new(e.exit_code(), format!("{e} (see: masqmail --help)")))?;
    match inv.mode {
        Mode::Version => {
            println!("{}", cli::version_line());
            return Ok(code::OK);
        }
        Mode::Help => {
            print!("{}", cli::USAGE);
            return Ok(code::OK);
        }
        _ => {}
    }
    if inv.debug_level.is_some() && !nix::unistd::getuid().is_root() {
        return Err(Exit::fail("only root may set the debug level."));
    }
    crate::log::init_buffered();
    let cfg = startup::configure(&inv)?;
    dispatch(&cfg, &inv)
}

fn dispatch(cfg: &Config, inv: &Invocation) -> Result<i32, Exit> {
    match &inv.mode {
        Mode::Accept => accept::run(cfg, inv),
        Mode::QueueRun(QueueRun::All) => queue::run(cfg, None),
        Mode::QueueRun(QueueRun::Online { name }) => queue::run(cfg, Some(name)),
        Mode::List => queue::list(cfg, inv.json),
        Mode::Remove => queue::remove(cfg, &inv.operands),
        Mode::NoOp => Ok(code::OK),
        Mode::AddressTest => address_test::run(cfg, &inv.operands),
        Mode::Smtp => smtp::session(cfg),
        Mode::Fetch { what, then } => fetch::run(cfg, what, then.as_ref()),
        Mode::Daemon {
            listen,
            queue_interval,
            fetch,
        } => smtp::daemon(cfg, inv, *listen, *queue_interval, fetch.clone()),
        Mode::FetchDaemon { interval, name } => {
            let every = crate::cli::FetchEvery {
                interval: *interval,
                connection: name.clone(),
            };
            smtp::daemon(cfg, inv, false, None, Some(every))
        }
        Mode::OAuth2 { name } => oauth2::run(cfg, name),
        Mode::Offline => queue::offline(cfg),
        other => Err(Exit::fail(format!("unknown mode: {}", other.number()))),
    }
}
