//! Switch scanning (cli.md §2, 1.0 rules) accepting the switches of both
//! eras, and mode resolution (§4.1).
//!
//! Scanning stops at `--` or at the first argument not starting with `-`;
//! that argument and all following ones are operands, whatever they look
//! like. Exact names are matched first, then prefixes (`qo` before `q`,
//! `go` before `g`). A value is attached (`-d5`) or the next argument if
//! that does not start with `-` (`-d 5`). One pass, no backtracking: the
//! work is linear in the number of arguments.
//!
//! # Security
//! A value is consumed exactly once into its own field and never scanned
//! again, so `-f '"a\" -X/tmp/x b"@c'` is only a return path (R23). Every
//! unknown switch is an error rather than being skipped, so a misspelled
//! or injected option cannot silently change behaviour.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use super::names::defaults_for;
use super::{CliError, Fetch, FetchEvery, Invocation, Mode, QueueRun};
use crate::config::parse_interval;

/// Parses `argv[1..]` (`args`) for the binary invoked as `argv0`.
pub fn parse(argv0: &OsStr, args: &[OsString]) -> Result<Invocation, CliError> {
    let args = args
        .iter()
        .enumerate()
        .map(|(i, a)| a.to_str().ok_or(CliError::NotUtf8 { index: i + 1 }))
        .collect::<Result<Vec<&str>, _>>()?;
    let defaults = defaults_for(argv0);
    let mut scan = Scan {
        args: &args,
        next: 0,
        mode: defaults.mode,
        inv: Invocation {
            mode: Mode::Version,
            config_file: None,
            debug_level: None,
            return_path: None,
            full_name: None,
            ignore_dots: defaults.ignore_dots,
            recipients_from_headers: false,
            queue_only: false,
            background: false,
            verbose: false,
            foreground: false,
            json: false,
            operands: Vec::new(),
        },
    };
    while let Some(&arg) = args.get(scan.next) {
        let Some(opt) = arg.strip_prefix('-') else {
            break; // first operand
        };
        scan.next += 1;
        if opt == "-" {
            break; // `--`
        }
        scan.option(arg, opt)?;
    }
    let Scan {
        next,
        mode,
        mut inv,
        ..
    } = scan;
    inv.operands = args[next..].iter().map(|s| s.to_string()).collect();
    inv.mode = match mode {
        Some(mode) => mode,
        // cli.md §4.1: plain `masqmail` prints the version.
        None if inv.operands.is_empty() && !inv.recipients_from_headers => Mode::Version,
        None => Mode::Accept,
    };
    if inv.json && inv.mode != Mode::List {
        return Err(CliError::JsonWithoutList);
    }
    Ok(inv)
}

/// Values `-B` takes from the next argument. Anything else there is left
/// as an operand: the C program swallowed it, which silently dropped a
/// recipient (`sendmail -B rcpt` then printed the version and lost the mail).
const BODY_TYPES: [&str; 3] = ["7BIT", "8BITMIME", "BINARYMIME"];

struct Scan<'a> {
    args: &'a [&'a str],
    /// Index of the next unread argument.
    next: usize,
    mode: Option<Mode>,
    inv: Invocation,
}

