//! The tokenizer shared by main, route and get files (config.md §1.1):
//! `key = value` statements, `#` comments, unquoted and quoted values.
//!
//! Guarantees: every statement carries the line of its key; any byte input
//! yields either statements or a [`ConfigError`] with `file:line`, never a
//! panic. Keys are at most 255 characters, values at most 2047; longer ones
//! are errors (masqmail 0.2 overflowed a fixed buffer here, CVE-2002-1279).
//!
//! Deviation from the C program: a missing `=` is an error (1.0 printed a
//! warning and went on, 0.2 silently stopped reading the file).
//!
//! # Security
//! Works on raw bytes; rejects NUL anywhere and invalid UTF-8 in values,
//! so no later stage sees either. Values may still contain newlines (quoted
//! values span lines): consumers that put values into protocol lines must
//! check for them.

use std::path::Path;

use super::error::{ConfigError, ConfigErrorKind};

/// Longest key (config.md §1.1).
pub const MAX_KEY: usize = 255;
/// Longest value (config.md §1.1).
pub const MAX_VALUE: usize = 2047;

/// One `key = value` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub key: String,
    pub value: String,
    /// 1-based line of the key.
    pub line: u32,
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_unquoted_byte(b: u8) -> bool {
    is_key_byte(b) || matches!(b, b'/' | b'@' | b';' | b':')
}

/// Horizontal whitespace; a CR is whitespace too, which makes CRLF files
/// read exactly like LF files.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    line: u32,
    file: &'a Path,
}

impl Lexer<'_> {
    fn err(&self, line: u32, kind: ConfigErrorKind) -> ConfigError {
        ConfigError::new(self.file, line, kind)
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(b)
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.bump() {
            if b == b'\n' {
                break;
            }
        }
    }

    /// Skips whitespace, newlines and comment lines; `false` at the end.
    fn skip_to_statement(&mut self) -> bool {
        loop {
            match self.peek() {
                None => return false,
                Some(b'\n') => {
                    self.bump();
                }
                Some(b) if is_blank(b) => self.pos += 1,
                Some(b'#') => self.skip_line(),
                Some(_) => return true,
            }
        }
    }

    fn statement(&mut self) -> Result<Statement, ConfigError> {
        let line = self.line;
        let start = self.pos;
        while self.peek().is_some_and(is_key_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            let found = self.peek().unwrap_or(0);
            return Err(self.err(line, ConfigErrorKind::ExpectedKey { found }));
        }
        if self.pos - start > MAX_KEY {
            return Err(self.err(
                line,
                ConfigErrorKind::KeyTooLong {
                    len: self.pos - start,
                },
            ));
        }
        // Key bytes are ASCII, so this conversion is lossless.
        let key = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        self.skip_blanks();
        if self.peek() != Some(b'=') {
            return Err(self.err(line, ConfigErrorKind::ExpectedEquals { key }));
        }
        self.pos += 1;
        self.skip_blanks();
        let raw = if self.peek() == Some(b'"') {
            self.quoted(&key)?
        } else {
            self.unquoted()
        };
        self.skip_line();
        if raw.len() > MAX_VALUE {
            return Err(self.err(
                line,
                ConfigErrorKind::ValueTooLong {
                    key,
                    len: raw.len(),
                },
            ));
        }
        let mut value =
            String::from_utf8(raw).map_err(|_| self.err(line, ConfigErrorKind::NotUtf8))?;
        value.truncate(value.trim_end().len());
        Ok(Statement { key, value, line })
    }

    fn unquoted(&mut self) -> Vec<u8> {
        let start = self.pos;
        while self.peek().is_some_and(is_unquoted_byte) {
            self.pos += 1;
        }
        self.text[start..self.pos].to_vec()
    }

    /// A quoted value: `\x` is `x`, newlines are kept (1.0), a CR before a
    /// LF is dropped so CRLF files give the same value as LF files.
    fn quoted(&mut self, key: &str) -> Result<Vec<u8>, ConfigError> {
        let opened = self.line;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.err(
                        opened,
                        ConfigErrorKind::UnterminatedQuote {
                            key: key.to_string(),
                        },
                    ));
                }
                Some(b'"') => return Ok(out),
                Some(b'\\') => match self.bump() {
                    None => {
                        return Err(self.err(
                            opened,
                            ConfigErrorKind::UnterminatedQuote {
                                key: key.to_string(),
                            },
                        ));
                    }
                    Some(b) => out.push(b),
                },
                Some(b'\r') if self.peek() == Some(b'\n') => {}
                Some(b) => out.push(b),
            }
        }
    }
}

