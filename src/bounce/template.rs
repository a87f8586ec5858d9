//! Notice templates (delivery.md §12.4): line by line, `@failed_rcpts`,
//! `@msg_headers` and `@msg_body` lines are replaced by the listed
//! recipients, the stored headers and the body; other `@` lines are
//! dropped; every other line gets variable expansion (§7.5).
//!
//! Guarantees: the output uses LF line ends only (a template with CRLF
//! lines renders the same as with LF), and a body that does not end in LF
//! gets one, so whatever the template puts after `@msg_body` (a closing
//! MIME boundary) starts on its own line. Template lines of any length.
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

/// Renders `template`. `body` is `None` for templates that never show it
/// (a `@msg_body` line then yields nothing).
pub fn render(
    template: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    failed_rcpts: &[Address],
    headers: &[Header],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + body.map_or(0, <[u8]>::len));
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
                push_lines(&mut out, b);
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
            Some(&body),
        );
        assert_eq!(out, body);
    }
}
