//! syslog(3) output: ident `masqmail`, the pid, facility mail.
//!
//! # Security
//! The text is passed as an argument to a constant `%s` format, never as the
//! format itself. NUL bytes cannot reach C (they are escaped earlier and
//! replaced here as a last resort).

use std::ffi::CString;
use std::sync::Once;

use tracing::Level;

/// The syslog priority (facility mail | severity) of a tracing level.
pub(crate) fn priority(level: &Level) -> libc::c_int {
    let severity = match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    };
    libc::LOG_MAIL | severity
}

static OPEN: Once = Once::new();

/// openlog once per process; later calls do nothing.
pub(crate) fn open() {
    OPEN.call_once(|| {
        // SAFETY: the ident is a 'static C string, as openlog keeps the
        // pointer; the flags and facility are plain constants.
        unsafe { libc::openlog(c"masqmail".as_ptr(), libc::LOG_PID, libc::LOG_MAIL) }
    });
}

/// Sends one message.
pub(crate) fn send(level: &Level, text: &str) {
    let Ok(msg) = CString::new(text.replace('\0', "\\0")) else {
        return; // cannot happen after the replace
    };
    // SAFETY: constant "%s" format with one valid NUL-terminated argument.
    unsafe { libc::syslog(priority(level), c"%s".as_ptr(), msg.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        for (level, want) in [
            (Level::ERROR, libc::LOG_MAIL | libc::LOG_ERR),
            (Level::WARN, libc::LOG_MAIL | libc::LOG_WARNING),
            (Level::INFO, libc::LOG_MAIL | libc::LOG_INFO),
            (Level::DEBUG, libc::LOG_MAIL | libc::LOG_DEBUG),
            (Level::TRACE, libc::LOG_MAIL | libc::LOG_DEBUG),
        ] {
            assert_eq!(priority(&level), want, "{level}");
        }
        // Facility mail is 2<<3 and the severities are the RFC 5424
        // numbers; pin them so a libc change cannot shift them silently.
        assert_eq!(priority(&Level::ERROR), 16 | 3);
        assert_eq!(priority(&Level::DEBUG), 16 | 7);
    }
}
