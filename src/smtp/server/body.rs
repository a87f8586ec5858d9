//! Receiving message content (DATA and BDAT) and handing it to acceptance.
//!
//! Guarantees: `250` is sent only after [`crate::accept::accept`] returned,
//! i.e. after the spool commit synced file and directory. A client that
//! disconnects or times out before the end leaves nothing in the spool
//! (the content exists only in memory until then). Instant delivery runs
//! on a blocking thread after the reply is queued, never before it.
//!
//! # Security
//! The only end of DATA is CRLF.CRLF ([`DataDecoder`]); content beyond the
//! size limit is read and discarded, never stored; BDAT chunk sizes come
//! from the parser as checked `u64`s.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::ServerCtx;
use super::data::{ChunkAssembler, DataDecoder, DataError, Feed};
use super::io::{Conn, Stop};
use super::session::{Envelope, Peer, Session};
use crate::accept::{AcceptError, Submission, accept};
use crate::message::Protocol;
use crate::message::read::{ReadOptions, read_message};
use crate::queue::Scope;

/// The session must end (the connection is gone or timed out).
pub struct Gone;

impl Session {
    pub async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Result<(), Gone> {
        if self.helo.is_none() {
            conn.reply(503, "5.5.1", &["need HELO or EHLO."]);
            return Ok(());
        }
        if self.env.from.is_none() || self.env.chunking {
            conn.reply(503, "5.5.1", &["need MAIL FROM: before DATA"]);
            return Ok(());
        }
        if self.env.rcpts.is_empty() {
            conn.reply(
                554,
                "5.5.1",
                &["need RCPT TO: before DATA (no valid recipients)"],
            );
            return Ok(());
        }
        conn.reply(354, "", &["okay, and do not forget the dot"]);
        let mut decoder = DataDecoder::new(self.ctx.limits.max_body);
        loop {
            match decoder.feed(&conn.input) {
                Feed::Done { consumed } => {
                    conn.input.drain(..consumed);
                    break;
                }
                Feed::NeedMore => {
                    conn.input.clear();
                    if let Err(stop) = conn.fill(self.ctx.limits.data_timeout).await {
                        self.abandoned(conn, stop).await;
                        return Err(Gone);
                    }
                }
            }
        }
        let env = std::mem::take(&mut self.env);
        let text = decoder.finish();
        self.finish_message(conn, env, text).await;
        Ok(())
    }

