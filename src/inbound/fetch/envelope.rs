//! The envelope of a fetched message (delivery.md §15.3) and multidrop.
//!
//! * Return path: the get file's `return_path`; else the message's
//!   `Return-Path:` (qualified with the server's host); else the first
//!   `Sender:` or `From:` address, with an `X-Warning:` saying so; else
//!   `postmaster@host_name` with `X-Warning: real return path is unkown`
//!   (masqmail's spelling, which users' filters match).
//! * Recipients: the get file's `address`; with `do_multidrop`, the
//!   addresses in the configured envelope headers (`Envelope-To:`,
//!   `Delivered-To:`, `X-Original-To:` by default) whose domain is one of
//!   the get file's `domains` and that are local — or any of them with
//!   `do_multidrop_relay` — falling back to `address` when none is found.
//! * `Envelope-To:` is kept as `X-Orig-Envelope-to:` with
//!   `do_save_envelope_to` (acceptance removes `Envelope-To:` itself).
//!
//! # Security
//! Headers are the sender's text. Addresses taken from them go through
//! the RFC 821 path parser (no pipes, no control characters); a fetched
//! message never reaches a non-local recipient unless the get file says
//! `do_multidrop_relay`, so a forged `Delivered-To:` cannot make us relay.

use crate::address::{Address, PipePolicy, parse_address_list, parse_path};
use crate::config::{Config, GetConf};
use crate::message::Header;

/// Envelope sender and recipients of one fetched message; `headers` may
/// gain an `X-Warning:` and lose nothing else here.
pub fn envelope(get: &GetConf, cfg: &Config, headers: &mut Vec<Header>) -> (Address, Vec<Address>) {
    let return_path = return_path(get, cfg, headers);
    let mut rcpts = if get.do_multidrop {
        multidrop(get, cfg, headers)
    } else {
        Vec::new()
    };
    if rcpts.is_empty()
        && let Some(fallback) = &get.address
    {
        rcpts.push(fallback.clone());
    }
    if cfg.do_save_envelope_to {
        for h in headers.iter_mut().filter(|h| h.is("Envelope-To")) {
            let value = String::from_utf8_lossy(h.value()).trim().to_string();
            *h = Header::new("X-Orig-Envelope-to", &value);
        }
    }
    (return_path, rcpts)
}

fn first_address(headers: &[Header], name: &str) -> Option<Address> {
    let h = headers.iter().find(|h| h.is(name))?;
    let la = parse_address_list(h.value()).into_iter().next()?;
    parse_path(&la.addr.to_string(), PipePolicy::Refuse)
        .ok()
        .filter(|a| !a.is_null())
}

fn return_path(get: &GetConf, cfg: &Config, headers: &mut Vec<Header>) -> Address {
    if let Some(rp) = &get.return_path {
        return rp.clone();
    }
    if let Some(h) = headers.iter().find(|h| h.is("Return-Path")) {
        let text = String::from_utf8_lossy(h.value()).trim().to_string();
        if let Ok(a) = parse_path(&text, PipePolicy::Refuse) {
            return a.qualify(&get.server);
        }
    }
    for name in ["Sender", "From"] {
        if let Some(a) = first_address(headers, name) {
            headers.push(Header::new(
                "X-Warning",
                &format!("return path set from {name}: address"),
            ));
            return a.qualify(&get.server);
        }
    }
    headers.push(Header::new("X-Warning", "real return path is unkown"));
    Address::new("postmaster", &cfg.host_name)
}

fn multidrop(get: &GetConf, cfg: &Config, headers: &[Header]) -> Vec<Address> {
    let locality = cfg.locality();
    let mut out: Vec<Address> = Vec::new();
    for name in &get.multidrop_headers {
        for h in headers.iter().filter(|h| h.is(name)) {
            for la in parse_address_list(h.value()) {
                let Ok(a) = parse_path(&la.addr.to_string(), PipePolicy::Refuse) else {
                    continue;
                };
                // Never a pipe, a file or a sender-routed address, quoted
                // or not: these names come from the sender.
                let bare = a.local.trim_start_matches('"');
                if bare.starts_with(['|', '/']) || bare.contains(['%', '!', '@']) {
                    continue;
                }
                let ours = get
                    .domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&a.domain));
                if !ours || out.contains(&a) {
                    continue;
                }
                if !get.do_multidrop_relay && !locality.is_local(&a) {
                    tracing::info!("{}: multidrop: <{a}> is not local; not taken", get.server);
                    continue;
                }
                out.push(a);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
