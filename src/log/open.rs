//! Safe opening of log files (RELIABILITY R25).
//!
//! The file is opened relative to its directory with
//! `O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK`, mode 0600,
//! and then checked through the open descriptor (no race): a regular file,
//! one link, owned by our effective uid, not writable by others. The
//! directory must not be writable by everyone unless it is sticky.
//!
//! # Security
//! A symlink or hard link planted at the log path cannot make us append to
//! its target: `O_NOFOLLOW` refuses the symlink, the link count the hard
//! link, and the owner check a file someone else created for us. A FIFO
//! cannot block us (`O_NONBLOCK`, then refused as not regular).

use std::fs::File;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::LogError;

/// Opens (creating if needed) `dir/name` for appending, or says why not.
pub(crate) fn open_log(dir: &Path, name: &str) -> Result<File, LogError> {
    let path = dir.join(name);
    let unsafe_file = |check: &'static str| LogError::Unsafe {
        path: path.clone(),
        check,
    };
    let dir_fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| LogError::Open {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    let dir_stat = rustix::fs::fstat(&dir_fd).map_err(|e| LogError::Open {
        path: dir.to_path_buf(),
        source: e.into(),
    })?;
    if dir_stat.st_mode & 0o002 != 0 && dir_stat.st_mode & 0o1000 == 0 {
        return Err(LogError::Unsafe {
            path: dir.to_path_buf(),
            check: "directory is writable by everyone",
        });
    }

    let flags = OFlags::WRONLY
        | OFlags::APPEND
        | OFlags::CREATE
        | OFlags::NOFOLLOW
        | OFlags::CLOEXEC
        | OFlags::NONBLOCK
        | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(&dir_fd, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(unsafe_file("is a symbolic link")),
        // A FIFO without a reader (or a device) under O_NONBLOCK.
        Err(Errno::NXIO) => return Err(unsafe_file("is not a regular file")),
        Err(e) => {
            return Err(LogError::Open {
                path,
                source: e.into(),
            });
        }
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| LogError::Open {
        path: path.clone(),
        source: e.into(),
    })?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(unsafe_file("is not a regular file"));
    }
    if st.st_nlink != 1 {
        return Err(unsafe_file("has more than one link"));
    }
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(unsafe_file("is not owned by the effective user"));
    }
    if st.st_mode & 0o002 != 0 {
        return Err(unsafe_file("is writable by everyone"));
    }
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn check_of(r: Result<File, LogError>) -> Option<&'static str> {
        match r {
            Err(LogError::Unsafe { check, .. }) => Some(check),
            _ => None,
        }
    }

    #[test]
    fn creates_0600_and_appends() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut f = open_log(dir.path(), "masqmail.log")?;
        f.write_all(b"one\n")?;
        let mut f = open_log(dir.path(), "masqmail.log")?;
        f.write_all(b"two\n")?;
        let path = dir.path().join("masqmail.log");
        assert_eq!(fs::read_to_string(&path)?, "one\ntwo\n");
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        Ok(())
    }

    /// R25: symlinks and hard links at the log file are refused.
    #[test]
    fn planted_links_are_refused_and_target_untouched() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("target");
        fs::write(&target, "precious\n")?;

        symlink(&target, dir.path().join("masqmail.log"))?;
        assert_eq!(
            check_of(open_log(dir.path(), "masqmail.log")),
            Some("is a symbolic link")
        );

        // A dangling symlink must not create its target either.
        symlink(dir.path().join("new"), dir.path().join("debug.log"))?;
        assert_eq!(
            check_of(open_log(dir.path(), "debug.log")),
            Some("is a symbolic link")
        );
        assert!(!dir.path().join("new").exists());

        fs::hard_link(&target, dir.path().join("hard.log"))?;
        assert_eq!(
            check_of(open_log(dir.path(), "hard.log")),
            Some("has more than one link")
        );

        assert_eq!(fs::read_to_string(&target)?, "precious\n");
        Ok(())
    }

    #[test]
    fn odd_files_and_directories_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        nix::unistd::mkfifo(
            &dir.path().join("fifo.log"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )?;
        assert_eq!(
            check_of(open_log(dir.path(), "fifo.log")),
            Some("is not a regular file")
        );

        fs::create_dir(dir.path().join("dir.log"))?;
        assert!(matches!(
            open_log(dir.path(), "dir.log"),
            Err(LogError::Open { .. })
        ));

        let ww = dir.path().join("ww.log");
        fs::write(&ww, "")?;
        fs::set_permissions(&ww, fs::Permissions::from_mode(0o666))?;
        assert_eq!(
            check_of(open_log(dir.path(), "ww.log")),
            Some("is writable by everyone")
        );

        let open_dir = dir.path().join("open");
        fs::create_dir(&open_dir)?;
        fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777))?;
        assert_eq!(
            check_of(open_log(&open_dir, "x.log")),
            Some("directory is writable by everyone")
        );
        fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o1777))?;
        assert!(open_log(&open_dir, "x.log").is_ok());

        let missing = open_log(&dir.path().join("missing"), "x.log");
        assert!(matches!(missing, Err(LogError::Open { .. })));
        Ok(())
    }
}
