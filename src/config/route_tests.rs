//! Tests of route and get files, the R26 hostile-input set for all three
//! file kinds, and the no-panic property tests.

use std::path::Path;

use proptest::prelude::*;

use super::main_tests::sample;
use super::names::{GET, MAIN, ROUTE, Ty};
use super::*;

fn cfg() -> Config {
    Config::with_host_name("h.example")
}

fn route(text: &str) -> Result<Route, String> {
    Route::parse(text.as_bytes(), Path::new("r.route"), &cfg()).map_err(|e| e.to_string())
}

const GET_BASE: &str = "server = pop.example\nuser = u\npass = secret\naddress = me\n";

fn get(text: &str) -> Result<GetConf, String> {
    GetConf::parse(text.as_bytes(), Path::new("g.get"), &cfg()).map_err(|e| e.to_string())
}

#[test]
fn every_route_and_get_option_parses() {
    // oauth2_* options only count together with a complete OAuth2 set.
    const OAUTH: &str = "auth_name = xoauth2\nauth_login = u\noauth2_provider = microsoft\n\
                         oauth2_client_id = c\noauth2_token_url = https://t.example/\noauth2_scope = s\n";
    fn url<'a>(name: &str, v: &'a str) -> &'a str {
        match name.ends_with("_url") {
            true => "https://other.example/x",
            false => v,
        }
    }
    for opt in ROUTE {
        let prefix = if opt.name.starts_with("oauth2_") {
            OAUTH
        } else {
            ""
        };
        let base = format!("{:?}", route(prefix).unwrap());
        let values: &[&str] = if opt.ty == Ty::Bool {
            &["yes", "no"]
        } else {
            &[sample(opt.ty)]
        };
        let text = |v: &str| match opt.name {
            "protocol" => "protocol = pipe\npipe = /bin/cat".to_string(),
            _ => format!("{prefix}{} = \"{}\"", opt.name, url(opt.name, v)),
        };
        let changed = values
            .iter()
            .any(|v| format!("{:?}", route(&text(v)).unwrap()) != base);
        assert!(
            changed || opt.ty == Ty::Ignored,
            "{} changed nothing",
            opt.name
        );
    }
    // `pass_command` as the credential, so that setting `pass` is visible.
    let get_base = "server = pop.example\nuser = u\npass_command = /bin/pw\naddress = me\ndomains = base.example\n";
    let oauth_base = "server = pop.example\nuser = u\naddress = me\ndomains = base.example\n\
                      auth_name = xoauth2\noauth2_provider = microsoft\noauth2_client_id = c\n\
                      oauth2_token_url = https://t.example/\noauth2_scope = s\n";
    for opt in GET {
        let get_base = if opt.name.starts_with("oauth2_") {
            oauth_base
        } else {
            get_base
        };
        let base = format!("{:?}", get(get_base).unwrap());
        let values: &[&str] = if opt.ty == Ty::Bool {
            &["yes", "no"]
        } else {
            &[sample(opt.ty)]
        };
        let changed = values.iter().any(|v| {
            let v = url(opt.name, v);
            let g = get(&format!("{get_base}{} = \"{v}\"", opt.name)).unwrap();
            format!("{g:?}") != base
        });
        assert!(
            changed || opt.ty == Ty::Ignored,
            "{} changed nothing",
            opt.name
        );
    }
}

#[test]
fn route_defaults_and_values() {
    let r = route("").unwrap();
    assert_eq!(r.name(), Path::new("r.route"));
    assert_eq!(r.protocol, Transport::Smtp);
    assert_eq!((r.smtp_port, r.helo_name.as_str()), (25, "h.example"));
    assert_eq!(r.max_parallel_connections, 8);
    assert_eq!(
        route("max_parallel_connections = 1")
            .unwrap()
            .max_parallel_connections,
        1
    );
    assert_eq!(r.resolve_list, [Resolver::DnsMx, Resolver::ByName]);
    assert!(r.do_pipelining && r.tls_verify && r.expand_h_sender_address);
    assert!(!r.expand_h_sender_address_set);
    for (text, value) in [
        ("expand_h_sender_address = yes", true),
        ("expand_h_sender_address = off", false),
    ] {
        let r = route(text).unwrap();
        assert!(r.expand_h_sender_address_set, "{text}");
        assert_eq!(r.expand_h_sender_address, value, "{text}");
    }
    assert_eq!((r.tls, r.auth_name), (None, None));

    let r = route(concat!(
        "mail_host = smart.example:587\nauth_name = CRAM-MD5\nauth_login = me\nauth_secret = \"p4ss word\"\n",
        "tls = smtps\ntls_verify = no\nresolve_list = \"dns_a; BYNAME\"\npipe = \"/usr/bin/uux - -r $rcpt\"\n",
        "allowed_senders = \"carol;*@*example.org;<>\"\nwrapper = \"/usr/bin/openssl s_client -quiet -connect x:465 2>/dev/null\"\n",
        "map_h_from_addresses = \"john: John <j@x.example>; *: *@x.example\"\ndo_ssl = yes\n",
    ))
    .unwrap();
    assert_eq!(
        r.mail_host,
        Some(Interface {
            host: "smart.example".into(),
            port: 587
        })
    );
    assert_eq!(r.auth_name, Some(AuthMech::CramMd5));
    assert_eq!(
        r.auth_secret.as_ref().map(Secret::expose),
        Some("p4ss word")
    );
    assert!(
        !format!("{r:?}").contains("p4ss"),
        "secret printed by Debug"
    );
    assert_eq!((r.tls, r.tls_verify), (Some(TlsMode::Smtps), false));
    assert_eq!(r.resolve_list, [Resolver::DnsA, Resolver::ByName]);
    assert_eq!(r.protocol, Transport::Pipe);
    assert_eq!(r.allowed_senders.len(), 3);
    assert_eq!(r.allowed_senders[2], AddrPattern::NullSender);
    assert_eq!(r.wrapper.map(|w| w.words.len()), Some(5));
    assert_eq!(r.map_h_from_addresses.0.len(), 2);
    assert_eq!(
        route("mail_host = m.example")
            .unwrap()
            .mail_host
            .map(|m| m.port),
        Some(25)
    );
}

