//! Notice templates (delivery.md §12.4): line by line, `@failed_rcpts`,
//! `@msg_headers` and `@msg_body` lines are replaced by the listed
//! recipients, the stored headers and the body; other `@` lines are
//! dropped; every other line gets variable expansion (§7.5).
//!
//! Guarantees: the output uses LF line ends only (a template with CRLF
//! lines renders the same as with LF), and a body that does not end in LF
//! gets one, so whatever the template puts after `@msg_body` (a closing
//! MIME boundary) starts on its own line. Template lines of any length.
//! `@msg_body` shows at most [`BODY_LIMIT`] bytes of the body: a longer
//! body is cut after its last complete line within the limit and followed
//! by one note line, so a notice about a huge message stays small (it is
//! built in memory and spooled like any message).
//!
//! # Security
//! Recipient addresses, headers and the body are copied as data: they are
//! never variable-expanded, so `$(id)`, backquotes or `${uid}` inside an
//! address or a header come out literally (RELIABILITY R15). Variable
//! values are inserted once and not expanded again. Nothing here runs
//! anything.

use crate::address::Address;
use crate::message::Header;
use crate::vars;

/// The most of a message body a notice shows (see the module docs).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What a notice may show of a body: its first bytes (the caller reads at
/// least [`BODY_LIMIT`] of them when the body is that long; more are
/// ignored) and the size of the whole body.
#[derive(Debug, Clone, Copy)]
pub struct BodyExcerpt<'a> {
    pub start: &'a [u8],
    pub size: u64,
}