impl<'a> Scan<'a> {
    /// Handles one switch; `arg` is the whole argument, `opt` the text
    /// after the dash.
    fn option(&mut self, arg: &str, opt: &'a str) -> Result<(), CliError> {
        match opt {
            "bm" => self.set_mode(Mode::Accept)?,
            "bd" => self.set_mode(Mode::Daemon {
                queue_interval: None,
                listen: true,
                fetch: None,
            })?,
            "bD" => {
                self.inv.foreground = true;
                self.set_mode(Mode::Daemon {
                    queue_interval: None,
                    listen: true,
                    fetch: None,
                })?
            }
            "bi" => self.set_mode(Mode::NoOp)?,
            "bs" => self.set_mode(Mode::Smtp)?,
            "bp" => self.set_mode(Mode::List)?,
            "bt" => self.set_mode(Mode::AddressTest)?,
            "bV" | "-version" => self.set_mode(Mode::Version)?,
            "-help" => self.set_mode(Mode::Help)?,
            "-offline" => self.set_mode(Mode::Offline)?,
            // Ours (issue 10): the listing as JSON Lines.
            "json" | "-json" => self.inv.json = true,
            "Mrm" => self.set_mode(Mode::Remove)?,
            "i" | "oi" => self.inv.ignore_dots = true,
            "m" => {} // "me too": always the case
            "odq" => self.inv.queue_only = true,
            "odb" => self.inv.background = true,
            "t" => self.inv.recipients_from_headers = true,
            "v" => self.inv.verbose = true,
            // Before the `-o…` prefix, which ignores sendmail options.
            "oauth2" => {
                let name = self.required("", "-oauth2", "name")?.to_string();
                self.set_mode(Mode::OAuth2 { name })?
            }
            _ => return self.prefixed(arg, opt),
        }
        Ok(())
    }

    /// Switches matched by prefix; their value may be attached.
    fn prefixed(&mut self, arg: &str, opt: &'a str) -> Result<(), CliError> {
        if let Some(rest) = opt.strip_prefix('B') {
            // Ignored: we are 8-bit transparent and never convert.
            if rest.is_empty() && self.peek().is_some_and(is_body_type) {
                self.next += 1;
            }
        } else if let Some(rest) = opt.strip_prefix('C') {
            let v = self.required(rest, "-C", "filename")?;
            self.inv.config_file = Some(PathBuf::from(v));
        } else if let Some(rest) = opt.strip_prefix('d') {
            let v = self.required(rest, "-d", "number")?;
            self.inv.debug_level = Some(debug_level(v)?);
        } else if let Some(rest) = opt.strip_prefix('f') {
            let v = self.required(rest, "-f", "address")?;
            self.inv.return_path = Some(v.to_string());
        } else if let Some(rest) = opt.strip_prefix('F') {
            let v = self.required(rest, "-F", "name")?;
            self.inv.full_name = Some(v.to_string());
        } else if opt.starts_with('o') {
            // Any other sendmail -o option (`-oem`, `-om`, `-oQ/x`): ignored.
        } else if let Some(rest) = opt.strip_prefix("qo") {
            let name = self.required(rest, "-qo", "name")?.to_string();
            self.set_mode(Mode::QueueRun(QueueRun::Online { name }))?;
        } else if let Some(rest) = opt.strip_prefix('q') {
            let mode = match self.optional(rest) {
                None => Mode::QueueRun(QueueRun::All),
                Some(v) => Mode::Daemon {
                    queue_interval: Some(interval("-q", v)?),
                    listen: false,
                    fetch: None,
                },
            };
            self.set_mode(mode)?;
        } else if let Some(rest) = opt.strip_prefix("go") {
            let mode = self.fetch_online(rest)?;
            self.set_mode(mode)?;
        } else if let Some(rest) = opt.strip_prefix('g') {
            let what = match self.optional(rest) {
                None => Fetch::All,
                Some(name) => Fetch::Named(name.to_string()),
            };
            self.set_mode(Mode::Fetch { what, then: None })?;
        } else {
            return Err(CliError::Unknown {
                option: arg.to_string(),
            });
        }
        Ok(())
    }

