//! The bytes handed to a local target (mbox, Maildir, MDA, alias pipe),
//! built once per recipient (delivery.md §7.2–7.4, §7.8):
//!
//! ```text
//! From <return path> <ctime date>      (only with `fromline`)
//! Envelope-to: <original recipient>
//! Return-path: <return path>
//! <stored headers>
//!
//! <body, `From ` lines quoted as `>From ` with `fromhack`>
//! <one extra empty line>
//! ```
//!
//! The head is small and built in memory; the body is streamed from its
//! source to the writer in chunks, never copied whole.
//!
//! # Security
//! The envelope addresses went through the path parser (no CR, LF, NUL), so
//! the generated lines cannot be split. Header and body bytes are passed
//! through unchanged; quoting `From ` keeps a body line from starting a new
//! message in an mbox.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use chrono::{DateTime, TimeZone};

use crate::address::Address;
use crate::message::Message;

/// Which optional parts a target wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentOptions {
    /// Start with an mbox `From ` separator line.
    pub fromline: bool,
    /// Quote body lines starting with `From ` as `>From `.
    pub fromhack: bool,
}

impl ContentOptions {
    pub const MBOX: ContentOptions = ContentOptions {
        fromline: true,
        fromhack: true,
    };
    pub const MAILDIR: ContentOptions = ContentOptions {
        fromline: false,
        fromhack: false,
    };
}

/// Where the body comes from. `File` reads with positional reads from
/// `offset` to the end of the file, so one open file can be shared by
/// several writers (e.g. the spool's data file after its id line).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Bytes(&'a [u8]),
    File { file: &'a File, offset: u64 },
}

/// The content for one recipient.
#[derive(Debug)]
pub struct Content<'a> {
    /// From_ line, envelope headers, stored headers, the empty line.
    head: Vec<u8>,
    body: Body<'a>,
    fromhack: bool,
}

/// `Www Mmm dd hh:mm:ss yyyy` with a space-padded day, as C's `ctime`.
pub fn ctime<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%a %b %e %H:%M:%S %Y").to_string()
}

impl<'a> Content<'a> {
    /// Builds the content of `msg` for a recipient whose top-level
    /// (pre-alias) address is `original`; `now` dates the `From ` line.
    pub fn new<Tz: TimeZone>(
        msg: &Message,
        original: &Address,
        body: Body<'a>,
        opts: ContentOptions,
        now: &DateTime<Tz>,
    ) -> Content<'a>
    where
        Tz::Offset: std::fmt::Display,
    {
        Content::build(msg, Some(original), body, opts, now)
    }

    /// The content with the stored headers only (no `Envelope-to:` and
    /// `Return-path:`): what a route's pipe transport sends (§10.7).
    pub fn stored<Tz: TimeZone>(
        msg: &Message,
        body: Body<'a>,
        opts: ContentOptions,
        now: &DateTime<Tz>,
    ) -> Content<'a>
    where
        Tz::Offset: std::fmt::Display,
    {
        Content::build(msg, None, body, opts, now)
    }

    fn build<Tz: TimeZone>(
        msg: &Message,
        original: Option<&Address>,
        body: Body<'a>,
        opts: ContentOptions,
        now: &DateTime<Tz>,
    ) -> Content<'a>
    where
        Tz::Offset: std::fmt::Display,
    {
        let mut head = Vec::new();
        let rp = msg.return_path.to_string();
        if opts.fromline {
            head.extend_from_slice(format!("From {rp} {}\n", ctime(now)).as_bytes());
        }
        if let Some(original) = original {
            head.extend_from_slice(
                format!("Envelope-to: <{original}>\nReturn-path: <{rp}>\n").as_bytes(),
            );
        }
        for h in &msg.headers {
            head.extend_from_slice(&h.raw);
            // A stored header always ends in LF; never let one merge with the next.
            if h.raw.last() != Some(&b'\n') {
                head.push(b'\n');
            }
        }
        head.push(b'\n');
        Content {
            head,
            body,
            fromhack: opts.fromhack,
        }
    }

