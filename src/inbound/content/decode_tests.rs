use super::*;
use proptest::prelude::*;

/// Feed `input` in one piece; the consumed count and the result.
fn decode(input: &[u8], max: u64) -> (Option<usize>, Result<Vec<u8>, DataError>) {
    let mut d = DataDecoder::new(max);
    match d.feed(input) {
        Feed::Done { consumed } => (Some(consumed), d.finish()),
        Feed::NeedMore => (None, d.finish()),
    }
}

/// Feed `input` in pieces of the given sizes (cycled); the consumed total.
fn decode_chunked(
    input: &[u8],
    sizes: &[usize],
    max: u64,
) -> (Option<usize>, Result<Vec<u8>, DataError>) {
    let mut d = DataDecoder::new(max);
    let mut pos = 0;
    for &n in sizes.iter().cycle() {
        if pos >= input.len() {
            break;
        }
        let end = (pos + n.max(1)).min(input.len());
        if let Feed::Done { consumed } = d.feed(&input[pos..end]) {
            assert!(consumed <= end - pos);
            return (Some(pos + consumed), d.finish());
        }
        pos = end;
    }
    (None, d.finish())
}

/// The policy written the obvious, non-incremental way: the end is the
/// first CRLF.CRLF (with a virtual CRLF before the input); the body is
/// split at CRLF, each piece loses one leading dot, pieces join with LF.
fn reference(input: &[u8], max: u64) -> (Option<usize>, Result<Vec<u8>, DataError>) {
    let mut s = b"\r\n".to_vec();
    s.extend_from_slice(input);
    let Some(i) = s.windows(5).position(|w| w == b"\r\n.\r\n") else {
        return (None, Err(DataError::Incomplete));
    };
    let wire = &input[..i];
    let mut out = Vec::new();
    let mut rest = wire;
    loop {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(p) => (&rest[..p], Some(&rest[p + 2..])),
            None => (rest, None),
        };
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        match next {
            Some(n) => {
                out.push(b'\n');
                rest = n;
            }
            None => break,
        }
    }
    if max != 0 && out.len() as u64 > max {
        return (Some(i + 3), Err(DataError::TooLarge { limit: max }));
    }
    (Some(i + 3), Ok(out))
}

const SMUGGLED: &[u8] = b"MAIL FROM:<spoof@victim>\r\nRCPT TO:<x@y>\r\nDATA\r\nbody";

/// R01: every smtpsmug ending, and what it becomes in the body.
/// R01: each smtpsmug ending stays inside the first message's body.
#[test]
fn smuggled_endings_stay_in_the_body() {
    let table: &[(&[u8], &[u8])] = &[
        (b"\n.\n", b"\n.\n"),
        (b"\n.\r\n", b"\n.\n"),
        (b"\r\n.\n", b"\n\n"),
        (b"\r.\r", b"\r.\r"),
        (b"\r.\r\n", b"\r.\n"),
        (b"\r\n.\r", b"\n\r"),
        (b"\n.\r", b"\n.\r"),
        (b"\r.\n", b"\r.\n"),
        (b"\n\r.\r\n", b"\n\r.\n"),
        (b"\r\n\0.\r\n", b"\n\0.\n"),
        (b"\r\n.\0\r\n", b"\n\0\n"),
        (b"\r\n\0.\0\r\n", b"\n\0.\0\n"),
        (b"\r\n .\r\n", b"\n .\n"),
        (b"\r\n.\t\r\n", b"\n\t\n"),
        (b"\r\n.\r\r\n", b"\n\r\n"),
        (b"\r\r\n.\r\r\n", b"\r\n\r\n"),
        (b"\r\n..\r\n", b"\n.\n"),
        (b"\n\n.\n\n", b"\n\n.\n\n"),
        (b"\r\r.\r\r", b"\r\r.\r\r"),
    ];
    for (ending, rendered) in table {
        let mut input = b"line one".to_vec();
        input.extend_from_slice(ending);
        input.extend_from_slice(SMUGGLED);
        let real_end = input.len() + 5;
        input.extend_from_slice(b"\r\n.\r\n");
        input.extend_from_slice(b"QUIT\r\n");

        let mut want = b"line one".to_vec();
        want.extend_from_slice(rendered);
        want.extend_from_slice(b"MAIL FROM:<spoof@victim>\nRCPT TO:<x@y>\nDATA\nbody\n");

        let (consumed, body) = decode(&input, 0);
        assert_eq!(
            consumed,
            Some(real_end),
            "{ending:?}: one end, the real one"
        );
        assert_eq!(body.as_deref(), Ok(&want[..]), "{ending:?}");
        assert_eq!(
            reference(&input, 0),
            (consumed, Ok(want.clone())),
            "{ending:?}"
        );
        // Byte by byte the same.
        assert_eq!(
            decode_chunked(&input, &[1], 0),
            (Some(real_end), Ok(want)),
            "{ending:?}"
        );
    }
}

