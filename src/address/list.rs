//! The RFC 822 address-list parser (delivery.md §1.2, second bullet) for
//! header values: `-t` recipients (To/Cc/Bcc), the From-header route
//! filter and header rewriting (§11.1).
//!
//! Each address comes with exact byte spans into the value, so a rewriter
//! can splice in a replacement and keep every other byte (display names,
//! comments, separators, folding) as it was.
//!
//! Accepted: display names (atoms, quoted strings, dots), `<angle-addr>`
//! with an optional source route, comments anywhere (nested, with
//! escapes), quoted local parts, domain literals, folding whitespace,
//! empty list elements, and bare local parts without a domain
//! (`To: alice, bob`). Not accepted: group syntax (`name: a, b;`).
//! Parsing stops silently at the first element it cannot read and returns
//! the elements before it.
//!
//! Guarantees: never panics; every span lies within the value; the text of
//! every `spec` span parses again to the same address; every address is
//! one [`parse_path`] accepts unchanged (so it can go into the spool).
//!
//! # Security
//! Header values are hostile. The parser is linear and iterative (comment
//! nesting is counted, not recursed). An address containing CR, LF, NUL,
//! invalid UTF-8 or a leading `|` (pipe) ends the parse, so nothing taken
//! from a header can inject a spool line or become a command.

use std::ops::Range;

use super::{Address, PipePolicy, parse_path};

/// One address of a list, with where it sits in the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAddress {
    /// Local part (verbatim, quotes kept) and domain; the domain is empty
    /// when the text had no `@`.
    pub addr: Address,
    /// The whole item: display name, brackets and comments before and
    /// after, without the separating commas and the whitespace around them.
    pub item: Range<usize>,
    /// The bytes of `local@domain` (or of `local` alone).
    pub spec: Range<usize>,
    /// The item starts with the local part: no display name, no angle
    /// brackets, no leading comment (§11.1 replaces such items whole).
    pub bare: bool,
}

