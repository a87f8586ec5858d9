//! The ODMR client (RFC 2645) in-process against the test provider
//! (`support/odmr.rs`) on a temporary spool: the opening (STARTTLS or
//! implicit TLS with the test CA, AUTH), ATRN and its refusals, then our
//! SMTP server on the turned connection: what it spools, what it refuses.

mod support;

use std::sync::Arc;

use masqmail::config::{AuthMech, Config, GetConf};
use masqmail::inbound::fetch::odmr::{self, OdmrError, OdmrSummary};
use masqmail::inbound::smtp::ServerCtx;
use masqmail::spool::Spool;
use support::ca;
use support::odmr::{Atrn, OdmrConfig, OdmrServer, TestMsg};

const PASS: &str = "s3cret-odmr";

struct Site {
    dir: tempfile::TempDir,
    cfg: Arc<Config>,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        for d in ["spool", "lock", "log", "mail", "run"] {
            std::fs::create_dir(r.join(d)).expect("mkdir");
        }
        let text = format!(
            "host_name = \"mx.example\"\nrun_as_user = true\ndo_queue = true\nqueue_minfree = 0\n\
             spool_dir = \"{r}/spool\"\nlock_dir = \"{r}/lock\"\nlog_dir = \"{r}/log\"\n\
             mail_dir = \"{r}/mail\"\npid_dir = \"{r}/run\"\n",
            r = r.display()
        );
        let cfg = Config::parse(text.as_bytes(), &r.join("masqmail.conf")).expect("config");
        Site {
            dir,
            cfg: Arc::new(cfg),
        }
    }

    fn get(&self, server: &OdmrServer, extra: &str) -> GetConf {
        let text = format!(
            "protocol = odmr\nserver = 127.0.0.1\nport = {}\nuser = jo\npass = {PASS}\n\
             domains = \"example.org; second.example\"\n{extra}\n",
            server.port()
        );
        let file = self.dir.path().join("isp.get");
        std::fs::write(&file, text).expect("write get file");
        GetConf::load(&file, &self.cfg).expect("get file")
    }

    fn run(&self, get: &GetConf) -> Result<OdmrSummary, OdmrError> {
        let spool = Spool::open(&self.cfg.spool_dir, &self.cfg.lock_dir).expect("spool");
        let ctx = Arc::new(ServerCtx::new(self.cfg.clone(), spool, None, None));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(odmr::run(get, ctx))
    }

    fn spool_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.cfg.spool_dir)
            .expect("spool dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// The `-H` files' texts.
    fn headers(&self) -> Vec<String> {
        self.spool_files()
            .iter()
            .filter(|n| n.ends_with("-H"))
            .map(|n| std::fs::read_to_string(self.cfg.spool_dir.join(n)).expect("-H"))
            .collect()
    }

    fn ca(&self) -> ca::TestCa {
        ca::make(&self.dir.path().join("ca"))
    }
}

fn msg(n: usize, rcpts: &[&str]) -> TestMsg {
    TestMsg {
        from: "sender@far.example".into(),
        rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
        text: format!("Subject: odmr {n}\r\n\r\nbody {n}\r\n.dot line\r\n"),
    }
}

fn provider(tls: Option<&ca::TestCa>, f: impl FnOnce(&mut OdmrConfig)) -> OdmrServer {
    let mut cfg = OdmrConfig {
        user: "jo".into(),
        pass: PASS.into(),
        tls: tls.map(|c| (c.cert_pem.clone(), c.key_pem.clone())),
        ..OdmrConfig::default()
    };
    f(&mut cfg);
    OdmrServer::start(cfg)
}

/// No line the provider received in clear holds the password (raw or in
/// PLAIN/LOGIN base64), and no error text either.
fn password_kept(server: &OdmrServer, err: Option<&OdmrError>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        PASS.to_string(),
        b64.encode(PASS),
        b64.encode(format!("\0jo\0{PASS}")),
    ];
    for (line, tls) in server.lines() {
        if !tls {
            assert!(!line.starts_with("AUTH"), "AUTH in clear: {line}");
            for f in &forms {
                assert!(!line.contains(f.as_str()), "password in clear: {line}");
            }
        }
    }
    if let Some(e) = err {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(PASS), "{text}");
    }
}

