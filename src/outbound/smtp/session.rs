//! The session around the messages: greeting, EHLO/HELO, STARTTLS or
//! smtps, AUTH ([`start`], giving an [`Opened`] session and its
//! capabilities), then [`super::transfer`] over the messages a
//! [`super::source::Source`] hands out, then QUIT ([`Opened::send`]).
//!
//! Guarantees: TLS policy per [`super::ClientOptions::tls`]: a required
//! STARTTLS that is not offered, refused (454) or fails its handshake ends
//! the session before anything is sent; so does an offered STARTTLS that
//! fails in opportunistic mode (no silent fallback, R28). After STARTTLS
//! the capabilities are those of the EHLO sent over TLS only.
//!
//! # Security
//! Credentials go out only over TLS or with an explicit `tls = none`.
//! Unparsed plaintext is thrown away before the handshake (R07). The helo
//! name is checked so it cannot inject a command.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::auth::{self, Sasl};
use super::conn::Conn;
use super::reply::Caps;
use super::source::Source;
use super::{
    AuthMech, BatchOutcome, ClientOptions, MessageResult, Outgoing, SessionError, Stats, TlsMode,
    transfer,
};

/// A stream the session runs on: TCP, a wrapper's socket pair, or TLS
/// over either (boxed, so one [`Opened`] type serves them all).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> Io for T {}

/// A session past its greeting, EHLO, STARTTLS and AUTH: ready for
/// messages. Its capabilities tell the caller whether more connections
/// would help (a parallel flush).
pub struct Opened<'s> {
    conn: Conn<Box<dyn Io + 's>>,
    pub caps: Caps,
    tls: bool,
    auth: Option<AuthMech>,
}

