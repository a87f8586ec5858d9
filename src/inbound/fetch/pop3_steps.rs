//! The phases of a POP3 fetch session: what each response means and what
//! the next phase sends (see the parent module for the guarantees).

use std::collections::HashMap;

use super::{Command, Listed, Response, Session, State, Step, TlsPolicy, parse_list, parse_uidl};
use crate::pop3::Pop3Error;
use crate::pop3::login::apop_digest;
use crate::pop3::sasl;

impl Session {
    pub(super) fn protocol(&self, reason: &str) -> Pop3Error {
        Pop3Error::Protocol {
            server: self.server.clone(),
            reason: reason.to_string(),
        }
    }

    fn tls_error(&self, reason: &str) -> Pop3Error {
        Pop3Error::Tls {
            server: self.server.clone(),
            reason: reason.to_string(),
        }
    }

    /// One response; `Some` for a step that cannot wait for the group.
    pub(super) fn handle(
        &mut self,
        command: Command,
        response: Response,
    ) -> Result<Option<Step>, Pop3Error> {
        match (command, response) {
            (Command::Capa, Response::List(lines)) => {
                let caps: Vec<String> = lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).to_ascii_uppercase())
                    .collect();
                let has = |name: &str| caps.iter().any(|c| c.split(' ').next() == Some(name));
                self.pipelining = has("PIPELINING");
                self.stls_offered = has("STLS");
                self.sasl_offered = sasl::offered(&lines);
            }
            // An old server without CAPA (RFC 2449): no extensions.
            (Command::Capa, _) => {
                self.pipelining = false;
                self.stls_offered = false;
                self.sasl_offered.clear();
            }
            (Command::Stls, Response::Status(st)) if st.ok => return Ok(Some(Step::StartTls)),
            (Command::Stls, Response::Status(st)) => {
                return Err(self.tls_error(&format!("STLS refused: {}", st.text)));
            }
            (Command::User(_) | Command::Pass(_) | Command::Apop(..), Response::Status(st)) => {
                if !st.ok {
                    return Err(Pop3Error::Login {
                        server: self.server.clone(),
                        user: self.plan.user.clone(),
                        reply: st.text,
                    });
                }
            }
            (Command::Auth(_) | Command::SaslResponse(_), Response::Continue(challenge)) => {
                let answer = match self.auth.as_mut().map(|a| a.answer(&challenge)) {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => return Err(self.protocol(&e)),
                    None => return Err(self.protocol("a challenge to no AUTH")),
                };
                return Ok(Some(
                    self.start(State::Login, vec![Command::SaslResponse(answer)]),
                ));
            }
            (Command::Auth(_) | Command::SaslResponse(_), Response::Status(st)) => {
                if !st.ok {
                    let reply = match &self.auth {
                        Some(a) => a.failure(&st.text),
                        None => st.text,
                    };
                    return Err(Pop3Error::Login {
                        server: self.server.clone(),
                        user: self.plan.user.clone(),
                        reply,
                    });
                }
                self.auth = None;
            }
            (Command::Uidl, Response::List(lines)) => self.uidl = Some(parse_uidl(&lines)),
            // A server without UIDL: nothing can be recognised later.
            (Command::Uidl, _) => self.uidl = Some(Vec::new()),
            (Command::List, Response::List(lines)) => self.listing(&parse_list(&lines)),
            (Command::List, Response::Status(st)) => {
                return Err(self.protocol(&format!("LIST refused: {}", st.text)));
            }
            (Command::Retr(n), Response::Stored) => {
                self.stored.push(n);
                self.summary.fetched += 1;
            }
            (Command::Retr(n), response) => {
                let why = match response {
                    Response::Status(st) => st.text,
                    _ => "could not be spooled".to_string(),
                };
                tracing::warn!("{}: message #{n} not fetched: {why}", self.server);
            }
            (Command::Dele(n), Response::Status(st)) => {
                if st.ok {
                    self.summary.deleted += 1;
                } else {
                    tracing::warn!("{}: DELE {n} refused: {}", self.server, st.text);
                }
            }
            (Command::Quit, _) => {
                self.state = State::Done;
                return Ok(Some(Step::Done));
            }
            (command, _) => {
                let verb = command.verb();
                return Err(self.protocol(&format!("unexpected response to {verb}")));
            }
        }
        Ok(None)
    }

    /// Every response of the phase has come: start the next phase.
    pub(super) fn next_phase(&mut self) -> Result<Step, Pop3Error> {
        match self.state {
            State::Greeting | State::Capa => self.after_capa(),
            State::Stls => Err(self.protocol("STLS answered without a handshake")),
            State::Login => {
                let mut cmds = Vec::new();
                if self.plan.do_uidl {
                    cmds.push(Command::Uidl);
                }
                cmds.push(Command::List);
                Ok(self.start(State::Listing, cmds))
            }
            State::Listing => Ok(self.plan_fetch()),
            State::Fetching => Ok(self.closing()),
            State::Closing | State::Done => Ok(Step::Done),
        }
    }

    fn after_capa(&mut self) -> Result<Step, Pop3Error> {
        if !self.tls_active {
            match self.plan.tls {
                TlsPolicy::Required if !self.stls_offered => {
                    return Err(self.tls_error("STLS is required but not offered"));
                }
                TlsPolicy::Required | TlsPolicy::IfOffered if self.stls_offered => {
                    return Ok(self.start(State::Stls, vec![Command::Stls]));
                }
                _ => {}
            }
        }
        if let Some(mut auth) = self.plan.sasl.clone() {
            return self.authenticate(&mut auth).map(|line| {
                self.auth = Some(auth);
                self.start(State::Login, vec![Command::Auth(line)])
            });
        }
        let user = self.plan.user.clone();
        if self.plan.apop {
            let Some(stamp) = self.apop_stamp.clone() else {
                return Err(Pop3Error::Login {
                    server: self.server.clone(),
                    user,
                    reply: "APOP asked for, but the greeting has no timestamp".into(),
                });
            };
            let digest = apop_digest(&stamp, &self.plan.secret);
            return Ok(self.start(State::Login, vec![Command::Apop(user, digest)]));
        }
        if !self.tls_active && self.plan.tls != TlsPolicy::Never {
            return Err(Pop3Error::Cleartext {
                server: self.server.clone(),
                what: "password",
            });
        }
        let pass = Command::Pass(self.plan.secret.clone());
        Ok(self.start(State::Login, vec![Command::User(user), pass]))
    }

    /// The AUTH line, if the link may carry the token and CAPA offers the
    /// mechanism; never a fallback to USER/PASS.
    fn authenticate(&self, auth: &mut sasl::Bearer) -> Result<String, Pop3Error> {
        if !self.tls_active && self.plan.tls != TlsPolicy::Never {
            return Err(Pop3Error::Cleartext {
                server: self.server.clone(),
                what: "OAuth2 token",
            });
        }
        if !self.sasl_offered.iter().any(|m| m == auth.name()) {
            return Err(Pop3Error::Mechanism {
                server: self.server.clone(),
                mech: auth.name(),
                offered: self.sasl_offered.join(" "),
            });
        }
        Ok(auth.command())
    }

    /// LIST (with the UIDL answer before it) is in: the messages.
    fn listing(&mut self, list: &[(u32, u64)]) {
        // Maps, not scans: a mailbox may hold 100 000 messages.
        let mut uids: HashMap<u32, String> =
            self.uidl.take().unwrap_or_default().into_iter().collect();
        self.listed = list
            .iter()
            .map(|&(number, size)| Listed {
                number,
                size,
                uid: uids.remove(&number),
            })
            .collect();
        self.index = self
            .listed
            .iter()
            .enumerate()
            .map(|(i, l)| (l.number, i))
            .collect();
        self.summary.listed = self.listed.len();
    }

    /// Which messages to delete as known and which to fetch.
    fn plan_fetch(&mut self) -> Step {
        if self.listed.is_empty() {
            tracing::info!("{}: no messages for user {}", self.server, self.plan.user);
        }
        let mut cmds = Vec::new();
        let mut fetch = 0u32;
        for m in &self.listed {
            let known = m.uid.as_ref().is_some_and(|u| self.plan.known.contains(u));
            if known {
                // Known means safely spooled before: unless it is to be
                // kept, it goes (also when an earlier session was cut
                // off between RETR and DELE).
                self.summary.known += 1;
                if !self.plan.do_keep || self.plan.do_uidl_dele {
                    cmds.push(Command::Dele(m.number));
                }
                continue;
            }
            if self.plan.max_size > 0 && m.size >= self.plan.max_size {
                tracing::info!(
                    "{}: size of message #{} ({}) > max_size ({})",
                    self.server,
                    m.number,
                    m.size,
                    self.plan.max_size
                );
                self.summary.too_large += 1;
                if self.plan.max_size_delete {
                    self.oversized.push(m.number);
                }
                continue;
            }
            if self.plan.max_count > 0 && fetch >= self.plan.max_count {
                continue;
            }
            fetch += 1;
            cmds.push(Command::Retr(m.number));
        }
        if self.summary.known > 0 {
            tracing::info!(
                "{}: {} message(s) already in uidl.",
                self.server,
                self.summary.known
            );
        }
        if cmds.is_empty() {
            return self.closing();
        }
        self.start(State::Fetching, cmds)
    }

    /// Every RETR is answered: delete what is safely stored, then QUIT.
    fn closing(&mut self) -> Step {
        let mut cmds = Vec::new();
        if !self.plan.do_keep {
            cmds.extend(self.stored.iter().map(|&n| Command::Dele(n)));
            cmds.extend(self.oversized.iter().map(|&n| Command::Dele(n)));
        }
        cmds.push(Command::Quit);
        self.start(State::Closing, cmds)
    }
}
