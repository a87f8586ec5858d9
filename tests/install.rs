//! install.sh against the binaries cargo built for this test run: files
//! land under DESTDIR/PREFIX, links point at masqmail, the manual pages
//! render without warnings, the installed binary runs and finds its
//! templates, and the ppp / NetworkManager hooks call `masqmail -qo NAME`
//! and then `masqmail -go NAME`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_masqmail"))
        .parent()
        .expect("binary has a directory")
        .to_path_buf()
}

fn install(destdir: &Path, args: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg("install.sh")
        .arg("--no-build")
        .args(args)
        .current_dir(MANIFEST)
        .env("DESTDIR", destdir)
        .env("PREFIX", "/usr")
        .env("MASQMAIL_BIN_DIR", bin_dir())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "install.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

const PAGES: &[&str] = &[
    "man5/masqmail.conf.5",
    "man5/masqmail.route.5",
    "man5/masqmail.get.5",
    "man5/masqmail.aliases.5",
    "man8/masqmail.8",
    "man8/mservdetect.8",
];

#[test]
fn files_land_where_they_belong() {
    let dest = tempfile::tempdir().expect("tempdir");
    let out = install(dest.path(), &["--lib-sendmail"]);
    let usr = dest.path().join("usr");
    let sbin = usr.join("sbin");

    assert_eq!(mode(&sbin.join("masqmail")), 0o755);
    for link in ["sendmail", "mailq", "newaliases", "runq", "mailrm"] {
        let target = fs::read_link(sbin.join(link)).expect(link);
        assert_eq!(target, Path::new("masqmail"), "{link}");
    }
    assert_eq!(
        fs::read_link(usr.join("lib/sendmail")).expect("lib/sendmail"),
        Path::new("../sbin/masqmail")
    );
    assert_eq!(mode(&usr.join("bin/mservdetect")), 0o755);
    for tpl in ["failmsg.tpl", "warnmsg.tpl"] {
        assert!(usr.join("share/masqmail/tpl").join(tpl).is_file(), "{tpl}");
    }
    for page in PAGES {
        assert!(usr.join("share/man").join(page).is_file(), "{page}");
    }
    assert!(usr.join("share/doc/masqmail/masqmail.conf").is_file());
    assert!(usr.join("share/doc/masqmail/isp.get").is_file());

    let dist = usr.join("share/masqmail/dist");
    let unit = fs::read_to_string(dist.join("systemd/masqmail.service")).expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/sbin/masqmail -bD -q30m"),
        "{unit}"
    );
    assert!(unit.contains("Type=notify\n"), "{unit}");
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    for script in [
        "ppp/ip-up.d/masqmail",
        "ppp/ip-down.d/masqmail",
        "networkmanager/90-masqmail",
    ] {
        assert_eq!(mode(&dist.join(script)), 0o755, "{script}");
    }
    assert!(dest.path().join("etc/masqmail/masqmail.conf").is_file());
    assert!(dest.path().join("etc/masqmail/aliases").is_file());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("systemctl enable"), "{said}");
}

#[test]
fn an_existing_config_is_never_replaced() {
    let dest = tempfile::tempdir().expect("tempdir");
    let etc = dest.path().join("etc/masqmail");
    fs::create_dir_all(&etc).expect("mkdir");
    fs::write(etc.join("masqmail.conf"), "host_name = \"mine.example\"\n").expect("write");
    let out = install(dest.path(), &[]);
    assert_eq!(
        fs::read_to_string(etc.join("masqmail.conf")).expect("read"),
        "host_name = \"mine.example\"\n"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept the existing"));
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new("sh")
        .args(["install.sh", "--help"])
        .current_dir(MANIFEST)
        .output()
        .expect("sh");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("DESTDIR"));
    let bad = Command::new("sh")
        .args(["install.sh", "--frobnicate"])
        .current_dir(MANIFEST)
        .output()
        .expect("sh");
    assert_eq!(bad.status.code(), Some(64));
}

#[test]
fn manual_pages_render_without_warnings() {
    let dir = Path::new(MANIFEST).join("man");
    let pages: Vec<PathBuf> = PAGES
        .iter()
        .map(|p| dir.join(Path::new(p).file_name().expect("name")))
        .collect();
    if have("groff") {
        for page in &pages {
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(page)
                .output()
                .expect("groff");
            assert!(out.status.success(), "{}", page.display());
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "",
                "{}",
                page.display()
            );
        }
    }
    if have("man") {
        for page in &pages {
            let out = Command::new("man")
                .arg("-l")
                .arg(page)
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .env("MANWIDTH", "80")
                .output()
                .expect("man");
            assert!(out.status.success(), "{}", page.display());
            assert!(!out.stdout.is_empty(), "{}", page.display());
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "",
                "{}",
                page.display()
            );
        }
    }
}

