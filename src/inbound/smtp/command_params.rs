//! MAIL and RCPT parameters (RFC 5321 §4.1.2 esmtp-param) for
//! [`super::parse`]: SIZE, BODY, SMTPUTF8 and the DSN parameters.
//!
//! # Security
//! Runs on a line already checked by `parse` (bounded, UTF-8, no NUL, CR
//! or LF). Keywords are validated before they are echoed in a reply; values
//! with `=` or control characters are refused; the DSN values are checked
//! by their types (`message::dsn`: xtext, NOTIFY words, RET).

use super::{Body, CommandError, MailParams, RcptParams, decimal, is_blank};
use crate::message::dsn::{Notify, Orcpt, Ret, XText};

/// `KEY[=VALUE]` words, keys checked against esmtp-keyword (RFC 5321
/// §4.1.2) and upper-cased; values nonempty without `=` or controls.
fn params(s: &str) -> impl Iterator<Item = Result<(String, Option<&str>), CommandError>> {
    s.split(is_blank).filter(|w| !w.is_empty()).map(|word| {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        let key_ok = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !key_ok {
            return Err(CommandError::Syntax("parameters are KEYWORD[=VALUE]"));
        }
        Ok((key.to_ascii_uppercase(), value))
    })
}

/// A value that must be present: nonempty, no '=', no control characters.
fn value<'a>(v: Option<&'a str>, key: &'static str) -> Result<&'a str, CommandError> {
    match v {
        Some(v) if !v.is_empty() && !v.contains('=') && !v.chars().any(char::is_control) => Ok(v),
        _ => Err(CommandError::BadValue(key)),
    }
}

fn once<T>(slot: &mut Option<T>, v: T, key: &'static str) -> Result<(), CommandError> {
    if slot.is_some() {
        return Err(CommandError::DuplicateParam(key));
    }
    *slot = Some(v);
    Ok(())
}

pub(super) fn mail_params(s: &str) -> Result<MailParams, CommandError> {
    let mut p = MailParams::default();
    for kv in params(s) {
        let (key, v) = kv?;
        match key.as_str() {
            "SIZE" => {
                let n = decimal(value(v, "SIZE")?).ok_or(CommandError::BadValue("SIZE"))?;
                once(&mut p.size, n, "SIZE")?;
            }
            "BODY" => {
                let body = match value(v, "BODY")?.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => return Err(CommandError::BadValue("BODY")),
                };
                once(&mut p.body, body, "BODY")?;
            }
            "SMTPUTF8" => {
                if v.is_some() {
                    return Err(CommandError::BadValue("SMTPUTF8"));
                }
                if p.smtputf8 {
                    return Err(CommandError::DuplicateParam("SMTPUTF8"));
                }
                p.smtputf8 = true;
            }
            "RET" => {
                let ret =
                    Ret::parse(value(v, "RET")?).map_err(|_| CommandError::BadValue("RET"))?;
                once(&mut p.ret, ret, "RET")?;
            }
            "ENVID" => {
                let envid =
                    XText::new(value(v, "ENVID")?).map_err(|_| CommandError::BadValue("ENVID"))?;
                once(&mut p.envid, envid, "ENVID")?;
            }
            _ => return Err(CommandError::BadParam(key)),
        }
    }
    Ok(p)
}

pub(super) fn rcpt_params(s: &str) -> Result<RcptParams, CommandError> {
    let mut p = RcptParams::default();
    for kv in params(s) {
        let (key, v) = kv?;
        match key.as_str() {
            "NOTIFY" => {
                let notify = Notify::parse(value(v, "NOTIFY")?)
                    .map_err(|_| CommandError::BadValue("NOTIFY"))?;
                once(&mut p.notify, notify, "NOTIFY")?;
            }
            "ORCPT" => {
                // addr-type ";" xtext, addr-type an atom such as rfc822.
                let orcpt = Orcpt::parse(value(v, "ORCPT")?)
                    .map_err(|_| CommandError::BadValue("ORCPT"))?;
                once(&mut p.orcpt, orcpt, "ORCPT")?;
            }
            _ => return Err(CommandError::BadParam(key)),
        }
    }
    Ok(p)
}