    /// 0.2 `-go [interval] [name]` (cli.md §3.4): a value starting with a
    /// digit is an interval (fetch daemon), optionally followed by a name.
    fn fetch_online(&mut self, rest: &'a str) -> Result<Mode, CliError> {
        match self.optional(rest) {
            Some(v) if v.starts_with(|c: char| c.is_ascii_digit()) => Ok(Mode::FetchDaemon {
                interval: interval("-go", v)?,
                name: self.optional("").map(str::to_string),
            }),
            connection => Ok(Mode::Fetch {
                what: Fetch::Online {
                    connection: connection.map(str::to_string),
                },
                then: None,
            }),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.args.get(self.next).copied()
    }

    /// The attached value, else the next argument unless it starts with `-`.
    fn optional(&mut self, attached: &'a str) -> Option<&'a str> {
        if !attached.is_empty() {
            return Some(attached);
        }
        let v = self.peek().filter(|v| !v.starts_with('-'))?;
        self.next += 1;
        Some(v)
    }

    fn required(
        &mut self,
        attached: &'a str,
        option: &'static str,
        what: &'static str,
    ) -> Result<&'a str, CliError> {
        self.optional(attached)
            .ok_or(CliError::MissingValue { option, what })
    }

    fn set_mode(&mut self, new: Mode) -> Result<(), CliError> {
        let merged = match self.mode.take() {
            None => new,
            Some(old) => merge(old, new)?,
        };
        self.mode = Some(merged);
        Ok(())
    }
}

/// Combines a mode already set with a new switch (cli.md §4.1): the same
/// mode again is fine (`-bd -q30m` is one daemon), a different one is a
/// conflict, except that a 0.2 fetch may be followed by a queue run.
fn merge(old: Mode, new: Mode) -> Result<Mode, CliError> {
    use Mode::*;
    Ok(match (old, new) {
        (
            Daemon {
                queue_interval: a,
                listen: la,
                fetch: fa,
            },
            Daemon {
                queue_interval: b,
                listen: lb,
                fetch: fb,
            },
        ) => Daemon {
            queue_interval: b.or(a),
            listen: la || lb,
            fetch: fb.or(fa),
        },
        // `-bd -q30m -go10m`: one process listens, runs the queue and fetches.
        (
            Daemon {
                queue_interval,
                listen,
                ..
            },
            FetchDaemon { interval, name },
        )
        | (
            FetchDaemon { interval, name },
            Daemon {
                queue_interval,
                listen,
                ..
            },
        ) => Daemon {
            queue_interval,
            listen,
            fetch: Some(FetchEvery {
                interval,
                connection: name,
            }),
        },
        (QueueRun(a), QueueRun(b)) => QueueRun(merge_run(Some(a), b)),
        (Fetch { what, then }, QueueRun(q)) => Fetch {
            what,
            then: Some(merge_run(then, q)),
        },
        (QueueRun(q), Fetch { what, then }) => Fetch {
            what,
            then: Some(match then {
                Some(t) => merge_run(Some(q), t),
                None => q,
            }),
        },
        (Fetch { then: t1, .. }, Fetch { what, then: t2 }) => Fetch {
            what,
            then: match (t1, t2) {
                (a, Some(b)) => Some(merge_run(a, b)),
                (a, None) => a,
            },
        },
        (old, new) if old.number() == new.number() => match old {
            // The latest interval and name win for the fetch daemon.
            FetchDaemon { .. } => new,
            _ => old,
        },
        (old, new) => {
            return Err(CliError::ModeConflict {
                old: old.number(),
                new: new.number(),
            });
        }
    })
}

/// `-q` and `-qo NAME` together are one (online) queue run; the last name wins.
fn merge_run(old: Option<QueueRun>, new: QueueRun) -> QueueRun {
    match (old, new) {
        (Some(online @ QueueRun::Online { .. }), QueueRun::All) => online,
        (_, new) => new,
    }
}

fn is_body_type(v: &str) -> bool {
    BODY_TYPES.iter().any(|t| t.eq_ignore_ascii_case(v))
}

/// A queue or fetch interval; zero is refused as well, since a daemon
/// repeating its work every 0 s would spin.
fn interval(option: &'static str, v: &str) -> Result<Duration, CliError> {
    parse_interval(v)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CliError::InvalidInterval {
            option,
            value: v.to_string(),
        })
}

/// `-d` takes a plain decimal number (C used `atoi`, which turned garbage
/// into 0; a typo should not silently mean "no debugging").
fn debug_level(v: &str) -> Result<u32, CliError> {
    // `parse` alone would also take a leading `+`.
    v.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| v.parse().ok())
        .flatten()
        .ok_or_else(|| CliError::InvalidDebugLevel {
            value: v.to_string(),
        })
}

#[cfg(test)]
#[path = "argv_tests.rs"]
mod tests;