/// Greeting, EHLO, STARTTLS or smtps, AUTH. `greeted` is called once the
/// server has greeted us positively (at once with `instant_helo`, which
/// reads no greeting), before EHLO: a caller opening more connections
/// waits for it.
pub async fn start<'s, S>(
    stream: S,
    opts: &ClientOptions,
    greeted: &mut (dyn FnMut() + Send),
) -> Result<Opened<'s>, SessionError>
where
    S: Io + 's,
{
    check_helo_name(opts)?;
    let t = &opts.timeouts;
    let (mut conn, caps, tls) = if opts.tls == Some(TlsMode::Smtps) {
        let tls = handshake(stream, opts).await?;
        let mut conn = Conn::new(tls, Stats::default(), t.write);
        greeting(&mut conn, opts, greeted).await?;
        let caps = ehlo(&mut conn, opts, opts.instant_helo).await?;
        (
            conn.map_io(|s| -> Box<dyn Io + 's> { Box::new(s) }),
            caps,
            true,
        )
    } else {
        let mut conn = Conn::new(stream, Stats::default(), t.write);
        greeting(&mut conn, opts, greeted).await?;
        let caps = ehlo(&mut conn, opts, opts.instant_helo).await?;
        if want_starttls(opts, &caps)? {
            let (conn, caps) = starttls(conn, opts).await?;
            (
                conn.map_io(|s| -> Box<dyn Io + 's> { Box::new(s) }),
                caps,
                true,
            )
        } else {
            (
                conn.map_io(|s| -> Box<dyn Io + 's> { Box::new(s) }),
                caps,
                false,
            )
        }
    };
    let auth = match &opts.auth {
        Some(a) => authenticate(&mut conn, &caps, opts, a, tls).await?,
        None => None,
    };
    Ok(Opened {
        conn,
        caps,
        tls,
        auth,
    })
}

impl Opened<'_> {
    /// The messages `source` hands out, then QUIT: (the results by index,
    /// why the session broke off, its counters).
    pub async fn send(
        mut self,
        opts: &ClientOptions,
        msgs: &[Outgoing],
        source: &dyn Source,
        on_done: &mut dyn FnMut(usize, MessageResult),
    ) -> (Vec<(usize, MessageResult)>, Option<SessionError>, Stats) {
        let (results, aborted, quit_sent) =
            transfer::run(&mut self.conn, &self.caps, opts, msgs, source, on_done).await;
        if aborted.is_none() {
            if !quit_sent {
                // QUIT's reply is not awaited (delivery.md §10.3 step 5).
                let _ = self.conn.send(b"QUIT\r\n", "QUIT").await;
            }
            self.conn.shutdown().await;
        }
        (results, aborted, self.conn.stats)
    }
}

pub async fn run<S>(
    stream: S,
    opts: &ClientOptions,
    msgs: &[Outgoing],
    on_done: &mut dyn FnMut(usize, MessageResult),
) -> Result<BatchOutcome, SessionError>
where
    S: Io,
{
    let opened = start(stream, opts, &mut || {}).await?;
    let (tls, auth) = (opened.tls, opened.auth);
    let source = super::source::InOrder::new(msgs.len());
    let (results, aborted, stats) = opened.send(opts, msgs, &source, on_done).await;
    Ok(BatchOutcome {
        // In order, from 0: the source hands them out so.
        results: results.into_iter().map(|(_, r)| r).collect(),
        aborted,
        stats,
        tls,
        auth,
    })
}

/// The helo name must be one word: it goes into a command line.
pub(crate) fn check_helo_name(opts: &ClientOptions) -> Result<(), SessionError> {
    if opts.helo_name.is_empty() || opts.helo_name.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(SessionError::Protocol(format!(
            "invalid helo name {:?}",
            opts.helo_name
        )));
    }
    Ok(())
}

/// Whether to send STARTTLS on a plain connection, per
/// [`ClientOptions::tls`] and the EHLO capabilities; a required STARTTLS
/// that is not offered is an error.
pub(crate) fn want_starttls(opts: &ClientOptions, caps: &Caps) -> Result<bool, SessionError> {
    match opts.tls {
        Some(TlsMode::StartTls) if !caps.starttls => Err(SessionError::Tls(
            "the server does not offer STARTTLS, which the route requires".into(),
        )),
        Some(TlsMode::StartTls) => Ok(true),
        None => Ok(caps.starttls && opts.tls_config.is_some()),
        Some(TlsMode::None) | Some(TlsMode::Smtps) => Ok(false),
    }
}

/// STARTTLS, the handshake and EHLO again: the connection and the
/// capabilities offered over TLS.
pub(crate) async fn starttls<S>(
    mut conn: Conn<S>,
    opts: &ClientOptions,
) -> Result<(Conn<TlsStream<S>>, Caps), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.send(b"STARTTLS\r\n", "STARTTLS").await?;
    let r = conn
        .reply(opts.timeouts.command, "the reply to STARTTLS")
        .await?;
    if !r.is_positive() {
        return Err(SessionError::Tls(format!("STARTTLS refused: {}", r.text())));
    }
    let (stream, stats, injected) = conn.into_parts();
    if injected > 0 {
        tracing::warn!("discarded {injected} bytes the server sent after its STARTTLS reply");
    }
    let tls = handshake(stream, opts).await?;
    let mut conn = Conn::new(tls, stats, opts.timeouts.write);
    let caps = ehlo(&mut conn, opts, false).await?;
    Ok((conn, caps))
}

/// TLS client handshake (smtps, or after STARTTLS's 220).
pub(crate) async fn handshake<S>(
    stream: S,
    opts: &ClientOptions,
) -> Result<TlsStream<S>, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(config) = &opts.tls_config else {
        return Err(SessionError::Tls(
            "TLS needed but no TLS configuration given".into(),
        ));
    };
    let name = rustls::pki_types::ServerName::try_from(opts.server_name.clone())
        .map_err(|_| SessionError::Tls(format!("invalid server name {:?}", opts.server_name)))?;
    let connect = TlsConnector::from(config.clone()).connect(name, stream);
    match tokio::time::timeout(opts.timeouts.command, connect).await {
        Err(_) => Err(SessionError::Timeout("the TLS handshake".into())),
        Ok(Err(e)) => Err(SessionError::Tls(format!(
            "handshake with {}: {e}",
            opts.server_name
        ))),
        Ok(Ok(s)) => Ok(s),
    }
}

