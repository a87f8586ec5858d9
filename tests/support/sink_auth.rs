//! AUTH for the test sink: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and
//! OAUTHBEARER (RFC 7628), each checked against the configured login and
//! secret. A bad bearer token gets the RFC 7628 error challenge; the
//! client's acknowledgement is then answered 535.

use std::io;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};

use super::Session;

impl Session {
    pub(super) fn auth(&mut self, arg: &str) -> io::Result<()> {
        let mut words = arg.split_whitespace();
        let mech = words.next().unwrap_or("").to_ascii_uppercase();
        let ir = words.next().map(str::to_string);
        let Some((login, secret)) = self.cfg.auth.clone() else {
            self.reply("503 no auth");
            return Ok(());
        };
        if !self.cfg.auth_mechs.contains(&mech) {
            self.reply("504 5.5.4 unknown mechanism");
            return Ok(());
        }
        let ok = match mech.as_str() {
            "PLAIN" => {
                let resp = self.response(ir, "")?;
                resp == format!("\0{login}\0{secret}").as_bytes()
            }
            "XOAUTH2" | "OAUTHBEARER" => {
                let resp = self.response(ir, "")?;
                let ok = if mech == "XOAUTH2" {
                    resp == format!("user={login}\x01auth=Bearer {secret}\x01\x01").as_bytes()
                } else {
                    let resp = String::from_utf8_lossy(&resp);
                    resp.starts_with(&format!("n,a={login},\x01"))
                        && resp.ends_with(&format!("\x01auth=Bearer {secret}\x01\x01"))
                };
                if !ok {
                    // RFC 7628 §3.2.2: the error as a challenge; the client
                    // acknowledges (OAUTHBEARER: ^A, XOAUTH2: empty).
                    let error = B64.encode(r#"{"status":"invalid_token"}"#);
                    let ack = self.response(None, &error)?;
                    let want: &[u8] = if mech == "OAUTHBEARER" { b"\x01" } else { b"" };
                    if ack != want {
                        self.reply("501 5.5.2 bad acknowledgement");
                        return Ok(());
                    }
                }
                ok
            }
            "LOGIN" => {
                let l = self.response(None, "VXNlcm5hbWU6")?;
                let s = self.response(None, "UGFzc3dvcmQ6")?;
                l == login.as_bytes() && s == secret.as_bytes()
            }
            _ => {
                let challenge = format!("<{}.{}@sink.test>", fastrand::u32(..), std::process::id());
                let resp = self.response(None, &B64.encode(&challenge))?;
                let mut mac = Hmac::<md5::Md5>::new_from_slice(secret.as_bytes())
                    .map_err(io::Error::other)?;
                mac.update(challenge.as_bytes());
                let hex: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                resp == format!("{login} {hex}").as_bytes()
            }
        };
        if ok {
            self.auth = Some(mech);
            self.reply("235 2.7.0 authenticated");
        } else {
            self.reply("535 5.7.8 bad credentials");
        }
        Ok(())
    }

    /// The decoded initial response, or the answer to a 334 challenge.
    fn response(&mut self, ir: Option<String>, challenge: &str) -> io::Result<Vec<u8>> {
        let line = match ir {
            Some(ir) => ir,
            None => {
                self.reply(&format!("334 {challenge}"));
                self.line()?
            }
        };
        Ok(B64.decode(line.trim()).unwrap_or_default())
    }
}
