//! Date texts masqmail writes: the RFC 822 `Date:` form used in generated
//! headers and `Received:` lines, and the ctime(3) form used on mbox
//! `From_` lines.
//!
//! Both are produced in the C locale (English day and month names) whatever
//! the process locale, with fixed widths: `Www, DD Mmm YYYY HH:MM:SS ±HHMM`
//! (day zero-padded, offset always signed) and `Www Mmm dd hh:mm:ss yyyy`
//! (day space-padded, no offset).
//!
//! # Security
//! Pure formatting of a timestamp; no input from outside reaches the text.

use chrono::{DateTime, Local, TimeZone};

/// `Www, DD Mmm YYYY HH:MM:SS ±HHMM` (RFC 5322 §3.3 `date-time` without
/// the optional parts, as masqmail always wrote it).
pub fn rfc822_date<Tz: TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    // chrono's names are the fixed English ones, never localised; `%z`
    // always carries a sign and four digits.
    t.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// The current local time as [`rfc822_date`] writes it.
pub fn now_rfc822() -> String {
    rfc822_date(Local::now())
}

/// `Www Mmm dd hh:mm:ss yyyy`, like ctime(3) without the trailing newline:
/// the form of the date on an mbox `From_` line.
pub fn ctime<Tz: TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%a %b %e %H:%M:%S %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(unix: i64, offset_secs: i32) -> DateTime<FixedOffset> {
        let tz = FixedOffset::east_opt(offset_secs).unwrap();
        tz.timestamp_opt(unix, 0).single().unwrap()
    }

    #[test]
    fn rfc822_forms() {
        for (unix, offset, want) in [
            (0, 0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            // 2001-09-09 01:46:40 UTC
            (1_000_000_000, 0, "Sun, 09 Sep 2001 01:46:40 +0000"),
            (1_000_000_000, 2 * 3600, "Sun, 09 Sep 2001 03:46:40 +0200"),
            (
                1_000_000_000,
                -(5 * 3600),
                "Sat, 08 Sep 2001 20:46:40 -0500",
            ),
            // Half-hour offsets and a negative zone just west of UTC.
            (
                1_000_000_000,
                5 * 3600 + 1800,
                "Sun, 09 Sep 2001 07:16:40 +0530",
            ),
            (
                1_000_000_000,
                -(9 * 3600 + 1800),
                "Sat, 08 Sep 2001 16:16:40 -0930",
            ),
            // 2024-02-29 23:59:59 UTC: leap day, end of day.
            (1_709_251_199, 0, "Thu, 29 Feb 2024 23:59:59 +0000"),
        ] {
            assert_eq!(rfc822_date(at(unix, offset)), want, "{unix} {offset}");
        }
    }

    #[test]
    fn ctime_forms() {
        for (unix, offset, want) in [
            (0, 0, "Thu Jan  1 00:00:00 1970"),
            (1_000_000_000, 0, "Sun Sep  9 01:46:40 2001"),
            (1_000_000_000, -(5 * 3600), "Sat Sep  8 20:46:40 2001"),
            (1_709_251_199, 0, "Thu Feb 29 23:59:59 2024"),
            // 2023-12-10 10:00:00 UTC: a two-digit day is not padded.
            (1_702_202_400, 0, "Sun Dec 10 10:00:00 2023"),
        ] {
            assert_eq!(ctime(at(unix, offset)), want, "{unix} {offset}");
        }
    }

    #[test]
    fn now_has_fixed_shape() {
        let s = now_rfc822();
        let b = s.as_bytes();
        assert_eq!(b.len(), "Www, DD Mmm YYYY HH:MM:SS +HHMM".len(), "{s}");
        assert_eq!(&b[3..5], b", ");
        assert!(b[26] == b'+' || b[26] == b'-', "{s}");
    }
}
