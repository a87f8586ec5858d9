//! A message's text on its way to the socket, a piece at a time: the
//! in-memory part ([`Outgoing::text`]), then the body file
//! ([`Outgoing::body`]), each piece encoded by [`WireEncoder`].
//!
//! Guarantees: a step reads at most [`PIECE`] bytes and writes at most
//! about twice that, whatever the message's size; a BDAT text produces
//! exactly the bytes announced, or an error before more are written; a
//! body file that ends early is an error, never a short message.
//!
//! # Security
//! Reads only the file range the caller gave; positional reads, so a file
//! shared with other readers is never moved.

use std::io;
use std::os::unix::fs::FileExt;

use super::Outgoing;
use super::encode::{WireEncoder, has_8bit};

/// Stored text encoded per step, and read from a file per read.
pub const PIECE: usize = 64 * 1024;

/// The text of one message as it is being written.
pub struct Feed {
    /// The message, by index into the batch.
    pub m: usize,
    enc: WireEncoder,
    /// Bytes of `Outgoing::text` done.
    text_pos: usize,
    /// Bytes of `Outgoing::body` done.
    body_pos: u64,
    announced: Option<u64>,
    produced: u64,
    /// A byte above 127 was seen.
    eightbit: bool,
}

impl Feed {
    /// `stuff`: dot-stuffed with the end-of-data line (DATA); `announced`:
    /// the size given in BDAT, checked.
    pub fn new(m: usize, stuff: bool, announced: Option<u64>) -> Feed {
        Feed {
            m,
            enc: WireEncoder::new(stuff),
            text_pos: 0,
            body_pos: 0,
            announced,
            produced: 0,
            eightbit: false,
        }
    }

    /// Appends the next piece of `msg`, encoded, to `out` (`buf` is
    /// scratch space for the file read); true when the text (with its
    /// end) is complete.
    pub fn step(
        &mut self,
        msg: &Outgoing,
        buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> io::Result<bool> {
        let before = out.len();
        let done = if self.text_pos < msg.text.len() {
            let end = msg.text.len().min(self.text_pos + PIECE);
            let piece = &msg.text[self.text_pos..end];
            self.eightbit |= has_8bit(piece);
            self.enc.feed(piece, out);
            self.text_pos = end;
            false
        } else if let Some(n) = read_piece(msg, self.body_pos, buf)? {
            self.eightbit |= has_8bit(&buf[..n]);
            self.enc.feed(&buf[..n], out);
            self.body_pos += n as u64;
            false
        } else {
            self.enc.finish(out);
            true
        };
        self.produced += (out.len() - before) as u64;
        match self.announced {
            Some(a) if self.produced > a || (done && self.produced != a) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the message text changed while it was sent",
            )),
            _ => Ok(done),
        }
    }
}

/// Reads the piece of `msg`'s body file at `pos` into `buf`: its length,
/// `None` at the end. A file shorter than announced is an error.
fn read_piece(msg: &Outgoing, pos: u64, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let Some(body) = &msg.body else {
        return Ok(None);
    };
    let left = body.len.saturating_sub(pos);
    if left == 0 {
        return Ok(None);
    }
    let want = usize::try_from(left).map_or(PIECE, |l| l.min(PIECE));
    buf.resize(want, 0);
    loop {
        match body.file.read_at(&mut buf[..want], body.offset + pos) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the message data file is shorter than its size",
                ));
            }
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One pass over the text as a [`Feed`] without dot-stuffing sends it:
/// (wire size, has 8-bit bytes). Used before MAIL (`SIZE=`, `BODY=`, the
/// BDAT count); the body is read again while it is sent.
pub fn measure(msg: &Outgoing) -> io::Result<(u64, bool)> {
    let mut feed = Feed::new(0, false, None);
    let (mut buf, mut out) = (Vec::new(), Vec::with_capacity(2 * PIECE + 2));
    while !feed.step(msg, &mut buf, &mut out)? {
        out.clear();
    }
    Ok((feed.produced, feed.eightbit))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::address::Address;
    use crate::outbound::smtp::FileText;
    use crate::outbound::smtp::encode::{dot_stuff, wire_text};

    fn outgoing(head: &[u8], body: &[u8], offset: u64) -> Outgoing {
        let mut f = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
        f.write_all(&vec![b'#'; offset as usize])
            .and_then(|()| f.write_all(body))
            .unwrap_or_else(|e| panic!("{e}"));
        Outgoing {
            return_path: Address::new("a", "b.example"),
            rcpts: vec![Address::new("c", "d.example")],
            text: head.to_vec(),
            body: Some(FileText {
                file: Arc::new(f),
                offset,
                len: body.len() as u64,
            }),
            smtputf8: false,
            eightbit: false,
            dsn: Default::default(),
        }
    }

    fn sent(msg: &Outgoing, stuff: bool, announced: Option<u64>) -> io::Result<Vec<u8>> {
        let mut feed = Feed::new(0, stuff, announced);
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        while !feed.step(msg, &mut buf, &mut out)? {}
        Ok(out)
    }

    /// A line split across the read boundary: a dot line, a CR LF and a
    /// lone CR right at the edge of a piece, dot-stuffed and not.
    #[test]
    fn lines_split_across_the_piece_boundary() {
        for tail in [&b".dot\n"[..], b"\r\n.x\n", b"\r.y\n", b"..\n"] {
            for back in 0..=tail.len() {
                // `back` bytes of the tail in the first piece, the rest in
                // the second.
                let mut body = vec![b'a'; PIECE - 1 - back];
                body.push(b'\n');
                body.extend_from_slice(tail);
                body.extend_from_slice(b"end");
                let msg = outgoing(b"Subject: s\n\n", &body, 14);
                let whole = [&b"Subject: s\n\n"[..], &body].concat();
                let wire = wire_text(&whole);
                assert_eq!(sent(&msg, false, None).unwrap(), wire, "{tail:?} {back}");
                assert_eq!(
                    sent(&msg, true, None).unwrap(),
                    dot_stuff(&wire),
                    "{tail:?} {back}"
                );
                assert_eq!(measure(&msg).unwrap(), (wire.len() as u64, false));
                let n = Some(wire.len() as u64);
                assert_eq!(sent(&msg, false, n).unwrap(), wire);
            }
        }
    }

    #[test]
    fn a_changed_or_short_file_is_an_error() {
        let msg = outgoing(b"S: s\n\n", b"body\n", 3);
        assert!(sent(&msg, false, Some(5)).is_err(), "more than announced");
        assert!(sent(&msg, false, Some(100)).is_err(), "less than announced");
        let mut short = msg.clone();
        if let Some(b) = &mut short.body {
            b.len += 10;
        }
        let e = sent(&short, false, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            measure(&outgoing(b"", b"\xc3\xa4\n", 0)).unwrap(),
            (4, true)
        );
    }
}
