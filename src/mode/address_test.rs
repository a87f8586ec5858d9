//! `masqmail -bt ADDRESS…` (address test, as sendmail users know it):
//! what would happen now to a message from the calling user to each
//! ADDRESS — alias expansion, local or remote, the local method and
//! mailbox, and for remote targets every route of this moment in order
//! with the reason it does or does not take the address, the rewritten
//! envelope sender and `From:`, and the transport and host. It also says
//! which client networks the SMTP server lets relay right now (the
//! connection's `relay_nets.NAME`, issue 11).
//!
//! Guarantees: nothing is sent, spooled or delivered; the same functions
//! decide here as in a queue run (alias expansion, locality, route
//! filters, `last_route` claims, rewriting), so the answer cannot drift
//! from what delivery does.
//!
//! # Security
//! Anybody may run it. It shows the configured routes, mailbox paths and
//! command lines, but never a secret: `auth_login`/`auth_secret` and the
//! output of `auth_secret_command` are not printed.

use std::fmt::Write as _;

use super::{Exit, code};
use crate::address::Address;
use crate::alias::{self, Expansion};
use crate::config::{Config, Route, Transport};
use crate::deliver::local::{Method, method_for};
use crate::deliver::runner::Aliases;
use crate::inbound::smtp::policy;
use crate::message::{Header, Message, Protocol, QueueId};
use crate::outbound::route::{
    Claims, default_local_net_route, local_net_applies, message_refusal, rcpt_refusal, rewrite,
    route_files,
};
use crate::privs;

pub fn run(cfg: &Config, operands: &[String]) -> Result<i32, Exit> {
    if operands.is_empty() {
        return Err(Exit::new(
            code::USAGE,
            "-bt needs at least one address (see: masqmail --help)",
        ));
    }
    let rcpts = operands
        .iter()
        .map(|op| super::accept::recipient(cfg, op))
        .collect::<Result<Vec<_>, _>>()?;
    let (_, login) = privs::current_login();
    let msg = probe(cfg, &login, &rcpts);
    let aliases = Aliases::load(cfg);
    let connection = crate::online::connection_name(cfg, None);
    let routes = crate::deliver::remote::load(cfg, &route_files(cfg, connection.as_deref()));
    let mut out = String::new();
    let _ = writeln!(out, "sender: <{}>", msg.return_path);
    let _ = match &connection {
        Some(name) => writeln!(out, "online connection: {name}"),
        None => writeln!(out, "online connection: none (only permanent routes apply)"),
    };
    let _ = writeln!(out, "{}", relaying_line(cfg, connection.as_deref()));
    for top in &rcpts {
        let _ = writeln!(out, "\n<{top}>");
        match alias::expand(top, &aliases.context(cfg)) {
            Expansion::Failed(why) => {
                let _ = writeln!(out, "  fails: alias expansion failed: {why}");
            }
            Expansion::Leaves(leaves) => {
                if leaves.as_slice() != std::slice::from_ref(top) {
                    let list: Vec<String> = leaves.iter().map(|l| format!("<{l}>")).collect();
                    let _ = writeln!(out, "  alias: expands to {}", list.join(", "));
                }
                for leaf in &leaves {
                    describe_leaf(&mut out, cfg, &msg, &routes, leaf);
                }
            }
        }
    }
    print!("{out}");
    Ok(code::OK)
}

/// `relaying allowed from: …`: the networks the SMTP server lets relay
/// while `connection` is online, and whether clients may authenticate.
fn relaying_line(cfg: &Config, connection: Option<&str>) -> String {
    let nets = policy::relay_nets(cfg, connection);
    let mut list: Vec<String> = nets.iter().map(ToString::to_string).collect();
    if list.is_empty() {
        list.push("nobody".into());
    }
    let source = match (policy::per_connection(cfg), connection) {
        (false, _) => "relay_nets".to_string(),
        (true, Some(name)) if cfg.relay_nets_by_connection.iter().any(|(n, _)| n == name) => {
            format!("loopback and relay_nets.{name}")
        }
        (true, Some(name)) => format!("loopback only: no relay_nets.{name}"),
        (true, None) => "loopback only: no connection online".to_string(),
    };
    let auth = match &cfg.smtp_auth_file {
        Some(_) => "; and clients that authenticate (smtp_auth_file, inside TLS)",
        None => "",
    };
    format!(
        "relaying allowed from: {} ({source}){auth}",
        list.join(", ")
    )
}

