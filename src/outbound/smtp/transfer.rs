//! The message transactions of one session: a planner that decides what
//! to write next from the replies read so far, and the loop that drives it
//! over a [`Conn`].
//!
//! Three modes (see the round-trip rules in the module above):
//! * lockstep (no PIPELINING, or `do_pipelining = false`): one command,
//!   one reply;
//! * pipelined: `[RSET] MAIL RCPT.. DATA` in one write; on 354 the body,
//!   the dot and the next message's envelope (or QUIT) in the next one;
//! * chunked (PIPELINING + CHUNKING): `[RSET] MAIL RCPT.. BDAT n LAST
//!   body` for every message back to back, then QUIT; at most about
//!   [`WATERMARK`] bytes are queued ahead of the socket.
//!
//! Message text is never queued whole: commands wait in a backlog behind
//! the text being written, and the text is encoded a piece at a time
//! ([`Feed`]) whenever less than [`WATERMARK`] bytes wait for the socket.
//! Before its MAIL, a message is measured in one pass ([`measure`]: the
//! exact size for `SIZE=` and `BDAT`, and whether it has 8-bit bytes).
//!
//! Each message's result is handed to the caller's `on_done` the moment it
//! is final (its end-of-data reply, or its failure before data), while the
//! session goes on: the caller can make it durable before the next
//! message's reply is read. The callback writes nothing, so the round trips
//! stay as described above.
//!
//! Guarantees: replies are matched to commands strictly in order; a reply
//! with no command waiting (except after QUIT), a 3xx where none belongs,
//! or a failing RSET ends the session. Recipients are accepted only when
//! RCPT and the end of data both got 2xx. A transaction that may still be
//! open after a failure is RSET before the next MAIL.
//!
//! # Security
//! Nothing from a reply is echoed into a command. A 354 after all
//! recipients failed gets an empty body (just the dot): the text is never
//! sent to nobody.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{Conn, Out};
use super::encode::{addr_needs_utf8, envelope_addr};
use super::feed::{Feed, PIECE, measure};
use super::reply::{Caps, Reply};
use super::source::Source;
use super::{ClientOptions, MessageResult, Outgoing, RcptResult, SessionError, Timeouts};

/// ` NOTIFY=.. ORCPT=..` for recipient `i`, when the server offers DSN.
fn rcpt_dsn(msg: &Outgoing, caps: &Caps, i: usize) -> String {
    let mut out = String::new();
    if let Some(d) = msg.dsn.rcpts.get(i).filter(|_| caps.dsn) {
        if let Some(n) = d.notify {
            out.push_str(&format!(" NOTIFY={n}"));
        }
        if let Some(o) = &d.orcpt {
            out.push_str(&format!(" ORCPT={o}"));
        }
    }
    out
}

/// How far ahead of what the socket took bytes are queued.
const WATERMARK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lockstep,
    Pipelined,
    Chunked,
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Rset,
    Mail(usize),
    Rcpt(usize, usize),
    Data(usize),
    Dot(usize),
    Bdat(usize),
}

#[derive(Default)]
struct State {
    /// Failed before anything was sent (size, SMTPUTF8, return path).
    local: Option<String>,
    /// Not sent: its text could not be read (a temporary failure).
    unreadable: Option<String>,
    /// The `<addr>` of each recipient; `None`: invalid, not sent.
    addrs: Vec<Option<String>>,
    mail: Option<Reply>,
    rcpt: Vec<Option<Reply>>,
    data: Option<Result<(), (bool, String)>>,
    /// Its text (or, after a 354 with no recipient, the lone dot) is
    /// queued: from here on it may have reached the server.
    text_queued: bool,
    /// Handed back to the [`Source`] for another connection: no result.
    given_back: bool,
    /// A 354 came after no recipient was accepted: only a dot was sent.
    discard: bool,
    done: bool,
}

impl State {
    fn mail_ok(&self) -> bool {
        self.mail.as_ref().is_some_and(Reply::is_positive)
    }

    fn accepted(&self) -> usize {
        self.rcpt
            .iter()
            .flatten()
            .filter(|r| r.is_positive())
            .count()
    }

