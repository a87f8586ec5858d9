use std::path::Path;

use super::*;

fn cfg() -> Config {
    let mut c = Config::with_host_name("home.example");
    c.local_hosts.push("family.example".into());
    c
}

fn get(extra: &str) -> GetConf {
    let text = format!("server = pop.isp.example\nuser = u\npass = p\naddress = me\n{extra}");
    GetConf::parse(text.as_bytes(), Path::new("g"), &cfg()).unwrap()
}

fn headers(text: &str) -> Vec<Header> {
    text.lines()
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            Header::new(n, v)
        })
        .collect()
}

fn names(h: &[Header]) -> Vec<String> {
    h.iter()
        .map(|h| String::from_utf8_lossy(&h.raw).trim_end().to_string())
        .collect()
}

#[test]
fn return_path_rule() {
    let c = cfg();
    for (hdrs, extra, want_rp, warning) in [
        (
            "Return-Path: <a@x.example>\nFrom: b@y.example",
            "",
            "a@x.example",
            None,
        ),
        ("Return-Path: <bare>", "", "bare@pop.isp.example", None),
        (
            "Sender: s@y.example\nFrom: b@y.example",
            "",
            "s@y.example",
            Some("X-Warning: return path set from Sender: address"),
        ),
        (
            "From: \"B\" <b@y.example>",
            "",
            "b@y.example",
            Some("X-Warning: return path set from From: address"),
        ),
        (
            "Subject: none",
            "",
            "postmaster@home.example",
            Some("X-Warning: real return path is unkown"),
        ),
        (
            "Return-Path: <a@x.example>",
            "return_path = forced@z.example\n",
            "forced@z.example",
            None,
        ),
    ] {
        let g = get(extra);
        let mut h = headers(hdrs);
        let before = h.len();
        let (rp, rcpts) = envelope(&g, &c, &mut h);
        assert_eq!(rp.to_string(), want_rp, "{hdrs}");
        assert_eq!(
            rcpts.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["me@home.example"]
        );
        match warning {
            Some(w) => assert_eq!(names(&h).last().map(String::as_str), Some(w)),
            None => assert_eq!(h.len(), before),
        }
    }
}

#[test]
fn multidrop_takes_local_recipients_of_its_domains_only() {
    let c = cfg();
    let g = get("do_multidrop = true\ndomains = \"family.example; other.example\"\n");
    let mut h = headers(
        "Delivered-To: catchall@isp.example\n\
         Delivered-To: anna@family.example\n\
         X-Original-To: Bob@FAMILY.example, anna@family.example\n\
         Envelope-To: carl@other.example\n\
         From: x@y.example",
    );
    let (_, rcpts) = envelope(&g, &c, &mut h);
    // Envelope-To first (the default order), but carl is not local.
    assert_eq!(
        rcpts.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["anna@family.example", "Bob@FAMILY.example"]
    );
    // With do_multidrop_relay the non-local one is taken too.
    let g = get(
        "do_multidrop = true\ndo_multidrop_relay = true\ndomains = \"family.example; other.example\"\n",
    );
    let (_, rcpts) = envelope(&g, &c, &mut h);
    assert!(rcpts.iter().any(|a| a.to_string() == "carl@other.example"));
    // Nothing found: the fallback address.
    let g = get("do_multidrop = true\ndomains = family.example\n");
    let mut h = headers("Delivered-To: someone@elsewhere.example");
    let (_, rcpts) = envelope(&g, &c, &mut h);
    assert_eq!(
        rcpts.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["me@home.example"]
    );
    // Pipes are never recipients.
    let mut h = headers("Delivered-To: \"|/bin/sh\"@family.example");
    let (_, rcpts) = envelope(&g, &c, &mut h);
    assert_eq!(
        rcpts.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["me@home.example"]
    );
}

#[test]
fn envelope_to_is_saved_when_asked() {
    let mut c = cfg();
    c.do_save_envelope_to = true;
    let g = get("");
    let mut h = headers("Envelope-To: me@home.example\nFrom: a@b.example");
    envelope(&g, &c, &mut h);
    assert_eq!(names(&h)[0], "X-Orig-Envelope-to: me@home.example");
}
