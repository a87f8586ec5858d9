//! Delivery Status Notification requests (RFC 3461) as a message carries
//! them: `RET` and `ENVID` for the message, `NOTIFY` and `ORCPT` for each
//! envelope recipient.
//!
//! Guarantees: every value is validated when it is built ([`XText::new`],
//! [`Orcpt::parse`], [`Notify::parse`], [`Ret::parse`]), and its text
//! ([`std::fmt::Display`]) is printable ASCII without spaces, so it can go
//! into a spool line, a MAIL/RCPT parameter or a report field as it is,
//! and parses back to the same value.
//!
//! # Security
//! The values come from SMTP clients. xtext is kept as sent (RFC 3461
//! §4: `!`..`~` except `+` and `=`, or `+XX`), so no value can hold a
//! space, a control character or a line break; decoding ([`XText::decoded`])
//! is only for display, and yields nothing that is not printable.

use std::fmt;

use crate::address::Address;

/// Why a DSN value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("empty value")]
    Empty,
    #[error("value too long")]
    TooLong,
    #[error("not xtext (RFC 3461 section 4)")]
    NotXText,
    #[error("ORCPT is not addr-type;xtext")]
    BadOrcpt,
    #[error("NOTIFY is not NEVER or a list of SUCCESS, FAILURE, DELAY")]
    BadNotify,
    #[error("RET is not FULL or HDRS")]
    BadRet,
}

/// ENVID and ORCPT are at most 100 and 500 characters (RFC 3461 §4.2,
/// §4.4); one bound keeps every value on a short line.
const MAX_XTEXT: usize = 500;

/// `RET=`: what of the message a failure notice returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    /// `FULL` or `HDRS`, any case.
    pub fn parse(s: &str) -> Result<Ret, DsnError> {
        match s.to_ascii_uppercase().as_str() {
            "FULL" => Ok(Ret::Full),
            "HDRS" => Ok(Ret::Hdrs),
            _ => Err(DsnError::BadRet),
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        })
    }
}

/// `NOTIFY=`: which events the sender wants to hear about. All false is
/// `NEVER`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// `NEVER`, or a comma list of `SUCCESS`, `FAILURE`, `DELAY` (any
    /// case, each at most once).
    pub fn parse(s: &str) -> Result<Notify, DsnError> {
        let upper = s.to_ascii_uppercase();
        if upper == "NEVER" {
            return Ok(Notify::NEVER);
        }
        let mut n = Notify::NEVER;
        for word in upper.split(',') {
            let slot = match word {
                "SUCCESS" => &mut n.success,
                "FAILURE" => &mut n.failure,
                "DELAY" => &mut n.delay,
                _ => return Err(DsnError::BadNotify),
            };
            if std::mem::replace(slot, true) {
                return Err(DsnError::BadNotify);
            }
        }
        Ok(n)
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect();
        if words.is_empty() {
            f.write_str("NEVER")
        } else {
            f.write_str(&words.join(","))
        }
    }
}

/// An xtext value exactly as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XText(String);

