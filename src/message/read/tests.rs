use std::io::{BufReader, Read};

use super::*;

const STDIN: ReadOptions = ReadOptions {
    dot_ends: true,
    eof_is_error: false,
    max_body: 0,
};
const STDIN_I: ReadOptions = ReadOptions {
    dot_ends: false,
    eof_is_error: false,
    max_body: 0,
};
const SMTP: ReadOptions = ReadOptions {
    dot_ends: true,
    eof_is_error: true,
    max_body: 0,
};

fn limit(opts: ReadOptions, max_body: u64) -> ReadOptions {
    ReadOptions { max_body, ..opts }
}

/// Reads `input` through tiny and normal buffers; both must agree.
fn read(input: &[u8], opts: ReadOptions) -> Result<RawMessage, ReadError> {
    let small = read_message(&mut BufReader::with_capacity(3, input), &opts);
    let normal = read_message(&mut &input[..], &opts);
    assert_eq!(
        format!("{small:?}"),
        format!("{normal:?}"),
        "{:?}",
        String::from_utf8_lossy(input)
    );
    normal
}

/// Headers joined, then a `|`, then the body: one string to compare.
fn show(r: Result<RawMessage, ReadError>) -> String {
    match r {
        Ok(m) => {
            let mut out = Vec::new();
            for h in &m.headers {
                out.extend_from_slice(&h.raw);
            }
            out.push(b'|');
            out.extend_from_slice(&m.body);
            String::from_utf8_lossy(&out).into_owned()
        }
        Err(e) => format!("error: {e:?}"),
    }
}