/// The message a local submission by `login` would make, headers only.
fn probe(cfg: &Config, login: &str, rcpts: &[Address]) -> Message {
    let sender = Address::new(login, &cfg.host_name);
    Message {
        id: QueueId::generate(0, std::process::id(), 0),
        headers: vec![Header::new("From", &sender.to_string())],
        return_path: sender,
        rcpt_list: rcpts.to_vec(),
        top_done: Vec::new(),
        finished: Vec::new(),
        protocol: Protocol::Local,
        received_host: None,
        ident: Some(login.to_string()),
        data_size: 0,
        received_time: chrono::Utc::now().timestamp(),
        warning_time: None,
        fetched_as: None,
        dsn: Default::default(),
        last_errors: Vec::new(),
    }
}

fn describe_leaf(out: &mut String, cfg: &Config, msg: &Message, routes: &[Route], leaf: &Address) {
    if leaf.is_pipe() || cfg.locality().is_local(leaf) {
        let how = match method_for(cfg, leaf) {
            Method::Pipe => "pipe command, run as the mail user".to_string(),
            Method::Mbox => format!("mbox {}", cfg.mail_dir.join(&leaf.local).display()),
            Method::Maildir => match &cfg.maildir_dir {
                Some(dir) => format!("Maildir {}", dir.join(&leaf.local).display()),
                None => format!("Maildir ~{}/Maildir", leaf.local),
            },
            Method::Mda => match &cfg.mda {
                Some(mda) => format!("mda {}", mda.text),
                None => "mda (none configured: deferred)".to_string(),
            },
        };
        let _ = writeln!(out, "  <{leaf}>: local, {how}");
        return;
    }
    let _ = writeln!(out, "  <{leaf}>: remote");
    if local_net_applies(cfg, leaf) {
        let nets = if cfg.local_net_route.is_empty() {
            vec![default_local_net_route(cfg)]
        } else {
            crate::deliver::remote::load(cfg, &cfg.local_net_route)
        };
        let _ = writeln!(out, "    in local_nets: its own routes apply");
        describe_routes(out, cfg, msg, &nets, leaf);
        return;
    }
    describe_routes(out, cfg, msg, routes, leaf);
}

/// Each route in run order, as [`Claims::offer`] would decide.
fn describe_routes(
    out: &mut String,
    cfg: &Config,
    msg: &Message,
    routes: &[Route],
    leaf: &Address,
) {
    let mut claims = Claims::default();
    let mut taken = false;
    for route in routes {
        let name = route.file.display();
        if claims.is_claimed(&msg.id, leaf) {
            let _ = writeln!(
                out,
                "    route {name}: not offered (an earlier last_route took it)"
            );
            continue;
        }
        let refusal = rcpt_refusal(route, leaf).or_else(|| message_refusal(route, cfg, msg));
        if let Some(why) = refusal {
            let _ = writeln!(out, "    route {name}: does not take it: {why}");
            continue;
        }
        claims.offer(route, cfg, msg, std::slice::from_ref(leaf));
        taken = true;
        let last = if route.last_route {
            " (last_route)"
        } else {
            ""
        };
        let _ = writeln!(out, "    route {name}: takes it{last}");
        let sent = rewrite(route, cfg, msg);
        let _ = writeln!(out, "      MAIL FROM: <{}>", sent.return_path);
        for h in sent
            .headers
            .iter()
            .filter(|h| h.is("From") || h.is("Reply-To"))
        {
            let _ = writeln!(out, "      {}", String::from_utf8_lossy(&h.raw).trim_end());
        }
        let _ = writeln!(out, "      transport: {}", transport(route, leaf));
    }
    if !taken {
        let _ = writeln!(out, "    no route takes it now: it stays queued");
    }
}

fn transport(route: &Route, leaf: &Address) -> String {
    match (
        route.protocol,
        &route.pipe,
        &route.wrapper,
        &route.mail_host,
    ) {
        (Transport::Pipe, Some(cmd), _, _) => format!("pipe {}", cmd.text),
        (Transport::Pipe, None, _, _) => "pipe, but no pipe command: deferred".to_string(),
        (Transport::Smtp, _, Some(w), _) => format!("smtp through wrapper {}", w.text),
        (Transport::Smtp, _, None, Some(host)) => format!("smtp to {}:{}", host.host, host.port),
        (Transport::Smtp, _, None, None) => {
            format!("smtp to the mail exchangers of {}", leaf.domain)
        }
    }
}
