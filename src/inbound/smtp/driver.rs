//! The tokio driver of a [`Session`]: it only moves bytes, applies
//! deadlines and performs the session's [`Step`]s (TLS handshake, content
//! reception into the spool, the commit on a blocking thread).
//!
//! Deadlines (RELIABILITY R40), each ending the session with `421 4.4.2`
//! and a log line naming the peer and the reason:
//! * a whole command must arrive within `smtp_command_timeout` of the
//!   moment we started waiting for it (not per read: a client dribbling
//!   one byte a second is dropped all the same);
//! * each batch of replies must be written within `smtp_command_timeout`
//!   (a client that pipelines and never reads is dropped);
//! * message content must keep coming: each read within
//!   `smtp_data_timeout`, and the whole transfer within
//!   `smtp_data_timeout` plus one second per `smtp_min_data_rate` bytes.
//!
//! Fairness: a session yields to the others after [`FAIR_SHARE`] commands
//! in a row. A pipelined flood is always ready (its input is buffered, its
//! socket writable until the buffers fill), and tokio's budget counts only
//! socket polls, so without this one flooder ran ~16 000 commands per turn
//! and 100 of them kept an honest client waiting 10 s
//! (tests/hostile_clients.rs).
//!
//! SMTP AUTH credentials are checked on a blocking thread (the hashes are
//! slow on purpose); a failure's reply waits out the back-off of the
//! client's address on a tokio timer, never blocking a thread.
//!
//! # Security
//! The peer is hostile; the session decides, this file only enforces time
//! and memory. Per session it holds a few fixed buffers (see [`super::conn`]
//! and [`crate::inbound::content::spool::BODY_BUFFER`]); message content goes to the spool's temporary
//! file as it arrives and becomes a message only at the durable commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::conn::{Conn, Input, Stop};
use super::reply::Reply;
use super::session::{AuthCheck, Session, Step};
use super::{Limits, ServerCtx};

/// Commands a session handles in a row before it lets other tasks run.
const FAIR_SHARE: u32 = 64;
use crate::inbound::content::Content;
use crate::inbound::content::spool::Inbound;

/// How the command loop ended.
enum End<S> {
    Closed,
    /// STARTTLS was accepted: hand the stream to the TLS handshake.
    StartTls(S),
}

/// Runs one whole session on `stream`: greeting, dialogue, STARTTLS.
/// Returns how many messages it accepted.
pub(crate) async fn run<S>(stream: S, ctx: Arc<ServerCtx>, mut session: Session) -> usize
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    converse(stream, &ctx, &mut session).await;
    session.accepted()
}

async fn converse<S>(stream: S, ctx: &Arc<ServerCtx>, session: &mut Session)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut conn = Conn::new(stream);
    let greeting = session.greeting();
    let deadline = Instant::now() + ctx.limits.command_timeout;
    if conn.reply(&greeting, deadline).await.is_err() {
        return;
    }
    let plain = match dialogue(session, conn, ctx).await {
        End::Closed => return,
        End::StartTls(stream) => stream,
    };
    let Some(tls) = ctx.tls.clone() else { return };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let handshake = tokio::time::timeout(ctx.limits.command_timeout, acceptor.accept(plain)).await;
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("{}: TLS handshake failed: {e}", session.peer().who());
            return;
        }
        Err(_) => {
            tracing::info!("{}: dropped: TLS handshake timed out", session.peer().who());
            return;
        }
    };
    session.tls_started();
    // A second STARTTLS is refused inside TLS, so this cannot recurse.
    let _ = dialogue(session, Conn::new(stream), ctx).await;
}

