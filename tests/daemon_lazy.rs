//! Lazy set-up (issue 12, small machines): a daemon with a STARTTLS
//! certificate starts without reading the system root store; the store is
//! read when a client connection first verifies against it.
//!
//! The store is redirected to a FIFO through `SSL_CERT_FILE`, which
//! rustls-native-certs honours. Opening a FIFO for reading blocks until a
//! writer comes, so a daemon that loaded the store at start would never
//! log `ready` (the harness gives up after 30 s); and a writer's
//! non-blocking open succeeds only while a reader has it open, which shows
//! the second test that the binary does read the FIFO when it needs roots.
//!
//! # Security
//! Runs the real binary as the test user inside a temp directory; the
//! listener it connects to is the test's own, on 127.0.0.1.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Env, ca, daemon::free_port};

fn fifo(env: &Env) -> PathBuf {
    let path = env.path("roots.pem");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    path
}

/// A writer end, when some process has the FIFO open for reading
/// (ENXIO otherwise).
fn writer(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[test]
fn daemon_with_a_certificate_starts_without_the_system_roots() {
    let env = Env::new("");
    let ca = ca::make(&env.path("ca"));
    let port = free_port();
    env.add_conf(&format!(
        "listen_addresses = \"127.0.0.1:{port}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
        ca.cert_pem.display(),
        ca.key_pem.display()
    ));
    let roots = fifo(&env);
    let d = env.start_daemon_with(&[], port, |c| {
        c.env("SSL_CERT_FILE", &roots).env_remove("SSL_CERT_DIR");
    });
    let open = writer(&roots).map(|_| ()).map_err(|e| e.raw_os_error());
    assert_eq!(open, Err(Some(libc::ENXIO)), "nobody reads the roots");
    assert!(d.stop().success());
}

#[test]
fn a_verifying_client_connection_reads_the_system_roots() {
    let env = Env::new("");
    // Accepted by the kernel, never answered: the fetch gets as far as
    // its TLS set-up and then waits (it is killed below).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let get = env.path("isp.get");
    std::fs::write(
        &get,
        format!("server = 127.0.0.1\nport = {port}\nuser = joe\npass = secret\naddress = joe\ntls = pop3s\n"),
    )
    .expect("get file");
    env.add_conf(&format!("get.isp = \"{}\"", get.display()));
    let roots = fifo(&env);
    let mut fetch = env.cmd();
    fetch
        .args(["-g", "isp"])
        .env("SSL_CERT_FILE", &roots)
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = fetch.spawn().expect("spawn -g");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut w = loop {
        match writer(&roots) {
            Ok(w) => break w,
            Err(_) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "-g ended ({status}) before reading the roots\nlog: {}",
                        env.log()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the fetch never opened the roots: {e}\nlog: {}", env.log());
            }
        }
    };
    let ca = ca::make(&env.path("ca"));
    // The reader may be gone already (it is killed next): a failed write
    // is no failure of the test.
    let _ = w.write_all(&std::fs::read(&ca.ca_pem).expect("ca pem"));
    drop(w);
    let _ = child.kill();
    let _ = child.wait();
    drop(listener);
}