impl<'a> BodyExcerpt<'a> {
    /// A body held whole in memory.
    pub fn whole(body: &'a [u8]) -> BodyExcerpt<'a> {
        BodyExcerpt {
            start: body,
            size: body.len() as u64,
        }
    }
}

/// Renders `template`. `body` is `None` for templates that never show it
/// (a `@msg_body` line then yields nothing).
pub fn render(
    template: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    failed_rcpts: &[Address],
    headers: &[Header],
    body: Option<BodyExcerpt<'_>>,
) -> Vec<u8> {
    let shown = body.map_or(0, |b| b.start.len().min(BODY_LIMIT));
    let mut out = Vec::with_capacity(template.len() + shown);
    let text = template.strip_suffix('\n').unwrap_or(template);
    if template.is_empty() {
        return out;
    }
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("@failed_rcpts") {
            // delivery.md §12.4: TAB `<address>`, which users' filters match.
            for rcpt in failed_rcpts {
                out.extend_from_slice(format!("\t<{rcpt}>\n").as_bytes());
            }
        } else if line.starts_with("@msg_headers") {
            for h in headers {
                push_lines(&mut out, &h.raw);
            }
        } else if line.starts_with("@msg_body") {
            if let Some(b) = body {
                push_body(&mut out, b);
            }
        } else if line.starts_with('@') {
            // Unknown directive: dropped, as in masqmail.
        } else {
            out.extend_from_slice(vars::expand(line, vars).as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// Appends `bytes`, ending it with LF if it does not already.
fn push_lines(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
        out.push(b'\n');
    }
}

/// The body, or its start and a note when it is longer than
/// [`BODY_LIMIT`] (or than what the caller could read).
pub(super) fn push_body(out: &mut Vec<u8>, body: BodyExcerpt<'_>) {
    let start = &body.start[..body.start.len().min(BODY_LIMIT)];
    if start.len() as u64 >= body.size {
        return push_lines(out, start);
    }
    // Cut after the last complete line, unless there is none at all.
    let cut = start
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(start.len(), |i| i + 1);
    push_lines(out, &start[..cut]);
    let left = body.size - cut as u64;
    out.extend_from_slice(
        format!("[... {left} more bytes of the message body are not included ...]\n").as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "uid" => Some("1abcde-0Ab-00".into()),
            "err_msg" => Some("bad ${uid} $(id)".into()),
            _ => None,
        }
    }

    fn show(template: &str, rcpts: &[Address], body: Option<&[u8]>) -> String {
        let headers = [
            Header::new("Subject", "hi $uid"),
            Header::new("X-Folded", "a\n\tb"),
        ];
        let body = body.map(BodyExcerpt::whole);
        String::from_utf8(render(template, &vars, rcpts, &headers, body)).unwrap()
    }

    #[test]
    fn directives_and_variables() {
        let rcpts = [Address::new("a", "x.example"), Address::new("b", "")];
        for (template, body, want) in [
            ("id ${uid}\n", None, "id 1abcde-0Ab-00\n"),
            ("id ${uid}", None, "id 1abcde-0Ab-00\n"),
            ("a\r\nb\r\n", None, "a\nb\n"),
            ("", None, ""),
            ("\n", None, "\n"),
            ("x\n\ny\n", None, "x\n\ny\n"),
            ("@failed_rcpts\n", None, "\t<a@x.example>\n\t<b>\n"),
            (
                "@failed_rcpts trailing text\n",
                None,
                "\t<a@x.example>\n\t<b>\n",
            ),
            (
                "@msg_headers\n",
                None,
                "Subject: hi $uid\nX-Folded: a\n\tb\n",
            ),
            (
                "@msg_body\n--end\n",
                Some(b"line 1\nno newline".as_slice()),
                "line 1\nno newline\n--end\n",
            ),
            ("@msg_body\n--end\n", Some(b"".as_slice()), "--end\n"),
            ("@msg_body\n--end\n", None, "--end\n"),
            ("@other\n@\nkept\n", None, "kept\n"),
            (
                " @indented ${err_msg}\n",
                None,
                " @indented bad ${uid} $(id)\n",
            ),
            ("$unknown.\n", None, ".\n"),
        ] {
            assert_eq!(show(template, &rcpts, body), want, "{template:?}");
        }
    }

    #[test]
    fn addresses_are_data() {
        let rcpts = [
            Address::new("\"$(touch /tmp/pwned)\"", "x.example"),
            Address::new("\"`id`;rm\"", "x.example"),
            Address::new("${uid}", ""),
        ];
        assert_eq!(
            show("@failed_rcpts\n", &rcpts, None),
            "\t<\"$(touch /tmp/pwned)\"@x.example>\n\t<\"`id`;rm\"@x.example>\n\t<${uid}>\n"
        );
    }

    #[test]
    fn body_is_copied_verbatim() {
        let body: Vec<u8> = (0u8..=255)
            .chain(b"\n@failed_rcpts\n${uid}\n".iter().copied())
            .collect();
        let out = render(
            "@msg_body\n",
            &vars,
            &[Address::new("a", "b")],
            &[],
            Some(BodyExcerpt::whole(&body)),
        );
        assert_eq!(out, body);
    }

    #[test]
    fn long_bodies_are_cut_at_a_line_end() {
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let body: Vec<u8> = line.repeat(3 * BODY_LIMIT / line.len());
        // The caller read a little more than the limit; the size is the whole.
        let excerpt = BodyExcerpt {
            start: &body[..BODY_LIMIT + 100],
            size: body.len() as u64 + 1_000_000,
        };
        let out = render("@msg_body\n--end\n", &vars, &[], &[], Some(excerpt));
        let shown = BODY_LIMIT - BODY_LIMIT % line.len();
        assert_eq!(&out[..shown], &body[..shown]);
        let rest = String::from_utf8_lossy(&out[shown..]).into_owned();
        let left = body.len() as u64 + 1_000_000 - shown as u64;
        assert_eq!(
            rest,
            format!("[... {left} more bytes of the message body are not included ...]\n--end\n")
        );
        // No line end within the limit: the limit itself is the cut.
        let flat = vec![b'x'; BODY_LIMIT * 2];
        let out = render(
            "@msg_body\n",
            &vars,
            &[],
            &[],
            Some(BodyExcerpt::whole(&flat)),
        );
        assert!(out.starts_with(&flat[..BODY_LIMIT]));
        assert!(
            out.ends_with(
                format!(
                    "x\n[... {BODY_LIMIT} more bytes of the message body are not included ...]\n"
                )
                .as_bytes()
            )
        );
        // Exactly at the limit: shown whole, no note.
        let out = render(
            "@msg_body\n",
            &vars,
            &[],
            &[],
            Some(BodyExcerpt::whole(&flat[..BODY_LIMIT])),
        );
        assert_eq!(out.len(), BODY_LIMIT + 1);
    }
}
