use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::*;

#[test]
fn status_lines() {
    let cases: &[(&[u8], bool, &str)] = &[
        (b"+OK POP3 ready <1.2@x>", true, "POP3 ready <1.2@x>"),
        (b"+OK", true, ""),
        (b"-ERR", false, ""),
        (b"-ERR bad password", false, "bad password"),
        // judged by the first character only
        (b"+ yes", true, "+ yes"),
        (b"* OK imap", false, "* OK imap"),
        (b"", false, ""),
        // control characters never reach a log
        (b"-ERR a\x1b[31mb\x00", false, "a?[31mb?"),
        (b"+OK \xff\xfe", true, "\u{fffd}\u{fffd}"),
    ];
    for (line, ok, text) in cases {
        let st = Status::parse(line);
        assert_eq!((st.ok, st.text.as_str()), (*ok, *text), "{line:?}");
    }
}

/// A connection reading `input` (written by a task), with a short timeout.
fn conn_over(input: &'static [u8], close: bool) -> Conn<tokio::io::DuplexStream> {
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let _ = theirs.write_all(input).await;
        if !close {
            // keep the peer open so that a missing line end times out
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    Conn::new(ours, "pop.test:110").with_timeout(Duration::from_millis(200))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn lines_are_bounded_and_split() {
    rt().block_on(async {
        let mut c = conn_over(b"+OK hi\r\n-ERR no\nrest", false);
        assert_eq!(
            c.read_status("greeting").await.ok(),
            Some(Status::parse(b"+OK hi"))
        );
        assert!(!c.read_status("x").await.map(|s| s.ok).unwrap_or(true));
        // an unterminated line times out
        let e = c.read_status("x").await;
        assert!(matches!(e, Err(Pop3Error::Timeout { .. })), "{e:?}");

        let long: &'static [u8] = Box::leak(
            [vec![b'+'; MAX_LINE - 2], b"\r\n".to_vec()]
                .concat()
                .into_boxed_slice(),
        );
        let mut c = conn_over(long, true);
        assert_eq!(
            c.read_line(MAX_LINE, "x").await.map(|l| l.len()).ok(),
            Some(MAX_LINE - 2)
        );

        let too_long: &'static [u8] = Box::leak(
            [vec![b'+'; MAX_LINE - 1], b"\r\n".to_vec()]
                .concat()
                .into_boxed_slice(),
        );
        let mut c = conn_over(too_long, true);
        let e = c.read_status("x").await;
        assert!(matches!(e, Err(Pop3Error::Protocol { .. })), "{e:?}");

        // a hostile endless line is cut off without waiting for its end
        let endless: &'static [u8] = Box::leak(vec![b'A'; 10_000].into_boxed_slice());
        let mut c = conn_over(endless, false);
        let e = c.read_status("x").await;
        assert!(matches!(e, Err(Pop3Error::Protocol { .. })), "{e:?}");

        let mut c = conn_over(b"+OK", true);
        let e = c.read_status("greeting").await;
        assert!(
            matches!(&e, Err(Pop3Error::Closed { server, .. }) if server == "pop.test:110"),
            "{e:?}"
        );
    });
}

#[test]
fn multi_line_responses_are_unstuffed() {
    rt().block_on(async {
        let mut c = conn_over(b"1 20\r\n..dot\r\n.\r\n+OK next\r\n", true);
        let mut lines = Vec::new();
        while let Some(l) = c.read_data_line(100, "LIST").await.ok().flatten() {
            lines.push(l);
        }
        assert_eq!(lines, [b"1 20".to_vec(), b".dot".to_vec()]);
        assert!(c.read_status("x").await.map(|s| s.ok).unwrap_or(false));
    });
}

#[test]
fn commands_with_line_breaks_are_not_sent() {
    rt().block_on(async {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut c = Conn::new(ours, "s:1");
        for (bad, verb) in [
            ("PASS s3cret\r\nDELE 1", "PASS"),
            ("USER s3cret\nb", "USER"),
            ("PASS s3cret\0", "PASS"),
        ] {
            let e = c.send(bad).await;
            let text = e
                .as_ref()
                .map_err(ToString::to_string)
                .err()
                .unwrap_or_default();
            assert!(matches!(e, Err(Pop3Error::Protocol { .. })), "{bad:?}");
            // the error names the verb, never the argument
            assert!(text.contains(verb) && !text.contains("s3cret"), "{text}");
        }
    });
}
