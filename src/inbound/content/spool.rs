//! One transaction's content on its way to the spool: the sans-IO
//! [`Content`] plus the spool's temporary data file, written on blocking
//! threads in pieces of [`BODY_BUFFER`] bytes as the content arrives, then
//! committed through [`crate::accept::accept_reserved`].
//!
//! Guarantees: nothing of the message is visible in the queue before the
//! commit returned (the data file is a `.tmp` file of its reservation,
//! removed when the transaction ends any other way); the session's memory
//! does not grow with the message size.
//!
//! # Security
//! Writes only into the spool through [`crate::spool::Reservation`]
//! (`O_EXCL`, no symlinks). A write error ends the transaction with a
//! temporary failure, never a 250.

use std::sync::Arc;

use super::{Content, ContentError};
use crate::accept::{AcceptError, Submission, accept_reserved, reserve};
use crate::config::Config;
use crate::message::Message;
use crate::spool::{Reservation, Spool};

/// Where content goes: the configuration and spool of the process.
#[derive(Clone)]
pub struct Target {
    pub cfg: Arc<Config>,
    pub spool: Spool,
}

/// Body text collected before it is written to the spool file.
pub const BODY_BUFFER: usize = 64 * 1024;

pub struct Inbound {
    pub content: Content,
    /// The id's transfer number, should a reservation be needed.
    transfer: u32,
    reservation: Option<Reservation>,
    /// Writing failed: the content is read on but not kept.
    failed: bool,
}

impl Inbound {
    pub fn new(content: Content, transfer: u32) -> Inbound {
        Inbound {
            content,
            transfer,
            reservation: None,
            failed: false,
        }
    }

    /// Writes the body text collected so far once there is enough of it
    /// (or `all` of it), on a blocking thread.
    pub async fn write(&mut self, target: &Target, all: bool) {
        if self.content.error().is_some() || self.failed {
            // Never to be committed: free the disk space now.
            self.reservation = None;
            self.content.body.clear();
            return;
        }
        if self.content.body.is_empty() || (!all && self.content.body.len() < BODY_BUFFER) {
            return;
        }
        let body = std::mem::take(&mut self.content.body);
        let reservation = self.reservation.take();
        let spool = target.spool.clone();
        let transfer = self.transfer;
        let job = tokio::task::spawn_blocking(move || {
            let mut res = match reservation {
                Some(res) => res,
                None => reserve(&spool, transfer)?,
            };
            res.append(&body)?;
            Ok::<_, AcceptError>((res, body))
        });
        match job.await {
            Ok(Ok((res, mut body))) => {
                self.reservation = Some(res);
                body.clear();
                self.content.body = body;
            }
            Ok(Err(e)) => {
                tracing::error!("cannot write message data to the spool: {e}");
                self.failed = true;
            }
            Err(e) => {
                tracing::error!("cannot write message data to the spool: {e}");
                self.failed = true;
            }
        }
    }

    /// The end of the content: what the session is told.
    pub async fn end(mut self, target: &Target) -> Result<Finished, ContentError> {
        // A message that never filled a buffer has no file yet: it is
        // reserved, written and committed in one blocking task (one
        // thread hand-off per small message, as before streaming).
        if self.reservation.is_some() {
            self.write(target, true).await;
        }
        if self.failed {
            return Err(ContentError::Spool);
        }
        let (headers, tail) = self.content.finish()?;
        Ok(Finished {
            headers,
            tail,
            transfer: self.transfer,
            reservation: self.reservation,
        })
    }
}

/// Received content waiting for its envelope (`tail`: at most
/// [`BODY_BUFFER`] plus one read of body text not yet in the file).
pub struct Finished {
    /// The header fields as received; the caller may look at them (the
    /// fetch derives the envelope from them) and change them.
    pub headers: Vec<crate::message::Header>,
    transfer: u32,
    /// Body text not yet written.
    tail: Vec<u8>,
    reservation: Option<Reservation>,
}

impl Finished {
    /// Commits the message durably (on a blocking thread: the commit
    /// fsyncs). `Ok` is the only thing that allows a 250.
    pub async fn commit(self, target: &Target, sub: Submission) -> Result<Message, AcceptError> {
        let target = target.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut res = match self.reservation {
                Some(res) => res,
                None => reserve(&target.spool, self.transfer)?,
            };
            res.append(&self.tail)?;
            accept_reserved(&target.cfg, &target.spool, sub, self.headers, res)
        });
        match job.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!("acceptance failed: {e}");
                Err(AcceptError::Spool(crate::spool::SpoolError::Internal(
                    "the commit task failed",
                )))
            }
        }
    }
}
