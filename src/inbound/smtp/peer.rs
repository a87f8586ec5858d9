//! Who is at the other end of a session.
//!
//! # Security
//! A `Tcp` peer's address comes from the kernel (accept/getpeername) and
//! is the only thing the relay rule trusts about a network client; a
//! `Local` peer is the user who ran `-bs` on a pipe or terminal. An
//! `Odmr` peer is a provider we connected to and authenticated as a
//! client, then turned (RFC 2645): it may only deliver to the domains we
//! asked `ATRN` for.

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub enum Peer {
    Tcp(SocketAddr),
    /// `-bs` on a pipe or terminal: a local user; addresses are qualified
    /// and the message counts as local (ident = login).
    Local {
        login: String,
        uid: u32,
    },
    /// The provider of an ODMR session after `ATRN` turned the roles
    /// (RFC 2645 §4): recipients only in `domains`, never relaying.
    Odmr {
        /// `host:port` of the get file (or its wrapper), for log lines.
        server: String,
        /// The address we connected to (none through a wrapper).
        addr: Option<SocketAddr>,
        /// The domains of the `ATRN` command.
        domains: Vec<String>,
    },
}

impl Peer {
    /// The canonical IP as text (IPv4-mapped IPv6 shown as IPv4).
    pub fn ip_text(&self) -> Option<String> {
        match self {
            Peer::Tcp(a) => Some(a.ip().to_canonical().to_string()),
            Peer::Odmr { addr, .. } => addr.map(|a| a.ip().to_canonical().to_string()),
            Peer::Local { .. } => None,
        }
    }

    /// The client's address, for a network client we accepted.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        match self {
            Peer::Tcp(a) => Some(a.ip().to_canonical()),
            Peer::Odmr { .. } | Peer::Local { .. } => None,
        }
    }

    /// For log lines.
    pub fn who(&self) -> String {
        match self {
            Peer::Tcp(a) => a.ip().to_canonical().to_string(),
            Peer::Local { login, .. } => format!("local user {login}"),
            Peer::Odmr { server, .. } => format!("ODMR {server}"),
        }
    }
}