/// Greeting (unless `instant_helo`) and EHLO.
pub(crate) async fn open<T>(conn: &mut Conn<T>, opts: &ClientOptions) -> Result<Caps, SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    greeting(conn, opts, &mut || {}).await?;
    ehlo(conn, opts, opts.instant_helo).await
}

/// The greeting (unless `instant_helo`); `greeted` once it was positive.
async fn greeting<T>(
    conn: &mut Conn<T>,
    opts: &ClientOptions,
    greeted: &mut (dyn FnMut() + Send),
) -> Result<(), SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    if !opts.instant_helo {
        let r = conn.reply(opts.timeouts.greeting, "the greeting").await?;
        if !r.is_positive() {
            return Err(SessionError::Greeting {
                permanent: r.class() == 5,
                reply: r.text(),
            });
        }
    }
    greeted();
    Ok(())
}

/// EHLO, falling back to HELO on 5xx. `late_greeting`: a 220 may arrive
/// first (instant_helo) and is skipped.
async fn ehlo<T>(
    conn: &mut Conn<T>,
    opts: &ClientOptions,
    late_greeting: bool,
) -> Result<Caps, SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let t = opts.timeouts.command;
    conn.send(format!("EHLO {}\r\n", opts.helo_name).as_bytes(), "EHLO")
        .await?;
    let mut r = conn.reply(t, "the reply to EHLO").await?;
    if late_greeting && r.code == 220 {
        tracing::info!("greeting arrived after EHLO: {}", r.text());
        r = conn.reply(t, "the reply to EHLO").await?;
    }
    if r.is_positive() {
        return Ok(Caps::from_ehlo(&r));
    }
    if r.class() != 5 {
        return Err(SessionError::Helo {
            permanent: false,
            reply: r.text(),
        });
    }
    conn.send(format!("HELO {}\r\n", opts.helo_name).as_bytes(), "HELO")
        .await?;
    let r = conn.reply(t, "the reply to HELO").await?;
    if !r.is_positive() {
        return Err(SessionError::Helo {
            permanent: r.class() == 5,
            reply: r.text(),
        });
    }
    Ok(Caps::default())
}

/// AUTH with [`auth::choose`]'s mechanism; none usable is `Ok(None)`
/// (the caller decides whether to go on). Credentials only over TLS or
/// with `tls = none`.
pub(crate) async fn authenticate<T>(
    conn: &mut Conn<T>,
    caps: &Caps,
    opts: &ClientOptions,
    a: &super::AuthOptions,
    tls: bool,
) -> Result<Option<AuthMech>, SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let Some(mech) = auth::choose(a.mech, &caps.auth) else {
        // delivery.md §10.3 step 3: go on without AUTH.
        tracing::warn!(
            "no usable auth method ({} wanted, server offers {:?}); sending without AUTH",
            a.mech.map_or("any", auth::mech_name),
            caps.auth
        );
        return Ok(None);
    };
    if !tls && opts.tls != Some(TlsMode::None) {
        return Err(SessionError::Auth(
            "refusing to send credentials over an unencrypted connection (the route does not say tls = none)".into(),
        ));
    }
    let t = opts.timeouts.command;
    let mut sasl = Sasl::new(mech, &a.login, &a.secret).with_host(&opts.server_name);
    conn.send(&sasl.command(), "AUTH").await?;
    // Bounded: no mechanism has more than two challenges.
    for _ in 0..4 {
        let r = conn.reply(t, "the reply to AUTH").await?;
        match r.class() {
            2 => return Ok(Some(mech)),
            3 => {
                let challenge = r.lines.first().map(Vec::as_slice).unwrap_or_default();
                match sasl.answer(challenge) {
                    Ok(line) => conn.send(&line, "AUTH").await?,
                    Err(why) => {
                        conn.send(b"*\r\n", "AUTH").await?;
                        let _ = conn.reply(t, "the reply to AUTH").await?;
                        return Err(SessionError::Auth(why));
                    }
                }
            }
            _ => {
                return Err(SessionError::AuthRefused(format!(
                    "{} refused: {}",
                    auth::mech_name(mech),
                    r.text()
                )));
            }
        }
    }
    Err(SessionError::Auth("too many AUTH challenges".into()))
}