impl XText {
    pub fn new(s: &str) -> Result<XText, DsnError> {
        if s.is_empty() {
            return Err(DsnError::Empty);
        }
        if s.len() > MAX_XTEXT {
            return Err(DsnError::TooLong);
        }
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => {
                    let hex =
                        |c: Option<&u8>| c.is_some_and(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'));
                    if !(hex(b.get(i + 1)) && hex(b.get(i + 2))) {
                        return Err(DsnError::NotXText);
                    }
                    i += 3;
                }
                b'=' => return Err(DsnError::NotXText),
                0x21..=0x7e => i += 1,
                _ => return Err(DsnError::NotXText),
            }
        }
        Ok(XText(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The decoded text when it is printable ASCII (space included), else
    /// the xtext as sent: a report field never gets a control character.
    pub fn decoded(&self) -> String {
        let b = self.0.as_bytes();
        let mut out = String::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'+' {
                let byte = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(c @ 0x20..=0x7e) => out.push(c as char),
                    _ => return self.0.clone(),
                }
                i += 3;
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        }
        out
    }
}

impl fmt::Display for XText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ORCPT=addr-type;xtext` (RFC 3461 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orcpt {
    /// An atom such as `rfc822`, as sent.
    pub addr_type: String,
    pub addr: XText,
}

impl Orcpt {
    pub fn parse(s: &str) -> Result<Orcpt, DsnError> {
        let (t, a) = s.split_once(';').ok_or(DsnError::BadOrcpt)?;
        let atom = !t.is_empty()
            && t.len() <= 64
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !atom {
            return Err(DsnError::BadOrcpt);
        }
        Ok(Orcpt {
            addr_type: t.to_string(),
            addr: XText::new(a)?,
        })
    }
}

impl fmt::Display for Orcpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{}", self.addr_type, self.addr)
    }
}

/// The DSN requests for one envelope recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptDsn {
    /// `None`: no NOTIFY given, the default (failures and delays).
    pub notify: Option<Notify>,
    pub orcpt: Option<Orcpt>,
}

impl RcptDsn {
    pub fn is_empty(&self) -> bool {
        self.notify.is_none() && self.orcpt.is_none()
    }

    /// True when a failure notice is wanted (no NOTIFY, or with FAILURE).
    pub fn wants_failure(this: Option<&RcptDsn>) -> bool {
        this.and_then(|d| d.notify).is_none_or(|n| n.failure)
    }

    /// True when a delay warning is wanted (no NOTIFY, or with DELAY).
    pub fn wants_delay(this: Option<&RcptDsn>) -> bool {
        this.and_then(|d| d.notify).is_none_or(|n| n.delay)
    }

    /// True when a success report is wanted (NOTIFY with SUCCESS).
    pub fn wants_success(this: Option<&RcptDsn>) -> bool {
        this.and_then(|d| d.notify).is_some_and(|n| n.success)
    }
}

/// The DSN requests of a message. Empty for mail that came without any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dsn {
    pub ret: Option<Ret>,
    pub envid: Option<XText>,
    /// Per envelope recipient (an address of `Message::rcpt_list`), at
    /// most one entry each; recipients without requests have none.
    pub rcpts: Vec<(Address, RcptDsn)>,
}

impl Dsn {
    pub fn is_empty(&self) -> bool {
        self.ret.is_none() && self.envid.is_none() && self.rcpts.is_empty()
    }

    /// The requests for envelope recipient `rcpt`.
    pub fn rcpt(&self, rcpt: &Address) -> Option<&RcptDsn> {
        self.rcpts.iter().find(|(a, _)| a == rcpt).map(|(_, d)| d)
    }

    /// Records `rcpt`'s requests; the first record of an address stands
    /// (a recipient given twice is one recipient), empty ones are not kept.
    pub fn add_rcpt(&mut self, rcpt: &Address, dsn: RcptDsn) {
        if !dsn.is_empty() && self.rcpt(rcpt).is_none() {
            self.rcpts.push((rcpt.clone(), dsn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for s in ["NEVER", "SUCCESS", "FAILURE,DELAY", "SUCCESS,FAILURE,DELAY"] {
            assert_eq!(Notify::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Notify::parse("delay,success").unwrap().to_string(),
            "SUCCESS,DELAY"
        );
        for bad in ["", "NEVER,DELAY", "SOMETIMES", "SUCCESS,", "DELAY,DELAY"] {
            assert!(Notify::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Ret::parse("hdrs"), Ok(Ret::Hdrs));
        assert!(Ret::parse("BODY").is_err());
        let o = Orcpt::parse("rfc822;c+2Bd@x.example").unwrap();
        assert_eq!(o.to_string(), "rfc822;c+2Bd@x.example");
        assert_eq!(o.addr.decoded(), "c+d@x.example");
        for bad in [
            "c@d",
            "rfc822;",
            ";a",
            "rfc 822;a",
            "rfc822;a b",
            "rfc822;a=b",
        ] {
            assert!(Orcpt::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn xtext_is_checked_and_decoded_safely() {
        for bad in [
            "", "a b", "a=b", "a+2", "a+2g", "a+2b", "\u{7f}", "é", "a\r\nb", "a\0",
        ] {
            assert!(XText::new(bad).is_err(), "{bad:?}");
        }
        assert!(XText::new(&"x".repeat(MAX_XTEXT + 1)).is_err());
        let x = XText::new("QQ+20314159").unwrap();
        assert_eq!(x.decoded(), "QQ 314159");
        // A decoded control character would reach a report field: shown
        // as sent instead.
        let x = XText::new("a+0D+0Ab").unwrap();
        assert_eq!(x.decoded(), "a+0D+0Ab");
    }

    #[test]
    fn notify_decides() {
        let never = RcptDsn {
            notify: Some(Notify::NEVER),
            orcpt: None,
        };
        assert!(RcptDsn::wants_failure(None) && RcptDsn::wants_delay(None));
        assert!(!RcptDsn::wants_success(None));
        assert!(!RcptDsn::wants_failure(Some(&never)));
        assert!(!RcptDsn::wants_delay(Some(&never)));
        let only_orcpt = RcptDsn {
            notify: None,
            orcpt: Some(Orcpt::parse("rfc822;a@b").unwrap()),
        };
        assert!(RcptDsn::wants_failure(Some(&only_orcpt)));
    }
}
