//! DSN test helpers: an SMTP submission over `-bs` with parameters on
//! MAIL and RCPT, and a small MIME check of the reports masqmail sends
//! (RFC 3464 / RFC 6522).
#![allow(dead_code)]

use std::process::Stdio;

use super::Env;
use super::smtp::{Client, dot_stuff};

/// Submits one message over `-bs` (plus `extra` options): `mail` is the
/// text after `MAIL FROM:`, each of `rcpts` the text after `RCPT TO:`.
/// Returns the queue id.
pub fn submit(env: &Env, extra: &[&str], mail: &str, rcpts: &[&str], body: &[u8]) -> String {
    let mut child = env
        .cmd()
        .args(extra)
        .arg("-bs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn -bs");
    let mut c = Client::over(
        child.stdout.take().expect("out"),
        child.stdin.take().expect("in"),
    );
    assert_eq!(c.read_reply().expect("greeting").code, 220);
    let ehlo = c.cmd("EHLO client.example").expect("ehlo");
    assert!(ehlo.text().contains("DSN"), "{}", ehlo.text());
    let r = c.cmd(&format!("MAIL FROM:{mail}")).expect("mail");
    assert_eq!(r.code, 250, "MAIL FROM:{mail}: {}", r.text());
    for rcpt in rcpts {
        let r = c.cmd(&format!("RCPT TO:{rcpt}")).expect("rcpt");
        assert_eq!(r.code, 250, "RCPT TO:{rcpt}: {}", r.text());
    }
    assert_eq!(c.cmd("DATA").expect("data").code, 354);
    c.send(&dot_stuff(body)).expect("body");
    let r = c.read_reply().expect("end of data");
    assert_eq!(r.code, 250, "{}", r.text());
    let text = r.text();
    let id = text
        .split("id=")
        .nth(1)
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .expect("queue id in the reply");
    assert_eq!(c.cmd("QUIT").expect("quit").code, 221);
    assert!(child.wait().expect("wait").success());
    id
}

/// A delivery status report, checked and taken apart.
#[derive(Debug)]
pub struct Report {
    /// Top-level header fields (unfolded).
    pub headers: Vec<(String, String)>,
    /// The human-readable first part (its content).
    pub text: String,
    /// Per-message fields of the delivery-status part.
    pub message: Vec<(String, String)>,
    /// Per-recipient field groups of the delivery-status part.
    pub rcpts: Vec<Vec<(String, String)>>,
    /// The third part: its content type and content.
    pub original_type: String,
    pub original: String,
}

impl Report {
    pub fn header(&self, name: &str) -> Option<&str> {
        field(&self.headers, name)
    }

    /// The per-recipient group with this `Final-Recipient` address.
    pub fn rcpt(&self, addr: &str) -> &[(String, String)] {
        self.rcpts
            .iter()
            .find(|g| field(g, "Final-Recipient") == Some(&format!("rfc822; {addr}")))
            .unwrap_or_else(|| panic!("no recipient {addr} in {:?}", self.rcpts))
    }
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Header fields (unfolded) and the rest after the empty line.
fn fields(text: &str) -> (Vec<(String, String)>, &str) {
    let (head, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        } else {
            panic!("not a header line: {line:?}");
        }
    }
    (out, rest)
}

/// Parses one message (as delivered into an mbox, without its `From `
/// line) as a `multipart/report; report-type=delivery-status`.
pub fn parse_report(msg: &str) -> Report {
    let msg = msg
        .strip_prefix("From ")
        .map_or(msg, |m| m.split_once('\n').map_or("", |x| x.1));
    let (headers, body) = fields(msg);
    let ct = field(&headers, "Content-Type")
        .expect("Content-Type")
        .to_string();
    assert!(
        ct.starts_with("multipart/report;") && ct.contains("report-type=delivery-status"),
        "{ct}"
    );
    let b = ct.split("boundary=\"").nth(1).expect("boundary");
    let delim = format!("--{}", &b[..b.find('"').expect("quote")]);
    let close = format!("{delim}--");
    let mut parts: Vec<String> = Vec::new();
    let mut closed = false;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare == close {
            closed = true;
            break;
        } else if bare == delim {
            parts.push(String::new());
        } else if let Some(p) = parts.last_mut() {
            p.push_str(line);
        }
    }
    assert!(closed, "no closing delimiter: {body}");
    assert_eq!(parts.len(), 3, "three parts: {body}");
    let (h1, text) = fields(&parts[0]);
    assert!(
        field(&h1, "Content-Type").is_some_and(|t| t.starts_with("text/")),
        "{h1:?}"
    );
    let (h2, status) = fields(&parts[1]);
    assert_eq!(field(&h2, "Content-Type"), Some("message/delivery-status"));
    let mut groups = status.split("\n\n").filter(|g| !g.trim().is_empty());
    let message = fields(groups.next().expect("per-message fields")).0;
    let rcpts: Vec<Vec<(String, String)>> = groups.map(|g| fields(g).0).collect();
    let (h3, original) = fields(&parts[2]);
    Report {
        headers,
        text: text.to_string(),
        message,
        rcpts,
        original_type: field(&h3, "Content-Type").unwrap_or("").to_string(),
        original: original.to_string(),
    }
}
