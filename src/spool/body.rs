//! A message body left on disk: the open `-D` file and where its body
//! starts, what delivery streams from (mbox, Maildir, commands, SMTP).
//!
//! Guarantees: [`SpooledBody`] is only made after the data file's first
//! line was checked to be the message id and its size to match `DS:` of
//! the header file (RELIABILITY R10). Readers never need more memory than
//! the piece they ask for; [`SpooledBody::read_start`] is the one bounded
//! copy (failure notices).
//!
//! # Security
//! The file is opened read-only through the spool's directory fd, with
//! `O_NOFOLLOW`, as a regular file ([`Dir::open_regular`]). Data files are
//! never rewritten after their commit, so positional reads of a shared
//! open file see the committed bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::SpoolError;
use crate::fs::durable::Dir;
use crate::message::QueueId;

/// The open data file of a message, checked against its header file.
/// Cloning shares the open file.
#[derive(Debug, Clone)]
pub struct SpooledBody {
    file: Arc<File>,
    /// Where the body starts: after the id line.
    offset: u64,
    /// The body's size in bytes (`DS:`).
    len: u64,
}

impl SpooledBody {
    /// Opens `<id>-D` in `dir` and checks its id line and size.
    pub(super) fn open(
        dir: &Dir,
        name: &str,
        id: &QueueId,
        data_size: u64,
    ) -> Result<SpooledBody, SpoolError> {
        let path = || dir.join(name);
        let file = dir
            .open_regular(name)
            .map_err(|e| SpoolError::io(path(), e))?;
        let id_line = format!("{id}\n");
        let mut first = vec![0u8; id_line.len()];
        let got = read_full_at(&file, &mut first, 0).map_err(|e| SpoolError::io(path(), e))?;
        if got < first.len() || first != id_line.as_bytes() {
            return Err(corrupt(path(), 1, "first line is not the message id"));
        }
        let size = file
            .metadata()
            .map_err(|e| SpoolError::io(path(), e))?
            .len();
        let offset = id_line.len() as u64;
        if size.checked_sub(offset) != Some(data_size) {
            return Err(corrupt(
                path(),
                0,
                "body size differs from DS: in the header file",
            ));
        }
        Ok(SpooledBody {
            file: Arc::new(file),
            offset,
            len: data_size,
        })
    }

    /// The open data file (read with positional reads from [`Self::offset`]).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The open data file, shared (for a reader that outlives a borrow).
    pub fn shared_file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Where the body starts in [`Self::file`].
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The body's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `max` bytes of the body at most (all of it when shorter):
    /// the one bounded copy into memory.
    pub fn read_start(&self, max: usize) -> io::Result<Vec<u8>> {
        let want = usize::try_from(self.len).map_or(max, |l| l.min(max));
        let mut buf = vec![0u8; want];
        let got = read_full_at(&self.file, &mut buf, self.offset)?;
        buf.truncate(got);
        Ok(buf)
    }
}

fn corrupt(path: PathBuf, line: u32, what: &'static str) -> SpoolError {
    SpoolError::Corrupt { path, line, what }
}

/// Fills `buf` from `pos` until it is full or the file ends; the count.
fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], pos + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
