//! The names the binary answers to (cli.md §1): the last path component of
//! `argv[0]` selects the *initial* operation mode.
//!
//! `rmail` follows the 0.2 behaviour (accept mode with `-i` implied), so a
//! `rmail` link keeps working for UUCP without the 1.0 shell script; the
//! leading `From ` line is left for the message parser to skip.
//!
//! # Security
//! `argv[0]` is chosen by the invoker and trusted for nothing but picking a
//! mode: every mode it can select is also reachable through a switch, and
//! the privilege checks happen later, per mode. A name that is not valid
//! UTF-8 or not in the table means "no implied mode".

use std::ffi::OsStr;
use std::path::Path;

use super::{Mode, QueueRun};

/// What the invocation name implies before any switch is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameDefaults {
    /// The initial mode; `None` for `masqmail`, `sendmail` and unknown names.
    pub mode: Option<Mode>,
    /// `rmail` (0.2): a lone dot does not end the message.
    pub ignore_dots: bool,
}

/// Maps `argv[0]` to its implied mode. Only the last path component counts,
/// so `/usr/sbin/mailq` and `mailq` are the same.
pub fn defaults_for(argv0: &OsStr) -> NameDefaults {
    let name = Path::new(argv0)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("");
    let (mode, ignore_dots) = match name {
        "mailq" => (Some(Mode::List), false),
        "mailrm" => (Some(Mode::Remove), false),
        "runq" => (Some(Mode::QueueRun(QueueRun::All)), false),
        "newaliases" => (Some(Mode::NoOp), false),
        "smtpd" | "in.smtpd" => (Some(Mode::Smtp), false),
        "rmail" => (Some(Mode::Accept), true),
        // masqmail, sendmail and anything else: no implied mode.
        _ => (None, false),
    };
    NameDefaults { mode, ignore_dots }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn names() {
        for (argv0, mode, dots) in [
            ("masqmail", None, false),
            ("/usr/sbin/sendmail", None, false),
            ("mailq", Some(Mode::List), false),
            ("/usr/bin/mailq", Some(Mode::List), false),
            ("mailrm", Some(Mode::Remove), false),
            ("runq", Some(Mode::QueueRun(QueueRun::All)), false),
            ("newaliases", Some(Mode::NoOp), false),
            ("smtpd", Some(Mode::Smtp), false),
            ("/usr/sbin/in.smtpd", Some(Mode::Smtp), false),
            ("rmail", Some(Mode::Accept), true),
            // Only the exact last component counts.
            ("mailq2", None, false),
            ("MAILQ", None, false),
            ("mailq/", Some(Mode::List), false),
            ("/mailq/x", None, false),
            ("", None, false),
        ] {
            let got = defaults_for(OsStr::new(argv0));
            assert_eq!(got.mode, mode, "{argv0:?}");
            assert_eq!(got.ignore_dots, dots, "{argv0:?}");
        }
    }

    #[test]
    fn non_utf8_name_has_no_mode() {
        let argv0 = OsString::from_vec(b"/usr/sbin/mail\xffq".to_vec());
        assert_eq!(defaults_for(&argv0).mode, None);
    }
}
