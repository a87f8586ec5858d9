//! Variable expansion for MDA/pipe command words and notice templates
//! (delivery.md §7.5): `$name` or `${name}`, name = letters, digits, `_`,
//! `-`; unknown variables expand to nothing; `\x` yields `x` literally.
//!
//! Guarantees: a pure function of the template and the lookup; values are
//! inserted once and never expanded again. It imports nothing from the
//! crate, so both its users (`deliver` for command words, `bounce` for
//! templates) sit above it.
//!
//! # Security
//! Expansion works on one argv word at a time, after the command was split:
//! whatever a variable holds (`;`, `$(…)`, quotes, spaces) stays inside
//! that one word. Nothing here is ever given to a shell.

/// Longest expanded word, as in masqmail (longer results are truncated).
pub const MAX_WORD: usize = 255;

/// Expands `$name`/`${name}` in `template` using `lookup`.
pub fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '$' => {
                let rest = &template[i + 1..];
                let (name, used) = if let Some(braced) = rest.strip_prefix('{') {
                    match braced.find('}') {
                        Some(end) => (&braced[..end], end + 2),
                        None => {
                            out.push('$');
                            continue;
                        }
                    }
                } else {
                    let end = rest
                        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
                        .unwrap_or(rest.len());
                    (&rest[..end], end)
                };
                if name.is_empty() {
                    out.push('$');
                    continue;
                }
                if let Some(v) = lookup(name) {
                    out.push_str(&v);
                }
                for _ in 0..rest[..used].chars().count() {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Expands one command word, truncated to [`MAX_WORD`] bytes on a char boundary.
pub fn expand_word(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut s = expand(word, lookup);
    if s.len() > MAX_WORD {
        let mut cut = MAX_WORD;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "rcpt_local" => Some("a;b $(touch M) `x`".into()),
            "uid" => Some("1xVrXk-3tM-00".into()),
            "return-path" => Some("dash".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        for (t, want) in [
            ("$rcpt_local", "a;b $(touch M) `x`"),
            ("-d${rcpt_local}!", "-da;b $(touch M) `x`!"),
            ("${uid}.x", "1xVrXk-3tM-00.x"),
            ("$uid.x", "1xVrXk-3tM-00.x"),
            ("$unknown|", "|"),
            ("\\$uid", "$uid"),
            ("$", "$"),
            ("${open", "${open"),
            ("$return-path", "dash"),
            ("plain", "plain"),
            ("ümlaut $uid", "ümlaut 1xVrXk-3tM-00"),
        ] {
            assert_eq!(expand(t, &vars), want, "{t:?}");
        }
    }

    #[test]
    fn words_are_capped() {
        let long = |_: &str| Some("é".repeat(300));
        let w = expand_word("$x", &long);
        assert!(w.len() <= MAX_WORD && w.chars().all(|c| c == 'é'));
    }
}
