//! Running an MDA (`mda`) or an alias pipe (`|cmd`) for one recipient
//! (delivery.md §7.3–7.7; RELIABILITY R16, R17, R22).
//!
//! This file holds only what is particular to delivery: whose identity
//! the command gets, the §7.5 variables and §7.6 environment, and what an
//! exit status means for the recipient. Spawning, feeding, the bounded
//! capture, the deadline and the kill of the process group are
//! [`crate::exec`]'s.
//!
//! Guarantees:
//! * The command is split into words first; MDA words are then expanded
//!   one by one, so a variable's value is always exactly one argv element.
//! * No shell is involved; the environment is exactly §7.6; the working
//!   directory is `/`; the command runs in a process group of its own.
//! * stdin gets the content; output is kept up to [`exec::MAX_CAPTURE`]
//!   bytes for the failure reason.
//! * After `command_time_limit` the whole process group is killed with
//!   SIGKILL and the recipient is deferred.
//! * Exit 0 delivers, 75 or death by a signal defers (R22 overrides §7.7),
//!   anything else fails with the sysexits text and the captured output.
//!
//! # Security
//! Run by root, the command gets the recipient's identity (MDA, when the
//! recipient is a passwd user other than root), the mail user's (alias
//! pipes always) or a `.forward` owner's (its commands): never root. A
//! command name without `/` is looked up in a fixed [`exec::SAFE_PATH`],
//! never in the invoking user's `PATH`.

use std::time::Duration;

use crate::address::Address;
use crate::config::{CommandSpec, Config};
use crate::deliver::Outcome;
use crate::deliver::content::Content;
use crate::exec::{self, ExecError, Identity, Job};
use crate::message::Message;
use crate::privs;
use crate::vars;

mod words;

pub use words::{SplitError, split_words};

/// The §7.5 variables and §7.6 environment for one recipient.
#[derive(Debug, Clone)]
pub struct Vars {
    vars: Vec<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
}

impl Vars {
    /// `rcpt` is the address being delivered (after alias expansion),
    /// `original` the top-level recipient it came from.
    pub fn new(cfg: &Config, msg: &Message, rcpt: &Address, original: &Address) -> Vars {
        let rp = &msg.return_path;
        let host = msg.received_host.clone().unwrap_or_default();
        let vars = vec![
            ("uid", msg.id.as_str().to_string()),
            ("received_host", host.clone()),
            ("ident", msg.ident.clone().unwrap_or_default()),
            ("return_path_local", rp.local.clone()),
            ("return_path_domain", rp.domain.clone()),
            ("return_path", rp.to_string()),
            ("rcpt_local", rcpt.local.clone()),
            ("rcpt_domain", rcpt.domain.clone()),
            ("rcpt", rcpt.to_string()),
        ];
        let env = vec![
            ("SENDER", rp.to_string()),
            ("RETURN_PATH", rp.to_string()),
            ("SENDER_DOMAIN", rp.domain.clone()),
            ("SENDER_LOCAL", rp.local.clone()),
            ("RECEIVED_HOST", host),
            ("DOMAIN", original.domain.clone()),
            ("LOCAL_PART", original.local.clone()),
            ("USER", original.local.clone()),
            ("LOGNAME", original.local.clone()),
            ("MESSAGE_ID", msg.id.as_str().to_string()),
            ("QUALIFY_DOMAIN", cfg.host_name.clone()),
        ];
        Vars { vars, env }
    }

    pub fn lookup(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// The complete environment of the command.
    pub fn environment(&self) -> &[(&'static str, String)] {
        &self.env
    }
}

/// Runs the `mda` command for a recipient whose local part (after alias
/// expansion) is `rcpt_local`.
pub fn run_mda(
    cfg: &Config,
    spec: &CommandSpec,
    content: &Content,
    vars: &Vars,
    rcpt_local: &str,
) -> Outcome {
    let argv = expand(spec, vars);
    let recipient = || {
        privs::lookup_user(rcpt_local)
            .filter(|u| !u.uid.is_root())
            .map(|u| Identity {
                uid: u.uid,
                gid: u.gid,
            })
    };
    let identity = match command_identity(cfg, recipient) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        &spec.text,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
        "mda-fed",
    )
}

/// Runs a route's `pipe` command for one recipient (§10.7): split words,
/// each expanded with the recipient's variables; as root it runs as the
/// mail user.
pub fn run_route_pipe(cfg: &Config, spec: &CommandSpec, content: &Content, vars: &Vars) -> Outcome {
    let argv = expand(spec, vars);
    if argv.iter().any(String::is_empty) {
        return Outcome::Failed(format!(
            "5.3.0 command '{}' expands to an empty word",
            spec.text
        ));
    }
    let identity = match command_identity(cfg, || None) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        &spec.text,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
        "pipe-fed",
    )
}

/// Runs an alias pipe: `command` is the text after `|`, split with shell
/// rules and not expanded (§7.3).
pub fn run_pipe(cfg: &Config, command: &str, content: &Content, vars: &Vars) -> Outcome {
    let argv = match split_words(command) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("5.3.0 cannot parse command '{command}': {e}")),
    };
    let identity = match command_identity(cfg, || None) {
        Ok(id) => id,
        Err(o) => return o,
    };
    run(
        &argv,
        command,
        content,
        vars.environment(),
        identity,
        cfg.command_time_limit,
        "pipe-fed",
    )
}