#[test]
fn reading_table() {
    for (input, opts, want) in [
        // cli.md §3.3, row by row, without and with -i.
        ("S: x\n\na\n.\nrest\n", STDIN, "S: x\n|a\n"),
        ("S: x\n\na\n.\nrest\n", STDIN_I, "S: x\n|a\n.\nrest\n"),
        ("S: x\n\n.a\n..b\n", STDIN, "S: x\n|a\n.b\n"),
        ("S: x\n\n.a\n..b\n", STDIN_I, "S: x\n|.a\n..b\n"),
        ("S: x\n\na\n", STDIN, "S: x\n|a\n"),
        ("S: x\n\na\n", STDIN_I, "S: x\n|a\n"),
        ("S: x\n\na\nlast", STDIN, "S: x\n|a\nlast\n"),
        ("S: x\n\na\nlast", STDIN_I, "S: x\n|a\nlast\n"),
        // A final `.` without newline still ends the message.
        ("S: x\n\na\n.", STDIN, "S: x\n|a\n"),
        // Line ends: only CR before LF goes; other CRs stay.
        ("S: x\r\n\r\na\r\nb\rc\r\n", STDIN, "S: x\n|a\nb\rc\n"),
        ("S: x\n\na\r\r\n\rb\n", STDIN, "S: x\n|a\r\n\rb\n"),
        ("S: x\n\nlast\r", STDIN, "S: x\n|last\r\n"),
        ("S: x\r\n\r\na\r\n.\r\nrest\r\n", SMTP, "S: x\n|a\n"),
        // `.\r` followed by a bare LF-less CR is not the end line.
        ("S: x\n\n.\rx\n.\n", SMTP, "S: x\n|\rx\n"),
        // Dots are removed in the header section too.
        (".S: x\n\nb\n.\n", SMTP, "S: x\n|b\n"),
        // From_ lines before any header are skipped; later ones are not.
        (
            "From a@b Mon Jan  1 00:00:00 2024\nFrom x\nS: x\n\nFrom y\n",
            STDIN,
            "S: x\n|From y\n",
        ),
        ("S: x\nFrom y z\nT: t\n", STDIN, "S: x\n|From y z\nT: t\n"),
        // Continuations join the previous header or are dropped.
        (
            "S: a\n b\n\tc\nT: d\n\nbody\n",
            STDIN,
            "S: a\n b\n\tc\nT: d\n|body\n",
        ),
        (" lost\n\tlost too\nS: x\n\nb\n", STDIN, "S: x\n|b\n"),
        ("From x\n lost\nS: x\n", STDIN, "S: x\n|"),
        // Header starts: name of printable ASCII without space, then ':'.
        ("Subject:\n\n", STDIN, "Subject:\n|"),
        ("X-a.b_c!~:v\n", STDIN, "X-a.b_c!~:v\n|"),
        ("hello world\nmore\n", STDIN, "|hello world\nmore\n"),
        (
            "S: x\nno colon here\nT: t\n",
            STDIN,
            "S: x\n|no colon here\nT: t\n",
        ),
        ("Hello there: x\n", STDIN, "|Hello there: x\n"),
        (": empty name\n", STDIN, "|: empty name\n"),
        ("Caf\u{e9}: x\n", STDIN, "|Caf\u{e9}: x\n"),
        ("S\0: x\n", STDIN, "|S\0: x\n"),
        // Empty bodies and empty input.
        ("S: x\n\n", STDIN, "S: x\n|"),
        ("S: x\n", STDIN, "S: x\n|"),
        ("S: x", STDIN, "S: x\n|"),
        ("", STDIN, "|"),
        ("", STDIN_I, "|"),
        ("\n", STDIN, "|"),
        (".\n", STDIN, "|"),
        ("\n\n", STDIN, "|\n"),
        // 8-bit, NUL and binary junk stay as they are.
        (
            "S: \u{fc}ber\0\n\n\u{1}\0\u{ff}x\n",
            STDIN,
            "S: \u{fc}ber\0\n|\u{1}\0\u{ff}x\n",
        ),
        // SMTP and POP3: the input must end with the dot line.
        ("S: x\n\nbody\n", SMTP, "error: UnexpectedEof"),
        ("S: x\n\nbody", SMTP, "error: UnexpectedEof"),
        ("", SMTP, "error: UnexpectedEof"),
        (".\n", SMTP, "|"),
    ] {
        assert_eq!(
            show(read(input.as_bytes(), opts)),
            want,
            "{input:?} {opts:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_kept() {
    let m = read(b"S: \xff\xfe\n\n\xc3\x28\x00\n", STDIN).unwrap();
    assert_eq!(m.headers[0].raw, b"S: \xff\xfe\n");
    assert_eq!(m.body, b"\xc3\x28\x00\n");
}

#[test]
fn size_limit_boundary() {
    for (input, max, want) in [
        // The body is 6 bytes; headers do not count.
        (
            "Subject: a long header\n\n12345\n",
            6,
            "Subject: a long header\n|12345\n",
        ),
        (
            "Subject: a long header\n\n12345\n",
            5,
            "error: TooLarge { limit: 5 }",
        ),
        // Dots and CRs removed before counting.
        ("S: x\n\n..345\r\n", 5, "S: x\n|.345\n"),
        ("S: x\n\n..3456\r\n", 5, "error: TooLarge { limit: 5 }"),
        // A first body line without blank line before it counts (§18.11).
        ("S: x\nabc\n", 4, "S: x\n|abc\n"),
        ("S: x\nabc\n", 3, "error: TooLarge { limit: 3 }"),
        ("abc\n", 3, "error: TooLarge { limit: 3 }"),
        // The appended newline counts as well.
        ("S: x\n\nabc", 4, "S: x\n|abc\n"),
        ("S: x\n\nabc", 3, "error: TooLarge { limit: 3 }"),
        // Lines after the dot are never read.
        ("S: x\n\nabc\n.\nmore text\n", 4, "S: x\n|abc\n"),
    ] {
        assert_eq!(
            show(read(input.as_bytes(), limit(STDIN, max))),
            want,
            "{input:?} {max}"
        );
    }
}

#[test]
fn ten_megabyte_line_stays_whole() {
    let line = vec![b'x'; 10 << 20];
    for prefix in [&b"S: x\n\n"[..], b""] {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&line);
        input.extend_from_slice(b"\r\nend\n");
        let m = read_message(&mut &input[..], &STDIN).unwrap();
        assert_eq!(m.body.len(), line.len() + 5);
        assert_eq!(&m.body[..line.len()], &line[..]);
        assert_eq!(&m.body[line.len()..], b"\nend\n");
    }
    // A long header line is kept whole too.
    let mut input = b"X-Long: ".to_vec();
    input.extend_from_slice(&vec![b'y'; 500_000]);
    input.extend_from_slice(b"\n\nb\n");
    let m = read_message(&mut &input[..], &STDIN).unwrap();
    assert_eq!(m.headers[0].raw.len(), 500_009);
}

#[test]
fn endless_input_is_bounded() {
    // An endless body line with a limit: refused without reading it all.
    let mut endless = BufReader::new(b"S: x\n\n".chain(io::repeat(b'a')));
    let r = read_message(&mut endless, &limit(STDIN, 1000));
    assert!(
        matches!(r, Err(ReadError::TooLarge { limit: 1000 })),
        "{r:?}"
    );

    // An endless first line without a colon is body text.
    let mut endless = BufReader::new(io::repeat(b'a'));
    let r = read_message(&mut endless, &limit(STDIN, 1000));
    assert!(
        matches!(r, Err(ReadError::TooLarge { limit: 1000 })),
        "{r:?}"
    );

    // An endless header line, even with an unlimited body.
    let mut endless = BufReader::new(b"X-Junk: ".chain(io::repeat(b'a')));
    let r = read_message(&mut endless, &STDIN);
    assert!(matches!(r, Err(ReadError::HeadersTooLarge { .. })), "{r:?}");

    // Endless continuation lines.
    let mut endless = BufReader::new(b"X: a\n".chain(io::repeat(b' ')));
    let r = read_message(&mut endless, &limit(STDIN, 10));
    assert!(matches!(r, Err(ReadError::HeadersTooLarge { .. })), "{r:?}");
    let many = b" continued\n".repeat(200_000);
    let r = read_message(&mut &[&b"X: a\n"[..], &many].concat()[..], &STDIN);
    assert!(matches!(r, Err(ReadError::HeadersTooLarge { .. })), "{r:?}");
}

#[test]
fn header_count_limit() {
    let fields = b"X: y\n".repeat(MAX_HEADER_COUNT);
    let m = read_message(&mut &fields[..], &STDIN).unwrap();
    assert_eq!(m.headers.len(), MAX_HEADER_COUNT);
    let one_more = [&fields[..], b"X: y\n"].concat();
    let r = read_message(&mut &one_more[..], &STDIN);
    assert!(matches!(r, Err(ReadError::HeadersTooLarge { .. })), "{r:?}");

    // R04: 10 000 continuation lines are an ordinary (large) header.
    let folded = [&b"X: a\n"[..], &b"\tb\n".repeat(10_000), b"\nbody\n"].concat();
    let m = read_message(&mut &folded[..], &STDIN).unwrap();
    assert_eq!(m.headers.len(), 1);
    assert_eq!(m.headers[0].raw.len(), 5 + 3 * 10_000);
    assert_eq!(m.body, b"body\n");
}

/// A reader that fails the way a socket does: interrupted once, then an
/// error after some data.
struct Flaky {
    data: &'static [u8],
    interrupted: bool,
}

impl Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.interrupted {
            self.interrupted = true;
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn io_errors() {
    let mut ok = BufReader::new(Flaky {
        data: b"S: x\n\nb\n.\n",
        interrupted: false,
    });
    assert_eq!(show(read_message(&mut ok, &SMTP)), "S: x\n|b\n");
    let mut broken = BufReader::new(Flaky {
        data: b"S: x\n\nb\n",
        interrupted: false,
    });
    let r = read_message(&mut broken, &SMTP);
    assert!(
        matches!(&r, Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::TimedOut),
        "{r:?}"
    );
}
