//! SMTP-after-POP (delivery.md §15.5): log in to the get file's POP3
//! server and close, so that the provider lets this host relay.
//!
//! Steps: the password (`pass`, or the first line of `pass_command`'s
//! output, before any connection is made; the command is killed at the
//! caller's deadline, [`crate::exec::helper_limit`]), or with `oauth2_*`
//! options the OAuth2 access token ([`crate::oauth2::access_token`]:
//! cached, or refreshed at the token endpoint); connect ([`super::conn`]);
//! greeting `+OK`; TLS per the get file's `tls`:
//! * `pop3s`: TLS from the first byte (done by [`super::conn::connect`]);
//! * `starttls`/`stls`: `STLS` is sent whatever CAPA would say; a refusal
//!   or a failed handshake is an error;
//! * unset: `CAPA`; `STLS` when it lists STLS (a failed handshake is an
//!   error, never a fallback to clear text);
//! * `none`: no TLS.
//!
//! Then `APOP <user> <md5hex(timestamp secret)>`, or `USER`/`PASS`, or
//! with `auth_name` a fresh `CAPA` and `AUTH XOAUTH2`/`AUTH OAUTHBEARER`
//! ([`super::sasl`]) if its `SASL` line offers the mechanism. The
//! connection is then closed WITHOUT `QUIT`, as the spec says: the login
//! is all the provider needs to see, and QUIT would move the mailbox into
//! the UPDATE state (deleting messages marked by no one, but also taking
//! a mailbox lock) for nothing.
//!
//! # Security
//! `PASS` and `AUTH` are sent only over TLS, or in clear when the get file
//! says `tls = none` explicitly (the policy of SMTP AUTH). A get file with
//! `auth_name` never sends `USER`/`PASS`: its secret is a bearer token,
//! and a server without the mechanism is an error. APOP is allowed in
//! clear: it was designed for that and sends a digest, not the password;
//! an eavesdropper can still attack the digest offline with a dictionary,
//! so a weak APOP secret over a clear link is weak (the user name is also
//! visible). The password or token is never logged or put into an error.

use std::time::Duration;

use md5::{Digest, Md5};

use super::Pop3Error;
use super::conn::{self, BoxStream, Conn, Status};
use super::sasl::{self, Bearer};
use crate::config::{GetConf, GetProtocol, TlsMode};
use crate::exec;

/// Most CAPA lines read before giving up on a hostile server.
const MAX_CAPA_LINES: usize = 100;

/// Logs in as the get file says and closes the connection without QUIT.
/// `secret_limit` bounds `pass_command` (callers use
/// [`crate::exec::helper_limit`]).
pub async fn login(get: &GetConf, secret_limit: Duration) -> Result<(), Pop3Error> {
    // Blocks this thread up to `secret_limit`: the caller's runtime runs
    // one delivery target at a time.
    let secret = secret(get, secret_limit)?;
    let mut conn = conn::connect(get).await?;
    let greeting = conn.read_status("waiting for the greeting").await?;
    if !greeting.ok {
        return Err(Pop3Error::Greeting {
            server: conn.server().to_string(),
            text: greeting.text,
        });
    }
    let (mut conn, tls) = secure(conn, get).await?;
    let reply = match get.protocol {
        _ if get.auth_name.is_some() => bearer(&mut conn, get, tls, &secret).await?,
        GetProtocol::Apop => {
            let Some(stamp) = timestamp(&greeting.text) else {
                return Err(login_err(
                    &conn,
                    get,
                    "the greeting has no APOP timestamp".into(),
                ));
            };
            let digest = apop_digest(stamp, &secret);
            conn.command(&format!("APOP {} {digest}", get.user)).await?
        }
        // An ODMR account has no POP3 login: treated as USER/PASS, which
        // its server will refuse (a route should not name such a file).
        GetProtocol::Pop3 | GetProtocol::Odmr => {
            if !tls && get.tls != Some(TlsMode::None) {
                return Err(Pop3Error::Cleartext {
                    server: conn.server().to_string(),
                    what: "password",
                });
            }
            let user = conn.command(&format!("USER {}", get.user)).await?;
            if user.ok {
                conn.command(&format!("PASS {secret}")).await?
            } else {
                user
            }
        }
    };
    if !reply.ok {
        return Err(login_err(&conn, get, reply.text));
    }
    tracing::info!(
        "{}: logged in as {} for SMTP-after-POP",
        conn.server(),
        get.user
    );
    conn.shutdown().await;
    Ok(())
}

/// Applies the TLS policy after the greeting; returns whether the link
/// is now encrypted.
async fn secure(
    mut conn: Conn<BoxStream>,
    get: &GetConf,
) -> Result<(Conn<BoxStream>, bool), Pop3Error> {
    let config = || conn::tls_config(get);
    match get.tls {
        Some(TlsMode::Smtps) => Ok((conn, true)),
        Some(TlsMode::None) => Ok((conn, false)),
        Some(TlsMode::StartTls) => {
            let config = config().map_err(|e| conn.tls_err(e.to_string()))?;
            Ok((conn.starttls(config, &get.server).await?, true))
        }
        None => {
            if !offers_stls(&mut conn).await? {
                return Ok((conn, false));
            }
            match config() {
                Ok(config) => Ok((conn.starttls(config, &get.server).await?, true)),
                Err(e) => {
                    // Like SMTP's opportunistic STARTTLS: carry on in clear,
                    // where PASS is then refused and only APOP can log in.
                    tracing::warn!("{}: TLS unavailable: {e}", get.file.display());
                    Ok((conn, false))
                }
            }
        }
    }
}

