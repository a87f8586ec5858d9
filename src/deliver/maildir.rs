//! Maildir delivery (delivery.md §7.8, RELIABILITY R21): the message goes
//! into `<maildir_dir>/<local>/` (when `maildir_dir` is set) or
//! `<home>/Maildir`, with `tmp`, `new`, `cur` created (0700) if missing.
//!
//! Guarantees: the order is create with `O_EXCL` in `tmp/`, write, fsync,
//! hard-link into `new/`, fsync `new/`, unlink the `tmp/` name. `new/`
//! therefore never holds a partial file; a crash may leave a file in
//! `tmp/`, which is allowed. A name clash picks a new name, never
//! overwrites. `Delivered` only after `new/` was synced, and after the
//! parent of every directory created on the way (the Maildir, `tmp`,
//! `new`, `cur`) was synced too (R34).
//!
//! # Security
//! The local part is checked first (R13). As root the files are made with
//! the recipient's effective identity; only the recipient's own directory
//! under `maildir_dir` is created as root, then given to the recipient.
//! Under `maildir_dir` no symbolic link is followed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::unistd::{Gid, Uid};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::config::Config;
use crate::deliver::Outcome;
use crate::deliver::content::Content;
use crate::deliver::mbox::check_local_part;
use crate::fs::durable::{self, Dir};
use crate::privs::{self, EffectiveIdentity};

/// Why a Maildir delivery did not happen. All of these defer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaildirError {
    #[error("maildir {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("maildir {path}: refused: {check}")]
    Unsafe { path: PathBuf, check: String },
    #[error("maildir {path}: no free file name")]
    NoName { path: PathBuf },
}

impl MaildirError {
    fn io(path: &Path, op: &'static str) -> impl FnOnce(Errno) -> MaildirError {
        move |e| MaildirError::Io {
            path: path.to_path_buf(),
            op,
            source: e.into(),
        }
    }

    pub fn outcome(&self) -> Outcome {
        let code = match self {
            MaildirError::Io { source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EFBIG) => "4.3.1",
                Some(libc::EDQUOT) => "4.2.2",
                _ => "4.3.0",
            },
            _ => "4.2.0",
        };
        Outcome::Deferred(format!("{code} {self}"))
    }
}

/// Delivers `content` (built with [`ContentOptions::MAILDIR`]) to the
/// Maildir of `local_part`; `home` overrides the passwd home directory.
///
/// [`ContentOptions::MAILDIR`]: crate::deliver::content::ContentOptions::MAILDIR
pub fn deliver(cfg: &Config, content: &Content, local_part: &str, home: Option<&Path>) -> Outcome {
    if let Err(why) = check_local_part(local_part) {
        return Outcome::Failed(format!("5.1.3 invalid local part {local_part:?}: {why}"));
    }
    let user = privs::lookup_user(local_part);
    let unknown = || {
        Outcome::Failed(format!(
            "5.1.1 could not find password entry for user {local_part}"
        ))
    };
    let (dir, no_follow) = match (&cfg.maildir_dir, home, &user) {
        (Some(base), _, _) => (base.join(local_part), true),
        (None, Some(h), _) => (h.join("Maildir"), false),
        (None, None, Some(u)) => (u.dir.join("Maildir"), false),
        (None, None, None) => return unknown(),
    };
    let mut identity = None;
    if !cfg.run_as_user {
        let Some(u) = &user else { return unknown() };
        if no_follow && let Err(e) = user_dir(&dir, u.uid, u.gid) {
            tracing::warn!(maildir = %dir.display(), error = %e, "maildir delivery deferred");
            return e.outcome();
        }
        match EffectiveIdentity::switch_to(u.uid, u.gid) {
            Ok(id) => identity = Some(id),
            Err(e) => {
                return Outcome::Deferred(format!("4.3.0 cannot become user {local_part}: {e}"));
            }
        }
    }
    let r = deliver_into(&dir, no_follow, content, &mut unique_name(&cfg.host_name));
    drop(identity);
    match r {
        Ok(_) => Outcome::Delivered,
        Err(e) => {
            tracing::warn!(maildir = %dir.display(), error = %e, "maildir delivery deferred");
            e.outcome()
        }
    }
}

