//! Receiving one message's content from the network — SMTP DATA or BDAT
//! chunks, a POP3 RETR — sans-IO: wire bytes in, header fields and body
//! text out. The drivers write the body to the spool's temporary data
//! file as it comes ([`spool`]), so memory stays a small constant whatever
//! the message size.
//!
//! * [`decode`]: the DATA/RETR decoder (CRLF.CRLF as the only end,
//!   dot-unstuffing) and the BDAT chunk assembler.
//! * [`Content`]: a decoder plus the header split.
//! * [`spool`]: the content on its way into the spool, and the commit.
//!
//! # Security
//! The content is hostile. The decoders find the only end of DATA
//! (CRLF.CRLF) and keep BDAT in step; the header section is bounded by
//! [`MAX_STREAM_HEADER_BYTES`]; past the size limit nothing is kept (the
//! rest is read and dropped so the session stays in step, and the
//! transaction ends with a refusal).

pub mod decode;
pub mod spool;

use decode::{ChunkAssembler, DataDecoder, Feed};

use crate::message::Header;
use crate::message::stream::{HeaderSplitter, MAX_STREAM_HEADER_BYTES};

/// Why received content cannot be spooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentError {
    /// More than the message size limit.
    TooLarge,
    /// The header section passed its limit.
    HeadersTooLarge,
    /// Writing the content to the spool failed.
    Spool,
}

#[derive(Debug)]
enum Decoder {
    Data(DataDecoder),
    Chunks(ChunkAssembler),
}

/// The content of one transaction being received.
#[derive(Debug)]
pub struct Content {
    decoder: Decoder,
    headers: HeaderSplitter,
    error: Option<ContentError>,
    /// Body text ready to be written; the driver takes it.
    pub body: Vec<u8>,
}

impl Content {
    /// Dot-terminated content (SMTP DATA, POP3 RETR); `max_body` 0 is no limit.
    pub fn data(max_body: u64) -> Content {
        Content::new(Decoder::Data(DataDecoder::new(max_body)))
    }

    /// Content of BDAT chunks; each chunk is announced with [`Content::expect_chunk`].
    pub fn chunks(max_body: u64) -> Content {
        Content::new(Decoder::Chunks(ChunkAssembler::new(max_body)))
    }

    fn new(decoder: Decoder) -> Content {
        Content {
            decoder,
            headers: HeaderSplitter::new(MAX_STREAM_HEADER_BYTES),
            error: None,
            body: Vec::new(),
        }
    }

    /// A BDAT command announced `size` more bytes.
    pub fn expect_chunk(&mut self, size: u64) {
        if let Decoder::Chunks(a) = &mut self.decoder {
            a.expect(size);
        }
    }