#[test]
fn route_errors() {
    for (text, want) in [
        (
            "resolve_list = \"dns_mx;dns_ptr\"\n",
            "r.route:1: unknown resolver dns_ptr",
        ),
        (
            "\nmap_h_from_addresses = \"x: js\"\n",
            "r.route:2: replacement address 'js' lacks domain",
        ),
        (
            "map_return_path_addresses = \"x: a b@c\"",
            "r.route:1: invalid replacement address 'a b@c': unexpected character after local part",
        ),
        (
            "protocol = pipe\n",
            "r.route:1: missing required option `pipe`",
        ),
        (
            "protocol = uucp\n",
            "r.route:1: `protocol`: 'uucp' must be one of smtp, pipe",
        ),
        (
            "tls = ssl\n",
            "r.route:1: `tls`: 'ssl' must be one of none, starttls, smtps",
        ),
        (
            "auth_name = digest-md5\n",
            "r.route:1: `auth_name`: 'digest-md5' must be one of plain, login, cram-md5, xoauth2, oauthbearer",
        ),
        (
            "auth_login = \"a\nb\"\n",
            "r.route:1: `auth_login`: value must not contain a line break",
        ),
        (
            "helo_name = \"x y\"\n",
            "r.route:1: `helo_name`: bad host name 'x y'",
        ),
        (
            "smtp_port = 25x\n",
            "r.route:1: `smtp_port`: '25x' is not a valid number",
        ),
        (
            "\nmax_parallel_connections = 0\n",
            "r.route:2: `max_parallel_connections`: must be at least 1 (1 = one connection)",
        ),
        (
            "max_parallel_connections = four\n",
            "r.route:1: `max_parallel_connections`: 'four' is not a valid number",
        ),
        (
            "max_parallel_connections = -1\n",
            "r.route:1: `max_parallel_connections`: '-1' is not a valid number",
        ),
        (
            "mail_hots = x\n",
            "r.route:1: unknown option `mail_hots` (did you mean `mail_host`?)",
        ),
        (
            "wrapper = openssl\n",
            "r.route:1: `wrapper`: bad command 'openssl': program 'openssl' must be an absolute path",
        ),
        (
            "auth_secret = a\nauth_secret_command = /bin/pass\n",
            "r.route: `auth_secret_command`: `auth_secret` and `auth_secret_command` exclude each other",
        ),
    ] {
        assert_eq!(route(text).unwrap_err(), want, "{text:?}");
    }
}

#[test]
fn get_files() {
    let g = get(GET_BASE).unwrap();
    assert_eq!(
        (g.server.as_str(), g.port, g.protocol),
        ("pop.example", 110, GetProtocol::Pop3)
    );
    assert_eq!(g.address, Some(Address::new("me", "h.example")));
    assert_eq!(g.pass.as_ref().map(Secret::expose), Some("secret"));
    assert_eq!(get(&format!("{GET_BASE}tls = pop3s")).unwrap().port, 995);
    assert_eq!(
        get(&format!("{GET_BASE}tls = pop3s\nport = 1995"))
            .unwrap()
            .port,
        1995
    );
    for (text, want) in [
        (
            "user = u\npass = p\naddress = a\n",
            "g.get: missing required option `server`",
        ),
        (
            "server = s\npass = p\naddress = a\n",
            "g.get: missing required option `user`",
        ),
        (
            "server = s\nuser = u\naddress = a\n",
            "g.get: missing required option `pass`",
        ),
        (
            "server = s\nuser = u\npass = p\n",
            "g.get: missing required option `address`",
        ),
        (
            "protocol = imap\n",
            "g.get:1: `protocol`: 'imap' must be one of pop3, apop, odmr",
        ),
        (
            "sever = s\n",
            "g.get:1: unknown option `sever` (did you mean `server`?)",
        ),
    ] {
        assert_eq!(get(text).unwrap_err(), want, "{text:?}");
    }
    let login = "server = s\nuser = u\npass_command = \"/usr/bin/pass pop\"\n";
    let g = GetConf::parse_login(login.as_bytes(), Path::new("g.get"), &cfg()).unwrap();
    assert_eq!(g.address, None);
    assert_eq!(
        g.pass_command.map(|c| c.words),
        Some(vec!["/usr/bin/pass".to_string(), "pop".to_string()])
    );
}

