//! A notice as a delivery status report (RFC 3464, RFC 6522): the
//! rendered template becomes the first part of a
//! `multipart/report; report-type=delivery-status`.
//!
//! The template's own header fields (From, To, Subject, ...) stay the
//! notice's top-level fields, except `MIME-Version` (written once, by us)
//! and the `Content-*` fields, which describe the template's text and so
//! move with it into the first part (`text/plain; charset=utf-8` when the
//! template has none). The second part is `message/delivery-status`, the
//! third the original message: `message/rfc822` (headers and the body up
//! to [`super::BODY_LIMIT`]) or `text/rfc822-headers`.
//!
//! Guarantees: the boundary occurs in no part's text, and is no prefix or
//! extension of a boundary the template may use (`${uid}/${host_name}`),
//! so each part ends where it should. LF line ends only.
//!
//! # Security
//! The parts are copied as data; nothing here expands or runs anything.

use super::template::{BodyExcerpt, push_body};
use crate::message::Header;

/// What of the original message the third part holds.
pub enum Original<'a> {
    /// `message/rfc822`: headers, empty line, the body excerpt.
    Full(&'a [Header], BodyExcerpt<'a>),
    /// `text/rfc822-headers`.
    Headers(&'a [Header]),
}

/// Builds the report from the rendered template, the delivery-status
/// text and the original message; `tag` (the message id and host) makes
/// the boundary.
pub fn assemble(rendered: &[u8], status: &str, original: Original<'_>, tag: &str) -> Vec<u8> {
    let (fields, text) = split_fields(rendered);
    let mut top: Vec<&[u8]> = Vec::new();
    let mut content: Vec<&[u8]> = Vec::new();
    for f in fields {
        let name = f.split(|&b| b == b':').next().unwrap_or(b"").trim_ascii();
        if name.eq_ignore_ascii_case(b"MIME-Version") {
            continue;
        }
        let is_content = name.len() >= 8 && name[..8].eq_ignore_ascii_case(b"Content-");
        if is_content {
            content.push(f);
        } else {
            top.push(f);
        }
    }

    let mut third = Vec::new();
    let third_type = match original {
        Original::Full(headers, body) => {
            for h in headers {
                third.extend_from_slice(&h.raw);
            }
            third.push(b'\n');
            push_body(&mut third, body);
            "message/rfc822"
        }
        Original::Headers(headers) => {
            for h in headers {
                third.extend_from_slice(&h.raw);
            }
            "text/rfc822-headers"
        }
    };

    let boundary = boundary(tag, &[text, status.as_bytes(), &third]);
    let mut out = Vec::with_capacity(rendered.len() + status.len() + third.len() + 512);
    for f in &top {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n\
             \tboundary=\"{boundary}\"\nContent-Transfer-Encoding: 8bit\n\n\
             This is a delivery status notification (RFC 3464) in MIME format.\n\n\
             --{boundary}\n"
        )
        .as_bytes(),
    );
    if content.is_empty() {
        out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\n");
    }
    for f in &content {
        out.extend_from_slice(f);
    }
    out.push(b'\n');
    push_text(&mut out, text);
    out.extend_from_slice(
        format!("--{boundary}\nContent-Type: message/delivery-status\n\n").as_bytes(),
    );
    push_text(&mut out, status.as_bytes());
    out.extend_from_slice(
        format!("--{boundary}\nContent-Type: {third_type}\nContent-Transfer-Encoding: 8bit\n\n")
            .as_bytes(),
    );
    push_text(&mut out, &third);
    out.extend_from_slice(format!("--{boundary}--\n").as_bytes());
    out
}

/// The header fields of the rendered template (each with its
/// continuation lines and final LF) and the text after the empty line.
/// A template without an empty line is all fields.
fn split_fields(rendered: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < rendered.len() {
        let end = rendered[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rendered.len(), |i| pos + i + 1);
        let line = &rendered[pos..end];
        if line == b"\n" {
            let fields = spans.iter().map(|&(a, b)| &rendered[a..b]).collect();
            return (fields, &rendered[end..]);
        }
        match (line.first(), spans.last_mut()) {
            // A continuation line extends the field before it.
            (Some(b' ' | b'\t'), Some(last)) => last.1 = end,
            _ => spans.push((pos, end)),
        }
        pos = end;
    }
    (spans.iter().map(|&(a, b)| &rendered[a..b]).collect(), &[])
}

/// Appends `text`, ending it with LF so the next boundary is on its own line.
fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    if !text.is_empty() && !text.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// `report/<tag>`, with a counter added until no part contains it.
fn boundary(tag: &str, parts: &[&[u8]]) -> String {
    let clean: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "./-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut b = format!("report/{clean}");
    let mut n = 0u32;
    while parts.iter().any(|p| contains(p, b.as_bytes())) {
        n += 1;
        b = format!("report/{clean}/{n}");
    }
    b
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