    /// Writes everything to `w` (buffered internally; `w` sees large chunks).
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut q = Quoter {
            w,
            out: Vec::with_capacity(CHUNK + 64),
            state: State::Start(0),
            quote: self.fromhack,
        };
        q.w.write_all(&self.head)?;
        let mut last = None;
        match self.body {
            Body::Bytes(b) => {
                for chunk in b.chunks(CHUNK) {
                    q.feed(chunk)?;
                }
                last = b.last().copied();
            }
            Body::File { file, offset } => {
                let mut buf = vec![0u8; CHUNK];
                let mut pos = offset;
                loop {
                    let n = match file.read_at(&mut buf, pos) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    q.feed(&buf[..n])?;
                    last = Some(buf[n - 1]);
                    pos += n as u64;
                }
            }
        }
        q.finish()?;
        // A body without a final newline is completed, then the extra empty line.
        if last.is_some_and(|b| b != b'\n') {
            q.w.write_all(b"\n")?;
        }
        q.w.write_all(b"\n")?;
        q.w.flush()
    }

    /// Everything as one vector (tests, small messages).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_to(&mut v)?;
        Ok(v)
    }
}

const CHUNK: usize = 64 * 1024;
const FROM: &[u8] = b"From ";

/// Line-start state of the `>From ` quoting, kept across chunk boundaries.
#[derive(Clone, Copy)]
enum State {
    /// At the start of a line, having seen (and held back) `FROM[..n]`.
    Start(usize),
    /// Inside a line.
    Line,
}

/// Streams body bytes, quoting `From ` at line starts when `quote` is set.
struct Quoter<'w> {
    w: &'w mut dyn Write,
    out: Vec<u8>,
    state: State,
    quote: bool,
}

impl Quoter<'_> {
    fn feed(&mut self, mut buf: &[u8]) -> io::Result<()> {
        if !self.quote {
            return self.w.write_all(buf);
        }
        while !buf.is_empty() {
            match self.state {
                State::Line => match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.out.extend_from_slice(&buf[..=i]);
                        buf = &buf[i + 1..];
                        self.state = State::Start(0);
                    }
                    None => {
                        self.out.extend_from_slice(buf);
                        buf = &[];
                    }
                },
                State::Start(n) => {
                    if buf[0] == FROM[n] {
                        buf = &buf[1..];
                        if n + 1 == FROM.len() {
                            self.out.extend_from_slice(b">From ");
                            self.state = State::Line;
                        } else {
                            self.state = State::Start(n + 1);
                        }
                    } else {
                        // Not a separator: release what was held back.
                        self.out.extend_from_slice(&FROM[..n]);
                        self.state = State::Line;
                    }
                }
            }
            if self.out.len() >= CHUNK {
                self.w.write_all(&self.out)?;
                self.out.clear();
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if let State::Start(n) = self.state {
            self.out.extend_from_slice(&FROM[..n]);
            self.state = State::Start(0);
        }
        self.w.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }
}