#[test]
fn starttls_auth_plain_then_messages_spooled() {
    let site = Site::new();
    let ca = site.ca();
    let server = provider(Some(&ca), |c| {
        c.mechs = "PLAIN".into();
        c.messages = vec![
            msg(1, &["bob@example.org"]),
            msg(2, &["carol@Second.Example", "dave@example.org"]),
        ];
    });
    let get = site.get(
        &server,
        &format!("tls = starttls\ntls_ca_file = \"{}\"", ca.ca_pem.display()),
    );
    let summary = site.run(&get).expect("odmr run");
    assert_eq!(
        summary,
        OdmrSummary {
            accepted: 2,
            no_mail: false,
            tls: true,
            auth: AuthMech::Plain
        }
    );
    server.wait_done();
    assert_eq!(server.atrn(), ["example.org,second.example"]);
    assert!(
        server.greeting().starts_with("220 mx.example"),
        "{}",
        server.greeting()
    );
    assert!(
        server.quit_reply().starts_with("221"),
        "{}",
        server.quit_reply()
    );
    let lines = server.lines();
    assert!(
        lines
            .iter()
            .any(|(l, tls)| l.starts_with("AUTH PLAIN") && *tls)
    );
    assert!(lines.iter().any(|(l, tls)| l.starts_with("ATRN") && *tls));
    password_kept(&server, None);
    for r in server.replies() {
        assert!(r.mail.starts_with("250"), "{r:?}");
        assert!(r.rcpts.iter().all(|x| x.starts_with("250")), "{r:?}");
        assert!(
            r.data[0].starts_with("354") && r.data[1].starts_with("250"),
            "{r:?}"
        );
    }
    let headers = site.headers().join("\n");
    assert_eq!(site.headers().len(), 2);
    for rcpt in [
        "bob@example.org",
        "carol@Second.Example",
        "dave@example.org",
    ] {
        assert!(headers.contains(&format!("<{rcpt}>")), "{rcpt}: {headers}");
    }
    assert!(headers.contains("sender@far.example"), "{headers}");
    assert!(!site.spool_files().iter().any(|n| n.ends_with(".tmp")));
}

#[test]
fn implicit_tls_with_pop3s() {
    let site = Site::new();
    let ca = site.ca();
    let server = provider(Some(&ca), |c| {
        c.smtps = true;
        c.messages = vec![msg(1, &["bob@example.org"])];
    });
    let get = site.get(
        &server,
        &format!("tls = pop3s\ntls_ca_file = \"{}\"", ca.ca_pem.display()),
    );
    let summary = site.run(&get).expect("odmr run");
    assert_eq!((summary.accepted, summary.tls), (1, true));
    assert_eq!(summary.auth, AuthMech::CramMd5);
    server.wait_done();
    assert!(server.lines().iter().all(|(_, tls)| *tls));
    assert_eq!(site.headers().len(), 1);
}

#[test]
fn cram_md5_in_clear_only_with_tls_none() {
    let site = Site::new();
    let server = provider(None, |c| c.messages = vec![msg(1, &["bob@example.org"])]);
    let get = site.get(&server, "tls = none");
    let summary = site.run(&get).expect("odmr run");
    assert_eq!((summary.accepted, summary.tls), (1, false));
    assert_eq!(summary.auth, AuthMech::CramMd5);
    server.wait_done();
    assert_eq!(site.headers().len(), 1);
}

