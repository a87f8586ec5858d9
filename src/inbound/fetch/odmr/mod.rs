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

mod opening;

use std::sync::Arc;

use crate::config::{GetConf, GetProtocol, TlsMode};
use crate::inbound::smtp::{Peer, ServerCtx, serve_turned};
use crate::outbound::smtp::{AuthMech, AuthOptions, ClientOptions, SessionError, Timeouts};
use crate::pop3::Pop3Error;
use opening::{fail, open_and_turn};

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
    crate::outbound::smtp::session::check_helo_name(&opts).map_err(|e| fail(&server, e))?;
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
