//! Delivery of the command and file targets of a user's `.forward`
//! (alias/forward.rs): as that user, or not at all.
//!
//! Guarantees:
//! * A command runs through the one command runner with the alias pipe's
//!   rules (split with shell word rules, no expansion, no shell,
//!   `command_time_limit`, bounded output, §7.7 exit statuses), as the
//!   user's uid, primary gid and supplementary groups (as for every
//!   delivery command with an identity, `exec/identity.rs`). Its environment is §7.6's, with `USER` and
//!   `LOGNAME` the user's name and `HOME` the user's home directory.
//! * A file is appended in mbox format by the mbox module (R18's safe
//!   open, R19's locks, truncation on failure), opened with the user's
//!   identity: an existing file must be a regular file with one link owned
//!   by the user; a new one is created with mode 0600.
//! * When masqmail cannot take the user's identity (`run_as_user`, or not
//!   started by root) and is not that user already, the target is deferred
//!   with a reason saying so, and retried until `max_defer_time`: a
//!   `.forward` never runs anything or writes anywhere as somebody else.
//!
//! # Security
//! The user is the one named in the target, which only the expansion of
//! that user's own `.forward` produces (alias pipes carrying the target
//! mark are refused). root is refused outright (root's `.forward` is
//! never read). Identity switches are per thread ([`EffectiveIdentity`]).

use chrono::Local;
use nix::unistd::User;

use crate::address::Address;
use crate::alias::ForwardTarget;
use crate::alias::forward_file::may_switch;
use crate::config::Config;
use crate::deliver::Outcome;
use crate::deliver::command::{self, Vars};
use crate::deliver::content::{Body, Content, ContentOptions};
use crate::deliver::mbox::{self, LockPolicy};
use crate::exec::Identity;
use crate::message::Message;
use crate::privs::{self, EffectiveIdentity};
use crate::spool::SpooledBody;

/// Delivers `body` of `msg` to one `.forward` target `leaf` (decoded as
/// `target`), which expansion produced from the envelope recipient `top`.
pub fn deliver(
    cfg: &Config,
    msg: &Message,
    body: &SpooledBody,
    leaf: &Address,
    top: &Address,
    target: ForwardTarget<'_>,
) -> Outcome {
    let (method, detail) = match target {
        ForwardTarget::Pipe { command, .. } => ("pipe", format!("cmd = {command}")),
        ForwardTarget::File { path, .. } => ("file", format!("file = {}", path.display())),
    };
    let outcome = attempt(cfg, msg, body, leaf, top, target);
    let who = format!("{} <{top}>", leaf.local);
    let user = target.user();
    match &outcome {
        Outcome::Delivered | Outcome::PassedOn => tracing::info!(
            "{} => {who} with {method} ({detail}, .forward of {user})",
            msg.id
        ),
        Outcome::Deferred(why) => {
            tracing::warn!("{} == {who} deferred ({method}): {why}", msg.id)
        }
        Outcome::Failed(why) => tracing::warn!("{} == {who} failed ({method}): {why}", msg.id),
    }
    outcome
}

fn attempt(
    cfg: &Config,
    msg: &Message,
    body: &SpooledBody,
    leaf: &Address,
    top: &Address,
    target: ForwardTarget<'_>,
) -> Outcome {
    let name = target.user();
    let Some(user) = privs::lookup_user(name) else {
        return Outcome::Failed(format!(
            "5.1.1 could not find password entry for user {name}"
        ));
    };
    if user.uid.is_root() {
        return Outcome::Failed("5.7.1 .forward targets never run as root".into());
    }
    let switch = if may_switch(cfg.run_as_user) {
        true
    } else if nix::unistd::geteuid() == user.uid {
        false
    } else {
        return Outcome::Deferred(format!(
            "4.3.0 cannot act as user {name} (masqmail is not running as root); \
             commands and files of a .forward never run as another user"
        ));
    };
    let now = Local::now();
    let text = Body::File {
        file: body.file(),
        offset: body.offset(),
    };
    match target {
        ForwardTarget::Pipe { command, .. } => {
            let opts = ContentOptions {
                fromline: cfg.pipe_fromline,
                fromhack: cfg.pipe_fromhack,
            };
            let content = Content::new(msg, top, text, opts, &now);
            let env = environment(&Vars::new(cfg, msg, leaf, top), &user);
            let identity = switch.then_some(Identity {
                uid: user.uid,
                gid: user.gid,
            });
            command::run_forward_pipe(cfg, command, &content, &env, identity)
        }
        ForwardTarget::File { path, .. } => {
            let content = Content::new(msg, top, text, ContentOptions::MBOX, &now);
            let _identity = if switch {
                match EffectiveIdentity::switch_to(user.uid, user.gid) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        return Outcome::Deferred(format!("4.3.0 cannot become user {name}: {e}"));
                    }
                }
            } else {
                None
            };
            match mbox::append_to(path, &content, user.uid, &LockPolicy::default()) {
                Ok(()) => Outcome::Delivered,
                Err(e) => e.outcome(),
            }
        }
    }
}

/// §7.6 with the `.forward` owner as `USER`/`LOGNAME`, and its `HOME`.
fn environment(vars: &Vars, user: &User) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = vars
        .environment()
        .iter()
        .filter(|(k, _)| !matches!(*k, "USER" | "LOGNAME"))
        .cloned()
        .collect();
    env.push(("USER", user.name.clone()));
    env.push(("LOGNAME", user.name.clone()));
    env.push(("HOME", user.dir.to_string_lossy().into_owned()));
    env
}