    /// Nothing of it was accepted and its text was not sent, and the
    /// server named a limit: `421` (closing) or `452` (too many
    /// connections or recipients) to MAIL or a RCPT (RFC 5321 §4.5.3.1.10).
    fn limited(&self) -> bool {
        let limit = |r: &Reply| r.code == 421 || r.code == 452;
        self.local.is_none()
            && self.unreadable.is_none()
            && !self.text_queued
            && self.accepted() == 0
            && (self.mail.as_ref().is_some_and(limit) || self.rcpt.iter().flatten().any(limit))
    }
}

struct Plan<'a> {
    msgs: &'a [Outgoing],
    source: &'a dyn Source,
    /// The messages taken from `source`, in order.
    taken: Vec<usize>,
    on_done: &'a mut dyn FnMut(usize, MessageResult),
    caps: &'a Caps,
    mode: Mode,
    t: Timeouts,
    st: Vec<State>,
    expect: VecDeque<Expect>,
    out: Out,
    /// What waits behind the text being written, in order.
    backlog: VecDeque<Pending>,
    /// The text being written, and scratch space for its steps.
    feed: Option<Feed>,
    read_buf: Vec<u8>,
    piece: Vec<u8>,
    need_rset: bool,
    quit_sent: bool,
}

/// Something to write once everything before it was written.
enum Pending {
    Bytes(Vec<u8>),
    /// The text of message `m` (see [`Feed::new`]).
    Text {
        m: usize,
        stuff: bool,
        announced: Option<u64>,
    },
}

/// Sends the messages of `msgs` that `source` hands out: (results for the
/// messages attempted and not given back, by index, in the order taken;
/// why the session broke off; whether QUIT was written). `on_done` gets
/// each message's final result as soon as it is known (the same result is
/// also returned).
pub async fn run<T>(
    conn: &mut Conn<T>,
    caps: &Caps,
    opts: &ClientOptions,
    msgs: &[Outgoing],
    source: &dyn Source,
    on_done: &mut dyn FnMut(usize, MessageResult),
) -> (Vec<(usize, MessageResult)>, Option<SessionError>, bool)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mode = match (opts.pipelining && caps.pipelining, caps.chunking) {
        (false, _) => Mode::Lockstep,
        (true, false) => Mode::Pipelined,
        (true, true) => Mode::Chunked,
    };
    let mut plan = Plan {
        msgs,
        source,
        taken: Vec::new(),
        on_done,
        caps,
        mode,
        t: opts.timeouts,
        st: msgs.iter().map(|_| State::default()).collect(),
        expect: VecDeque::new(),
        out: Out::default(),
        backlog: VecDeque::new(),
        feed: None,
        read_buf: Vec::new(),
        piece: Vec::with_capacity(2 * PIECE + 8),
        need_rset: false,
        quit_sent: false,
    };
    plan.start_next();
    let err = plan.drive(conn).await.err();
    let abort = err.as_ref().map(|e| e.to_string());
    if err.is_some() {
        // Broken off: what never had its text sent (and was not refused
        // for good) may go over another connection, if there is one.
        for &m in &plan.taken {
            let st = &plan.st[m];
            let untouched = !st.done && !st.text_queued && st.accepted() == 0;
            let refused = st.mail.as_ref().is_some_and(|r| r.class() == 5);
            if untouched && !refused && st.local.is_none() && source.give_back(m) {
                plan.st[m].given_back = true;
            }
        }
    }
    let results = plan
        .taken
        .iter()
        .filter(|&&m| !plan.st[m].given_back)
        .map(|&m| (m, plan.result(m, abort.as_deref())))
        .collect();
    (results, err, plan.quit_sent)
}

