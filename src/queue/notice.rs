//! Spooling the notices a run's deliveries built: failure notices and
//! delay warnings come back from delivery ([`Conclusion::notices`]) and
//! enter the spool here, through [`accept`], as ordinary local submissions
//! with the null sender. The run keeps their ids and delivers them after
//! its own messages.
//!
//! Guarantees: done in-process, so notices are generated whoever triggered
//! the run (delivery.md §18 item 16); each notice of a message is spooled,
//! in order, before the caller records that message (see
//! [`Conclusion::record`]).
//!
//! # Security
//! The notice text was rendered by `bounce`, with message data inserted as
//! data. It is read as a message without dot rules and submitted with the
//! null sender, so a notice about a failing notice goes to postmaster at
//! most, and never loops.

use crate::accept::{Submission, accept};
use crate::address::Address;
use crate::bounce::Notice;
use crate::config::Config;
use crate::deliver::step::Conclusion;
use crate::message::read::{ReadOptions, read_message};
use crate::message::{Protocol, QueueId};
use crate::spool::Spool;

/// The notices of one run.
#[derive(Debug, Default)]
pub struct Notices {
    /// Spooled and not yet delivered.
    pub spooled: Vec<QueueId>,
    /// The run's submission counter (message ids).
    transfer: u32,
}

impl Notices {
    /// Spools every notice of `done`, in order, and records each one's id
    /// in it; a notice that cannot be spooled is logged and left unset.
    pub fn spool_all(&mut self, cfg: &Config, spool: &Spool, done: &mut Conclusion) {
        let id = done.id().clone();
        for due in &mut done.notices {
            match self.submit(cfg, spool, &due.notice) {
                Ok(notice_id) => {
                    tracing::info!("{id}: notice spooled as {notice_id}");
                    self.spooled.push(notice_id.clone());
                    due.spooled = Some(notice_id);
                }
                Err(e) => tracing::error!("{id}: cannot spool the notice: {e}"),
            }
        }
    }

    /// Spools a notice as an ordinary local submission with the null sender.
    fn submit(
        &mut self,
        cfg: &Config,
        spool: &Spool,
        notice: &Notice,
    ) -> Result<QueueId, Box<dyn std::error::Error>> {
        let opts = ReadOptions {
            dot_ends: false,
            eof_is_error: false,
            max_body: 0,
        };
        let raw = read_message(&mut notice.text.as_slice(), &opts)?;
        let (uid, ident) = crate::privs::current_login();
        let sub = Submission {
            return_path: Address::null(),
            recipients: vec![notice.recipient.clone()],
            recipients_from_headers: false,
            full_name: None,
            protocol: Protocol::Local,
            received_host: None,
            ident: Some(ident),
            uid,
            fetched_as: None,
            dsn: Default::default(),
            notice: true,
        };
        self.transfer += 1;
        let msg = accept(cfg, spool, sub, raw, self.transfer)?;
        Ok(msg.id)
    }
}
