//! The authorization code grant with a loopback redirect (RFC 8252 §7.3)
//! and PKCE (RFC 7636, S256): for providers whose device flow does not
//! grant mail scopes (Google).
//!
//! Guarantees: listens on 127.0.0.1 on a port the kernel picks, hands the
//! caller the URL the user must open, and waits (at most `wait`) for the
//! browser's redirect to `/`. A redirect whose `state` differs is answered
//! 400 and ignored (anyone on this host can connect); `error=…` ends the
//! flow; the `code` is exchanged with the verifier at the token endpoint.
//!
//! # Security
//! Verifier and state are 256 and 128 bits from the system CSPRNG (ring);
//! only the S256 challenge appears in the URL. The listener is bound to
//! loopback only; requests are read with a size limit and a read timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::{SecureRandom, SystemRandom};

use super::refresh::{Answer, grant, refused};
use super::{OAuthError, Tokens, form};
use crate::config::{OAuth2Conf, Provider};

/// What the user must do: open `url` in a browser on this machine.
#[derive(Debug, Clone)]
pub struct LoopbackFlow {
    pub url: String,
}

const MAX_REQUEST: usize = 8 * 1024;

fn flow_err(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::Flow(e.to_string())
}

fn random(bytes: usize) -> Result<String, OAuthError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| flow_err("no random numbers"))?;
    Ok(B64URL.encode(buf))
}

/// The S256 code challenge of `verifier`.
pub fn challenge(verifier: &str) -> String {
    B64URL.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Runs the loopback flow; `show` is called once with the URL to open.
pub fn loopback_flow(
    conf: &OAuth2Conf,
    show: &mut dyn FnMut(&LoopbackFlow),
    wait: Duration,
) -> Result<Tokens, OAuthError> {
    let Some(auth_url) = conf.auth_url.as_deref() else {
        return Err(flow_err("no oauth2_auth_url (nor oauth2_device_url)"));
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(flow_err)?;
    let port = listener.local_addr().map_err(flow_err)?.port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let verifier = random(32)?;
    let state = random(16)?;
    let challenge = challenge(&verifier);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", conf.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", conf.scope.as_str()),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if conf.provider == Provider::Google {
        // Without these Google gives no refresh token.
        pairs.extend([("access_type", "offline"), ("prompt", "consent")]);
    }
    let sep = if auth_url.contains('?') { '&' } else { '?' };
    show(&LoopbackFlow {
        url: format!("{auth_url}{sep}{}", form::encode(&pairs)),
    });
    let code = wait_for_code(&listener, &state, Instant::now() + wait)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    match grant(conf, &form, None)? {
        Answer::Tokens(t) => Ok(t),
        Answer::Error { error, description } => Err(refused(conf, error, description)),
    }
}

/// Accepts connections until one brings our `state` and a code.
fn wait_for_code(
    listener: &TcpListener,
    state: &str,
    deadline: Instant,
) -> Result<String, OAuthError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(flow_err("no answer from the browser in time"));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(ms)).map_err(flow_err)? == 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        match answer(stream, state) {
            Some(Ok(code)) => return Ok(code),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
}

/// Serves one request: `Some(code)`, `Some(error)` when the provider
/// refused, `None` for anything else (answered and ignored).
fn answer(mut stream: TcpStream, state: &str) -> Option<Result<String, OAuthError>> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let target = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let reply = |status: &str, body: &str| {
        let mut s = &stream;
        let _ = write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    if path != "/" {
        reply("404 Not Found", "not found\n");
        return None;
    }
    let q = form::decode(query);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("state") != Some(state) {
        reply("400 Bad Request", "masqmail: wrong or missing state\n");
        return None;
    }
    if let Some(e) = get("error") {
        reply("200 OK", "masqmail: the authorization was refused.\n");
        let e: String = e.chars().take(100).filter(|c| !c.is_control()).collect();
        return Some(Err(flow_err(format!("the provider answered {e}"))));
    }
    match get("code").filter(|c| !c.is_empty()) {
        Some(code) => {
            reply(
                "200 OK",
                "masqmail: authorization received; you may close this window.\n",
            );
            Some(Ok(code.to_string()))
        }
        None => {
            reply("400 Bad Request", "masqmail: no code\n");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random(32).unwrap().len(), 43);
    }
}
