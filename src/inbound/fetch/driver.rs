//! The tokio driver of a POP3 fetch: connects, performs the session's
//! steps (command groups, the TLS handshake), reads one response per
//! command and, for each RETR, streams the message into the spool and
//! commits it before the session hears "stored".
//!
//! Order per message (R30, never lose, never duplicate): content written
//! to the reservation's temporary file as it arrives → durable commit
//! (`accept_reserved`) → the UID recorded durably in the UIDL file → the
//! session learns [`Response::Stored`]. DELE goes out only after every
//! RETR of the session was answered.
//!
//! Crash points (debug builds, `MASQMAIL_CRASHPOINT`): `fetch-retrieved`,
//! `fetch-spooled`, `fetch-uidl-recorded`, `fetch-before-dele`,
//! `fetch-before-quit`, `fetch-after-quit`.
//!
//! # Security
//! See [`super::wire`] (bounds, deadlines) and [`super::pop3`] (what is
//! sent). The password or OAuth2 token is had before connecting and goes
//! out only as the session allows; messages name commands by their verb.

use super::envelope::envelope;
use super::pop3::{Command, Plan, Response, Session, Step, Summary, TlsPolicy};
use super::uidl::UidlStore;
use super::wire::Wire;
use crate::accept::Submission;
use crate::config::{GetConf, GetProtocol, TlsMode};
use crate::inbound::content::Content;
use crate::inbound::content::spool::{Inbound, Target};
use crate::message::{Protocol, QueueId};
use crate::pop3::Pop3Error;
use crate::pop3::Status;
use crate::pop3::conn::{self, TIMEOUT};
use crate::pop3::sasl::{Bearer, continuation};

/// What one fetch did.
#[derive(Debug, Default)]
pub struct Fetched {
    pub summary: Summary,
    /// The messages spooled, for instant delivery.
    pub ids: Vec<QueueId>,
}

/// The session's TLS policy from the get file's `tls`.
pub fn tls_policy(get: &GetConf) -> TlsPolicy {
    match get.tls {
        None => TlsPolicy::IfOffered,
        Some(TlsMode::None) => TlsPolicy::Never,
        Some(TlsMode::StartTls) => TlsPolicy::Required,
        Some(TlsMode::Smtps) => TlsPolicy::Implicit,
    }
}

/// One POP3 session for `get`: everything new is spooled durably, then
/// deleted on the server unless `do_keep`. What was spooled is returned
/// also when the session fails later (it must still be delivered).
pub async fn fetch(
    get: &GetConf,
    target: &Target,
    secret: String,
    uidl: Option<&mut UidlStore>,
) -> (Fetched, Result<(), Pop3Error>) {
    let mut fetched = Fetched::default();
    let result = session(get, target, secret, uidl, &mut fetched).await;
    (fetched, result)
}

async fn session(
    get: &GetConf,
    target: &Target,
    secret: String,
    uidl: Option<&mut UidlStore>,
    fetched: &mut Fetched,
) -> Result<(), Pop3Error> {
    // With `auth_name` the secret is a bearer token: SASL only.
    let sasl = get
        .auth_name
        .map(|mech| Bearer::new(mech, &get.user, &secret, Some(&get.server), Some(get.port)));
    let plan = Plan {
        user: get.user.clone(),
        secret: if sasl.is_some() {
            String::new()
        } else {
            secret
        },
        apop: get.protocol == GetProtocol::Apop,
        sasl,
        tls: tls_policy(get),
        do_uidl: get.do_uidl,
        do_uidl_dele: get.do_uidl_dele,
        do_keep: get.do_keep,
        max_size: get.max_size,
        max_size_delete: get.max_size_delete,
        max_count: get.max_count,
        known: uidl.as_ref().map(|u| u.known()).unwrap_or_default(),
    };
    let label = conn::label(get);
    let mut session = Session::new(plan, label.clone());
    let (io, input) = conn::connect(get).await?.into_parts();
    let mut wire = Wire::new(io, input, label.clone(), TIMEOUT);
    let greeting = wire.status("waiting for the greeting").await?;
    let mut step = session.greeting(greeting)?;
    let mut run = Run {
        get,
        target,
        uidl,
        transfer: 0,
        fetched,
    };
    loop {
        step = match step {
            Step::Done => break,
            Step::StartTls => {
                let (io, dropped) = wire.into_tls();
                if dropped > 0 {
                    tracing::warn!("{label}: discarded {dropped} bytes sent after the STLS reply");
                }
                let config = conn::tls_config(get).map_err(|e| Pop3Error::Tls {
                    server: label.clone(),
                    reason: e.to_string(),
                })?;
                let io = conn::handshake(io, config, &get.server, &label, TIMEOUT).await?;
                wire = Wire::new(io, Vec::new(), label.clone(), TIMEOUT);
                session.tls_started()
            }
            Step::Send(group) => {
                if group.iter().any(|c| matches!(c, Command::Dele(_))) {
                    crate::crashpoint!("fetch-before-dele");
                }
                if group.last() == Some(&Command::Quit) {
                    crate::crashpoint!("fetch-before-quit");
                }
                wire.send(&group).await?;
                let mut next = None;
                for command in &group {
                    let response = run.response(&mut wire, &session, command).await?;
                    if let Some(s) = session.on_response(response)? {
                        next = Some(s);
                        break;
                    }
                }
                match next {
                    Some(s) => s,
                    None => return Err(wire_error(&label, "the session stopped mid-group")),
                }
            }
        };
    }
    crate::crashpoint!("fetch-after-quit");
    run.fetched.summary = session.summary().clone();
    if let Some(store) = run.uidl {
        let on_server = session
            .listed()
            .iter()
            .filter_map(|l| l.uid.as_deref())
            .collect();
        if let Err(e) = store.prune(&on_server) {
            tracing::warn!("{e}");
        }
    }
    Ok(())
}