    /// Takes wire bytes: how many belong to the content, and whether the
    /// content (DATA) or the current chunk (BDAT) is complete. The rest of
    /// `input` is the next command(s).
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let (consumed, complete) = match &mut self.decoder {
            Decoder::Data(d) => match d.feed(input) {
                Feed::Done { consumed } => (consumed, true),
                Feed::NeedMore => (input.len(), false),
            },
            Decoder::Chunks(a) => {
                let n = a.feed(input);
                (n, a.chunk_complete())
            }
        };
        self.pump();
        (consumed, complete)
    }

    /// Moves decoded text through the header splitter into `body`.
    fn pump(&mut self) {
        let (text, over) = match &mut self.decoder {
            Decoder::Data(d) => (std::mem::take(d.output()), d.is_over()),
            Decoder::Chunks(a) => (std::mem::take(a.output()), a.is_over()),
        };
        if over && self.error.is_none() {
            self.error = Some(ContentError::TooLarge);
        }
        if self.error.is_some() {
            self.body = Vec::new();
            return;
        }
        if self.headers.feed(&text, &mut self.body).is_err() {
            self.error = Some(ContentError::HeadersTooLarge);
            self.body = Vec::new();
        }
        // Give the decoder its buffer back, so it is not reallocated.
        let mut text = text;
        text.clear();
        match &mut self.decoder {
            Decoder::Data(d) => *d.output() = text,
            Decoder::Chunks(a) => *a.output() = text,
        }
    }

    /// Whether the content can no longer be accepted (the driver stops
    /// writing it and drops what it wrote).
    pub fn error(&self) -> Option<ContentError> {
        self.error
    }

    /// The end of the content: the header fields, with the last body text
    /// appended to `body`.
    pub fn finish(mut self) -> Result<(Vec<Header>, Vec<u8>), ContentError> {
        let rest = match self.decoder {
            Decoder::Data(d) => d.finish(),
            Decoder::Chunks(a) => a.finish(),
        };
        if let Some(e) = self.error {
            return Err(e);
        }
        let rest = rest.map_err(|_| ContentError::TooLarge)?;
        let mut body = std::mem::take(&mut self.body);
        self.headers
            .feed(&rest, &mut body)
            .map_err(|_| ContentError::HeadersTooLarge)?;
        let headers = self
            .headers
            .finish(&mut body)
            .map_err(|_| ContentError::HeadersTooLarge)?;
        Ok((headers, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(
        wire: &[u8],
        piece: usize,
        max: u64,
    ) -> Result<(Vec<Header>, Vec<u8>), ContentError> {
        let mut c = Content::data(max);
        let mut body = Vec::new();
        let mut done = false;
        for chunk in wire.chunks(piece) {
            let (_, complete) = c.feed(chunk);
            body.append(&mut c.body);
            done = complete;
            if done {
                break;
            }
        }
        assert!(done);
        let (h, rest) = c.finish()?;
        body.extend(rest);
        Ok((h, body))
    }

    #[test]
    fn data_is_split_into_headers_and_body() {
        let wire = b"Subject: hi\r\nTo: a@b\r\n\r\nline one\r\n..dot\r\n.\r\n";
        for piece in [1, 2, 5, 100] {
            let (h, body) = receive(wire, piece, 0).unwrap();
            assert_eq!(h.len(), 2);
            assert_eq!(body, b"line one\n.dot\n");
        }
    }

    #[test]
    fn too_large_is_reported_at_the_end_and_keeps_nothing() {
        let mut wire = b"Subject: x\r\n\r\n".to_vec();
        wire.extend(std::iter::repeat_n(b'a', 5000));
        wire.extend_from_slice(b"\r\n.\r\n");
        let mut c = Content::data(1000);
        let (n, done) = c.feed(&wire);
        assert_eq!((n, done), (wire.len(), true));
        assert_eq!(c.error(), Some(ContentError::TooLarge));
        assert!(c.body.is_empty());
        assert_eq!(c.finish().unwrap_err(), ContentError::TooLarge);
    }

    #[test]
    fn header_section_over_the_limit() {
        let mut wire = Vec::new();
        for i in 0..5000 {
            wire.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(40)).as_bytes());
        }
        wire.extend_from_slice(b"\r\nbody\r\n.\r\n");
        assert_eq!(
            receive(&wire, 4096, 0).unwrap_err(),
            ContentError::HeadersTooLarge
        );
    }

    #[test]
    fn bdat_chunks_across_a_crlf() {
        let mut c = Content::chunks(0);
        c.expect_chunk(12);
        assert_eq!(c.feed(b"Subject: a\r\nNEXT"), (12, true));
        c.expect_chunk(7);
        assert_eq!(c.feed(b"\r\nbody\r"), (7, true));
        c.expect_chunk(1);
        assert_eq!(c.feed(b"\n"), (1, true));
        let mut body = std::mem::take(&mut c.body);
        let (h, rest) = c.finish().unwrap();
        body.extend(rest);
        assert_eq!(h.len(), 1);
        assert_eq!(body, b"body\n");
    }
}
