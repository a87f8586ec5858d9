//! Local delivery of one leaf (delivery.md §7): choose the method, build the
//! content with that method's options, deliver, and log the outcome.
//! Command and file targets of a `.forward` go to [`super::forward`].

use chrono::Local;

use crate::address::Address;
use crate::config::{Config, LocalMethod};
use crate::deliver::Outcome;
use crate::deliver::command::{self, Vars};
use crate::deliver::content::{Body, Content, ContentOptions};
use crate::deliver::{maildir, mbox};
use crate::message::Message;
use crate::spool::SpooledBody;

/// How one local leaf is delivered (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Mbox,
    Mda,
    Maildir,
    /// `|command` produced by an alias.
    Pipe,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Mbox => "mbox",
            Method::Mda => "mda",
            Method::Maildir => "maildir",
            Method::Pipe => "pipe",
        }
    }
}

/// The method for `leaf`: per-user lists first (case-insensitive), then
/// `mbox_default`.
pub fn method_for(cfg: &Config, leaf: &Address) -> Method {
    if leaf.is_pipe() {
        return Method::Pipe;
    }
    let listed = |list: &[String]| list.iter().any(|u| u.eq_ignore_ascii_case(&leaf.local));
    if listed(&cfg.mbox_users) {
        Method::Mbox
    } else if listed(&cfg.mda_users) {
        Method::Mda
    } else if listed(&cfg.maildir_users) {
        Method::Maildir
    } else {
        match cfg.mbox_default {
            LocalMethod::Mbox => Method::Mbox,
            LocalMethod::Mda => Method::Mda,
            LocalMethod::Maildir => Method::Maildir,
        }
    }
}

/// Delivers `body` of `msg` to the local `leaf`, which alias expansion
/// produced from the envelope recipient `top`. The body is streamed from
/// its data file.
pub fn deliver(
    cfg: &Config,
    msg: &Message,
    body: &SpooledBody,
    leaf: &Address,
    top: &Address,
) -> Outcome {
    if let Some(target) = crate::alias::ForwardTarget::of(leaf) {
        return super::forward::deliver(cfg, msg, body, leaf, top, target);
    }
    let method = method_for(cfg, leaf);
    tracing::debug!(
        "{}: local delivery of <{leaf}> (for <{top}>) with {}",
        msg.id,
        method.name()
    );
    let now = Local::now();
    let opts = match method {
        Method::Mbox => ContentOptions::MBOX,
        Method::Maildir => ContentOptions::MAILDIR,
        Method::Mda => ContentOptions {
            fromline: cfg.mda_fromline,
            fromhack: cfg.mda_fromhack,
        },
        Method::Pipe => ContentOptions {
            fromline: cfg.pipe_fromline,
            fromhack: cfg.pipe_fromhack,
        },
    };
    let body = Body::File {
        file: body.file(),
        offset: body.offset(),
    };
    let content = Content::new(msg, top, body, opts, &now);
    let mut detail = String::new();
    let outcome = match method {
        Method::Mbox => mbox::deliver(cfg, &content, &leaf.local),
        Method::Maildir => maildir::deliver(cfg, &content, &leaf.local, None),
        Method::Mda => match &cfg.mda {
            None => Outcome::Deferred(
                "4.3.5 mbox_default is mda but no mda command is configured".into(),
            ),
            Some(spec) => {
                detail = format!(" (cmd = {})", spec.text);
                let vars = Vars::new(cfg, msg, leaf, top);
                command::run_mda(cfg, spec, &content, &vars, &leaf.local)
            }
        },
        Method::Pipe => {
            let cmd = &leaf.local[1..];
            detail = format!(" (cmd = {cmd})");
            let vars = Vars::new(cfg, msg, leaf, top);
            command::run_pipe(cfg, cmd, &content, &vars)
        }
    };
    let who = target_text(leaf, top, method);
    match &outcome {
        Outcome::Delivered | Outcome::PassedOn => {
            tracing::info!("{} => {who} with {}{detail}", msg.id, method.name())
        }
        Outcome::Deferred(why) => {
            tracing::warn!("{} == {who} deferred ({}): {why}", msg.id, method.name())
        }
        Outcome::Failed(why) => {
            tracing::warn!("{} == {who} failed ({}): {why}", msg.id, method.name())
        }
    }
    outcome
}

/// `<rcpt>` or, for an aliased recipient, `rcpt <original>`; pipes are
/// shown bare, as the spec's log lines do.
fn target_text(leaf: &Address, top: &Address, method: Method) -> String {
    if method == Method::Pipe {
        format!("{} <{top}>", leaf.local)
    } else if leaf.same_as(top, false) {
        format!("<{leaf}>")
    } else {
        format!("{leaf} <{top}>")
    }
}