/// `<user>@<server> <uid>`: the spool's record of where a message came from.
pub fn origin(get: &GetConf, uid: &str) -> String {
    format!("{}@{} {uid}", get.user, get.server)
}

fn wire_error(label: &str, reason: &str) -> Pop3Error {
    Pop3Error::Protocol {
        server: label.to_string(),
        reason: reason.to_string(),
    }
}

/// What the driver needs while reading responses.
struct Run<'a> {
    get: &'a GetConf,
    target: &'a Target,
    uidl: Option<&'a mut UidlStore>,
    /// The id's transfer number of the next message.
    transfer: u32,
    fetched: &'a mut Fetched,
}

impl Run<'_> {
    async fn response(
        &mut self,
        wire: &mut Wire,
        session: &Session,
        command: &Command,
    ) -> Result<Response, Pop3Error> {
        let verb = command.verb();
        let what = format!("waiting for the reply to {verb}");
        if command.is_sasl() {
            let line = wire.line(conn::MAX_LINE, &what).await?;
            return Ok(match continuation(&line) {
                Some(challenge) => Response::Continue(challenge.to_vec()),
                None => Response::Status(Status::parse(&line)),
            });
        }
        let status = wire.status(&what).await?;
        if !status.ok {
            return Ok(Response::Status(status));
        }
        if command.is_list() {
            return Ok(Response::List(wire.list(&format!("reading {verb}")).await?));
        }
        let Command::Retr(n) = command else {
            return Ok(Response::Status(status));
        };
        self.retrieve(wire, *n, session.uid_of(*n).map(str::to_string))
            .await
    }

    /// RETR's content into the spool; `Stored` only after the commit and
    /// the UIDL file are durable.
    async fn retrieve(
        &mut self,
        wire: &mut Wire,
        n: u32,
        uid: Option<String>,
    ) -> Result<Response, Pop3Error> {
        let max = self.target.cfg.max_msg_size;
        self.transfer = self.transfer.wrapping_add(1);
        let mut inbound = Inbound::new(Content::data(max), self.transfer);
        wire.content(&mut inbound, self.target).await?;
        crate::crashpoint!("fetch-retrieved");
        let mut finished = match inbound.end(self.target).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("{}: message #{n} not spooled: {e:?}", self.get.server);
                return Ok(Response::NotStored);
            }
        };
        let (return_path, recipients) = envelope(self.get, &self.target.cfg, &mut finished.headers);
        let sub = Submission {
            return_path,
            recipients,
            recipients_from_headers: false,
            full_name: None,
            protocol: match self.get.protocol {
                GetProtocol::Apop => Protocol::Apop,
                _ => Protocol::Pop3,
            },
            received_host: Some(self.get.server.clone()),
            ident: None,
            uid: 0,
            fetched_as: uid.as_ref().map(|u| origin(self.get, u)),
            dsn: Default::default(),
            notice: false,
        };
        let msg = match finished.commit(self.target, sub).await {
            Ok(msg) => msg,
            Err(e) => {
                tracing::error!("{}: message #{n} not spooled: {e}", self.get.server);
                return Ok(Response::NotStored);
            }
        };
        crate::crashpoint!("fetch-spooled");
        if let (Some(store), Some(uid)) = (self.uidl.as_deref_mut(), uid.as_deref()) {
            // A few milliseconds of fsync; the fetch has its runtime to itself.
            if let Err(e) = store.record(uid) {
                // Spooled but not remembered: keep it on the server rather
                // than lose track (a duplicate is better than a loss).
                tracing::error!("{e}");
                self.fetched.ids.push(msg.id);
                return Ok(Response::NotStored);
            }
        }
        crate::crashpoint!("fetch-uidl-recorded");
        self.fetched.ids.push(msg.id);
        Ok(Response::Stored)
    }
}
