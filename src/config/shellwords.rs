//! POSIX shell word splitting for command options (`mda`, `pipe`,
//! `wrapper`, ...): single quotes, double quotes with backslash escapes,
//! backslash outside quotes. Config.md §1.2 "command".
//!
//! Only splitting: no variable, tilde, glob or command substitution; the
//! `$name` variables of delivery.md §7.5 are expanded later, per word.
//!
//! # Security
//! No shell ever sees these words. Unquoted shell operators (`|&;<>()` and
//! backquote) are refused instead of being passed on as literal arguments:
//! a config written for a shell would otherwise run something other than
//! what its author believes.

/// Why a command line cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellWordsError {
    #[error("unterminated single quote")]
    SingleQuote,
    #[error("unterminated double quote")]
    DoubleQuote,
    #[error("backslash at the end")]
    TrailingBackslash,
    #[error("shell operator '{0}' is not supported (no shell is run)")]
    Operator(char),
}

/// Splits `s` into words with POSIX shell quoting rules.
pub fn split(s: &str) -> Result<Vec<String>, ShellWordsError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once anything was seen, even `''` (an empty word).
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => match chars.next() {
                // A backslash-newline is a line continuation: both vanish.
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => return Err(ShellWordsError::TrailingBackslash),
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => return Err(ShellWordsError::SingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('$' | '`' | '"' | '\\')) => word.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return Err(ShellWordsError::DoubleQuote),
                        },
                        Some(n) => word.push(n),
                        None => return Err(ShellWordsError::DoubleQuote),
                    }
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' => {
                return Err(ShellWordsError::Operator(c));
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShellWordsError::*;

    #[test]
    fn splitting() {
        for (input, want) in [
            ("/bin/cat", Ok(vec!["/bin/cat"])),
            ("  /bin/echo  a   b ", Ok(vec!["/bin/echo", "a", "b"])),
            ("/p 'a b' \"c d\"", Ok(vec!["/p", "a b", "c d"])),
            ("/p a' 'b", Ok(vec!["/p", "a b"])),
            ("/p '' \"\"", Ok(vec!["/p", "", ""])),
            ("/p \\$x '$y' \"$z\"", Ok(vec!["/p", "$x", "$y", "$z"])),
            ("/p \"a\\\"b\\\\c\\d\"", Ok(vec!["/p", "a\"b\\c\\d"])),
            ("/p 'it''s'", Ok(vec!["/p", "its"])),
            ("/p a\\ b", Ok(vec!["/p", "a b"])),
            ("/p a\\\nb", Ok(vec!["/p", "ab"])),
            ("/p '|;&<>'", Ok(vec!["/p", "|;&<>"])),
            ("/p *.txt", Ok(vec!["/p", "*.txt"])),
            ("/p ${rcpt_local}", Ok(vec!["/p", "${rcpt_local}"])),
            ("/p\t-f\n$return_path", Ok(vec!["/p", "-f", "$return_path"])),
            ("", Ok(vec![])),
            ("/p 'open", Err(SingleQuote)),
            ("/p \"open", Err(DoubleQuote)),
            ("/p \"open\\", Err(DoubleQuote)),
            ("/p end\\", Err(TrailingBackslash)),
            ("/p 2>/dev/null", Err(Operator('>'))),
            ("/p | /q", Err(Operator('|'))),
            ("/p; rm -rf /", Err(Operator(';'))),
            ("/p `id`", Err(Operator('`'))),
        ] {
            let want: Result<Vec<String>, _> =
                want.map(|v| v.into_iter().map(String::from).collect());
            assert_eq!(split(input), want, "{input:?}");
        }
    }
}