/// As root: makes sure `dir` is a real directory owned by the recipient.
fn user_dir(dir: &Path, uid: Uid, gid: Gid) -> Result<(), MaildirError> {
    let made = match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(MaildirError::io(dir, "mkdir")(e)),
    };
    let fd = open_dir(dir, true)?;
    let st = rustix::fs::fstat(&fd).map_err(MaildirError::io(dir, "fstat"))?;
    // Ours to hand over: just made, or left root-owned by a crash right
    // after an earlier mkdir. Anybody else's directory is refused.
    if made {
        sync_parent(dir)?;
    }
    if (made || st.st_uid == 0) && st.st_uid != uid.as_raw() {
        let (u, g) = (
            rustix::process::Uid::from_raw(uid.as_raw()),
            rustix::process::Gid::from_raw(gid.as_raw()),
        );
        rustix::fs::fchown(&fd, Some(u), Some(g)).map_err(MaildirError::io(dir, "fchown"))?;
    } else if st.st_uid != uid.as_raw() {
        return Err(MaildirError::Unsafe {
            path: dir.to_path_buf(),
            check: format!("is owned by uid {}, not {uid}", st.st_uid),
        });
    }
    Ok(())
}

fn open_dir(path: &Path, no_follow: bool) -> Result<OwnedFd, MaildirError> {
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if no_follow {
        flags |= OFlags::NOFOLLOW;
    }
    rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => MaildirError::Unsafe {
            path: path.to_path_buf(),
            check: "is not a directory".into(),
        },
        e => MaildirError::io(path, "open")(e),
    })
}

/// Opens `base/name`, creating it (0700) if missing; `true` when created.
fn subdir(dir: &OwnedFd, base: &Path, name: &str) -> Result<(OwnedFd, bool), MaildirError> {
    let path = base.join(name);
    let made = match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(MaildirError::io(&path, "mkdir")(e)),
    };
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => MaildirError::Unsafe {
            path: path.clone(),
            check: "is not a directory".into(),
        },
        e => MaildirError::io(&path, "open")(e),
    })?;
    Ok((fd, made))
}

/// Syncs the directory that holds `path` after `path` was created in it.
/// A parent the current identity may not read cannot be synced: that is
/// logged, and delivery goes on.
fn sync_parent(path: &Path) -> Result<(), MaildirError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    match Dir::open(parent) {
        Ok(dir) => dir.sync().map_err(|source| MaildirError::Io {
            path: parent.to_path_buf(),
            op: "fsync",
            source,
        }),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!(dir = %parent.display(), error = %e, "cannot open directory to sync it; a power loss may lose the new maildir");
            Ok(())
        }
        Err(source) => Err(MaildirError::Io {
            path: parent.to_path_buf(),
            op: "open",
            source,
        }),
    }
}

