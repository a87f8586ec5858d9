//! The systemd notification protocol (sd_notify(3)), for `Type=notify`
//! units: `READY=1` once the daemon serves, `RELOADING=1` and `READY=1`
//! around a SIGHUP reload, `STOPPING=1` when it stops.
//!
//! A datagram to the socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`); without the variable nothing happens,
//! so the daemon behaves the same outside systemd. A few lines of std
//! instead of a crate: the protocol is one datagram.
//!
//! # Security
//! The socket name comes from our environment, set by whoever started us
//! (systemd); we only ever send the fixed state strings above to it.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (newline-separated `KEY=VALUE` lines) to systemd, if it
/// asked for notifications. Failures are logged, never fatal.
pub fn notify(state: &str) {
    let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let bytes = name.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(abstract_name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
                sock.send_to_addr(state.as_bytes(), &addr)
            }
            None => sock.send_to(state.as_bytes(), &name),
        }
    });
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd ({}): {e}", name.to_string_lossy());
    }
}

/// `RELOADING=1` with the monotonic time systemd's `Type=notify-reload`
/// requires (it ignores a reload notice without it).
pub fn reloading() {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={now}"));
}
