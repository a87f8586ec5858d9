//! The transaction's verbs of a [`Session`]: MAIL, RCPT, DATA, BDAT and
//! the end of the content (see the parent module for the guarantees).

use super::{ContentError, Envelope, Peer, Reply, Session, State, Step, Tx};
use crate::accept::{AcceptError, Submission};
use crate::address::{Address, PipePolicy, parse_path};
use crate::inbound::smtp::command::{MailParams, RcptParams};
use crate::inbound::smtp::policy::{self, RcptVerdict};
use crate::message::dsn::{Dsn, RcptDsn};
use crate::message::{Protocol, QueueId};

impl Session {
    pub(super) fn mail(&mut self, token: &str, params: &MailParams) -> Reply {
        let State::Greeted(_, tx) = &self.state else {
            return Reply::need_helo();
        };
        if !matches!(tx, Tx::None) {
            return Reply::mail_given();
        }
        let max = self.cfg.max_msg_size;
        if let Some(size) = params.size
            && max > 0
            && size > max
        {
            return Reply::size_exceeded();
        }
        if token.len() > 256 {
            return Reply::sender_too_long();
        }
        if !self.admission.room_for(params.size.unwrap_or(0)) {
            return Reply::no_storage();
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) => a,
            Err(e) => return Reply::bad_sender(&format!("{token}: {e}")),
        };
        let Some(from) = self.qualify(addr) else {
            return Reply::sender_unqualified();
        };
        let reply = Reply::sender_ok(&from.to_string());
        if let State::Greeted(_, tx) = &mut self.state {
            *tx = Tx::Mail(Envelope {
                from,
                rcpts: Vec::new(),
                dsn: Dsn {
                    ret: params.ret,
                    envid: params.envid.clone(),
                    rcpts: Vec::new(),
                },
            });
        }
        reply
    }

    pub(super) fn rcpt(&mut self, token: &str, params: RcptParams) -> Reply {
        let State::Greeted(_, tx) = &self.state else {
            return Reply::need_helo();
        };
        let Tx::Mail(env) = tx else {
            return Reply::need_mail("RCPT TO:");
        };
        if env.rcpts.len() >= self.limits.max_rcpts {
            return Reply::too_many_rcpts();
        }
        if token.len() > 256 {
            return Reply::rcpt_too_long();
        }
        let addr = match parse_path(token, PipePolicy::Refuse) {
            Ok(a) if a.is_null() => return Reply::empty_rcpt(),
            Ok(a) => a,
            Err(e) => return Reply::bad_rcpt(&format!("{token}: {e}")),
        };
        let Some(addr) = self.qualify(addr) else {
            return Reply::rcpt_unqualified();
        };
        if self.cfg.locality().is_local(&addr)
            && let Err(why) = policy::mailbox_name(&addr.local)
        {
            tracing::info!(
                "{}: local part of <{}> refused: {why}",
                self.peer.who(),
                addr.to_string().escape_debug()
            );
            return Reply::bad_local_part(why);
        }
        let trust = policy::Trust {
            relay_nets: &self.relay_nets,
            authenticated: self.auth.user.is_some(),
        };
        if let RcptVerdict::Refuse(why) =
            policy::check_rcpt(&self.cfg, &self.peer, &trust, &env.from, &addr)
        {
            tracing::info!("{}: relaying to <{addr}> denied ({why})", self.peer.who());
            return Reply::relay_denied(&addr.to_string());
        }
        let reply = Reply::rcpt_ok(&addr.to_string());
        if let State::Greeted(_, Tx::Mail(env)) = &mut self.state {
            let dsn = RcptDsn {
                notify: params.notify,
                orcpt: params.orcpt,
            };
            env.dsn.add_rcpt(&addr, dsn);
            env.rcpts.push(addr);
        }
        reply
    }

    /// Network peers must send qualified addresses; a local `-bs` user's
    /// are qualified with host_name.
    fn qualify(&self, addr: Address) -> Option<Address> {
        if addr.is_null() || !addr.domain.is_empty() {
            return Some(addr);
        }
        match self.peer {
            Peer::Tcp(_) | Peer::Odmr { .. } => None,
            Peer::Local { .. } => Some(addr.qualify(&self.cfg.host_name)),
        }
    }

    pub(super) fn data(&mut self) -> Step {
        let State::Greeted(_, tx) = &mut self.state else {
            return Step::Reply(Reply::need_helo());
        };
        match tx {
            Tx::Mail(env) if !env.rcpts.is_empty() => {
                *tx = Tx::Content(env.clone());
                Step::ReceiveData(Reply::start_data())
            }
            Tx::Mail(_) => Step::Reply(Reply::need_rcpt("DATA")),
            Tx::Chunking(_) | Tx::Content(_) => Step::Reply(Reply::data_after_bdat()),
            Tx::None => Step::Reply(Reply::need_mail("DATA")),
        }
    }

    pub(super) fn bdat(&mut self, size: u64, last: bool) -> Step {
        // A chunk far beyond the limit would only be read to be thrown
        // away: end the session instead of reading gigabytes.
        let max = self.limits.max_body;
        if max > 0 && size > max.saturating_add(1 << 20) {
            return Step::Close(Reply::chunk_too_large());
        }
        let skip = |then| Step::SkipChunk { size, then };
        let State::Greeted(_, tx) = &mut self.state else {
            return skip(Reply::need_helo());
        };
        let env = match tx {
            Tx::None => return skip(Reply::need_mail("BDAT")),
            Tx::Mail(env) if env.rcpts.is_empty() => return skip(Reply::need_rcpt("BDAT")),
            Tx::Mail(env) | Tx::Chunking(env) | Tx::Content(env) => env.clone(),
        };
        *tx = if last {
            Tx::Content(env)
        } else {
            Tx::Chunking(env)
        };
        Step::ReceiveChunk { size, last }
    }

    /// A BDAT chunk that was not the last one has been received.
    pub fn chunk_end(&mut self, size: u64) -> Reply {
        Reply::chunk_received(size)
    }

    /// The whole content has been received (or could not be).
    pub fn content_end(&mut self, result: Result<(), ContentError>) -> Step {
        let (greeting, env) = match std::mem::replace(&mut self.state, State::Fresh) {
            State::Greeted(g, Tx::Content(env) | Tx::Chunking(env)) => (g, env),
            other => {
                // Not in a transaction: a driver bug, never the client's.
                self.state = other;
                return Step::Reply(Reply::spool_error());
            }
        };
        let esmtp = greeting.esmtp;
        self.state = State::Greeted(greeting, Tx::None);
        match result {
            Ok(()) => {}
            Err(ContentError::TooLarge) => {
                tracing::info!("{}: message refused: too large", self.peer.who());
                return Step::Reply(Reply::message_too_large());
            }
            Err(ContentError::HeadersTooLarge) => {
                tracing::info!(
                    "{}: message refused: header section too large",
                    self.peer.who()
                );
                return Step::Reply(Reply::headers_too_large());
            }
            Err(ContentError::Spool) => return Step::Reply(Reply::spool_error()),
        }
        let (ident, uid, host) = match &self.peer {
            // The authenticated user is recorded like a local submitter's
            // login (spool `ID:`, `Received:`).
            Peer::Tcp(_) => (self.auth.user.clone(), 0, self.peer.ip_text()),
            Peer::Odmr { .. } => (None, 0, self.peer.ip_text()),
            Peer::Local { login, uid } => (Some(login.clone()), *uid, None),
        };
        Step::Commit(Box::new(Submission {
            return_path: env.from,
            recipients: env.rcpts,
            recipients_from_headers: false,
            full_name: None,
            protocol: if esmtp {
                Protocol::Esmtp
            } else {
                Protocol::Smtp
            },
            received_host: host,
            ident,
            uid,
            fetched_as: None,
            dsn: env.dsn,
            notice: false,
        }))
    }

    /// The outcome of the spool commit asked for with [`Step::Commit`].
    pub fn committed(&mut self, result: Result<&QueueId, &AcceptError>) -> Reply {
        match result {
            Ok(id) => {
                self.accepted += 1;
                Reply::accepted(&id.to_string())
            }
            Err(AcceptError::NoRecipients) => Reply::no_valid_rcpts(),
            Err(AcceptError::NoSpace { .. }) => Reply::no_storage(),
            Err(e) => {
                tracing::error!("{}: {e}", self.peer.who());
                Reply::spool_error()
            }
        }
    }
}