#[test]
fn password_never_in_clear_without_tls_none() {
    let site = Site::new();
    // No STARTTLS offered; the get file leaves tls at its default.
    let server = provider(None, |c| c.messages = vec![msg(1, &["bob@example.org"])]);
    let get = site.get(&server, "");
    let err = site
        .run(&get)
        .expect_err("must refuse to send the password");
    assert!(matches!(err, OdmrError::Session { .. }), "{err}");
    assert!(err.to_string().contains("unencrypted"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:"), "{err}");
    server.wait_done();
    password_kept(&server, Some(&err));
    assert!(server.atrn().is_empty());
    assert!(site.headers().is_empty());

    // tls = starttls and the server does not offer it.
    let server = provider(None, |_| {});
    let get = site.get(&server, "tls = starttls");
    let err = site.run(&get).expect_err("STARTTLS required");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    server.wait_done();
    password_kept(&server, Some(&err));
}

#[test]
fn wrong_password_is_an_error_naming_the_server_not_the_password() {
    let site = Site::new();
    let server = provider(None, |c| c.pass = "other".into());
    let get = site.get(&server, "tls = none");
    let err = site.run(&get).expect_err("bad password");
    assert!(err.to_string().contains("535"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:"), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASS), "{err:?}");
    assert!(server.atrn().is_empty());
}

#[test]
fn no_mail_waiting_ends_politely() {
    let site = Site::new();
    let server = provider(None, |c| c.atrn = Atrn::NoMail);
    let get = site.get(&server, "tls = none");
    let summary = site.run(&get).expect("453 is not an error");
    assert_eq!((summary.accepted, summary.no_mail), (0, true));
    server.wait_done();
    assert_eq!(server.lines().last().map(|l| l.0.as_str()), Some("QUIT"));
    assert!(site.spool_files().is_empty());
}

#[test]
fn atrn_refused_is_an_error() {
    let site = Site::new();
    let server = provider(None, |c| c.atrn = Atrn::Refuse);
    let get = site.get(&server, "tls = none");
    let err = site.run(&get).expect_err("450");
    assert!(matches!(err, OdmrError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("450"), "{err}");
    server.wait_done();
    assert_eq!(server.lines().last().map(|l| l.0.as_str()), Some("QUIT"));
    assert!(site.spool_files().is_empty());
}

#[test]
fn recipients_outside_the_atrn_domains_are_refused() {
    let site = Site::new();
    let server = provider(None, |c| {
        c.messages = vec![
            msg(1, &["eve@elsewhere.example", "bob@example.org"]),
            msg(2, &["root@mx.example"]),
            msg(3, &["u%far.example@example.org"]),
        ]
    });
    let get = site.get(&server, "tls = none");
    let summary = site.run(&get).expect("odmr run");
    assert_eq!(summary.accepted, 1);
    server.wait_done();
    let r = server.replies();
    assert_eq!(r.len(), 3);
    assert!(r[0].rcpts[0].starts_with("550 5.7.1"), "{:?}", r[0]);
    assert!(r[0].rcpts[1].starts_with("250"), "{:?}", r[0]);
    assert!(r[0].data[1].starts_with("250"), "{:?}", r[0]);
    assert!(r[1].rcpts[0].starts_with("550 5.7.1"), "{:?}", r[1]);
    assert!(r[2].rcpts[0].starts_with("550 5.7.1"), "{:?}", r[2]);
    let headers = site.headers();
    assert_eq!(headers.len(), 1);
    assert!(headers[0].contains("<bob@example.org>"));
    assert!(!headers[0].contains("eve@"), "{}", headers[0]);
}

#[test]
fn a_drop_in_the_middle_of_data_spools_only_what_was_finished() {
    let site = Site::new();
    let server = provider(None, |c| {
        c.messages = vec![
            msg(1, &["bob@example.org"]),
            msg(2, &["carol@example.org"]),
            msg(3, &["dave@example.org"]),
        ];
        c.drop_in_data = Some(1);
    });
    let get = site.get(&server, "tls = none");
    let summary = site.run(&get).expect("a dropped provider is not our error");
    assert_eq!(summary.accepted, 1);
    server.wait_done();
    let headers = site.headers();
    assert_eq!(headers.len(), 1, "{:?}", site.spool_files());
    assert!(headers[0].contains("<bob@example.org>"));
    let files = site.spool_files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(!files.iter().any(|n| n.ends_with(".tmp")), "{files:?}");
}

/// `masqmail -g NAME` with `protocol = odmr`: the real binary turns the
/// connection, spools what the provider sends and delivers it locally.
#[test]
fn g_runs_odmr_and_delivers() {
    let env = support::Env::new("local_hosts = \"localhost;example.org\"");
    let ca = ca::make(&env.path("ca"));
    let server = provider(Some(&ca), |c| {
        c.mechs = "CRAM-MD5 PLAIN".into();
        c.messages = vec![msg(1, &["bob@example.org"]), msg(2, &["bob@example.org"])];
    });
    let get = env.path("odmr.get");
    std::fs::write(
        &get,
        format!(
            "protocol = odmr\nserver = 127.0.0.1\nport = {}\nuser = jo\npass = {PASS}\n\
             domains = example.org\ntls_ca_file = \"{}\"\n",
            server.port(),
            ca.ca_pem.display()
        ),
    )
    .unwrap();
    env.add_conf(&format!("get.odmr = \"{}\"", get.display()));
    env.ok(&["-g", "odmr"], b"");
    server.wait_done();
    let msgs = support::mbox_messages(&env.mbox("bob"));
    assert_eq!(msgs.len(), 2, "{}", env.log());
    assert!(msgs[0].contains("body 1"));
    assert!(
        env.log().contains("ODMR: 2 message(s) received"),
        "{}",
        env.log()
    );
}