/// The command loop until QUIT, EOF, a deadline or STARTTLS.
async fn dialogue<S>(session: &mut Session, mut conn: Conn<S>, ctx: &Arc<ServerCtx>) -> End<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = &ctx.limits;
    // BDAT content kept between the chunks of one transaction.
    let mut chunks: Option<Inbound> = None;
    let mut waiting_since: Option<Instant> = None;
    let mut in_a_row: u32 = 0;
    loop {
        let input = match conn.next_line() {
            Some(input) => input,
            None => {
                // The replies first, under their own deadline: a client
                // that does not read them is told apart from a slow one.
                let write_by = Instant::now() + limits.command_timeout;
                if let Err(stop) = conn.flush(write_by).await {
                    let waiting_for = "the client to read its replies";
                    return stopped(session, &mut conn, stop, waiting_for).await;
                }
                let since = *waiting_since.get_or_insert_with(Instant::now);
                match conn.fill(since + limits.command_timeout).await {
                    Ok(()) => continue,
                    Err(stop) => return stopped(session, &mut conn, stop, "a command").await,
                }
            }
        };
        waiting_since = None;
        in_a_row += 1;
        if in_a_row == FAIR_SHARE {
            in_a_row = 0;
            tokio::task::yield_now().await;
        }
        let step = match input {
            Input::Line(line) => session.on_line(&line),
            Input::TooLong => session.line_too_long(),
        };
        let write_by = Instant::now() + limits.command_timeout;
        let reply = match step {
            Step::Reply(r) => Ok(r),
            Step::Close(r) => {
                let _ = conn.reply(&r, write_by).await;
                let _ = conn.flush(write_by).await;
                return End::Closed;
            }
            Step::StartTls(r) => {
                if conn.reply(&r, write_by).await.is_err() || conn.flush(write_by).await.is_err() {
                    return End::Closed;
                }
                let (stream, dropped) = conn.into_stream();
                if dropped > 0 {
                    tracing::warn!(
                        "{}: dropping {dropped} bytes sent after STARTTLS",
                        session.peer().who()
                    );
                }
                return End::StartTls(stream);
            }
            Step::ReceiveData(r) => match conn.reply(&r, write_by).await {
                Err(stop) => Err(stop),
                Ok(()) => {
                    let mut inbound =
                        Inbound::new(Content::data(limits.max_body), ctx.next_transfer());
                    match receive(&mut conn, &mut inbound, ctx).await {
                        Ok(()) => Ok(finish(session, ctx, inbound).await),
                        Err(stop) => Err(stop),
                    }
                }
            },
            Step::ReceiveChunk { size, last } => {
                let mut inbound = chunks.take().unwrap_or_else(|| {
                    Inbound::new(Content::chunks(limits.max_body), ctx.next_transfer())
                });
                inbound.content.expect_chunk(size);
                match receive(&mut conn, &mut inbound, ctx).await {
                    Err(stop) => Err(stop),
                    Ok(()) if last => Ok(finish(session, ctx, inbound).await),
                    Ok(()) => {
                        chunks = Some(inbound);
                        Ok(session.chunk_end(size))
                    }
                }
            }
            Step::SkipChunk { size, then } => skip(&mut conn, size, limits).await.map(|()| then),
            // Only ever the answer to `content_end`, which `finish` handles.
            Step::Commit(_) => Ok(Reply::spool_error()),
            Step::Authenticate(creds) => match authenticate(session, ctx, *creds).await {
                Step::Close(r) => {
                    let by = Instant::now() + limits.command_timeout;
                    let _ = conn.reply(&r, by).await;
                    let _ = conn.flush(by).await;
                    return End::Closed;
                }
                Step::Reply(r) => Ok(r),
                _ => Ok(Reply::auth_failed()),
            },
        };
        let result = match reply {
            Ok(r) => {
                conn.reply(&r, write_by.max(Instant::now() + Duration::from_millis(1)))
                    .await
            }
            Err(stop) => Err(stop),
        };
        if !session.collecting() {
            chunks = None;
        }
        if let Err(stop) = result {
            let waiting_for = if session.collecting() {
                tracing::info!(
                    "{}: message abandoned before its end; nothing was spooled",
                    session.peer().who()
                );
                "message data"
            } else {
                "the client to read its replies"
            };
            return stopped(session, &mut conn, stop, waiting_for).await;
        }
    }
}

/// Reads content into `inbound` until the end of DATA or of the BDAT
/// chunk, writing the body to the spool as it comes.
async fn receive<S>(
    conn: &mut Conn<S>,
    inbound: &mut Inbound,
    ctx: &Arc<ServerCtx>,
) -> Result<(), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &ctx.limits;
    let mut rate = Rate::new(limits);
    loop {
        let (consumed, complete) = inbound.content.feed(&conn.input);
        conn.input.drain(..consumed);
        rate.add(consumed);
        inbound.write(&ctx.target, false).await;
        if complete {
            return Ok(());
        }
        rate.fill(conn).await?;
    }
}

/// Reads and drops a BDAT chunk that the session refused.
async fn skip<S>(conn: &mut Conn<S>, size: u64, limits: &Limits) -> Result<(), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut left = size;
    let mut rate = Rate::new(limits);
    loop {
        let take = usize::try_from(left).map_or(conn.input.len(), |l| l.min(conn.input.len()));
        conn.input.drain(..take);
        left -= take as u64;
        rate.add(take);
        if left == 0 {
            return Ok(());
        }
        rate.fill(conn).await?;
    }
}

