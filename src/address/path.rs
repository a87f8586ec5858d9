//! The RFC 821 path parser (delivery.md §1.2): `<local@domain>`, bare
//! `local@domain`, `local`, `<>`; source routes (`<@a,@b:x@y>`) are accepted
//! and dropped as RFC 5321 §4.1.1.3 asks.

use super::Address;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("missing '>' at end of string")]
    MissingBracket,
    #[error("excess '>' at end of string")]
    ExcessBracket,
    #[error("invalid periods in local part")]
    InvalidPeriods,
    #[error("empty local part")]
    EmptyLocal,
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("empty domain")]
    EmptyDomain,
    #[error("invalid character in domain")]
    BadDomain,
    #[error("unexpected character after local part")]
    UnexpectedAfterLocal,
    #[error("excess characters at end of string")]
    Excess,
    #[error("no pipe addresses allowed here")]
    Pipe,
    #[error("control character in address")]
    Control,
    #[error("invalid source route")]
    BadRoute,
}

/// Whether `|command` is an acceptable address here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipePolicy {
    Refuse,
    /// Alias items and spool `RT:` lines: the whole text is the command.
    Allow,
}

const SPECIALS: &str = "()<>@,;:\\\".[]`";

fn is_atom_char(c: char) -> bool {
    !c.is_control() && !c.is_whitespace() && !SPECIALS.contains(c)
}

/// Parses one RFC 821 path. Unqualified results keep an empty domain; the
/// caller qualifies them where the spec says so.
pub fn parse_path(input: &str, pipes: PipePolicy) -> Result<Address, AddressError> {
    if input.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(AddressError::Control);
    }
    let s = input.trim();
    if s.starts_with('|') {
        return match pipes {
            PipePolicy::Allow => Ok(Address::new(s, "localhost")),
            PipePolicy::Refuse => Err(AddressError::Pipe),
        };
    }
    let opening = s.chars().take_while(|&c| c == '<').count();
    let mut inner = &s[opening..];
    let closing = inner.chars().rev().take_while(|&c| c == '>').count();
    // A '>' may legitimately sit inside a quoted local part only, never at the end.
    inner = &inner[..inner.len() - closing];
    if closing < opening {
        return Err(AddressError::MissingBracket);
    }
    if closing > opening {
        return Err(AddressError::ExcessBracket);
    }
    let inner = inner.trim();
    if inner.is_empty() {
        return Ok(Address::null());
    }
    let inner = strip_source_route(inner)?;
    if inner.starts_with('|') {
        return Err(AddressError::Pipe);
    }
    let (local, rest) = local_part(inner)?;
    if rest.is_empty() {
        return Ok(Address::new(local, ""));
    }
    let Some(domain) = rest.strip_prefix('@') else {
        return Err(AddressError::UnexpectedAfterLocal);
    };
    let domain_len = domain_len(domain)?;
    if domain_len == 0 {
        return Err(AddressError::EmptyDomain);
    }
    if domain_len != domain.len() {
        return Err(AddressError::Excess);
    }
    Ok(Address::new(local, domain))
}

/// `@a,@b:rest` → `rest`.
fn strip_source_route(s: &str) -> Result<&str, AddressError> {
    if !s.starts_with('@') {
        return Ok(s);
    }
    let Some(colon) = s.find(':') else {
        return Err(AddressError::BadRoute);
    };
    for hop in s[..colon].split(',') {
        let hop = hop.trim().strip_prefix('@').ok_or(AddressError::BadRoute)?;
        if hop.is_empty() || domain_len(hop)? != hop.len() {
            return Err(AddressError::BadRoute);
        }
    }
    Ok(&s[colon + 1..])
}

/// Returns the local part (verbatim, quotes kept) and the remaining text.
fn local_part(s: &str) -> Result<(&str, &str), AddressError> {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'"') {
        let mut i = 1;
        loop {
            match bytes.get(i) {
                None => return Err(AddressError::UnterminatedQuote),
                Some(b'\\') => i += 2,
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
        if i > bytes.len() {
            return Err(AddressError::UnterminatedQuote);
        }
        return Ok((&s[..i], &s[i..]));
    }
    let end = s
        .char_indices()
        .find(|&(_, c)| !is_atom_char(c) && c != '.')
        .map_or(s.len(), |(i, _)| i);
    let local = &s[..end];
    if local.is_empty() {
        return Err(if s.starts_with('@') {
            AddressError::EmptyLocal
        } else {
            AddressError::UnexpectedAfterLocal
        });
    }
    if local.split('.').any(str::is_empty) {
        return Err(AddressError::InvalidPeriods);
    }
    Ok((local, &s[end..]))
}

/// Length of the domain at the start of `s`: a literal `[...]` or a run of
/// letters, digits, `-`, `.` (non-ASCII letters allowed for SMTPUTF8).
fn domain_len(s: &str) -> Result<usize, AddressError> {
    if s.starts_with('[') {
        let close = s.find(']').ok_or(AddressError::BadDomain)?;
        return Ok(close + 1);
    }
    Ok(s.char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '-' || c == '.'))
        .map_or(s.len(), |(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, AddressError> {
        parse_path(s, PipePolicy::Refuse).map(|a| a.to_string())
    }

    #[test]
    fn paths() {
        use AddressError::*;
        for (input, want) in [
            ("<a@b.example>", Ok("a@b.example")),
            ("a@b.example", Ok("a@b.example")),
            ("  <a@b.example>  ", Ok("a@b.example")),
            ("<<a@b>>", Ok("a@b")),
            ("alice", Ok("alice")),
            ("<>", Ok("")),
            ("", Ok("")),
            ("<\"a b\"@c.example>", Ok("\"a b\"@c.example")),
            ("<\"a\\\" -X/tmp\"@c>", Ok("\"a\\\" -X/tmp\"@c")),
            ("<@relay.example:a@b.example>", Ok("a@b.example")),
            ("<@r1,@r2:a@b.example>", Ok("a@b.example")),
            ("u@[192.0.2.1]", Ok("u@[192.0.2.1]")),
            ("u@local.", Ok("u@local.")),
            ("jörg@bücher.example", Ok("jörg@bücher.example")),
            ("<a@b.example", Err(MissingBracket)),
            ("a@b.example>", Err(ExcessBracket)),
            ("a..b@c", Err(InvalidPeriods)),
            (".a@c", Err(InvalidPeriods)),
            ("a@", Err(EmptyDomain)),
            ("a b@c", Err(UnexpectedAfterLocal)),
            ("a@b c", Err(Excess)),
            ("a@b@c", Err(Excess)),
            ("<a\r@b.example>", Err(Control)),
            ("a\n@b", Err(Control)),
            ("|/bin/sh", Err(Pipe)),
            ("\"unterminated@b", Err(UnterminatedQuote)),
            ("@nohop", Err(BadRoute)),
        ] {
            assert_eq!(p(input), want.map(String::from), "{input:?}");
        }
    }

    #[test]
    fn pipes_when_allowed() {
        let a = parse_path("|/usr/bin/filter arg", PipePolicy::Allow).unwrap();
        assert!(a.is_pipe());
        assert_eq!(a.local, "|/usr/bin/filter arg");
    }
}
