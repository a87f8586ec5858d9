//! A minimal POSIX shell word splitter for alias pipe commands (config.md
//! §1.2 rules): blanks separate words; `'…'` is literal; in `"…"` a
//! backslash escapes only `$`, `` ` ``, `"`, `\` and newline; outside
//! quotes a backslash escapes any character. Nothing else is special:
//! `$`, `` ` ``, `;`, `|`, `*` are ordinary characters, because no shell
//! ever sees the result.
//!
//! # Security
//! Pure function on a string; the output is an argv, never a shell string.

/// Why a command could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unterminated single quote")]
    SingleQuote,
    #[error("unterminated double quote")]
    DoubleQuote,
    #[error("backslash at end of command")]
    TrailingBackslash,
}

/// Splits `s` into words.
pub fn split_words(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    // `None` between words; `Some` once a word has started (even if empty: `''`).
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(SplitError::SingleQuote),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('$' | '`' | '"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(SplitError::DoubleQuote),
                        },
                        Some(c) => w.push(c),
                        None => return Err(SplitError::DoubleQuote),
                    }
                }
            }
            '\\' => match chars.next() {
                // A backslash-newline joins lines.
                Some('\n') => {}
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(SplitError::TrailingBackslash),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let ok = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for (input, want) in [
            (
                "/usr/bin/procmail -d bob",
                ok(&["/usr/bin/procmail", "-d", "bob"]),
            ),
            ("  a \t b\n", ok(&["a", "b"])),
            ("", ok(&[])),
            ("   ", ok(&[])),
            ("a 'b c' d", ok(&["a", "b c", "d"])),
            ("a '' b", ok(&["a", "", "b"])),
            ("a\"\"b", ok(&["ab"])),
            ("x'$(touch M)'", ok(&["x$(touch M)"])),
            (
                "$(touch M) `id` ;ls; *",
                ok(&["$(touch", "M)", "`id`", ";ls;", "*"]),
            ),
            (r#""a \"b\" \$c \\ \n""#, ok(&[r#"a "b" $c \ \n"#])),
            (r"a\ b \'c", ok(&["a b", "'c"])),
            ("a\\\nb", ok(&["ab"])),
            ("'it''s'", ok(&["its"])),
            ("'open", Err(SplitError::SingleQuote)),
            ("\"open", Err(SplitError::DoubleQuote)),
            ("\"open\\", Err(SplitError::DoubleQuote)),
            ("end\\", Err(SplitError::TrailingBackslash)),
            ("ü 'ß'", ok(&["ü", "ß"])),
        ] {
            assert_eq!(split_words(input), want, "{input:?}");
        }
    }
}
