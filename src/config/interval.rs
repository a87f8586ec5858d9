//! The time interval syntax of cli.md §5: `DIGITS UNIT`, unit one of
//! `s m h d w`; the unit is mandatory; text after the unit is ignored.

use std::time::Duration;

/// Parses `30m`, `4d`, `1w`... `None` for anything invalid (including a
/// missing unit or more than 15 digits).
pub fn parse_interval(s: &str) -> Option<Duration> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 15 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let unit = match s.as_bytes().get(digits)? {
        b's' => 1,
        b'm' => 60,
        b'h' => 3600,
        b'd' => 86400,
        b'w' => 604800,
        _ => return None,
    };
    n.checked_mul(unit).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        for (s, want) in [
            ("30m", Some(1800)),
            ("4d", Some(345600)),
            ("1w", Some(604800)),
            ("10s", Some(10)),
            ("1h30m", Some(3600)),
            ("30", None),
            ("m", None),
            ("", None),
            ("-5m", None),
            ("5x", None),
            ("1234567890123456s", None),
        ] {
            assert_eq!(parse_interval(s), want.map(Duration::from_secs), "{s:?}");
        }
    }
}
