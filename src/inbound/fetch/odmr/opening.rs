//! The opening of an ODMR session: greeting, EHLO, STARTTLS or implicit
//! TLS, AUTH, then `ATRN` and its answer (RFC 2645 §3), with the SMTP
//! client's pieces.
//!
//! # Security
//! The password goes out only through [`session::authenticate`], which
//! refuses a plain link unless the get file says `tls = none`. Bytes sent
//! by the provider after its `250` to ATRN and before our greeting are
//! dropped (R07).

use tokio::io::{AsyncRead, AsyncWrite};

use super::OdmrError;
use crate::config::{GetConf, TlsMode};
use crate::outbound::smtp::conn::Conn;
use crate::outbound::smtp::reply::Caps;
use crate::outbound::smtp::{AuthMech, ClientOptions, SessionError, Stats, auth, session};
use crate::pop3::conn::BoxStream;

/// The outcome of the opening.
pub(super) struct Turn {
    /// The connection, turned; `None` when there was no mail (453).
    pub stream: Option<BoxStream>,
    pub tls: bool,
    pub auth: AuthMech,
}

/// Greeting, EHLO, TLS as the get file says, AUTH, ATRN.
pub(super) async fn open_and_turn(
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

pub(super) fn fail(server: &str, source: SessionError) -> OdmrError {
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