/// The protocol itself, with the current identity; returns the new path.
pub fn deliver_into(
    dir: &Path,
    no_follow: bool,
    content: &Content,
    next_name: &mut dyn FnMut() -> String,
) -> Result<PathBuf, MaildirError> {
    let made = match rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false,
        Err(e) => return Err(MaildirError::io(dir, "mkdir")(e)),
    };
    let top = open_dir(dir, no_follow)?;
    let (tmp, made_tmp) = subdir(&top, dir, "tmp")?;
    let (new, made_new) = subdir(&top, dir, "new")?;
    let (_, made_cur) = subdir(&top, dir, "cur")?;
    // New directories must survive a power loss as well as the file in
    // them (R34): sync each parent that gained an entry.
    if made_tmp || made_new || made_cur {
        durable::sync_dir(top.as_fd()).map_err(|source| MaildirError::Io {
            path: dir.to_path_buf(),
            op: "fsync",
            source,
        })?;
    }
    if made {
        sync_parent(dir)?;
    }
    let tmp_path = dir.join("tmp");
    let (name, fd) = create_unique(&tmp, &tmp_path, next_name)?;
    let file = File::from(fd);
    let written = (|| -> io::Result<()> {
        let mut w = BufWriter::with_capacity(64 * 1024, &file);
        content.write_to(&mut w)?;
        w.flush()?;
        file.sync_all()
    })();
    if let Err(source) = written {
        let _ = rustix::fs::unlinkat(&tmp, name.as_str(), AtFlags::empty());
        return Err(MaildirError::Io {
            path: tmp_path.join(&name),
            op: "write",
            source,
        });
    }
    crate::crashpoint!("maildir-written");
    // link(2) never replaces an existing name, unlike rename(2).
    let mut final_name = name.clone();
    let mut linked = false;
    for _ in 0..100 {
        match rustix::fs::linkat(
            &tmp,
            name.as_str(),
            &new,
            final_name.as_str(),
            AtFlags::empty(),
        ) {
            Ok(()) => {
                linked = true;
                break;
            }
            Err(Errno::EXIST) => final_name = next_name(),
            Err(e) => {
                let _ = rustix::fs::unlinkat(&tmp, name.as_str(), AtFlags::empty());
                return Err(MaildirError::io(&dir.join("new").join(&final_name), "link")(e));
            }
        }
    }
    if !linked {
        return Err(MaildirError::NoName {
            path: dir.join("new"),
        });
    }
    durable::sync_dir(new.as_fd()).map_err(|source| MaildirError::Io {
        path: dir.join("new"),
        op: "fsync",
        source,
    })?;
    crate::crashpoint!("maildir-new-synced");
    if let Err(e) = rustix::fs::unlinkat(&tmp, name.as_str(), AtFlags::empty()) {
        // The message is safe in new/; a leftover in tmp/ is harmless.
        tracing::warn!(file = %tmp_path.join(&name).display(), error = %e, "cannot remove tmp file");
    }
    Ok(dir.join("new").join(final_name))
}

fn create_unique(
    tmp: &impl AsFd,
    tmp_path: &Path,
    next_name: &mut dyn FnMut() -> String,
) -> Result<(String, OwnedFd), MaildirError> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for _ in 0..100 {
        let name = next_name();
        match rustix::fs::openat(tmp, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(MaildirError::io(&tmp_path.join(&name), "create")(e)),
        }
    }
    Err(MaildirError::NoName {
        path: tmp_path.to_path_buf(),
    })
}

