//! The connection the administrator told us about: `masqmail -qo NAME`
//! (typically from ppp's `ip-up` or an ifupdown/NetworkManager hook)
//! records NAME as online, `masqmail --offline` (from `ip-down`) ends it.
//! Used only when no other way to ask is configured (no `online_query`,
//! no `online_detect`): then the daemon's relay rights per connection
//! (`relay_nets.NAME`), its interval queue runs and `-bt` follow the last
//! word of those hooks instead of having no connection at all.
//!
//! The record is `<lock_dir>/online-connection`: the name on the first
//! line, the kernel's boot id on the second. Guarantees:
//! * a record from an earlier boot is ignored (a laptop switched off at
//!   home and booted in a hotel has no connection until told again); the
//!   lock directory is usually on a tmpfs anyway;
//! * it is written atomically (temp file, rename, directory sync), so a
//!   reader sees the old record or the new one, never half of one;
//! * anything unreadable, malformed or from another boot is "no
//!   connection" — fail closed, as [`super::connection_name`] always is.
//!
//! # Security
//! The lock directory belongs to the mail user and only privileged
//! callers may run `-qo` or `--offline` (checked by the mode). The file
//! is opened relative to that directory, never through a symlink, and
//! must be a regular file; at most [`super::MAX_NAME`] bytes of the name
//! are used, and a name is only ever a key into the configuration.

use std::io::{self, Read};

use crate::config::Config;
use crate::fs::durable::Dir;

/// The record's file name in the lock directory.
pub const FILE: &str = "online-connection";

/// Where the kernel gives this boot's random id.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Whether the record is consulted: no other way to ask is configured.
pub fn applies(cfg: &Config) -> bool {
    cfg.online_query.is_none() && cfg.online_detect.is_none()
}

/// Records `name` as the connection online now.
pub fn record(cfg: &Config, name: &str) -> io::Result<()> {
    let dir = Dir::open(&cfg.lock_dir)?;
    let text = format!("{name}\n{}\n", boot_id());
    dir.write_durably(FILE, text.as_bytes(), 0o644)
}

/// Ends the record: no connection until told again.
pub fn clear(cfg: &Config) -> io::Result<()> {
    let dir = Dir::open(&cfg.lock_dir)?;
    match dir.remove(FILE) {
        Ok(()) => dir.sync(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The recorded connection of this boot, if any.
pub fn read(cfg: &Config) -> Option<String> {
    let text = match read_file(cfg) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("{}: {e}", cfg.lock_dir.join(FILE).display());
            return None;
        }
    };
    let mut lines = text.lines();
    let name = super::first_line(lines.next()?.as_bytes(), str::trim)?;
    if lines.next().map(str::trim) != Some(boot_id().as_str()) {
        tracing::info!("connection {name} was recorded before this boot: not online");
        return None;
    }
    Some(name)
}

fn read_file(cfg: &Config) -> io::Result<String> {
    let dir = Dir::open(&cfg.lock_dir)?;
    let mut bytes = Vec::new();
    // The name and a boot id fit easily; more is not ours.
    dir.open_regular(FILE)?.take(1024).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// This boot's id; without one (no procfs) a fixed word, so that a record
/// still works but only the hooks end it.
fn boot_id() -> String {
    std::fs::read_to_string(BOOT_ID)
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-boot".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &std::path::Path) -> Config {
        let mut cfg = Config::with_host_name("h");
        cfg.lock_dir = dir.to_path_buf();
        cfg
    }

    #[test]
    fn recorded_read_back_and_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = cfg(dir.path());
        assert_eq!(read(&cfg), None);
        record(&cfg, "home").expect("record");
        assert_eq!(read(&cfg).as_deref(), Some("home"));
        record(&cfg, "hotel").expect("record");
        assert_eq!(read(&cfg).as_deref(), Some("hotel"));
        clear(&cfg).expect("clear");
        assert_eq!(read(&cfg), None);
        clear(&cfg).expect("clearing twice is fine");
    }

    #[test]
    fn another_boot_or_junk_is_no_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = cfg(dir.path());
        std::fs::write(dir.path().join(FILE), "home\nsome-other-boot\n").expect("write");
        assert_eq!(read(&cfg), None, "a record of an earlier boot");
        std::fs::write(dir.path().join(FILE), "home\n").expect("write");
        assert_eq!(read(&cfg), None, "no boot id");
        std::fs::write(dir.path().join(FILE), format!("  \n{}\n", boot_id())).expect("write");
        assert_eq!(read(&cfg), None, "an empty name");
        std::fs::remove_file(dir.path().join(FILE)).expect("rm");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join(FILE)).expect("symlink");
        assert_eq!(read(&cfg), None, "never through a symlink");
    }
}
