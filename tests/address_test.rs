//! `masqmail -bt ADDRESS…` (issue 10): what would happen to mail for each
//! address, checked for local, alias, routed and MX cases. Nothing is
//! sent or spooled.

mod support;
use std::fs;

use support::*;

/// An env that is online as `isp` (online_detect = file) with two routes
/// in the `isp` set: one that refuses remote.example, one smarthost.
fn online_env() -> Env {
    let env = Env::new("");
    let aliases = env.path("aliases");
    fs::write(&aliases, "team: alice, bob@remote.example\n").unwrap();
    fs::write(
        env.path("picky.route"),
        "denied_recipients = \"*@remote.example\"\nmail_host = \"picky.example\"\n",
    )
    .unwrap();
    fs::write(
        env.path("isp.route"),
        "mail_host = \"smtp.provider.example:587\"\nset_return_path_domain = \"provider.example\"\n\
         set_h_from_domain = \"provider.example\"\nlast_route = true\n",
    )
    .unwrap();
    fs::write(env.path("mx.route"), "").unwrap();
    fs::write(env.path("online"), "isp\n").unwrap();
    env.add_conf(&format!(
        "alias_file = \"{a}\"\nonline_detect = file\nonline_file = \"{o}\"\n\
         query_routes.isp = \"{p};{i};{m}\"\n",
        a = aliases.display(),
        o = env.path("online").display(),
        p = env.path("picky.route").display(),
        i = env.path("isp.route").display(),
        m = env.path("mx.route").display(),
    ));
    env
}

#[test]
fn local_address_names_the_mailbox() {
    let env = Env::new("");
    let out = env.ok(&["-bt", "alice"], b"");
    let mbox = env.path("mail/alice");
    assert!(out.contains(&format!("<alice@{HOST}>")), "{out}");
    assert!(
        out.contains(&format!("<alice@{HOST}>: local, mbox {}", mbox.display())),
        "{out}"
    );
    assert!(env.spool_files().is_empty(), "nothing is spooled");
}

#[test]
fn alias_expansion_then_each_target() {
    let env = online_env();
    let out = env.ok(&["-bt", "team"], b"");
    assert!(
        out.contains(&format!(
            "alias: expands to <alice@{HOST}>, <bob@remote.example>"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("<alice@{HOST}>: local, mbox")),
        "{out}"
    );
    assert!(out.contains("<bob@remote.example>: remote"), "{out}");
}

#[test]
fn routed_address_shows_each_route_and_the_rewriting() {
    let env = online_env();
    let out = env.ok(&["-bt", "bob@remote.example"], b"");
    let login = whoami();
    let picky = env.path("picky.route");
    let isp = env.path("isp.route");
    let mx = env.path("mx.route");
    for want in [
        "online connection: isp".to_string(),
        format!(
            "route {}: does not take it: listed in denied_recipients",
            picky.display()
        ),
        format!("route {}: takes it (last_route)", isp.display()),
        format!("MAIL FROM: <{login}@provider.example>"),
        format!("From: {login}@provider.example"),
        "transport: smtp to smtp.provider.example:587".to_string(),
        format!(
            "route {}: not offered (an earlier last_route took it)",
            mx.display()
        ),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(env.spool_files().is_empty(), "nothing is spooled");
}

#[test]
fn mx_route_and_offline() {
    let env = online_env();
    // Without the isp route's last_route claim the MX route is reached.
    fs::write(env.path("isp.route"), "allowed_recipients = \"nobody@*\"\n").unwrap();
    let out = env.ok(&["-bt", "carol@far.example"], b"");
    assert!(
        out.contains("transport: smtp to the mail exchangers of far.example"),
        "{out}"
    );
    assert!(
        out.contains("does not take it: not listed in allowed_recipients"),
        "{out}"
    );
    fs::remove_file(env.path("online")).unwrap();
    let out = env.ok(&["-bt", "carol@far.example"], b"");
    assert!(out.contains("online connection: none"), "{out}");
    assert!(
        out.contains("no route takes it now: it stays queued"),
        "{out}"
    );
}

#[test]
fn bad_or_missing_addresses_are_errors() {
    let env = Env::new("");
    let out = env.run(&["-bt"], b"");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("--help"));
    let out = env.run(&["-bt", "a@@b"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid recipient address 'a@@b'"));
}

fn whoami() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
}