#[test]
fn dot_handling_table() {
    let table: &[(&[u8], &[u8])] = &[
        (b".\r\n", b""),
        (b"\r\n.\r\n", b"\n"),
        (b"..\r\n.\r\n", b".\n"),
        (b"...\r\n.\r\n", b"..\n"),
        (b".x\r\n.\r\n", b"x\n"),
        (b"a\r\n.b\r\n..\r\n.\r\n", b"a\nb\n.\n"),
        (b"a.\r\n.\r\n", b"a.\n"),
        (b"a\n.b\r\n.\r\n", b"a\n.b\n"),
        (b"a\rb\r\n.\r\n", b"a\rb\n"),
        (b"a\r\r\n.\r\n", b"a\r\n"),
        (b"\r\r\n.\r\n", b"\r\n"),
        (b"\0\r\n.\r\n", b"\0\n"),
        (b"\xff\xfe\r\n.\r\n", b"\xff\xfe\n"),
        (b"Subject: x\r\n\r\nhi\r\n.\r\n", b"Subject: x\n\nhi\n"),
    ];
    for (input, want) in table {
        let (consumed, body) = decode(input, 0);
        assert_eq!(consumed, Some(input.len()), "{input:?}");
        assert_eq!(body.as_deref(), Ok(*want), "{input:?}");
    }
}

/// R06: bytes pipelined after the end of data stay for the next command.
#[test]
fn pipelined_rest_is_not_consumed() {
    let mut d = DataDecoder::new(0);
    assert_eq!(
        d.feed(b"hello\r\n.\r\nMAIL FROM:<a@b>\r\n"),
        Feed::Done { consumed: 10 }
    );
    assert!(d.is_done());
    assert_eq!(d.feed(b"more"), Feed::Done { consumed: 0 });
    assert_eq!(d.finish(), Ok(b"hello\n".to_vec()));
}

#[test]
fn unterminated_is_incomplete() {
    for input in [
        &b""[..],
        b"abc",
        b"abc\r\n",
        b"abc\r\n.",
        b"abc\r\n.\r",
        b"abc\n.\n",
    ] {
        let mut d = DataDecoder::new(0);
        assert_eq!(d.feed(input), Feed::NeedMore, "{input:?}");
        assert!(!d.is_done());
        assert_eq!(d.finish(), Err(DataError::Incomplete));
    }
}

/// R05: the size limit, exactly at and one over.
#[test]
fn size_limit_exactly_at_and_one_over() {
    // 10 bytes stored: accepted with limit 10.
    assert_eq!(
        decode(b"012345678\r\n.\r\n", 10).1,
        Ok(b"012345678\n".to_vec())
    );
    // Dot-unstuffing happens before counting.
    assert_eq!(
        decode(b"..2345678\r\n.\r\n", 10).1,
        Ok(b".2345678\n".to_vec())
    );
    // 11 bytes: too large, and the end is still found.
    let input = b"0123456789\r\n.\r\nQUIT\r\n";
    assert_eq!(
        decode(input, 10),
        (Some(15), Err(DataError::TooLarge { limit: 10 }))
    );
    assert_eq!(decode(input, 11).1, Ok(b"0123456789\n".to_vec()));
}

/// R04: 5 MB without a newline keeps memory at the limit, and the end
/// is still found afterwards.
/// R04: a 5 MB line without newline keeps memory bounded.
#[test]
fn long_line_stays_bounded() {
    const LIMIT: u64 = 1 << 20;
    let mut d = DataDecoder::new(LIMIT);
    let block = vec![b'a'; 64 * 1024];
    for _ in 0..80 {
        assert_eq!(d.feed(&block), Feed::NeedMore);
        assert!(d.stored_len() <= LIMIT);
        assert!(
            d.out.buf.capacity() as u64 <= LIMIT,
            "capacity {}",
            d.out.buf.capacity()
        );
    }
    assert_eq!(d.stored_len(), LIMIT);
    assert_eq!(d.feed(b"\r\n.\r\nRSET\r\n"), Feed::Done { consumed: 5 });
    assert_eq!(d.finish(), Err(DataError::TooLarge { limit: LIMIT }));
}

#[test]
fn chunks_basic() {
    let mut a = ChunkAssembler::new(0);
    a.expect(4);
    assert!(!a.chunk_complete());
    // The chunk's bytes end after "ab\r\n"; the rest is the next command.
    assert_eq!(a.feed(b"ab\r\nBDAT 3 LAST\r\n"), 4);
    assert!(a.chunk_complete());
    a.expect(3);
    assert_eq!(a.remaining(), 3);
    assert_eq!(a.feed(b"c\r"), 2);
    assert_eq!(a.feed(b"\nQUIT\r\n"), 1);
    assert!(a.chunk_complete());
    assert_eq!(a.feed(b"QUIT\r\n"), 0);
    assert_eq!(a.finish(), Ok(b"ab\nc\n".to_vec()));
}