    pub async fn bdat<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        size: u64,
        last: bool,
    ) -> Result<(), Gone> {
        // A chunk far beyond the limit would only be read to be thrown
        // away: end the session instead of reading gigabytes.
        if size > self.ctx.limits.max_body.saturating_add(1 << 20) {
            conn.reply(
                552,
                "5.3.4",
                &["chunk larger than the message size limit; closing"],
            );
            let _ = conn.flush().await;
            return Err(Gone);
        }
        // The chunk is read in every case, so that the next command is
        // found where the client put it (RFC 3030 §2).
        let ready = self.helo.is_some() && self.env.from.is_some() && !self.env.rcpts.is_empty();
        let mut assembler = self
            .env
            .chunks
            .take()
            .unwrap_or_else(|| ChunkAssembler::new(self.ctx.limits.max_body));
        assembler.expect(size);
        loop {
            let n = assembler.feed(&conn.input);
            conn.input.drain(..n);
            if assembler.chunk_complete() {
                break;
            }
            if let Err(stop) = conn.fill(self.ctx.limits.data_timeout).await {
                self.abandoned(conn, stop).await;
                return Err(Gone);
            }
        }
        if !ready {
            let text = if self.env.from.is_none() {
                "need MAIL FROM: before BDAT"
            } else {
                "need RCPT TO: before BDAT (no valid recipients)"
            };
            conn.reply(
                if self.env.from.is_none() { 503 } else { 554 },
                "5.5.1",
                &[text],
            );
            return Ok(());
        }
        self.env.chunking = true;
        if !last {
            self.env.chunks = Some(assembler);
            conn.reply(250, "2.0.0", &[&format!("{size} octets received")]);
            return Ok(());
        }
        let env = std::mem::take(&mut self.env);
        self.finish_message(conn, env, assembler.finish()).await;
        Ok(())
    }

    async fn abandoned<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        stop: Stop,
    ) {
        tracing::info!(
            "{}: message abandoned before its end; nothing was spooled",
            self.who()
        );
        self.env = Envelope::default();
        if matches!(stop, Stop::Timeout) {
            conn.reply(
                421,
                "4.4.2",
                &[&format!(
                    "{} timeout, closing connection",
                    self.ctx.cfg.host_name
                )],
            );
            let _ = conn.flush().await;
        }
    }

    /// Spools the received text (on a blocking thread: the commit
    /// fsyncs), replies, and starts instant delivery.
    async fn finish_message<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        env: Envelope,
        text: Result<Vec<u8>, DataError>,
    ) {
        let text = match text {
            Ok(t) => t,
            Err(DataError::TooLarge { limit }) => {
                tracing::info!("{}: message refused: larger than {limit} bytes", self.who());
                return conn.reply(552, "5.3.4", &["Error: message too large."]);
            }
            #[allow(unreachable_patterns)]
            Err(e) => return conn.reply(554, "5.6.0", &[&format!("{e}")]),
        };
        let opts = ReadOptions {
            dot_ends: false,
            eof_is_error: false,
            max_body: 0,
        };
        let raw = match read_message(&mut text.as_slice(), &opts) {
            Ok(raw) => raw,
            Err(e) => return conn.reply(552, "5.3.4", &[&format!("{e}")]),
        };
        let (ident, uid, host) = match &self.peer {
            Peer::Tcp(_) => (None, 0, self.peer.ip_text()),
            Peer::Local { login, uid } => (Some(login.clone()), *uid, None),
        };
        let sub = Submission {
            return_path: env.from.unwrap_or_else(crate::address::Address::null),
            recipients: env.rcpts,
            recipients_from_headers: false,
            full_name: None,
            protocol: if self.esmtp {
                Protocol::Esmtp
            } else {
                Protocol::Smtp
            },
            received_host: host,
            ident,
            uid,
        };
        let ctx = Arc::clone(&self.ctx);
        let transfer = ctx.next_transfer();
        let result =
            tokio::task::spawn_blocking(move || accept(&ctx.cfg, &ctx.spool, sub, raw, transfer))
                .await;
        match result {
            Ok(Ok(msg)) => {
                conn.reply(250, "2.0.0", &[&format!("OK id={}", msg.id)]);
                if !self.ctx.cfg.do_queue {
                    deliver_now(&self.ctx, msg.id);
                }
            }
            Ok(Err(AcceptError::NoRecipients)) => {
                conn.reply(554, "5.5.1", &["no valid recipients"])
            }
            Ok(Err(AcceptError::NoSpace { .. })) => {
                conn.reply(452, "4.3.1", &["Insufficient system storage"])
            }
            Ok(Err(e)) => {
                tracing::error!("{}: {e}", self.who());
                conn.reply(451, "4.3.0", &["Could not write spool file"]);
            }
            Err(e) => {
                tracing::error!("{}: acceptance failed: {e}", self.who());
                conn.reply(451, "4.3.0", &["Could not write spool file"]);
            }
        }
    }
}

/// Instant delivery of one message on a blocking thread; the daemon waits
/// for these before it exits, so no mailbox append is cut short.
fn deliver_now(ctx: &Arc<ServerCtx>, id: crate::message::QueueId) {
    let ctx = Arc::clone(ctx);
    let guard = ctx.deliveries.enter();
    tokio::task::spawn_blocking(move || {
        crate::queue::deliver_ids(&ctx.cfg, &ctx.spool, Scope::ALL, std::slice::from_ref(&id));
        drop(guard);
    });
}
