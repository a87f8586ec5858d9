//! Shell-style glob matching (`*`, `?`, `[...]`, `[!...]`), as used by
//! local_hosts, glob aliases, route filters and rewrite map keys.

/// Matches `text` against `pattern`. Iterative with one backtrack point, so
/// hostile patterns cannot make it exponential.
pub fn glob_match(pattern: &str, text: &str, caseless: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if caseless {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class(&p, pi, t[ti], &eq) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if eq('[', t[ti]) {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if eq(p[pi + 1], t[ti]) {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if eq(c, t[ti]) {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Evaluates a bracket expression starting at `p[start] == '['`.
/// Returns (matched, index after `]`), or None if the bracket is unclosed.
fn class(
    p: &[char],
    start: usize,
    c: char,
    eq: &dyn Fn(char, char) -> bool,
) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < p.len() && (p[i] == '!' || p[i] == '^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let (lo, hi) = (p[i], p[i + 2]);
            let lc = c.to_ascii_lowercase();
            let uc = c.to_ascii_uppercase();
            if (lo..=hi).contains(&c)
                || (eq('a', 'A') && ((lo..=hi).contains(&lc) || (lo..=hi).contains(&uc)))
            {
                matched = true;
            }
            i += 3;
        } else {
            if eq(p[i], c) {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        for (pat, text, caseless, want) in [
            ("*", "", false, true),
            ("*", "anything", false, true),
            ("*.example.org", "mail.example.org", false, true),
            ("*.example.org", "example.org", false, false),
            ("*example.org", "example.org", false, true),
            ("h?st", "host", false, true),
            ("h?st", "hst", false, false),
            ("[abc]x", "bx", false, true),
            ("[!abc]x", "bx", false, false),
            ("[a-c]x", "Bx", true, true),
            ("[a-c]x", "Bx", false, false),
            ("LocalHost", "localhost", true, true),
            ("LocalHost", "localhost", false, false),
            ("list-*@example.org", "list-foo@example.org", false, true),
            (
                "a*b*c*d*e*f*g",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
                false,
            ),
            ("[", "[", false, true),
            ("\\*", "*", false, true),
            ("\\*", "x", false, false),
        ] {
            assert_eq!(glob_match(pat, text, caseless), want, "{pat:?} vs {text:?}");
        }
    }
}