/// R26: the same hostile inputs for the three file kinds.
#[test]
fn r26_hostile_files() {
    let mut garbage: Vec<u8> = (0..=255u8).rev().collect();
    garbage.extend_from_slice(b"\xff\xfe\x00\x01");
    let mb_line = format!("x = 1\n{}\n", "y".repeat(1 << 20));
    let cases: [(&[u8], &str); 7] = [
        (
            b"a = \"never closed\n\n",
            "t:1: unterminated quoted value of `a`",
        ),
        (
            mb_line.as_bytes(),
            "t:2: option name is 1048576 characters long (at most 255)",
        ),
        (&garbage, "t:2: NUL byte in file"),
        (
            b"\x7fELF\x02\x01",
            "t:1: expected an option name, found byte 0x7f",
        ),
        (b"key = \"\xc3\x28\"", "t:1: value is not valid UTF-8"),
        (b"mail_hots = x\r\n", "t:1: unknown option `mail_hots`"),
        (b"\r\n\r\n= x", "t:3: expected an option name, found '='"),
    ];
    for (input, want) in cases {
        let c = Config::parse(input, Path::new("t"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        let r = Route::parse(input, Path::new("t"), &cfg())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let g = GetConf::parse(input, Path::new("t"), &cfg())
            .map(|_| ())
            .map_err(|e| e.to_string());
        for got in [c, r, g] {
            let got = got.unwrap_err();
            assert!(got.starts_with(want), "{got} vs {want}");
        }
    }
    // CRLF line ends and a missing final newline read like LF files.
    let crlf = Config::parse(
        b"host_name = h.example\r\ndo_queue = yes\r\nmda = \"/bin/x a\"\r\n",
        Path::new("t"),
    )
    .unwrap();
    assert!(crlf.do_queue);
    assert_eq!(crlf.host_name, "h.example");
    assert_eq!(
        crlf.mda.map(|m| m.words),
        Some(vec!["/bin/x".to_string(), "a".to_string()])
    );
    let r = Route::parse(
        b"mail_host = m.example\r\nlast_route = yes",
        Path::new("t"),
        &cfg(),
    )
    .unwrap();
    assert!(r.last_route);
    // Both spellings of a renamed option set the same field.
    for key in ["caseless_matching", "alias_local_caseless"] {
        assert!(
            Config::parse(
                format!("host_name = h\n{key} = yes").as_bytes(),
                Path::new("t")
            )
            .unwrap()
            .caseless_matching
        );
    }
}

/// `key = value` lines built from real option names, so the property tests
/// reach the value parsers and not only the lexer.
fn statements(names: Vec<&'static str>) -> impl Strategy<Value = Vec<u8>> {
    let line = (
        proptest::sample::select(names),
        "[ -~\t\n\"\\\\;/@:]{0,40}",
        any::<bool>(),
    );
    proptest::collection::vec(line, 0..12).prop_map(|lines| {
        let mut out = Vec::new();
        for (k, v, quote) in lines {
            let v = if quote { format!("\"{v}\"") } else { v };
            out.extend_from_slice(format!("{k} = {v}\n").as_bytes());
        }
        out
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Config::parse(&bytes, Path::new("p"));
        let _ = Route::parse(&bytes, Path::new("p"), &cfg());
        let _ = GetConf::parse(&bytes, Path::new("p"), &cfg());
    }

    #[test]
    fn arbitrary_values_never_panic(main in statements(MAIN.iter().map(|o| o.name).chain(["host_name", "query_routes.x"]).collect()),
                                     rt in statements(ROUTE.iter().map(|o| o.name).collect()),
                                     gt in statements(GET.iter().map(|o| o.name).collect())) {
        let _ = Config::parse(&main, Path::new("p"));
        let _ = Route::parse(&rt, Path::new("p"), &cfg());
        let _ = GetConf::parse(&gt, Path::new("p"), &cfg());
    }

    #[test]
    fn shell_splitting_never_panics(s in "\\PC{0,60}") {
        let _ = shellwords::split(&s);
    }
}

#[test]
fn relative_paths_in_a_route_file_are_relative_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("isp.route");
    std::fs::write(
        &file,
        "tls_ca_file = \"certs/ca.pem\"\npop3_login = \"/etc/masqmail/get\"\n",
    )
    .expect("write");
    let r = Route::load(&file, &cfg()).expect("route");
    assert_eq!(r.tls_ca_file, Some(dir.path().join("certs/ca.pem")));
    assert_eq!(
        r.pop3_login.as_deref(),
        Some(Path::new("/etc/masqmail/get"))
    );
}
