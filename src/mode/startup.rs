//! The startup sequence shared by every mode that reads the configuration
//! (cli.md §4.3): config file, overrides, directories, logging.
//!
//! # Security
//! The spool and lock directories must belong to the user masqmail writes
//! them as and must not be writable by group or others; otherwise the
//! program stops before it touches the queue (exit 78, EX_CONFIG).

use std::fs::DirBuilder;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::{self, Uid};

use super::{Exit, code};
use crate::cli::{Invocation, Mode};
use crate::config::{Config, DEFAULT_CONF};
use crate::log::{self, LogOptions};
use crate::privs;

/// Makes sure fds 0–2 are open, so that no file masqmail opens later
/// (a spool file, a mailbox) can become someone's stdout or stderr.
pub fn ensure_std_fds() {
    for fd in 0..3 {
        // SAFETY-free check: fcntl(F_GETFD) on a borrowed raw fd number.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        if rustix::io::fcntl_getfd(fd) == Err(rustix::io::Errno::BADF) {
            // open() returns the lowest free descriptor, which is this one.
            let _ = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(std::mem::forget::<std::fs::File>);
        }
    }
}

/// Reads the configuration and prepares the process for `inv`'s mode.
pub fn configure(inv: &Invocation) -> Result<Config, Exit> {
    let cfg = load(inv)?;
    // Nothing relative may depend on the caller's directory from here on;
    // the config has made its relative paths absolute already.
    let _ = unistd::chdir("/");
    for dir in [
        Some(&cfg.spool_dir),
        Some(&cfg.lock_dir),
        cfg.log_dir.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        create_dir(dir, cfg.run_as_user)?;
    }
    let owner = spool_owner(cfg.run_as_user);
    check_dir("spool", &cfg.spool_dir, owner)?;
    check_dir("lock", &cfg.lock_dir, owner)?;
    if !cfg.run_as_user && unistd::geteuid().is_root() {
        privs::lower_to_mail_user()
            .map_err(|e| Exit::fail(format!("cannot switch to the mail user: {e}")))?;
    }
    let interactive = matches!(
        inv.mode,
        Mode::Accept | Mode::List | Mode::Remove | Mode::QueueRun(_) | Mode::NoOp | Mode::Offline
    );
    let opts = LogOptions {
        also_stderr: interactive,
        verbose: inv.verbose,
    };
    let guard = log::init(&cfg, opts).map_err(|e| Exit::fail(e.to_string()))?;
    // Logging lives as long as the process; the guard holds nothing.
    drop(guard);
    // A mailbox over the file size limit must fail the write with EFBIG
    // (and defer), not kill the delivering process.
    // SAFETY: SIG_IGN installs no handler code.
    let _ = unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) };
    Ok(cfg)
}

/// The configuration file `inv` names, with the command line's overrides;
/// also what a daemon reads again on SIGHUP.
pub fn load(inv: &Invocation) -> Result<Config, Exit> {
    let (path, forced_user) = config_path(inv)?;
    let mut cfg = Config::load(&path).map_err(|e| Exit::new(code::CONFIG, e.to_string()))?;
    if forced_user {
        cfg.run_as_user = true;
    }
    if inv.queue_only {
        cfg.do_queue = true;
    }
    if let Some(level) = inv.debug_level {
        cfg.debug_level = level;
    }
    Ok(cfg)
}

/// The main config file and whether it forces `run_as_user` (a non-root
/// caller's own `-C` file, cli.md §3.2).
fn config_path(inv: &Invocation) -> Result<(PathBuf, bool), Exit> {
    let Some(given) = &inv.config_file else {
        return Ok((PathBuf::from(DEFAULT_CONF), false));
    };
    let path = std::fs::canonicalize(given).map_err(|e| {
        Exit::fail(format!(
            "specified config file '{}' is invalid: {e}",
            given.display()
        ))
    })?;
    let ruid = unistd::getuid();
    let forced = !ruid.is_root() && path != Path::new(DEFAULT_CONF);
    if forced && unistd::geteuid() != ruid {
        // Installed set-uid: give the extra rights up for good.
        privs::drop_permanently(ruid, unistd::getgid())
            .map_err(|e| Exit::fail(format!("cannot drop privileges for -C: {e}")))?;
    }
    Ok((path, forced))
}

/// Who must own the spool and lock directories: the mail user when root
/// starts masqmail without `run_as_user` (it becomes that user before it
/// writes), else the effective user. `None` when the mail user is unknown
/// (switching to it fails right after, with its own message).
fn spool_owner(run_as_user: bool) -> Option<Uid> {
    let euid = unistd::geteuid();
    if !run_as_user && euid.is_root() {
        privs::mail_user().ok().map(|(uid, _)| uid)
    } else {
        Some(euid)
    }
}

/// Refuses a spool or lock directory that another user owns or that its
/// group or others may write (RELIABILITY rule 5): whoever can write
/// there can plant, change or remove queued mail. 1.0 did not check.
fn check_dir(what: &str, dir: &Path, owner: Option<Uid>) -> Result<(), Exit> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)
        .map_err(|e| Exit::fail(format!("{what} directory {}: {e}", dir.display())))?;
    let unsafe_dir = |why: String| Exit::new(code::UNSAFE_DIR, why);
    if let Some(owner) = owner
        && meta.uid() != owner.as_raw()
    {
        let name = |uid: u32| {
            unistd::User::from_uid(Uid::from_raw(uid))
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        };
        let want = name(owner.as_raw());
        return Err(unsafe_dir(format!(
            "{what} directory {} is owned by {}, not by {want} that masqmail runs as: chown {want} {}",
            dir.display(),
            name(meta.uid()),
            dir.display()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and others",
            (true, false) => "its group",
            _ => "others",
        };
        return Err(unsafe_dir(format!(
            "{what} directory {} is writable by {who} (mode {mode:04o}): chmod go-w {}",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Creates one level of `dir` (mode 0755) if missing; owned by the mail
/// user unless `run_as_user`.
fn create_dir(dir: &Path, run_as_user: bool) -> Result<(), Exit> {
    match DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {
            if !run_as_user
                && unistd::geteuid() == Uid::from_raw(0)
                && let Ok((uid, gid)) = privs::mail_user()
            {
                let _ = unistd::chown(dir, Some(uid), Some(gid));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Exit::fail(format!(
            "unable to create `{}': {e}",
            dir.display()
        ))),
    }
}