/// Runs a `.forward` command (the text after `|`) like an alias pipe, but
/// with the identity and environment the caller chose for the file's user
/// (deliver/forward.rs): `None` only when we already are that user.
pub fn run_forward_pipe(
    cfg: &Config,
    command: &str,
    content: &Content,
    env: &[(&'static str, String)],
    identity: Option<Identity>,
) -> Outcome {
    let argv = match split_words(command) {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(format!("5.3.0 cannot parse command '{command}': {e}")),
    };
    run(
        &argv,
        command,
        content,
        env,
        identity,
        cfg.command_time_limit,
        "pipe-fed",
    )
}

/// Identity changes happen only for a real root without `run_as_user`.
/// The words of `spec`, each expanded on its own (§7.4).
fn expand(spec: &CommandSpec, vars: &Vars) -> Vec<String> {
    spec.words
        .iter()
        .map(|w| vars::expand_word(w, &|n| vars.lookup(n)))
        .collect()
}

/// Whom a command runs as: nobody in particular (`None`, the caller's
/// identity) unless we are root; then `preferred` (a recipient), else the
/// mail user — never root.
fn command_identity(
    cfg: &Config,
    preferred: impl FnOnce() -> Option<Identity>,
) -> Result<Option<Identity>, Outcome> {
    if !as_root(cfg) {
        return Ok(None);
    }
    match preferred() {
        Some(id) => Ok(Some(id)),
        None => mail_identity().map(Some),
    }
}

/// Started by root (or a daemon that dropped to the mail user but kept
/// root as its saved uid): commands get a chosen identity.
fn as_root(cfg: &Config) -> bool {
    !cfg.run_as_user
        && (nix::unistd::getuid().is_root()
            || nix::unistd::getresuid().is_ok_and(|ids| ids.saved.is_root()))
}

fn mail_identity() -> Result<Identity, Outcome> {
    match privs::mail_user() {
        Ok((uid, _)) if uid.is_root() => Err(Outcome::Deferred(
            "4.3.0 the mail user is root; refusing to run a command as root".into(),
        )),
        Ok((uid, gid)) => Ok(Identity { uid, gid }),
        Err(e) => Err(Outcome::Deferred(format!("4.3.0 {e}"))),
    }
}

/// Runs one command through [`exec::run`] and maps the result to an
/// outcome (§7.7 with R22's signal rule): 0 delivers, 75, a signal or
/// the time limit defer, other codes fail with the sysexits text.
/// `fed` is the crash point hit once the command has the whole message on
/// its stdin, before its exit status is taken (`mda-fed`, `pipe-fed`).
fn run(
    argv: &[String],
    text: &str,
    content: &Content,
    env: &[(&'static str, String)],
    identity: Option<Identity>,
    limit: Duration,
    fed: &'static str,
) -> Outcome {
    let job = Job {
        argv,
        env,
        identity,
    };
    let input = |w: &mut dyn std::io::Write| {
        content.write_to(w)?;
        w.flush()?;
        crate::crashpoint!(fed);
        Ok(())
    };
    let e = match exec::run(&job, Some(&input), limit) {
        Ok(_) => return Outcome::Delivered,
        Err(e) => e,
    };
    let with_output = |s: String| {
        if e.output().is_empty() {
            s
        } else {
            format!("{s}: {}", e.output())
        }
    };
    match &e {
        ExecError::Timeout { .. } => Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' killed after the time limit of {}s",
            limit.as_secs()
        ))),
        ExecError::Exit { code: 75, .. } => Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' returned 75 ({})",
            sysexits(75)
        ))),
        ExecError::Exit { code, .. } => Outcome::Failed(with_output(format!(
            "5.3.0 process '{text}' returned {code} ({})",
            sysexits(*code)
        ))),
        ExecError::Signal { signal, .. } => Outcome::Deferred(with_output(format!(
            "4.3.0 process '{text}' killed by signal {signal}"
        ))),
        ExecError::Spawn { source } if e.is_temporary() => {
            Outcome::Deferred(format!("4.3.0 cannot start '{text}': {source}"))
        }
        ExecError::Spawn { source } => {
            Outcome::Failed(format!("5.3.0 cannot start '{text}': {source}"))
        }
        ExecError::Empty => Outcome::Failed(format!("5.3.0 empty command '{text}'")),
        ExecError::EmptyName | ExecError::BadName(_) | ExecError::NotFound { .. } => {
            Outcome::Failed(format!("5.3.0 {e}"))
        }
        _ => Outcome::Deferred(format!("4.3.0 process '{text}': {e}")),
    }
}

/// The `sysexits.h` meaning of an exit code.
pub fn sysexits(code: i32) -> &'static str {
    match code {
        64 => "command line usage error",
        65 => "data format error",
        66 => "cannot open input",
        67 => "addressee unknown",
        68 => "host name unknown",
        69 => "service unavailable",
        70 => "internal software error",
        71 => "system error",
        72 => "critical OS file missing",
        73 => "can't create output file",
        74 => "input/output error",
        75 => "temporary failure",
        76 => "remote error in protocol",
        77 => "permission denied",
        78 => "configuration error",
        _ => "unknown error",
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