/// Whether `CAPA` lists STLS.
async fn offers_stls(conn: &mut Conn<BoxStream>) -> Result<bool, Pop3Error> {
    Ok(capa(conn).await?.iter().any(|line| {
        let word = line.split(|&b| b == b' ').next().unwrap_or(&[]);
        word.eq_ignore_ascii_case(b"STLS")
    }))
}

/// `CAPA` (RFC 2449): its lines; a server without it offers nothing.
async fn capa(conn: &mut Conn<BoxStream>) -> Result<Vec<Vec<u8>>, Pop3Error> {
    if !conn.command("CAPA").await?.ok {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for _ in 0..MAX_CAPA_LINES {
        match conn.read_data_line(conn::MAX_LINE, "reading CAPA").await? {
            None => return Ok(lines),
            Some(line) => lines.push(line),
        }
    }
    Err(conn.protocol(format!("more than {MAX_CAPA_LINES} CAPA lines")))
}

/// SASL with the bearer token (after TLS: a fresh CAPA, RFC 2595 §4);
/// the final status line, with the error challenge in its text.
async fn bearer(
    conn: &mut Conn<BoxStream>,
    get: &GetConf,
    tls: bool,
    token: &str,
) -> Result<Status, Pop3Error> {
    let Some(mech) = get.auth_name else {
        return Err(conn.protocol("no SASL mechanism".into()));
    };
    if !tls && get.tls != Some(TlsMode::None) {
        return Err(Pop3Error::Cleartext {
            server: conn.server().to_string(),
            what: "OAuth2 token",
        });
    }
    let offered = sasl::offered(&capa(conn).await?);
    let mut auth = Bearer::new(mech, &get.user, token, Some(&get.server), Some(get.port));
    if !offered.iter().any(|m| m == auth.name()) {
        return Err(Pop3Error::Mechanism {
            server: conn.server().to_string(),
            mech: auth.name(),
            offered: offered.join(" "),
        });
    }
    let command = auth.command();
    conn.send_named(&command, "AUTH").await?;
    loop {
        let line = conn
            .read_line(conn::MAX_LINE, "waiting for the reply to AUTH")
            .await?;
        let Some(challenge) = sasl::continuation(&line) else {
            let mut status = Status::parse(&line);
            if !status.ok {
                status.text = auth.failure(&status.text);
            }
            return Ok(status);
        };
        // Bounded: the third continuation is an error.
        let answer = auth.answer(challenge).map_err(|e| conn.protocol(e))?;
        conn.send_named(&answer, "the AUTH response").await?;
    }
}

fn login_err(conn: &Conn<BoxStream>, get: &GetConf, reply: String) -> Pop3Error {
    Pop3Error::Login {
        server: conn.server().to_string(),
        user: get.user.clone(),
        reply,
    }
}

/// The APOP timestamp: from the first `<` through the next `>` (§15.2).
pub fn timestamp(greeting: &str) -> Option<&str> {
    let start = greeting.find('<')?;
    let len = greeting[start..].find('>')?;
    Some(&greeting[start..=start + len])
}

/// `md5hex(timestamp + secret)`, lower-case (RFC 1939 §7).
pub fn apop_digest(timestamp: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(secret.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The OAuth2 access token (with `oauth2_*` options: cached, or
/// refreshed, which blocks up to the endpoint's timeouts), `pass`, or the
/// first line of `pass_command`'s output (run by [`exec::first_line`]: no
/// shell, killed at `limit`; it must exit 0 and print a non-empty line).
/// Errors name the command, never the output. With `auth_name` the
/// secret is a bearer token: the sessions send it only in `AUTH`.
pub fn secret(get: &GetConf, limit: Duration) -> Result<String, Pop3Error> {
    let err = |reason: String| Pop3Error::Secret {
        file: get.file.clone(),
        reason,
    };
    if let Some(conf) = &get.oauth2 {
        // A revoked refresh token says `run masqmail -oauth2 NAME`.
        return crate::oauth2::access_token(conf)
            .map(|t| t.expose().to_string())
            .map_err(|e| err(e.to_string()));
    }
    if let Some(s) = &get.pass {
        return Ok(s.expose().to_string());
    }
    let Some(cmd) = &get.pass_command else {
        return Err(err("no pass or pass_command".into()));
    };
    let line = exec::first_line(cmd, limit, None).map_err(|e| {
        // stderr only: stdout may be (part of) the password.
        let stderr = match e.output() {
            "" => String::new(),
            out => format!(": {out}"),
        };
        err(format!("pass_command {}: {e}{stderr}", cmd.text))
    })?;
    if line.contains('\0') {
        return Err(err(format!(
            "pass_command {} printed no password",
            cmd.text
        )));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apop_rfc1939_example() {
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn timestamps() {
        let cases = [
            (
                "POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
                Some("<1896.697170952@dbc.mtview.ca.us>"),
            ),
            ("ready <a@b> and <c@d>", Some("<a@b>")),
            ("<>", Some("<>")),
            ("no stamp", None),
            ("open < but never closed", None),
            ("> before < ", None),
        ];
        for (greeting, want) in cases {
            assert_eq!(timestamp(greeting), want, "{greeting}");
        }
    }
}
