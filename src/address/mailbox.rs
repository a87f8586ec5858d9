//! Which local parts can name a mailbox (RELIABILITY R13): the one rule
//! that local delivery applies before a local part becomes a file name or
//! an MDA argument, and that the SMTP server applies at RCPT.
//!
//! # Security
//! The local part is the sender's text. Refused: empty, `.` and `..`, a
//! `/`, a control character, a leading `-` (an `mda` gets the local part
//! as one argv word: never an option), more than 64 bytes.

/// Longest accepted local part in bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// `Ok` when `local` can name a mailbox; else why not.
pub fn check_local_part(local: &str) -> Result<(), &'static str> {
    if local.is_empty() {
        Err("empty")
    } else if local == "." || local == ".." {
        Err("is a dot name")
    } else if local.len() > MAX_LOCAL_PART {
        Err("longer than 64 bytes")
    } else if local.contains('/') {
        Err("contains '/'")
    } else if local.starts_with('-') {
        Err("starts with '-'")
    } else if local.chars().any(char::is_control) {
        Err("contains a control character")
    } else {
        Ok(())
    }
}
