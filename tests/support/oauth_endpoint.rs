//! A scripted OAuth2 provider for the tests: a tiny HTTP/1.1 server on
//! 127.0.0.1:0 (one thread, one request per connection) with a token
//! endpoint (`POST /token`: refresh_token, device_code and
//! authorization_code grants) and a device endpoint (`POST /device`).
//! It counts the requests and remembers every form it was sent, so a test
//! can check what masqmail asked and that it did not ask.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;

/// What the endpoint answers.
pub struct Script {
    /// The refresh token it accepts.
    pub refresh_token: String,
    /// Every refresh gets `invalid_grant`.
    pub revoked: bool,
    /// `expires_in` of new access tokens.
    pub expires_in: u64,
    /// Device polls answered `authorization_pending` before success.
    pub pending_polls: u32,
    /// The refresh token the device and code grants hand out.
    pub new_refresh_token: String,
    /// The code the loopback test brings, and the PKCE challenge it saw.
    pub code: String,
    pub code_challenge: Option<String>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            refresh_token: "refresh-SECRET-1".into(),
            revoked: false,
            expires_in: 3600,
            pending_polls: 0,
            new_refresh_token: "refresh-SECRET-NEW".into(),
            code: "code-SECRET-42".into(),
            code_challenge: None,
        }
    }
}

#[derive(Default)]
pub struct Counts {
    pub refresh: u32,
    pub device: u32,
    pub device_polls: u32,
    pub code: u32,
    /// Every form received, decoded: (path, pairs).
    pub forms: Vec<(String, Vec<(String, String)>)>,
    /// Access tokens handed out, in order.
    pub issued: Vec<String>,
}

pub struct Endpoint {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub script: Arc<Mutex<Script>>,
    counts: Arc<Mutex<Counts>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Endpoint {
    pub fn start(script: Script) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind endpoint");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let script = Arc::new(Mutex::new(script));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let (s, c) = (script.clone(), counts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &s, &c);
            }
        });
        Endpoint {
            base,
            script,
            counts,
        }
    }

    pub fn counts(&self) -> MutexGuard<'_, Counts> {
        lock(&self.counts)
    }

    /// The route/get file lines for this endpoint.
    pub fn options(&self, device: bool) -> String {
        let mut s = format!(
            "oauth2_client_id = \"client-1\"\noauth2_token_url = \"{}/token\"\n\
             oauth2_auth_url = \"{}/auth\"\noauth2_scope = \"mail\"\n",
            self.base, self.base
        );
        if device {
            s += &format!("oauth2_device_url = \"{}/device\"\n", self.base);
        }
        s
    }
}

fn serve(
    stream: std::net::TcpStream,
    script: &Mutex<Script>,
    counts: &Mutex<Counts>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut len = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let form = decode(&String::from_utf8_lossy(&body));
    let (status, json) = answer(&path, &form, &mut lock(script), &mut lock(counts));
    lock(counts).forms.push((path, form));
    let mut w = stream;
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    )
}

fn answer(
    path: &str,
    form: &[(String, String)],
    s: &mut Script,
    c: &mut Counts,
) -> (&'static str, String) {
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let err = |e: &str| ("400 Bad Request", format!(r#"{{"error":"{e}"}}"#));
    if path == "/device" {
        c.device += 1;
        return (
            "200 OK",
            r#"{"device_code":"device-SECRET-7","user_code":"WDJB-MJHT",
               "verification_uri":"https://provider.test/device","expires_in":60,"interval":1}"#
                .into(),
        );
    }
    if path != "/token" || get("client_id") != "client-1" {
        return err("invalid_client");
    }
    let tokens = |refresh: Option<&str>, c: &mut Counts| {
        let access = format!("access-SECRET-{}", c.issued.len() + 1);
        c.issued.push(access.clone());
        let refresh = refresh.map_or(String::new(), |r| format!(r#","refresh_token":"{r}""#));
        (
            "200 OK",
            format!(
                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{}{refresh}}}"#,
                s.expires_in
            ),
        )
    };
    match get("grant_type").as_str() {
        "refresh_token" => {
            c.refresh += 1;
            if s.revoked || get("refresh_token") != s.refresh_token {
                return (
                    "400 Bad Request",
                    r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#
                        .into(),
                );
            }
            tokens(None, c)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            c.device_polls += 1;
            if get("device_code") != "device-SECRET-7" {
                return err("invalid_grant");
            }
            if c.device_polls <= s.pending_polls {
                return err("authorization_pending");
            }
            let r = s.new_refresh_token.clone();
            tokens(Some(&r), c)
        }
        "authorization_code" => {
            c.code += 1;
            let verifier = get("code_verifier");
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if get("code") != s.code || s.code_challenge.as_deref() != Some(challenge.as_str()) {
                return err("invalid_grant");
            }
            let r = s.new_refresh_token.clone();
            tokens(Some(&r), c)
        }
        _ => err("unsupported_grant_type"),
    }
}

/// `application/x-www-form-urlencoded` pairs.
pub fn decode(q: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        let b = s.replace('+', " ");
        let b = b.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && i + 2 < b.len()
                && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&b[i + 1..i + 3]), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}