impl Plan<'_> {
    async fn drive<T>(&mut self, conn: &mut Conn<T>) -> Result<(), SessionError>
    where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            while let Some(r) = conn.take_reply()? {
                match self.expect.pop_front() {
                    Some(e) => self.on_reply(e, r)?,
                    None if self.quit_sent => {} // the reply to QUIT
                    None => {
                        return Err(SessionError::Protocol(format!(
                            "unexpected reply {}",
                            r.text()
                        )));
                    }
                }
            }
            self.refill()?;
            if self.mode == Mode::Chunked {
                while self.out.pending().len() < WATERMARK && self.idle() && !self.quit_sent {
                    self.start_next();
                    self.refill()?;
                }
            }
            let (timeout, what) = match self.expect.front() {
                Some(e) => self.waiting_for(*e),
                None => (self.t.command, "QUIT to be written"),
            };
            if conn.busy(&self.out) {
                conn.pump(&mut self.out, timeout, what).await?;
            } else if self.expect.is_empty() {
                return Ok(());
            } else {
                if matches!(self.expect.front(), Some(Expect::Dot(_) | Expect::Bdat(_))) {
                    // A message's text is out, its reply not read yet.
                    crate::crashpoint!("smtp-data-sent");
                }
                conn.wait(timeout, what).await?;
            }
        }
    }

    /// Queues `bytes` behind everything queued before.
    fn push(&mut self, bytes: &[u8]) {
        if self.idle() {
            self.out.push(bytes);
        } else {
            self.backlog.push_back(Pending::Bytes(bytes.to_vec()));
        }
    }

    /// Nothing waits behind the bytes in `out`.
    fn idle(&self) -> bool {
        self.feed.is_none() && self.backlog.is_empty()
    }

    /// Moves the backlog into `out`, encoding text a piece at a time,
    /// until [`WATERMARK`] bytes wait for the socket or nothing is left.
    fn refill(&mut self) -> Result<(), SessionError> {
        while self.out.pending().len() < WATERMARK {
            if let Some(feed) = &mut self.feed {
                self.piece.clear();
                let done = feed
                    .step(&self.msgs[feed.m], &mut self.read_buf, &mut self.piece)
                    .map_err(|source| SessionError::Io {
                        what: "reading the message text".into(),
                        source,
                    })?;
                self.out.push(&self.piece);
                if done {
                    self.feed = None;
                }
                continue;
            }
            match self.backlog.pop_front() {
                Some(Pending::Bytes(b)) => self.out.push(&b),
                Some(Pending::Text {
                    m,
                    stuff,
                    announced,
                }) => self.feed = Some(Feed::new(m, stuff, announced)),
                None => break,
            }
        }
        Ok(())
    }

    fn waiting_for(&self, e: Expect) -> (std::time::Duration, &'static str) {
        match e {
            Expect::Rset => (self.t.command, "the reply to RSET"),
            Expect::Mail(_) => (self.t.command, "the reply to MAIL"),
            Expect::Rcpt(..) => (self.t.command, "the reply to RCPT"),
            Expect::Data(_) => (self.t.data_init, "the reply to DATA"),
            Expect::Dot(_) => (self.t.data_final, "the reply after the end of data"),
            Expect::Bdat(_) => (self.t.data_final, "the reply to BDAT"),
        }
    }

    /// Queues the next message that can be sent (or, pipelined, QUIT when
    /// none is left).
    fn start_next(&mut self) {
        while let Some(m) = self.source.take().filter(|&m| m < self.msgs.len()) {
            self.taken.push(m);
            if self.queue_message(m) {
                return;
            }
        }
        if self.mode != Mode::Lockstep && !self.quit_sent {
            self.push(b"QUIT\r\n");
            self.quit_sent = true;
        }
    }

    /// Checks message `m` and queues its first commands; false when it
    /// failed locally and nothing was queued.
    fn queue_message(&mut self, m: usize) -> bool {
        let msg = &self.msgs[m];
        let caps = self.caps;
        let st = &mut self.st[m];
        st.addrs = msg.rcpts.iter().map(envelope_addr).collect();
        st.rcpt = vec![None; msg.rcpts.len()];
        let utf8 = msg.smtputf8
            || addr_needs_utf8(&msg.return_path)
            || msg.rcpts.iter().any(addr_needs_utf8);
        let (size, eightbit) = match measure(msg) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("cannot read the text of message {m} of the batch: {e}");
                st.unreadable = Some(format!("4.3.0 cannot read the message: {e}"));
                self.finish(m);
                return false;
            }
        };
        let from = envelope_addr(&msg.return_path);
        st.local = if from.is_none() {
            Some("invalid return path".into())
        } else if utf8 && !caps.smtputf8 {
            Some("the server does not support SMTPUTF8, which this message needs".into())
        } else if st.addrs.iter().all(Option::is_none) {
            Some("no valid recipient address".into())
        } else {
            caps.size
                .filter(|&max| size > max)
                .map(|max| format!("message size ({size}) exceeds the server's maximum ({max})"))
        };
        let Some(from) = from.filter(|_| st.local.is_none()) else {
            self.finish(m);
            return false;
        };
        let mut mail = format!("MAIL FROM:{from}");
        if caps.size_ext {
            mail.push_str(&format!(" SIZE={size}"));
        }
        if caps.eightbitmime && (msg.eightbit || eightbit) {
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        if caps.dsn {
            if let Some(ret) = msg.dsn.ret {
                mail.push_str(&format!(" RET={ret}"));
            }
            if let Some(envid) = &msg.dsn.envid {
                mail.push_str(&format!(" ENVID={envid}"));
            }
        }
        mail.push_str("\r\n");
        if std::mem::take(&mut self.need_rset) {
            self.push(b"RSET\r\n");
            self.expect.push_back(Expect::Rset);
        }
        self.push(mail.as_bytes());
        self.expect.push_back(Expect::Mail(m));
        if self.mode == Mode::Lockstep {
            return true;
        }
        self.queue_rcpts(m, 0, usize::MAX);
        if self.mode == Mode::Pipelined {
            self.push(b"DATA\r\n");
            self.expect.push_back(Expect::Data(m));
        } else {
            self.push(format!("BDAT {size} LAST\r\n").as_bytes());
            self.st[m].text_queued = true;
            self.backlog.push_back(Pending::Text {
                m,
                stuff: false,
                announced: Some(size),
            });
            self.expect.push_back(Expect::Bdat(m));
            // The transaction may be left open by a failure we have not
            // read yet: the next message starts clean.
            self.need_rset = true;
        }
        true
    }

    /// Queues up to `max` valid RCPTs of `m` from index `from`; how many.
    fn queue_rcpts(&mut self, m: usize, from: usize, max: usize) -> usize {
        let (msg, caps) = (&self.msgs[m], self.caps);
        let lines: Vec<(usize, String)> = self.st[m]
            .addrs
            .iter()
            .enumerate()
            .skip(from)
            .filter_map(|(i, a)| {
                Some((
                    i,
                    format!("RCPT TO:{}{}\r\n", a.as_ref()?, rcpt_dsn(msg, caps, i)),
                ))
            })
            .take(max)
            .collect();
        for (i, line) in &lines {
            self.push(line.as_bytes());
            self.expect.push_back(Expect::Rcpt(m, *i));
        }
        lines.len()
    }

    fn on_reply(&mut self, e: Expect, r: Reply) -> Result<(), SessionError> {
        let lockstep = self.mode == Mode::Lockstep;
        let is_data = matches!(e, Expect::Data(_));
        if (r.class() == 3 && !is_data) || (r.class() == 2 && is_data) {
            let (_, what) = self.waiting_for(e);
            return Err(SessionError::Protocol(format!("{} as {what}", r.text())));
        }
        match e {
            Expect::Rset if !r.is_positive() => {
                return Err(SessionError::Protocol(format!("RSET failed: {}", r.text())));
            }
            Expect::Rset => {}
            Expect::Mail(m) => {
                let ok = r.is_positive();
                self.st[m].mail = Some(r);
                if lockstep && (!ok || self.queue_rcpts(m, 0, 1) == 0) {
                    self.end_unsent(m);
                }
            }
            Expect::Rcpt(m, i) => {
                self.st[m].rcpt[i] = Some(r);
                if lockstep && self.queue_rcpts(m, i + 1, 1) == 0 {
                    if self.st[m].accepted() > 0 {
                        self.push(b"DATA\r\n");
                        self.expect.push_back(Expect::Data(m));
                    } else {
                        self.end_unsent(m);
                    }
                }
            }
            Expect::Data(m) => {
                let st = &mut self.st[m];
                if r.class() == 3 {
                    st.text_queued = true;
                    if st.mail_ok() && st.accepted() > 0 {
                        self.backlog.push_back(Pending::Text {
                            m,
                            stuff: true,
                            announced: None,
                        });
                    } else {
                        st.discard = true;
                        self.push(b".\r\n");
                    }
                    self.expect.push_back(Expect::Dot(m));
                    if !lockstep {
                        self.start_next();
                    }
                } else {
                    st.data = Some(Err((r.class() == 5, r.text())));
                    self.need_rset = st.mail_ok();
                    self.finish(m);
                    self.start_next();
                }
            }
            Expect::Dot(m) | Expect::Bdat(m) => {
                let st = &mut self.st[m];
                if !st.discard {
                    st.data = Some(if r.is_positive() {
                        Ok(())
                    } else {
                        Err((r.class() == 5, r.text()))
                    });
                }
                self.finish(m);
                if lockstep {
                    self.start_next();
                }
            }
        }
        Ok(())
    }

    /// Message `m` ends without DATA (MAIL failed or no RCPT accepted).
    fn end_unsent(&mut self, m: usize) {
        self.need_rset = self.st[m].mail_ok();
        self.finish(m);
        self.start_next();
    }

    /// Message `m` has its final result: hand it over now.
    fn finish(&mut self, m: usize) {
        self.st[m].done = true;
        if self.st[m].limited() && self.source.give_back(m) {
            tracing::info!(
                "the server named a limit; message {m} of the batch goes over another connection"
            );
            self.st[m].given_back = true;
            return;
        }
        let result = self.result(m, None);
        (self.on_done)(m, result);
    }

    fn result(&self, m: usize, abort: Option<&str>) -> MessageResult {
        let st = &self.st[m];
        let msg = &self.msgs[m];
        let of = |r: &Reply| match r.class() {
            2 => RcptResult::Accepted,
            5 => RcptResult::Failed(r.text()),
            _ => RcptResult::Deferred(r.text()),
        };
        let unfinished =
            || RcptResult::Deferred(abort.unwrap_or("transaction not completed").to_string());
        let rcpts: Vec<RcptResult> = (0..msg.rcpts.len())
            .map(|i| match (&st.local, &st.addrs[i], &st.mail, &st.rcpt[i]) {
                _ if st.unreadable.is_some() => {
                    RcptResult::Deferred(st.unreadable.clone().unwrap_or_default())
                }
                (Some(why), ..) => RcptResult::Failed(why.clone()),
                (_, None, ..) => RcptResult::Failed("invalid recipient address".into()),
                (_, _, Some(mail), _) if !mail.is_positive() => of(mail),
                (_, _, None, _) | (.., None) => unfinished(),
                (.., Some(r)) if !r.is_positive() => of(r),
                _ => match &st.data {
                    Some(Ok(())) => RcptResult::Accepted,
                    Some(Err((true, t))) => RcptResult::Failed(t.clone()),
                    Some(Err((false, t))) => RcptResult::Deferred(t.clone()),
                    None => unfinished(),
                },
            })
            .collect();
        let data = match (&st.local, &st.data) {
            _ if st.unreadable.is_some() => Err((false, st.unreadable.clone().unwrap_or_default())),
            (Some(why), _) => Err((true, why.clone())),
            (None, Some(d)) => d.clone(),
            (None, None) => {
                let permanent = rcpts.iter().all(|r| matches!(r, RcptResult::Failed(_)));
                let why = match &st.mail {
                    Some(mail) if !mail.is_positive() => mail.text(),
                    Some(_) if st.done => "no recipient accepted".to_string(),
                    _ => abort.unwrap_or("transaction not completed").to_string(),
                };
                Err((permanent, why))
            }
        };
        MessageResult {
            rcpts: msg.rcpts.iter().cloned().zip(rcpts).collect(),
            data,
            dsn: self.caps.dsn,
        }
    }
}