/// Ends a transaction's content: the session decides, the spool commits.
async fn finish(session: &mut Session, ctx: &Arc<ServerCtx>, inbound: Inbound) -> Reply {
    let finished = inbound.end(&ctx.target).await;
    let step = session.content_end(finished.as_ref().map(|_| ()).map_err(|e| *e));
    let (Step::Commit(sub), Ok(finished)) = (step.clone(), finished) else {
        return match step {
            Step::Reply(r) => r,
            _ => Reply::spool_error(),
        };
    };
    let result = finished.commit(&ctx.target, *sub).await;
    let reply = session.committed(result.as_ref().map(|m| &m.id));
    if let Ok(msg) = result
        && let Some(hook) = &ctx.on_accepted
    {
        hook(msg.id);
    }
    reply
}

/// Checks AUTH credentials against the auth file, with the back-off of
/// the client's address (see [`super::backoff`]).
async fn authenticate(
    session: &mut Session,
    ctx: &Arc<ServerCtx>,
    creds: super::auth::Credentials,
) -> Step {
    let ip = session.peer().ip();
    let now = std::time::Instant::now();
    if ip.is_some_and(|ip| ctx.backoff.blocked(ip, now)) {
        return session.auth_checked(AuthCheck::TooMany);
    }
    let Some(table) = ctx.auth.clone() else {
        return session.auth_checked(AuthCheck::Refused);
    };
    let ok = tokio::task::spawn_blocking(move || creds.check(&table))
        .await
        .unwrap_or(false);
    if ok {
        if let Some(ip) = ip {
            ctx.backoff.succeeded(ip);
        }
        return session.auth_checked(AuthCheck::Accepted);
    }
    let Some(ip) = ip else {
        return session.auth_checked(AuthCheck::Refused);
    };
    let penalty = ctx.backoff.failed(ip, now);
    if !penalty.delay.is_zero() {
        tracing::info!(
            "{ip}: {} failed authentications; back-off: reply delayed {} ms",
            penalty.failures,
            penalty.delay.as_millis()
        );
        tokio::time::sleep(penalty.delay).await;
    }
    session.auth_checked(if penalty.close {
        AuthCheck::TooMany
    } else {
        AuthCheck::Refused
    })
}

/// The deadline of content that must keep coming (see the module doc).
struct Rate {
    start: Instant,
    bytes: u64,
    per_read: Duration,
    min_rate: u64,
}

impl Rate {
    fn new(limits: &Limits) -> Rate {
        Rate {
            start: Instant::now(),
            bytes: 0,
            per_read: limits.data_timeout,
            min_rate: limits.min_data_rate,
        }
    }

    fn add(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// Reads more content by whichever deadline comes first.
    async fn fill<S>(&self, conn: &mut Conn<S>) -> Result<(), Stop>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let next_read = Instant::now() + self.per_read;
        let whole = match self.min_rate {
            0 => next_read,
            rate => {
                let credit = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
                self.start + self.per_read + credit
            }
        };
        match conn.fill(next_read.min(whole)).await {
            Err(Stop::Timeout) if whole < next_read => Err(Stop::TooSlow),
            other => other,
        }
    }
}

/// Logs why the session ends and, for a deadline, says so to the client.
async fn stopped<S>(session: &Session, conn: &mut Conn<S>, stop: Stop, waiting_for: &str) -> End<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let who = session.peer().who();
    match stop {
        Stop::Eof => tracing::debug!("{who}: received EOF"),
        Stop::Timeout => {
            tracing::info!("{who}: dropped: deadline passed waiting for {waiting_for}");
            let r = session.timeout_reply();
            // The client may not read at all: do not wait for it long.
            let by = Instant::now() + Duration::from_secs(1);
            let _ = conn.reply(&r, by).await;
            let _ = conn.flush(by).await;
        }
        Stop::TooSlow => {
            tracing::info!("{who}: dropped: message data slower than smtp_min_data_rate");
            let r = session.too_slow_reply();
            let by = Instant::now() + Duration::from_secs(1);
            let _ = conn.reply(&r, by).await;
            let _ = conn.flush(by).await;
        }
        Stop::Io(e) => tracing::info!("{who}: connection error: {e}"),
    }
    End::Closed
}