/// Parses a header value (the text after the colon, folding included) as
/// an address list.
pub fn parse_address_list(value: &[u8]) -> Vec<ListAddress> {
    let mut parser = Parser {
        value,
        tokens: lex(value),
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some(item) = parser.item() {
        if let Some(found) = item {
            out.push(found);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Atom,
    Quoted,
    Literal,
    Comment,
    Special(u8),
    /// A byte that cannot start a token, or an unterminated quote,
    /// comment or literal. Always the last token.
    Bad,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

const SPECIALS: &[u8] = b"()<>@,;:\\\".[]";

fn is_atom_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && !SPECIALS.contains(&b)
}

/// Splits the value into tokens; whitespace (folding included) separates
/// tokens and is dropped.
fn lex(v: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = i;
        let b = v[i];
        let kind = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => match comment_end(v, i) {
                Some(end) => {
                    i = end;
                    Kind::Comment
                }
                None => Kind::Bad,
            },
            b'"' | b'[' => match delimited_end(v, i, if b == b'"' { b'"' } else { b']' }) {
                Some(end) => {
                    i = end;
                    if b == b'"' {
                        Kind::Quoted
                    } else {
                        Kind::Literal
                    }
                }
                None => Kind::Bad,
            },
            _ if SPECIALS.contains(&b) => {
                i += 1;
                Kind::Special(b)
            }
            _ if is_atom_byte(b) => {
                while i < v.len() && is_atom_byte(v[i]) {
                    i += 1;
                }
                Kind::Atom
            }
            _ => Kind::Bad,
        };
        tokens.push(Token {
            kind,
            start,
            end: i.max(start + 1),
        });
        if kind == Kind::Bad {
            break;
        }
    }
    tokens
}

/// End (exclusive) of the comment opening at `start`, nesting and
/// backslash escapes included; `None` when it never closes.
fn comment_end(v: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// End (exclusive) of a quoted string or domain literal opening at
/// `start` and closed by `close`, with backslash escapes.
fn delimited_end(v: &[u8], start: usize, close: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b if b == close => return Some(i + 1),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser<'a> {
    value: &'a [u8],
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    /// The next token that is not a comment, comments before it consumed.
    fn peek(&mut self) -> Option<Kind> {
        while self.tokens.get(self.pos)?.kind == Kind::Comment {
            self.pos += 1;
        }
        Some(self.tokens[self.pos].kind)
    }

    /// Consumes the next non-comment token if it is `kind`.
    fn eat(&mut self, kind: Kind) -> Option<Token> {
        (self.peek()? == kind).then(|| self.take())
    }

    /// Consumes the token at `pos` (callers have just peeked it).
    fn take(&mut self) -> Token {
        self.pos += 1;
        self.tokens[self.pos - 1]
    }

    /// The next list element: `None` at the end of the list or where
    /// parsing stops, `Some(None)` for an empty element.
    fn item(&mut self) -> Option<Option<ListAddress>> {
        let first = *self.tokens.get(self.pos)?;
        if self.eat(Kind::Special(b',')).is_some() {
            return Some(None);
        }
        let words = self.words();
        let (spec, domain) = match self.peek() {
            Some(Kind::Special(b'<')) => {
                self.take();
                self.route()?;
                let local = self.words();
                let found = self.addr_spec(local)?;
                self.eat(Kind::Special(b'>'))?;
                found
            }
            _ if words.is_empty() => {
                // Nothing but comments before a comma or the end.
                return match self.peek() {
                    None => None,
                    Some(_) => self.eat(Kind::Special(b',')).map(|_| None),
                };
            }
            _ => self.addr_spec(words)?,
        };
        // Trailing comments belong to the item; then a comma or the end.
        let mut end = self.tokens[self.pos - 1].end;
        while let Some(comment) = self
            .tokens
            .get(self.pos)
            .filter(|t| t.kind == Kind::Comment)
        {
            end = comment.end;
            self.pos += 1;
        }
        match self.peek() {
            None => {}
            Some(Kind::Special(b',')) => {
                self.take();
            }
            Some(_) => return None,
        }
        let addr = self.address(&spec, &domain)?;
        let spec_range = spec.first()?.start..domain.last().or(spec.last())?.end;
        Some(Some(ListAddress {
            addr,
            bare: first.start == spec_range.start,
            item: first.start..end,
            spec: spec_range,
        }))
    }

    /// A run of atoms, quoted strings and dots (a phrase or a local part),
    /// comments between them skipped.
    fn words(&mut self) -> Vec<Token> {
        let mut run = Vec::new();
        while let Some(Kind::Atom | Kind::Quoted | Kind::Special(b'.')) = self.peek() {
            run.push(self.take());
        }
        run
    }

    /// An optional source route `@a,@b:` before the address in brackets;
    /// accepted and dropped (RFC 5321 §4.1.1.3).
    fn route(&mut self) -> Option<()> {
        if self.peek()? != Kind::Special(b'@') {
            return Some(());
        }
        loop {
            match self.peek()? {
                Kind::Special(b'@') => {
                    self.take();
                    self.domain()?;
                }
                Kind::Special(b',') => {
                    self.take();
                }
                Kind::Special(b':') => {
                    self.take();
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `local [@ domain]`: checks the local part's shape and reads the
    /// domain; returns the tokens of both.
    fn addr_spec(&mut self, local: Vec<Token>) -> Option<(Vec<Token>, Vec<Token>)> {
        // word *("." word): a phrase ("Alice Smith") is not a local part.
        let shaped = local.len() % 2 == 1
            && local
                .iter()
                .enumerate()
                .all(|(i, t)| (t.kind == Kind::Special(b'.')) == (i % 2 == 1));
        if !shaped {
            return None;
        }
        let domain = if self.eat(Kind::Special(b'@')).is_some() {
            self.domain()?
        } else {
            Vec::new()
        };
        Some((local, domain))
    }

    /// A domain literal, or atoms separated by dots (a trailing dot is
    /// allowed, as `parse_path` allows it).
    fn domain(&mut self) -> Option<Vec<Token>> {
        if let Some(literal) = self.eat(Kind::Literal) {
            return Some(vec![literal]);
        }
        let mut run = vec![self.eat(Kind::Atom)?];
        while let Some(dot) = self.eat(Kind::Special(b'.')) {
            run.push(dot);
            match self.eat(Kind::Atom) {
                Some(atom) => run.push(atom),
                None => break,
            }
        }
        Some(run)
    }

    /// Builds the address from the token texts and insists that the RFC
    /// 821 parser reads it the same way: whatever is returned here can be
    /// written to the spool and read back.
    fn address(&self, local: &[Token], domain: &[Token]) -> Option<Address> {
        let text = |tokens: &[Token]| -> Option<String> {
            let bytes: Vec<u8> = tokens
                .iter()
                .flat_map(|t| &self.value[t.start..t.end])
                .copied()
                .collect();
            String::from_utf8(bytes).ok()
        };
        let addr = Address::new(text(local)?, text(domain)?);
        let parsed = parse_path(&addr.to_string(), PipePolicy::Refuse).ok()?;
        (parsed == addr).then_some(addr)
    }
}

#[cfg(test)]
mod tests;
