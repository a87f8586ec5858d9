//! The masqdialer status dialogue (delivery.md §17), used by
//! `online_detect = mserver` and the `mservdetect` helper.
//!
//! # Security
//! The server's lines are bounded (512 bytes) and every read and the
//! connect have a time limit; the name is returned only when the status
//! says the link is up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Per step (connect, each line).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Longest status line read.
const MAX_LINE: u64 = 512;

/// `Ok(Some(name))` when the server reports the link up.
pub fn query(host: &str, port: u16, timeout: Duration) -> std::io::Result<Option<String>> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(4 * MAX_LINE));
    let mut writer = stream;
    let greeting = read_line(&mut reader)?;
    if !greeting.starts_with("READY") {
        return Err(std::io::Error::other(format!(
            "unexpected greeting {greeting:?}"
        )));
    }
    writer.write_all(b"STAT\n")?;
    let status = read_line(&mut reader)?;
    let _ = writer.write_all(b"QUIT");
    parse_status(&status)
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    r.take(MAX_LINE).read_until(b'\n', &mut line)?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// `UP name:n` with n ≥ 0 → online `name`; `DOWN` → offline.
pub fn parse_status(line: &str) -> std::io::Result<Option<String>> {
    if line.starts_with("DOWN") {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix("UP") else {
        return Err(std::io::Error::other(format!("unexpected status {line:?}")));
    };
    let rest = rest.get(1..).unwrap_or("");
    let Some((name, count)) = rest.split_once(':') else {
        return Err(std::io::Error::other(format!("unexpected status {line:?}")));
    };
    let up = count.trim().parse::<i64>().is_ok_and(|n| n >= 0);
    Ok((up && !name.is_empty()).then(|| name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("UP isp:1").unwrap().as_deref(), Some("isp"));
        assert_eq!(parse_status("UP isp:0").unwrap().as_deref(), Some("isp"));
        assert_eq!(parse_status("UP isp:-1").unwrap(), None);
        assert_eq!(parse_status("UP isp:").unwrap(), None);
        assert_eq!(parse_status("DOWN").unwrap(), None);
        assert!(parse_status("UP isp").is_err());
        assert!(parse_status("WHAT").is_err());
    }

    #[test]
    fn dialogue_with_a_server() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            s.write_all(b"READY\n").expect("write");
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).expect("read");
            assert_eq!(&buf, b"STAT\n");
            s.write_all(b"UP dsl:2\n").expect("write");
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            rest
        });
        let name = query("127.0.0.1", port, Duration::from_secs(5)).expect("query");
        assert_eq!(name.as_deref(), Some("dsl"));
        assert_eq!(server.join().expect("server"), b"QUIT");
    }
}