#[test]
fn installed_binary_runs_and_finds_its_templates() {
    let dest = tempfile::tempdir().expect("tempdir");
    install(dest.path(), &["--no-config"]);
    let masqmail = dest.path().join("usr/sbin/masqmail");
    let v = Command::new(&masqmail).arg("-bV").output().expect("-bV");
    assert!(v.status.success());
    assert!(!v.stdout.is_empty());

    // A failing MDA makes masqmail write a failure notice, which needs
    // failmsg.tpl: found only through <sbin>/../share/masqmail/tpl here.
    let work = tempfile::tempdir().expect("tempdir");
    let r = work.path();
    fs::create_dir_all(r.join("mail")).expect("mail_dir");
    let mda = r.join("fail-mda");
    fs::write(
        &mda,
        "#!/bin/sh\ncat >/dev/null\necho 'no such box'\nexit 67\n",
    )
    .expect("mda");
    fs::set_permissions(&mda, fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = r.join("masqmail.conf");
    fs::write(
        &conf,
        format!(
            "host_name = \"test.example\"\nrun_as_user = true\nspool_dir = \"spool\"\n\
             lock_dir = \"lock\"\nlog_dir = \"log\"\nmail_dir = \"mail\"\npid_dir = \"run\"\n\
             mda_users = \"bob\"\nmda = \"{}\"\n",
            mda.display()
        ),
    )
    .expect("conf");
    let mut child = Command::new(&masqmail)
        .arg("-C")
        .arg(&conf)
        .args(["-f", "sender", "bob"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"Subject: doomed\n\nbody\n")
            .expect("write");
    }
    assert!(child.wait().expect("wait").success());
    let notice = wait_for(&r.join("mail/sender"));
    let template = fs::read_to_string(Path::new(MANIFEST).join("tpl/failmsg.tpl")).expect("tpl");
    let subject = template
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .expect("template has a subject");
    assert!(notice.contains(subject), "{notice}");
}

/// Waits (a few seconds at most) until `path` exists and is not empty.
fn wait_for(path: &Path) -> String {
    wait_for_lines(path, 1)
}

/// Waits (a few seconds at most) until `path` holds `n` complete lines.
fn wait_for_lines(path: &Path, n: usize) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = fs::read_to_string(path)
            && text.matches('\n').count() >= n
        {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fake `masqmail` first in PATH that records its arguments, one line
/// per call.
fn fake_masqmail(dir: &Path) -> PathBuf {
    let log = dir.join("args");
    let fake = dir.join("masqmail");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\n{{ printf '[%s]' \"$@\"; echo; }} >>'{}'\n",
            log.display()
        ),
    )
    .expect("fake");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
    log
}

fn run_hook(script: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) {
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let mut cmd = Command::new("sh");
    cmd.arg(Path::new(MANIFEST).join(script))
        .args(args)
        .env_clear()
        .env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("hook");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ppp_hook_runs_the_connection_of_the_link() {
    let ppp = ["ppp0", "/dev/ttyS0", "38400", "10.0.0.1", "10.0.0.2"];
    // (extra arguments after the five of pppd, environment, expected argv)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["provider"], &[], "[-qo][provider]\n[-go][provider]"),
        (&[], &[("PPP_IPPARAM", "dsl")], "[-qo][dsl]\n[-go][dsl]"),
        (&[""], &[("PPP_IPPARAM", "dsl")], "[-qo][dsl]\n[-go][dsl]"),
        (&[], &[], "[-qo][ppp]\n[-go][ppp]"),
    ];
    for (extra, env, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = fake_masqmail(dir.path());
        let args: Vec<&str> = ppp.iter().chain(extra.iter()).copied().collect();
        run_hook("dist/ppp/ip-up.d/masqmail", &args, env, dir.path());
        assert_eq!(
            wait_for_lines(&log, 2).trim_end(),
            *want,
            "{extra:?} {env:?}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = fake_masqmail(dir.path());
    run_hook("dist/ppp/ip-down.d/masqmail", &ppp, &[], dir.path());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!log.exists(), "ip-down must not run masqmail");
}

#[test]
fn networkmanager_hook_acts_on_up_only() {
    for (action, runs) in [
        ("up", true),
        ("vpn-up", true),
        ("down", false),
        ("dhcp4-change", false),
        ("pre-up", false),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = fake_masqmail(dir.path());
        run_hook(
            "dist/networkmanager/90-masqmail",
            &["wlan0", action],
            &[("CONNECTION_ID", "Home WLAN")],
            dir.path(),
        );
        if runs {
            assert_eq!(
                wait_for_lines(&log, 2).trim_end(),
                "[-qo][Home WLAN]\n[-go][Home WLAN]",
                "{action}"
            );
        } else {
            std::thread::sleep(Duration::from_millis(200));
            assert!(!log.exists(), "{action} must not run masqmail");
        }
    }
}

#[test]
fn the_starting_config_is_valid() {
    if !Path::new("/etc/hostname").is_file() {
        return; // its host_name comes from that file
    }
    // The installed file, with the directories moved into a tempdir
    // (later assignments win), so nothing outside it is touched.
    let work = tempfile::tempdir().expect("tempdir");
    let conf = work.path().join("masqmail.conf");
    let text = fs::read_to_string(Path::new(MANIFEST).join("dist/masqmail.conf")).expect("read")
        + "run_as_user = true\nspool_dir = \"spool\"\nlock_dir = \"lock\"\n\
           log_dir = \"log\"\nmail_dir = \"mail\"\npid_dir = \"run\"\n";
    fs::write(&conf, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_masqmail"))
        .arg("-C")
        .arg(&conf)
        .arg("-bp")
        .output()
        .expect("masqmail -bp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
