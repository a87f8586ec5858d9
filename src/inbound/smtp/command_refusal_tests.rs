//! The refusals of `parse` and the replies they map to.

use super::*;
use crate::inbound::smtp::reply::wire;

fn err(line: &[u8]) -> CommandError {
    match parse(line) {
        Ok(c) => panic!("{:?}: parsed as {c:?}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

#[test]
fn refusals_and_their_replies() {
    use CommandError as E;
    let table: &[(&[u8], CommandError, u16, &str)] = &[
        (b"", E::Unrecognized, 500, "5.5.1"),
        (b"   ", E::Unrecognized, 500, "5.5.1"),
        (b"FOO bar", E::Unrecognized, 500, "5.5.1"),
        (b"HELOX a", E::Unrecognized, 500, "5.5.1"),
        (b"MAILFROM:<a@b>", E::Unrecognized, 500, "5.5.1"),
        (b"TURN", E::Unrecognized, 500, "5.5.1"),
        (b"AVERYLONGVERBINDEED x", E::Unrecognized, 500, "5.5.1"),
        (b"HELO", E::Syntax("HELO domain"), 501, "5.5.4"),
        (b"EHLO  ", E::Syntax("EHLO domain"), 501, "5.5.4"),
        (b"VRFY", E::Syntax("VRFY string"), 501, "5.5.4"),
        (b"EXPN", E::Syntax("EXPN string"), 501, "5.5.4"),
        (b"DATA now", E::Syntax("DATA"), 501, "5.5.4"),
        (b"RSET x", E::Syntax("RSET"), 501, "5.5.4"),
        (b"QUIT x", E::Syntax("QUIT"), 501, "5.5.4"),
        (b"STARTTLS x", E::Syntax("STARTTLS"), 501, "5.5.4"),
        (b"MAIL", E::Syntax("MAIL FROM:<address>"), 501, "5.5.4"),
        (
            b"MAIL TO:<a@b>",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM <a@b>",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM :<a@b>",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:   ",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<\"a>@b",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b>SIZE=1",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b>>",
            E::Syntax("MAIL FROM:<address>"),
            501,
            "5.5.4",
        ),
        (b"RCPT <c@d>", E::Syntax("RCPT TO:<address>"), 501, "5.5.4"),
        (b"RCPT TO:", E::Syntax("RCPT TO:<address>"), 501, "5.5.4"),
        (
            b"MAIL FROM:<a@b> FOO=bar",
            E::BadParam("FOO".into()),
            555,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> auth=<>",
            E::BadParam("AUTH".into()),
            555,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> NOTIFY=NEVER",
            E::BadParam("NOTIFY".into()),
            555,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> SIZE=1",
            E::BadParam("SIZE".into()),
            555,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> XFORWARD",
            E::BadParam("XFORWARD".into()),
            555,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> =1",
            E::Syntax("parameters are KEYWORD[=VALUE]"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> -X=1",
            E::Syntax("parameters are KEYWORD[=VALUE]"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> S\xc3\xa9=1",
            E::Syntax("parameters are KEYWORD[=VALUE]"),
            501,
            "5.5.4",
        ),
        (b"MAIL FROM:<a@b> SIZE", E::BadValue("SIZE"), 501, "5.5.4"),
        (b"MAIL FROM:<a@b> SIZE=", E::BadValue("SIZE"), 501, "5.5.4"),
        (
            b"MAIL FROM:<a@b> SIZE=-1",
            E::BadValue("SIZE"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> SIZE=1k",
            E::BadValue("SIZE"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> SIZE=18446744073709551616",
            E::BadValue("SIZE"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> SIZE=1=2",
            E::BadValue("SIZE"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> BODY=9BIT",
            E::BadValue("BODY"),
            501,
            "5.5.4",
        ),
        (b"MAIL FROM:<a@b> BODY", E::BadValue("BODY"), 501, "5.5.4"),
        (
            b"MAIL FROM:<a@b> SMTPUTF8=yes",
            E::BadValue("SMTPUTF8"),
            501,
            "5.5.4",
        ),
        (b"MAIL FROM:<a@b> RET=ALL", E::BadValue("RET"), 501, "5.5.4"),
        (b"MAIL FROM:<a@b> ENVID", E::BadValue("ENVID"), 501, "5.5.4"),
        (
            b"MAIL FROM:<a@b> ENVID=\x7f",
            E::BadValue("ENVID"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> NOTIFY=NEVER,DELAY",
            E::BadValue("NOTIFY"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> NOTIFY=SOMETIMES",
            E::BadValue("NOTIFY"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> NOTIFY=SUCCESS,",
            E::BadValue("NOTIFY"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> ORCPT=c@d",
            E::BadValue("ORCPT"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> ENVID=a+2",
            E::BadValue("ENVID"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> ORCPT=rfc822;a+zz",
            E::BadValue("ORCPT"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> ORCPT=rfc822;",
            E::BadValue("ORCPT"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> SIZE=1 size=2",
            E::DuplicateParam("SIZE"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8",
            E::DuplicateParam("SMTPUTF8"),
            501,
            "5.5.4",
        ),
        (
            b"MAIL FROM:<a@b> BODY=7BIT BODY=8BITMIME",
            E::DuplicateParam("BODY"),
            501,
            "5.5.4",
        ),
        (
            b"RCPT TO:<c@d> NOTIFY=NEVER NOTIFY=NEVER",
            E::DuplicateParam("NOTIFY"),
            501,
            "5.5.4",
        ),
        (b"NOOP\0", E::Nul, 500, "5.5.2"),
        (b"MAIL FROM:<a\0@b>", E::Nul, 500, "5.5.2"),
        (b"\0", E::Nul, 500, "5.5.2"),
        (b"EHLO x\ry", E::BareCr, 500, "5.5.2"),
        (b"QUIT\r", E::BareCr, 500, "5.5.2"),
        (b"MAIL FROM:<a@b>\nRCPT TO:<c@d>", E::BareLf, 500, "5.5.2"),
        (b"EHLO \xff\xfe", E::InvalidUtf8, 500, "5.5.2"),
        (
            b"MAIL FROM:<j\xfcrgen@b> SMTPUTF8",
            E::InvalidUtf8,
            500,
            "5.5.2",
        ),
        (b"\xc3", E::InvalidUtf8, 500, "5.5.2"),
    ];
    for (line, want, code, esc) in table {
        let got = err(line);
        assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(line));
        let (c, e, text) = wire(&got);
        assert_eq!(
            (c, e.as_str()),
            (*code, *esc),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert!(!text.is_empty() && !text.contains(['\r', '\n']));
    }
}
