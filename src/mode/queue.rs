//! The queue modes: `-q` (one run), `-bp` (listing; `json.rs`: `--json`),
//! `-Mrm` (removal).

mod json;

use std::io::Write;

use super::{Exit, code};
use crate::config::Config;
use crate::message::{Message, Protocol, QueueId};
use crate::online::told;
use crate::privs;
use crate::queue::{self, Scope};
use crate::spool::Spool;

fn open(cfg: &Config) -> Result<Spool, Exit> {
    Spool::open(&cfg.spool_dir, &cfg.lock_dir)
        .map_err(|e| Exit::fail(format!("cannot open the spool: {e}")))
}

fn privileged(cfg: &Config) -> Result<(), Exit> {
    if privs::is_privileged(cfg.run_as_user) {
        return Ok(());
    }
    Err(Exit::fail(format!(
        "must be root, {} or in group {} for queue run.",
        privs::MAIL_USER,
        privs::MAIL_GROUP
    )))
}

/// `-q`, `runq`, `-qo NAME`: privileged callers only (cli.md §4.2).
/// Without another way to ask, `-qo NAME` also records NAME as online
/// for the daemon and later runs (`online::told`), before the run: a
/// hook's run may take long, relaying should follow at once.
pub fn run(cfg: &Config, online: Option<&str>) -> Result<i32, Exit> {
    privileged(cfg)?;
    let spool = open(cfg)?;
    if let Some(name) = online
        && told::applies(cfg)
    {
        told::record(cfg, name)
            .map_err(|e| Exit::fail(format!("cannot record connection {name} as online: {e}")))?;
        tracing::info!("connection {name} recorded as online (until masqmail --offline)");
    }
    let result = match online {
        Some(name) => queue::run_online(cfg, &spool, name),
        None => queue::run_all(cfg, &spool, Scope::ALL),
    };
    result.map_err(|e| Exit::fail(format!("queue run failed: {e}")))?;
    Ok(code::OK)
}

/// `--offline`: the connection recorded by `-qo NAME` is down; only
/// loopback and authenticated clients relay where `relay_nets.NAME` is
/// used, and interval runs deliver nothing remote, until told again.
pub fn offline(cfg: &Config) -> Result<i32, Exit> {
    privileged(cfg)?;
    if !told::applies(cfg) {
        tracing::info!("--offline: online_query or online_detect decides which connection is up");
    }
    told::clear(cfg).map_err(|e| Exit::fail(format!("cannot record going offline: {e}")))?;
    tracing::info!("no connection online (masqmail --offline)");
    Ok(code::OK)
}

/// `-bp`, `mailq`: anybody may list (cli.md §7.2). Unreadable entries are
/// logged and skipped. With `json`, JSON Lines (`json.rs`); an empty queue
/// prints nothing.
pub fn list(cfg: &Config, json: bool) -> Result<i32, Exit> {
    let spool = open(cfg)?;
    let ids = spool
        .ids()
        .map_err(|e| Exit::fail(format!("cannot list the spool: {e}")))?;
    let mut msgs: Vec<Message> = Vec::with_capacity(ids.len());
    for id in &ids {
        match spool.read(id) {
            Ok(m) => msgs.push(m),
            Err(e) if e.is_not_found() => {}
            Err(e) => tracing::error!("{e}"),
        }
    }
    msgs.sort_by_key(|m| m.received_time);
    let text = if json {
        let routing = json::Routing::load(cfg);
        msgs.iter()
            .map(|m| json::message(&routing, m).to_string() + "\n")
            .collect()
    } else {
        crate::spool::format_listing(&msgs, chrono::Utc::now().timestamp())
    };
    // A closed stdout (`mailq | head`) is not an error worth a message.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(code::OK)
}

/// `-Mrm id…`: privileged callers remove anything; others only what they
/// submitted locally themselves (cli.md §7.3).
pub fn remove(cfg: &Config, ids: &[String]) -> Result<i32, Exit> {
    let spool = open(cfg)?;
    let privileged = privs::is_privileged(cfg.run_as_user);
    let (_, login) = privs::current_login();
    let mut removed = 0;
    for text in ids {
        let Some(id) = QueueId::parse(text) else {
            eprintln!("invalid message id '{}'", text.escape_debug());
            continue;
        };
        if !privileged {
            let Ok(msg) = spool.read(&id) else { continue };
            eprintln!("id: {id}");
            if let Err(why) = owned_by(&msg, &login) {
                eprintln!("{why}");
                continue;
            }
        } else {
            eprintln!("id: {id}");
        }
        let lock = match spool.lock(&id) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                eprintln!("message {id} is locked.");
                continue;
            }
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        match spool.remove(&id) {
            Ok(()) => {
                println!("message {id} deleted");
                tracing::info!("{id} removed from the queue by {login}");
                removed += 1;
            }
            Err(e) => eprintln!("{e}"),
        }
        drop(lock);
    }
    Ok(if removed > 0 { code::OK } else { code::FAIL })
}

fn owned_by(msg: &Message, login: &str) -> Result<(), String> {
    match &msg.ident {
        None => Err(format!("message {} does not have an ident", msg.id)),
        Some(ident) if ident != login => Err(format!("you do not own message id {}", msg.id)),
        Some(_) if msg.received_host.is_some() || msg.protocol != Protocol::Local => {
            Err(format!("message {} was not received locally", msg.id))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    fn msg(ident: Option<&str>, host: Option<&str>, protocol: Protocol) -> Message {
        Message {
            id: QueueId::parse("1xVrXk-3tM-00").expect("id"),
            return_path: Address::new("jo", "h.example"),
            rcpt_list: vec![Address::new("a", "h.example")],
            top_done: Vec::new(),
            finished: Vec::new(),
            protocol,
            received_host: host.map(str::to_string),
            ident: ident.map(str::to_string),
            data_size: 0,
            received_time: 0,
            warning_time: None,
            fetched_as: None,
            dsn: Default::default(),
            last_errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn only_local_messages_of_the_caller_are_theirs() {
        assert!(owned_by(&msg(Some("jo"), None, Protocol::Local), "jo").is_ok());
        let refused = |m: Message| owned_by(&m, "jo").unwrap_err();
        assert_eq!(
            refused(msg(None, None, Protocol::Local)),
            "message 1xVrXk-3tM-00 does not have an ident"
        );
        assert_eq!(
            refused(msg(Some("ann"), None, Protocol::Local)),
            "you do not own message id 1xVrXk-3tM-00"
        );
        assert_eq!(
            refused(msg(Some("jo"), Some("192.0.2.1"), Protocol::Esmtp)),
            "message 1xVrXk-3tM-00 was not received locally"
        );
    }
}