/// `<secs>.M<micros>P<pid>Q<counter>.<host>` (the maildir(5) convention),
/// with `/` and `:` in the host name written as `\057` and `\072`.
pub fn unique_name(host_name: &str) -> impl FnMut() -> String + use<> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let host = host_name.replace('/', "\\057").replace(':', "\\072");
    move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let q = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            q,
            host
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::deliver::content::{Body, ContentOptions, test_message};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn content_bytes(msg: &crate::message::Message) -> (Content<'static>, Vec<u8>) {
        let c = Content::new(
            msg,
            &Address::new("bob", "x"),
            Body::Bytes(b"From me\nbody\n"),
            ContentOptions::MAILDIR,
            &chrono::Utc::now(),
        );
        let bytes = c.to_vec().unwrap_or_else(|e| panic!("{e}"));
        (c, bytes)
    }

    #[test]
    fn layout_and_content() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = Config::with_host_name("host/with:odd");
        cfg.run_as_user = true;
        cfg.maildir_dir = Some(dir.path().to_path_buf());
        let msg = test_message(Address::new("a", "b"));
        let (c, bytes) = content_bytes(&msg);
        assert_eq!(deliver(&cfg, &c, "bob", None), Outcome::Delivered);
        assert_eq!(deliver(&cfg, &c, "bob", None), Outcome::Delivered);
        let md = dir.path().join("bob");
        for sub in ["tmp", "new", "cur"] {
            let m = std::fs::metadata(md.join(sub)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.mode() & 0o777, 0o700, "{sub}");
        }
        let names: Vec<_> = std::fs::read_dir(md.join("new"))
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names.len(), 2);
        for n in &names {
            assert!(
                n.ends_with(".host\\057with\\072odd") && n.contains(".M") && n.contains('Q'),
                "{n}"
            );
            assert_eq!(
                std::fs::read(md.join("new").join(n)).unwrap_or_default(),
                bytes
            );
            assert!(!bytes.starts_with(b"From ") && bytes.windows(8).any(|w| w == b"\nFrom me"));
        }
        assert_eq!(
            std::fs::read_dir(md.join("tmp"))
                .map(|d| d.count())
                .unwrap_or(99),
            0
        );
        for bad in ["..", "a/b", ""] {
            assert!(
                matches!(deliver(&cfg, &c, bad, None), Outcome::Failed(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_clash_never_overwrites() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let md = dir.path().join("Maildir");
        let msg = test_message(Address::new("a", "b"));
        let (c, bytes) = content_bytes(&msg);
        // Prepare: both the next tmp name and the next new name are taken.
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(md.join(sub)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(md.join("tmp/one"), b"other tmp").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(md.join("new/two"), b"other new").unwrap_or_else(|e| panic!("{e}"));
        let mut names = ["one", "two", "three", "four"]
            .into_iter()
            .map(String::from);
        let mut next = || names.next().unwrap_or_else(|| "x".into());
        let got = deliver_into(&md, false, &c, &mut next).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, md.join("new/three"));
        assert_eq!(
            std::fs::read(md.join("tmp/one")).unwrap_or_default(),
            b"other tmp"
        );
        assert_eq!(
            std::fs::read(md.join("new/two")).unwrap_or_default(),
            b"other new"
        );
        assert_eq!(std::fs::read(&got).unwrap_or_default(), bytes);
        assert!(
            !md.join("tmp/two").exists(),
            "tmp name removed after the link"
        );
    }

    #[test]
    fn symlinked_user_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap_or_else(|e| panic!("{e}"));
        let base = dir.path().join("maildirs");
        std::fs::create_dir(&base).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&elsewhere, base.join("bob")).unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = Config::with_host_name("h");
        cfg.run_as_user = true;
        cfg.maildir_dir = Some(base);
        let msg = test_message(Address::new("a", "b"));
        let (c, _) = content_bytes(&msg);
        assert!(
            matches!(deliver(&cfg, &c, "bob", None), Outcome::Deferred(r) if r.contains("not a directory"))
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere)
                .map(|d| d.count())
                .unwrap_or(99),
            0
        );
    }

    #[test]
    fn as_root_files_belong_to_the_recipient() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = Config::with_host_name("h");
        cfg.maildir_dir = Some(dir.path().to_path_buf());
        let msg = test_message(Address::new("a", "b"));
        let (c, _) = content_bytes(&msg);
        if !nix::unistd::getuid().is_root() {
            // Not root and not run_as_user: the identity switch must refuse.
            assert!(matches!(
                deliver(&cfg, &c, "nobody", None),
                Outcome::Deferred(_)
            ));
            return;
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deliver(&cfg, &c, "nobody", None), Outcome::Delivered);
        let md = dir.path().join("nobody");
        let new = std::fs::read_dir(md.join("new")).unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<_> = new.filter_map(Result::ok).collect();
        assert_eq!(files.len(), 1);
        for p in [md.clone(), md.join("new"), files[0].path()] {
            assert_eq!(
                std::fs::metadata(&p).map(|m| m.uid()).unwrap_or(0),
                65534,
                "{}",
                p.display()
            );
        }
        assert!(
            matches!(deliver(&cfg, &c, "no-such-user-xq7", None), Outcome::Failed(r) if r.contains("password entry"))
        );
        assert!(nix::unistd::geteuid().is_root());
    }
}
