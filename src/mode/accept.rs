//! Accept mode: one message from stdin (cli.md §8, delivery.md §3–4), then
//! delivery unless queueing is forced.

use std::io::BufReader;

use super::{Exit, code};
use crate::accept::{AcceptError, Submission, accept};
use crate::address::{Address, PipePolicy, parse_path};
use crate::cli::Invocation;
use crate::config::Config;
use crate::message::Protocol;
use crate::message::read::{ReadError, ReadOptions, read_message};
use crate::privs;
use crate::queue::{self, Scope};
use crate::spool::Spool;

pub fn run(cfg: &Config, inv: &Invocation) -> Result<i32, Exit> {
    let (uid, login) = privs::current_login();
    let return_path = return_path(cfg, inv, &login)?;
    let recipients = inv
        .operands
        .iter()
        .map(|op| recipient(cfg, op))
        .collect::<Result<Vec<_>, _>>()?;

    let opts = ReadOptions {
        dot_ends: !inv.ignore_dots,
        eof_is_error: false,
        max_body: cfg.max_msg_size,
    };
    let raw = read_message(
        &mut BufReader::with_capacity(64 * 1024, std::io::stdin().lock()),
        &opts,
    )
    .map_err(|e| match e {
        ReadError::TooLarge { .. } => Exit::fail("max message size exceeded."),
        ReadError::Io(e) => Exit::new(code::TEMPFAIL, format!("cannot read the message: {e}")),
        other => Exit::fail(other.to_string()),
    })?;

    let spool = Spool::open(&cfg.spool_dir, &cfg.lock_dir)
        .map_err(|e| Exit::new(code::TEMPFAIL, format!("Could not write spool file: {e}")))?;
    let sub = Submission {
        return_path,
        recipients,
        recipients_from_headers: inv.recipients_from_headers,
        full_name: inv.full_name.clone(),
        protocol: Protocol::Local,
        received_host: None,
        ident: Some(login),
        uid,
        fetched_as: None,
        dsn: Default::default(),
        notice: false,
    };
    let msg = accept(cfg, &spool, sub, raw, 0).map_err(|e| match e {
        AcceptError::NoRecipients => Exit::fail("no recipients."),
        AcceptError::Unsafe(_) => Exit::new(code::USAGE, e.to_string()),
        AcceptError::Spool(_) | AcceptError::NoSpace { .. } => {
            Exit::new(code::TEMPFAIL, e.to_string())
        }
    })?;

    if cfg.do_queue {
        return Ok(code::OK);
    }
    if inv.background && !in_background_child() {
        return Ok(code::OK);
    }
    queue::deliver_ids(cfg, &spool, Scope::ALL, std::slice::from_ref(&msg.id));
    Ok(code::OK)
}

/// `-f` for privileged callers; everybody else sends as themselves
/// (the rule; 1.0 refused the whole message instead).
fn return_path(cfg: &Config, inv: &Invocation, login: &str) -> Result<Address, Exit> {
    let privileged = inv.return_path.is_some() && privs::is_privileged(cfg.run_as_user);
    choose_return_path(
        inv.return_path.as_deref(),
        privileged,
        login,
        &cfg.host_name,
    )
}

/// The decision of [`return_path`], on given facts.
fn choose_return_path(
    given: Option<&str>,
    privileged: bool,
    login: &str,
    host_name: &str,
) -> Result<Address, Exit> {
    let own = || Address::new(login, host_name);
    let Some(given) = given else {
        return Ok(own());
    };
    if !privileged {
        tracing::warn!(
            "-f {given:?} ignored: must be root, {} or in group {} for setting return path; using {login}",
            privs::MAIL_USER,
            privs::MAIL_GROUP
        );
        return Ok(own());
    }
    let addr = parse_path(given, PipePolicy::Refuse)
        .map_err(|e| Exit::fail(format!("invalid return address '{given}': {e}")))?;
    Ok(if addr.is_null() {
        addr
    } else {
        addr.qualify(host_name)
    })
}

pub(super) fn recipient(cfg: &Config, op: &str) -> Result<Address, Exit> {
    let invalid = |why: &dyn std::fmt::Display| {
        Exit::fail(format!("invalid recipient address '{op}': {why}"))
    };
    let addr = parse_path(op, PipePolicy::Refuse).map_err(|e| invalid(&e))?;
    if addr.is_null() {
        return Err(invalid(&"empty address"));
    }
    Ok(addr.qualify(&cfg.host_name))
}

/// `-odb`: forks; the parent returns `false` at once (its exit tells the
/// caller the message is safe), the child `true` and delivers. A failed
/// fork delivers in the foreground instead.
fn in_background_child() -> bool {
    // SAFETY: no other thread runs at this point of accept mode, so the
    // child may do anything the parent could.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => false,
        Ok(nix::unistd::ForkResult::Child) => {
            let _ = nix::unistd::setsid();
            true
        }
        Err(e) => {
            tracing::warn!("cannot fork for background delivery ({e}); delivering now");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_rules() {
        let rp = |given, privileged| {
            choose_return_path(given, privileged, "jo", "h.example")
                .map(|a| a.to_string())
                .map_err(|e| e.message)
        };
        assert_eq!(rp(None, false).unwrap(), "jo@h.example");
        assert_eq!(rp(Some("boss@x.example"), false).unwrap(), "jo@h.example");
        assert_eq!(rp(Some("boss@x.example"), true).unwrap(), "boss@x.example");
        assert_eq!(rp(Some("boss"), true).unwrap(), "boss@h.example");
        assert_eq!(rp(Some("<>"), true).unwrap(), "");
        // an unprivileged caller's bad -f is ignored, not an error
        assert_eq!(rp(Some("a..b"), false).unwrap(), "jo@h.example");
        assert!(
            rp(Some("a..b"), true)
                .unwrap_err()
                .starts_with("invalid return address 'a..b': ")
        );
        assert!(rp(Some("|/bin/sh"), true).is_err());
    }
}