/// Splits a file into statements. `file` is only used in errors.
pub fn tokenize(text: &[u8], file: &Path) -> Result<Vec<Statement>, ConfigError> {
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        let line = line_of(text, nul);
        return Err(ConfigError::new(file, line, ConfigErrorKind::Nul));
    }
    let mut lx = Lexer {
        text,
        pos: 0,
        line: 1,
        file,
    };
    let mut out = Vec::new();
    while lx.skip_to_statement() {
        out.push(lx.statement()?);
    }
    Ok(out)
}

/// 1-based line number of byte offset `pos`.
fn line_of(text: &[u8], pos: usize) -> u32 {
    let n = text[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u32::try_from(n).unwrap_or(u32::MAX - 1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Result<Vec<(String, String, u32)>, String> {
        tokenize(s.as_bytes(), Path::new("t.conf"))
            .map(|v| v.into_iter().map(|s| (s.key, s.value, s.line)).collect())
            .map_err(|e| e.to_string())
    }

    fn one(s: &str) -> String {
        match lex(s) {
            Ok(v) if v.len() == 1 => v[0].1.clone(),
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn values() {
        for (input, want) in [
            ("a = b", "b"),
            ("a=b", "b"),
            ("a = b c", "b"),
            ("x = true # note", "true"),
            ("a = /x/y@z;w:v", "/x/y@z;w:v"),
            ("a = b*c", "b"),
            ("a = b,c", "b"),
            ("a =", ""),
            ("a = \"\"", ""),
            ("a = \"  lead kept\"", "  lead kept"),
            ("a = \"trail   \"", "trail"),
            ("a = \"x\\\"y\\\\z\\n\"", "x\"y\\zn"),
            ("a = \"one\ntwo\"", "one\ntwo"),
            ("a = \"one\r\ntwo\"", "one\ntwo"),
            ("a = \"q\" rest is ignored", "q"),
            ("a = \"a # b\"", "a # b"),
            ("a = \"jörg\"", "jörg"),
            ("a = b\r\n", "b"),
            ("a = \"b\"\r\n", "b"),
        ] {
            assert_eq!(one(input), want, "{input:?}");
        }
    }

    #[test]
    fn lines_and_comments() {
        let text = "# comment\n\n  a = 1\n# b = 2\nb = \"x\ny\"\nc = 3 # c\r\nd=4";
        let got = lex(text).unwrap();
        let want = [
            ("a", "1", 3),
            ("b", "x\ny", 5),
            ("c", "3", 7),
            ("d", "4", 8),
        ];
        assert_eq!(got.len(), want.len());
        for ((k, v, l), (wk, wv, wl)) in got.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str(), *l), (wk, wv, wl));
        }
    }

    #[test]
    fn errors() {
        let long_key = "k".repeat(256);
        let long_val = format!("a = {}\n", "v".repeat(2048));
        let long_q = format!("a = \"{}\"\n", "v".repeat(2048));
        let mb_line = format!("x = 1\na = {}\n", "v".repeat(1 << 20));
        for (input, want) in [
            ("a = 1\nb 2\n", "t.conf:2: '=' expected after `b`"),
            (
                "a = 1\n\nb = \"open\nmore\n",
                "t.conf:3: unterminated quoted value of `b`",
            ),
            (
                "b = \"ends in backslash\\",
                "t.conf:1: unterminated quoted value of `b`",
            ),
            ("a = 1\n= 2", "t.conf:2: expected an option name, found '='"),
            (
                "a = 1\n\x01",
                "t.conf:2: expected an option name, found byte 0x01",
            ),
            ("a = 1\n\n  a=\0", "t.conf:3: NUL byte in file"),
            ("a = \"\u{fffd}\"", ""),
            (
                long_key.as_str(),
                "t.conf:1: option name is 256 characters long (at most 255)",
            ),
            (
                long_val.as_str(),
                "t.conf:1: value of `a` is 2048 bytes long (at most 2047)",
            ),
            (
                long_q.as_str(),
                "t.conf:1: value of `a` is 2048 bytes long (at most 2047)",
            ),
        ] {
            match lex(input) {
                Err(e) => assert_eq!(e, want, "{input:?}"),
                Ok(v) => assert!(want.is_empty(), "{input:?} gave {v:?}"),
            }
        }
        // The 1 MB value is reported with its length, whatever the exact figure.
        let e = lex(&mb_line).unwrap_err();
        assert!(e.starts_with("t.conf:2: value of `a` is "), "{e}");
        let bad = tokenize(b"a = \"\xff\xfe\"", Path::new("t.conf")).unwrap_err();
        assert_eq!(bad.to_string(), "t.conf:1: value is not valid UTF-8");
    }

    #[test]
    fn no_final_newline_and_empty() {
        assert_eq!(lex("").unwrap(), vec![]);
        assert_eq!(lex("\n\n# x").unwrap(), vec![]);
        assert_eq!(one("a = \"b\""), "b");
        assert_eq!(one("a = b"), "b");
    }
}
