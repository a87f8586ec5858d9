//! A throwaway POP3 mailbox for `examples/try.sh`: it stands in for the
//! provider's POP3 server, so the try can show masqmail fetching mail
//! without network or root. It is the test suite's POP3 server
//! (`tests/support/pop3.rs`), serving the given message files to one user
//! on a free port of 127.0.0.1; it prints the port and serves until killed.
//!
//! Usage: `pop3_source USER PASSWORD MESSAGE_FILE...`
//!
//! # Security
//! Plain POP3 on loopback with a password given on the command line: for
//! the demonstration only, never for real mail.

#[path = "../tests/support/pop3.rs"]
mod pop3;

use std::io::Write;

use pop3::{Pop3Config, Pop3Server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [user, pass, files @ ..] = args.as_slice() else {
        eprintln!("usage: pop3_source USER PASSWORD MESSAGE_FILE...");
        std::process::exit(64);
    };
    let mut messages = Vec::new();
    for f in files {
        match std::fs::read(f) {
            Ok(m) => messages.push(m),
            Err(e) => {
                eprintln!("pop3_source: {f}: {e}");
                std::process::exit(66);
            }
        }
    }
    let server = Pop3Server::start(Pop3Config {
        users: vec![(user.clone(), pass.clone())],
        messages,
        ..Pop3Config::default()
    });
    println!("{}", server.port());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