/// R02/R05: BDAT content keeps bare CR, LF and dots as data.
#[test]
fn chunks_keep_bare_cr_lf_and_dots() {
    let table: &[(&[&[u8]], &[u8])] = &[
        (&[b"a\rb"], b"a\rb"),
        (&[b"a\r", b"b"], b"a\rb"),
        (&[b"a\r"], b"a\r"),
        (&[b"a\r", b"\r", b"\n"], b"a\r\n"),
        (&[b"\n.\n", b".\r\n"], b"\n.\n.\n"),
        (&[b"\r\n.\r\n"], b"\n.\n"),
        (&[b"", b"x", b""], b"x"),
        (&[b"\0\r\r\n"], b"\0\r\n"),
    ];
    for (chunks, want) in table {
        let mut a = ChunkAssembler::new(0);
        for c in *chunks {
            a.expect(c.len() as u64);
            assert_eq!(a.feed(c), c.len());
            assert!(a.chunk_complete());
        }
        assert_eq!(a.finish().as_deref(), Ok(*want), "{chunks:?}");
    }
}

#[test]
fn chunks_too_large_still_consume() {
    let mut a = ChunkAssembler::new(5);
    a.expect(4);
    assert_eq!(a.feed(b"abcd"), 4);
    a.expect(1000);
    let big = vec![b'x'; 1000];
    assert_eq!(a.feed(&big[..600]), 600);
    assert_eq!(a.feed(&big[600..]), 400);
    assert!(a.chunk_complete());
    assert!(a.stored_len() <= 5);
    assert_eq!(a.finish(), Err(DataError::TooLarge { limit: 5 }));

    // Exactly at the limit is fine; CRLF → LF happens before counting.
    let mut a = ChunkAssembler::new(5);
    a.expect(6);
    assert_eq!(a.feed(b"abcd\r\n"), 6);
    assert_eq!(a.finish(), Ok(b"abcd\n".to_vec()));
}

/// R05: BDAT 18446744073709551615 and incomplete chunks.
#[test]
fn chunks_incomplete_and_huge_announcement() {
    let mut a = ChunkAssembler::new(10);
    a.expect(u64::MAX);
    a.expect(1); // saturates instead of overflowing
    assert_eq!(a.remaining(), u64::MAX);
    assert_eq!(a.feed(b"abc"), 3);
    assert!(!a.chunk_complete());
    assert_eq!(a.finish(), Err(DataError::Incomplete));
}

/// Bytes that make the decoders' states interesting.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop::sample::select(vec![b'\r', b'\n', b'.', b'a', 0u8, b' ']);
    proptest::collection::vec(byte, 0..120)
}

fn crlf_to_lf(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(b"\r\n") {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

proptest! {
    /// Split anywhere, the same end and the same text as in one piece and
    /// as the reference model.
    #[test]
    fn data_chunking_is_invisible(
        body in wire(),
        tail in wire(),
        sizes in proptest::collection::vec(1usize..9, 1..20),
        max in prop::sample::select(vec![0u64, 1, 5, 20, 60]),
    ) {
        let mut input = body;
        input.extend_from_slice(b"\r\n.\r\n");
        input.extend_from_slice(&tail);
        let whole = decode(&input, max);
        prop_assert_eq!(&whole, &reference(&input, max));
        prop_assert_eq!(&decode_chunked(&input, &sizes, max), &whole);
        prop_assert!(whole.0.is_some());
    }

    /// BDAT: chunks of any sizes, each fed in pieces, with the next command
    /// behind each chunk; the result is the concatenation with CRLF → LF.
    #[test]
    fn bdat_chunking_is_invisible(
        data in wire(),
        cuts in proptest::collection::vec(0usize..130, 0..6),
        sizes in proptest::collection::vec(1usize..9, 1..10),
        max in prop::sample::select(vec![0u64, 3, 40]),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.push(0);
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut a = ChunkAssembler::new(max);
        for w in cuts.windows(2) {
            let chunk = &data[w[0]..w[1]];
            a.expect(chunk.len() as u64);
            let mut wire = chunk.to_vec();
            wire.extend_from_slice(b"BDAT 1\r\n");
            let mut pos = 0;
            for &n in sizes.iter().cycle() {
                if a.chunk_complete() {
                    break;
                }
                let end = (pos + n).min(wire.len());
                pos += a.feed(&wire[pos..end]);
            }
            prop_assert_eq!(pos, chunk.len());
            prop_assert!(max == 0 || a.stored_len() <= max);
        }
        let want = crlf_to_lf(&data);
        match a.finish() {
            Ok(got) => prop_assert_eq!(got, want),
            Err(e) => {
                prop_assert_eq!(e, DataError::TooLarge { limit: max });
                prop_assert!(max != 0 && want.len() as u64 > max);
            }
        }
    }
}
