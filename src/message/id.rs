//! Message ids `TTTTTT-PPP-NN` (spool.md §2): base-62 time, pid and
//! transfer number.

use std::fmt;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A valid 13-character queue id. The constructor is the only validator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    /// Builds the id for a message accepted at `time` by process `pid` as
    /// the `transfer`-th message of its session.
    pub fn generate(time: u64, pid: u32, transfer: u32) -> QueueId {
        let mut s = String::with_capacity(13);
        push_base62(&mut s, time, 6);
        s.push('-');
        push_base62(&mut s, pid as u64, 3);
        s.push('-');
        push_base62(&mut s, transfer as u64, 2);
        QueueId(s)
    }

    /// Accepts exactly the shape masqmail writes; anything else is not an id
    /// (so an id can be used in a path safely).
    pub fn parse(s: &str) -> Option<QueueId> {
        let b = s.as_bytes();
        let ok = b.len() == 13
            && b[6] == b'-'
            && b[10] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 6 || i == 10 || c.is_ascii_alphanumeric());
        ok.then(|| QueueId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn push_base62(s: &mut String, value: u64, width: u32) {
    let mut v = value % 62u64.pow(width);
    let mut buf = vec![b'0'; width as usize];
    for slot in buf.iter_mut().rev() {
        *slot = DIGITS[(v % 62) as usize];
        v /= 62;
    }
    s.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        // spool.md §2: time 1795530648 → 1xVrXk, pid 14964 → 3tM.
        assert_eq!(
            QueueId::generate(1795530648, 14964, 0).as_str(),
            "1xVrXk-3tM-00"
        );
        assert_eq!(QueueId::generate(0, 0, 61).as_str(), "000000-000-0z");
        assert_eq!(QueueId::generate(0, 0, 62).as_str(), "000000-000-10");
    }

    #[test]
    fn parse_only_accepts_ids() {
        assert!(QueueId::parse("1xVrXk-3tM-00").is_some());
        for bad in [
            "1xVrXk-3tM-0",
            "1xVrXk-3tM-00x",
            "../rXk-3tM-00",
            "1xVrXk_3tM-00",
            "1xVrXk-3t/-00",
        ] {
            assert!(QueueId::parse(bad).is_none(), "{bad}");
        }
    }
}
