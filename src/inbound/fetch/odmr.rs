//! On-Demand Mail Relay, the client side (RFC 2645; `protocol = odmr` in a
//! get file): we connect to the provider as an SMTP client, authenticate,
//! ask `ATRN` for the account's `domains`, and on its `250` the roles turn:
//! the provider delivers the waiting mail to our SMTP server session over
//! the same connection, which sends our 220 greeting first (§4's example).
//!
//! The opening reuses the SMTP client's pieces
//! ([`crate::outbound::smtp`]): greeting, EHLO, STARTTLS or implicit TLS
//! (`tls = pop3s` means TLS from the first byte here), AUTH with the best
//! mechanism both sides have (CRAM-MD5 > PLAIN > LOGIN). The connection is
//! the get file's (`server:port`, default 366, or its `wrapper`).
//!
//! After the turn, the session is [`crate::inbound::smtp`]'s, with its
//! deadlines and limits; each message is spooled durably before its 250.
//! A `453` to `ATRN` (no mail waiting) ends politely with QUIT and no
//! messages; any other refusal is an error. The session ends when the
//! provider QUITs or closes; a message cut off before its end is never
//! spooled.
//!
//! # Security
//! The provider is untrusted. The password goes out only over TLS, or in
//! clear when the get file says `tls = none`; it never appears in an
//! error. After the turn the provider is [`Peer::Odmr`]: recipients only
//! in the `ATRN` domains (case-insensitive), no relaying, no sender-routed
//! local parts, unqualified addresses refused ([`crate::inbound::smtp::policy`]).
//! Bytes the provider sends between its `250` and our greeting are
//! discarded, as after STARTTLS (R07).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{GetConf, GetProtocol, TlsMode};
use crate::inbound::smtp::{Peer, ServerCtx, serve_turned};
use crate::outbound::smtp::conn::Conn;
use crate::outbound::smtp::reply::Caps;
use crate::outbound::smtp::{
    AuthMech, AuthOptions, ClientOptions, SessionError, Stats, Timeouts, auth, session,
};
use crate::pop3::Pop3Error;
use crate::pop3::conn::BoxStream;

/// What one ODMR session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdmrSummary {
    /// Messages our server session accepted (each spooled before its 250).
    pub accepted: usize,
    /// The provider had nothing for us (`453` to `ATRN`).
    pub no_mail: bool,
    /// The connection was encrypted.
    pub tls: bool,
    /// The AUTH mechanism used.
    pub auth: AuthMech,
}

/// Why an ODMR session failed. `server` is the get file's `host:port`
/// (or its wrapper); no variant carries the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OdmrError {
    /// The get file is not for ODMR.
    #[error("{}: not an ODMR get file (protocol is not odmr)", file.display())]
    NotOdmr { file: std::path::PathBuf },
    /// Connecting (resolve, TCP, wrapper) or the password
    /// (`pass_command`) failed; the error names the server or the file.
    #[error(transparent)]
    Open(#[from] Pop3Error),
    /// No TLS client configuration could be built (CA file, roots).
    #[error("{server}: TLS: {reason}")]
    TlsConfig { server: String, reason: String },
    /// The SMTP opening failed: greeting, EHLO, STARTTLS, AUTH, I/O.
    #[error("{server}: {source}")]
    Session {
        server: String,
        #[source]
        source: SessionError,
    },
    /// The provider offers no AUTH mechanism we have; ATRN needs one.
    #[error("{server}: no usable AUTH mechanism (the server offers {offered:?})")]
    NoAuth {
        server: String,
        offered: Vec<String>,
    },
    /// `ATRN` was answered with something else than 250 or 453.
    #[error("{server}: ATRN refused: {reply}")]
    Refused { server: String, reply: String },
}

/// Runs one ODMR session for `get` and returns when the provider has
/// finished delivering (or had nothing). Messages go into `ctx`'s spool;
/// `ctx.on_accepted` is told of each.
pub async fn run(get: &GetConf, ctx: Arc<ServerCtx>) -> Result<OdmrSummary, OdmrError> {
    if get.protocol != GetProtocol::Odmr {
        return Err(OdmrError::NotOdmr {
            file: get.file.clone(),
        });
    }
    let server = crate::pop3::conn::label(get);
    let secret = password(get, &ctx).await?;
    let opts = options(get, &ctx, &server, secret)?;
    session::check_helo_name(&opts).map_err(|e| fail(&server, e))?;
    let (io, addr) = crate::pop3::conn::open(get, &server).await?;
    let turn = open_and_turn(io, &opts, get, &server).await?;
    let stream = match turn.stream {
        Some(stream) => stream,
        None => {
            tracing::info!("{server}: ATRN: no mail waiting");
            return Ok(OdmrSummary {
                accepted: 0,
                no_mail: true,
                tls: turn.tls,
                auth: turn.auth,
            });
        }
    };
    let peer = Peer::Odmr {
        server: server.clone(),
        addr,
        domains: get.domains.clone(),
    };
    tracing::info!("{server}: ATRN accepted; receiving");
    let accepted = serve_turned(stream, ctx, peer, turn.tls).await;
    tracing::info!("{server}: ODMR session ended; {accepted} messages accepted");
    Ok(OdmrSummary {
        accepted,
        no_mail: false,
        tls: turn.tls,
        auth: turn.auth,
    })
}

