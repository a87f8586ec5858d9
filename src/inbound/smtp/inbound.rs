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

use super::ServerCtx;
use super::receive::Content;
use super::session::ContentError;
use crate::accept::{AcceptError, Submission, accept_reserved, reserve};
use crate::message::Message;
use crate::spool::Reservation;

/// Body text collected before it is written to the spool file.
pub const BODY_BUFFER: usize = 64 * 1024;

pub struct Inbound {
    pub content: Content,
    reservation: Option<Reservation>,
    /// Writing failed: the content is read on but not kept.
    failed: bool,
}

impl Inbound {
    pub fn new(content: Content) -> Inbound {
        Inbound {
            content,
            reservation: None,
            failed: false,
        }
    }

    /// Writes the body text collected so far once there is enough of it
    /// (or `all` of it), on a blocking thread.
    pub async fn write(&mut self, ctx: &Arc<ServerCtx>, all: bool) {
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
        let job_ctx = Arc::clone(ctx);
        let job = tokio::task::spawn_blocking(move || {
            let mut res = match reservation {
                Some(res) => res,
                None => reserve(&job_ctx.spool, job_ctx.next_transfer())?,
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
    pub async fn end(mut self, ctx: &Arc<ServerCtx>) -> Result<Finished, ContentError> {
        self.write(ctx, true).await;
        if self.failed {
            return Err(ContentError::Spool);
        }
        let (headers, tail) = self.content.finish()?;
        Ok(Finished {
            headers,
            tail,
            reservation: self.reservation,
        })
    }
}

/// Received content waiting for its envelope.
pub struct Finished {
    headers: Vec<crate::message::Header>,
    /// Body text not yet written.
    tail: Vec<u8>,
    reservation: Option<Reservation>,
}

impl Finished {
    /// Commits the message durably (on a blocking thread: the commit
    /// fsyncs). `Ok` is the only thing that allows a 250.
    pub async fn commit(
        self,
        ctx: &Arc<ServerCtx>,
        sub: Submission,
    ) -> Result<Message, AcceptError> {
        let ctx = Arc::clone(ctx);
        let job = tokio::task::spawn_blocking(move || {
            let mut res = match self.reservation {
                Some(res) => res,
                None => reserve(&ctx.spool, ctx.next_transfer())?,
            };
            res.append(&self.tail)?;
            accept_reserved(&ctx.cfg, &ctx.spool, sub, self.headers, res)
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
