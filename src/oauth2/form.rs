//! `application/x-www-form-urlencoded` and URL query encoding, and the
//! decoding of a redirect's query (RFC 3986 percent-encoding).
//!
//! Guarantees: encoding keeps only the unreserved characters and
//! percent-encodes every other byte, so a value can never add a parameter
//! or end a line. Decoding never panics on bad escapes (kept as they are).
//!
//! # Security
//! The decoded query comes from whoever connects to the loopback port; its
//! values are only compared (`state`) or passed on to the token endpoint
//! encoded again (`code`).

/// `k=v&k=v` with every key and value percent-encoded.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pairs of a query string (`+` is a space, `%XX` a byte).
pub fn decode(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let q = encode(&[("a b", "x&y=z/é"), ("code", "4/0A")]);
        assert_eq!(q, "a%20b=x%26y%3Dz%2F%C3%A9&code=4%2F0A");
        assert_eq!(
            decode(&q),
            vec![
                ("a b".to_string(), "x&y=z/é".to_string()),
                ("code".to_string(), "4/0A".to_string())
            ]
        );
        assert_eq!(decode("a=%zz&b=%4&c=+%41"), {
            let p = |k: &str, v: &str| (k.to_string(), v.to_string());
            vec![p("a", "%zz"), p("b", "%4"), p("c", " A")]
        });
        assert!(decode("").is_empty());
    }
}