/// `pass`, or `pass_command`'s first line (on a blocking thread, bounded
/// by [`crate::exec::helper_limit`]).
async fn password(get: &GetConf, ctx: &ServerCtx) -> Result<String, OdmrError> {
    let limit = crate::exec::helper_limit(ctx.cfg.command_time_limit);
    let owned = get.clone();
    let job = tokio::task::spawn_blocking(move || crate::pop3::login::secret(&owned, limit));
    match job.await {
        Ok(r) => Ok(r?),
        Err(e) => Err(OdmrError::Open(Pop3Error::Secret {
            file: get.file.clone(),
            reason: format!("pass_command did not finish: {e}"),
        })),
    }
}

/// The SMTP client options of the opening, from the get file.
fn options(
    get: &GetConf,
    ctx: &ServerCtx,
    server: &str,
    secret: String,
) -> Result<ClientOptions, OdmrError> {
    let tls_config = match get.tls {
        Some(TlsMode::None) => None,
        _ => Some(
            crate::pop3::conn::tls_config(get).map_err(|e| OdmrError::TlsConfig {
                server: server.to_string(),
                reason: e.to_string(),
            })?,
        ),
    };
    Ok(ClientOptions {
        helo_name: ctx.cfg.host_name.clone(),
        pipelining: false,
        instant_helo: false,
        tls: get.tls,
        tls_config,
        server_name: get
            .server
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        auth: Some(AuthOptions {
            mech: None,
            login: get.user.clone(),
            secret,
        }),
        timeouts: Timeouts::default(),
    })
}

/// The outcome of the opening.
struct Turn {
    /// The connection, turned; `None` when there was no mail (453).
    stream: Option<BoxStream>,
    tls: bool,
    auth: AuthMech,
}

/// Greeting, EHLO, TLS as the get file says, AUTH, ATRN.
async fn open_and_turn(
    io: BoxStream,
    opts: &ClientOptions,
    get: &GetConf,
    server: &str,
) -> Result<Turn, OdmrError> {
    let err = |e| fail(server, e);
    let write = opts.timeouts.write;
    if opts.tls == Some(TlsMode::Smtps) {
        let tls = session::handshake(io, opts).await.map_err(err)?;
        let mut conn = Conn::new(tls, Stats::default(), write);
        let caps = session::open(&mut conn, opts).await.map_err(err)?;
        return atrn(conn, &caps, opts, get, server, true).await;
    }
    let mut conn = Conn::new(io, Stats::default(), write);
    let caps = session::open(&mut conn, opts).await.map_err(err)?;
    if !session::want_starttls(opts, &caps).map_err(err)? {
        return atrn(conn, &caps, opts, get, server, false).await;
    }
    let (conn, caps) = session::starttls(conn, opts).await.map_err(err)?;
    atrn(conn, &caps, opts, get, server, true).await
}

/// AUTH, then `ATRN` for the get file's domains (RFC 2645 §3).
async fn atrn<T>(
    mut conn: Conn<T>,
    caps: &Caps,
    opts: &ClientOptions,
    get: &GetConf,
    server: &str,
    tls: bool,
) -> Result<Turn, OdmrError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let err = |e| fail(server, e);
    let Some(auth_opts) = &opts.auth else {
        return Err(no_auth(server, caps));
    };
    // ATRN needs an authenticated session (§3): no silent go without AUTH.
    if auth::choose(auth_opts.mech, &caps.auth).is_none() {
        return Err(no_auth(server, caps));
    }
    let mech = session::authenticate(&mut conn, caps, opts, auth_opts, tls)
        .await
        .map_err(err)?
        .ok_or_else(|| no_auth(server, caps))?;
    // The get file checked them as host names; a comma or a blank would
    // change the command, so check again where it matters.
    let bad = |d: &String| {
        d.is_empty()
            || !d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
    };
    if let Some(d) = get.domains.iter().find(|d| bad(d)) {
        return Err(err(SessionError::Protocol(format!(
            "invalid ATRN domain {d:?}"
        ))));
    }
    let command = format!("ATRN {}\r\n", get.domains.join(","));
    conn.send(command.as_bytes(), "ATRN").await.map_err(err)?;
    let r = conn
        .reply(opts.timeouts.command, "the reply to ATRN")
        .await
        .map_err(err)?;
    match r.code {
        250 => {
            let (stream, _, early) = conn.into_parts();
            if early > 0 {
                tracing::warn!("{server}: discarded {early} bytes sent before our greeting");
            }
            Ok(Turn {
                stream: Some(Box::new(stream)),
                tls,
                auth: mech,
            })
        }
        453 => {
            quit(&mut conn, opts).await;
            Ok(Turn {
                stream: None,
                tls,
                auth: mech,
            })
        }
        _ => {
            quit(&mut conn, opts).await;
            Err(OdmrError::Refused {
                server: server.to_string(),
                reply: r.text(),
            })
        }
    }
}

/// QUIT, its reply awaited briefly, then close; failures do not matter.
async fn quit<T>(conn: &mut Conn<T>, opts: &ClientOptions)
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let patience = opts
        .timeouts
        .command
        .min(std::time::Duration::from_secs(10));
    if conn.send(b"QUIT\r\n", "QUIT").await.is_ok() {
        let _ = conn.reply(patience, "the reply to QUIT").await;
    }
    conn.shutdown().await;
}

fn fail(server: &str, source: SessionError) -> OdmrError {
    OdmrError::Session {
        server: server.to_string(),
        source,
    }
}

fn no_auth(server: &str, caps: &Caps) -> OdmrError {
    OdmrError::NoAuth {
        server: server.to_string(),
        offered: caps.auth.clone(),
    }
}