/// A small message for the delivery tests.
#[cfg(test)]
pub(crate) fn test_message(return_path: Address) -> Message {
    use crate::message::{Header, Protocol, QueueId};
    Message {
        id: QueueId::parse("1xVrXk-3tM-00").unwrap_or_else(|| panic!("test id")),
        return_path,
        rcpt_list: vec![Address::new("bob", "local.example")],
        top_done: Vec::new(),
        finished: Vec::new(),
        protocol: Protocol::Local,
        received_host: None,
        ident: Some("alice".into()),
        data_size: 0,
        received_time: 0,
        warning_time: None,
        fetched_as: None,
        dsn: Default::default(),
        last_errors: Vec::new(),
        headers: vec![
            Header::new("Subject", "hi"),
            Header {
                raw: b"To: bob,\n\tcarol\n".to_vec(),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn message(return_path: Address) -> Message {
        test_message(return_path)
    }

    fn build(rp: Address, body: &[u8], opts: ContentOptions) -> Vec<u8> {
        let now = Utc
            .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
            .single()
            .unwrap_or_else(|| panic!("date"));
        let msg = message(rp);
        let c = Content::new(
            &msg,
            &Address::new("bob", "local.example"),
            Body::Bytes(body),
            opts,
            &now,
        );
        c.to_vec().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ctime_format() {
        let t = FixedOffset::east_opt(3600)
            .and_then(|o| o.with_ymd_and_hms(2009, 11, 24, 23, 5, 0).single())
            .unwrap_or_else(|| panic!("date"));
        assert_eq!(ctime(&t), "Tue Nov 24 23:05:00 2009");
        let t = Utc
            .with_ymd_and_hms(2024, 3, 5, 7, 8, 9)
            .single()
            .unwrap_or_else(|| panic!("date"));
        assert_eq!(ctime(&t), "Tue Mar  5 07:08:09 2024");
    }

    #[test]
    fn mbox_format_byte_exact() {
        let head = "Envelope-to: <bob@local.example>\nReturn-path: <a@x.example>\nSubject: hi\nTo: bob,\n\tcarol\n\n";
        for (rp, body, opts, want) in [
            (
                Address::new("a", "x.example"),
                &b"line\nFrom me\n>From x\nFrom\nFro\n From y\nFromage\n"[..],
                ContentOptions::MBOX,
                format!(
                    "From a@x.example Tue Mar  5 07:08:09 2024\n{head}line\n>From me\n>From x\nFrom\nFro\n From y\nFromage\n\n"
                ),
            ),
            (
                Address::null(),
                &b"From the start\nno newline at end"[..],
                ContentOptions::MBOX,
                format!(
                    "From  Tue Mar  5 07:08:09 2024\n{}>From the start\nno newline at end\n\n",
                    head.replace("<a@x.example>", "<>")
                ),
            ),
            (
                Address::new("a", "x.example"),
                &b"From me\n"[..],
                ContentOptions::MAILDIR,
                format!("{head}From me\n\n"),
            ),
            (
                Address::new("a", "x.example"),
                &b""[..],
                ContentOptions::MAILDIR,
                format!("{head}\n"),
            ),
            (
                Address::new("a", "x.example"),
                &b"From"[..],
                ContentOptions {
                    fromline: false,
                    fromhack: true,
                },
                format!("{head}From\n\n"),
            ),
        ] {
            let got = build(rp, body, opts);
            assert_eq!(String::from_utf8_lossy(&got), want, "{body:?}");
        }
    }

    #[test]
    fn quoting_across_chunk_boundaries() {
        // Put "From " across the 64 KiB boundary in every possible split.
        for split in 0..=5 {
            let mut body = vec![b'x'; CHUNK - split - 1];
            body.push(b'\n');
            body.extend_from_slice(b"From here\nend\n");
            let got = build(Address::new("a", "b"), &body, ContentOptions::MBOX);
            let text = String::from_utf8_lossy(&got);
            assert!(text.contains("\n>From here\nend\n\n"), "split {split}");
            assert_eq!(text.matches(">From").count(), 1);
            // The same from a data file, read in CHUNK pieces after the id line.
            let mut f = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
            f.write_all(b"1xVrXk-3tM-00\n")
                .and_then(|()| f.write_all(&body))
                .unwrap_or_else(|e| panic!("{e}"));
            let msg = message(Address::new("a", "b"));
            let now = Utc::now();
            let file = Body::File {
                file: &f,
                offset: 14,
            };
            let c = Content::new(
                &msg,
                &Address::new("b", "x"),
                file,
                ContentOptions::MBOX,
                &now,
            );
            let from_file = c.to_vec().unwrap_or_else(|e| panic!("{e}"));
            let (a, b) = (got.len() - body.len(), from_file.len() - body.len());
            assert_eq!(&from_file[b..], &got[a..], "split {split} from a file");
        }
    }

    #[test]
    fn file_body_streams_from_offset() {
        let mut f = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
        let mut data = b"1xVrXk-3tM-00-D\n".to_vec();
        for i in 0..20_000 {
            data.extend_from_slice(format!("From line {i}\n").as_bytes());
        }
        f.write_all(&data).unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        let msg = message(Address::new("a", "b"));
        let c = Content::new(
            &msg,
            &Address::new("bob", "x"),
            Body::File {
                file: &f,
                offset: 16,
            },
            ContentOptions::MAILDIR,
            &now,
        );
        let out = c.to_vec().unwrap_or_else(|e| panic!("{e}"));
        assert!(out.ends_with(b"From line 19999\n\n"));
        let c = Content::new(
            &msg,
            &Address::new("bob", "x"),
            Body::File {
                file: &f,
                offset: 16,
            },
            ContentOptions::MBOX,
            &now,
        );
        let out = c.to_vec().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out)
                .matches("\n>From line ")
                .count(),
            20_000
        );
    }
}
