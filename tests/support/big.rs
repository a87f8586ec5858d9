//! What the big-message tests share: a split-independent 64-bit hash,
//! the deterministic generator of body text, and /proc figures.
#![allow(dead_code)]

/// A 64-bit hash over 8-byte words (FxHash's step), independent of how the
/// input is split into `update` calls; the length is mixed in at the end.
#[derive(Clone)]
pub struct Hash64 {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl Hash64 {
    pub fn new() -> Hash64 {
        Hash64 {
            h: 0xcbf2_9ce4_8422_2325,
            tail: [0; 8],
            tail_len: 0,
            len: 0,
        }
    }

    fn word(&mut self, w: u64) {
        self.h = (self.h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// (hash, length in bytes)
    pub fn finish(mut self) -> (u64, u64) {
        if self.tail_len > 0 {
            let mut last = [0u8; 8];
            last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            self.word(u64::from_le_bytes(last));
        }
        let len = self.len;
        self.word(len);
        (self.h, len)
    }
}

/// xorshift64*: the deterministic randomness of the line generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Printable text with many dots, from which lines are cut.
pub fn pool() -> Vec<u8> {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,;:-_=+/";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..64 * 1024)
        .map(|_| match rng.next() % 8 {
            0 => b'.',
            n => ALPHABET[(n as usize * 31 + (rng.next() % 977) as usize) % ALPHABET.len()],
        })
        .collect()
}

/// A `kB` field of /proc/<pid>/status.
pub fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("kB value")
}

/// Ends DATA (the body already sent), takes the queue id from the 250 and
/// says QUIT; `who` names the sender in a failure.
pub fn end_data(c: &mut super::smtp::Client, mut wire: Vec<u8>, who: &str) -> String {
    wire.extend_from_slice(b".\r\n");
    c.send(&wire).expect("body write");
    let r = c.read_reply().expect("reply to the end of data");
    assert_eq!(r.code, 250, "{who}: {r}");
    let id = r
        .text()
        .split("id=")
        .nth(1)
        .expect("id in the 250")
        .to_string();
    let _ = c.cmd("QUIT");
    id
}
