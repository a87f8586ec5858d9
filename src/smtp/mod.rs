//! SMTP: the server's protocol layer and the client.
//!
//! Everything below `smtp` that parses or decodes is sans-IO: it takes bytes
//! and returns values, so every edge case is an ordinary unit test.
//!
//! # Security
//! The peer is hostile. The parsers bound every buffer they keep and never
//! panic on input; the async drivers add timeouts.

pub mod client;
pub mod server;
