//! A real small file system for the full-disk tests (RELIABILITY R20,
//! R21, R35, R36): a tmpfs of a few MiB mounted over a test's own
//! directory, filled with a file of the right size (never by waiting), and
//! unmounted (`umount -l`) when the guard is dropped, even when the test
//! panics.
//!
//! # Security
//! Mounting needs root (CI runs as root). Only the test's own temporary
//! directory is mounted over; nothing outside it is touched.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes, mode 0755 and owned by us, over
    /// `dir` (created if missing). `None`, with a printed reason, when
    /// mounting is not possible here (not root, no mount namespace).
    pub fn mount(dir: &Path, size: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).expect("mount point");
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755,uid={uid},gid={gid}"))
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs at {} (needs root): {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// Bytes still free for an unprivileged writer.
    pub fn free(&self) -> u64 {
        let s = nix::sys::statvfs::statvfs(&self.dir).expect("statvfs");
        s.blocks_available() as u64 * s.fragment_size() as u64
    }

    /// Fills the file system with `filler` until at most `leave` bytes are
    /// free (`leave` = 0: until ENOSPC). Returns the filler's path.
    pub fn fill(&self, leave: u64) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            let free = self.free();
            if free <= leave {
                break;
            }
            let n = (free - leave).min(chunk.len() as u64) as usize;
            match f.write(&chunk[..n]) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        f.sync_all().expect("sync filler");
        assert!(self.free() <= leave.max(4096), "free {}", self.free());
        path
    }

    /// Removes the filler: space is back.
    pub fn unfill(&self) {
        fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
