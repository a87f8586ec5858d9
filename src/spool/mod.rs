//! The masqmail 1.0 on-disk spool (spool.md): `<ID>-H` header files (the
//! envelope and headers, see [`format`]), `<ID>-D` data files (id line and
//! body, opened for streaming as a [`SpooledBody`]), per-message locks, the
//! startup sweep and the `-bp` listing.
//!
//! Guarantees:
//! * [`Spool::commit`] returning `Ok` is the definition of "accepted": the
//!   data file is synced and renamed, then the header file, then the
//!   directory is synced. A crash earlier leaves only `*.tmp` files or a
//!   `-D` without `-H`, which [`Spool::sweep`] removes; `-H` is renamed
//!   last, so queue runs never see a message without its data.
//! * Ids are unique: [`Spool::reserve`] claims `<ID>-D.tmp` with `O_EXCL`
//!   and bumps the transfer number on any clash.
//! * [`Spool::update`] replaces `-H` atomically; [`Spool::remove`] unlinks
//!   `-H` first (so a crash never leaves a header without data), then `-D`,
//!   then syncs the directory.
//! * Readers are strict (RELIABILITY.md R10): a damaged file is an error
//!   naming `path:line`, never a guess.
//!
//! # Security
//! Runs as the mail user. File names are built only from [`QueueId`]s,
//! whose constructor admits `[0-9A-Za-z-]` only, and every file is reached
//! through a directory fd, created with `O_EXCL|O_NOFOLLOW` and opened with
//! `O_NOFOLLOW` as a regular file. Spool files are mode 0640 whatever the
//! umask. The header encoder refuses any value that could inject a record
//! (R09).

pub mod format;
pub mod list;

mod body;
mod commit;
mod error;
mod lock;
mod sweep;

pub use body::SpooledBody;
pub use commit::Reservation;
pub use error::SpoolError;
pub use format::{decode_header_file, encode_header_file};
pub use list::format_listing;
pub use lock::MessageLock;
pub use sweep::{SweepProblem, SweepReport};

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::fs::durable::{Dir, Steps};
use crate::message::{Message, QueueId};

/// Mode of spool files (1.0: umask 026).
const FILE_MODE: u32 = 0o640;

/// An open spool: the spool directory and the lock directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: Arc<Dir>,
    locks: Arc<Dir>,
}

fn header_name(id: &QueueId) -> String {
    format!("{id}-H")
}

fn data_name(id: &QueueId) -> String {
    format!("{id}-D")
}

impl Spool {
    /// Opens existing directories (creating them, with the right owner, is
    /// the startup code's job).
    pub fn open(spool_dir: &Path, lock_dir: &Path) -> Result<Spool, SpoolError> {
        let open = |p: &Path| Dir::open(p).map_err(|e| SpoolError::io(p.to_path_buf(), e));
        #[allow(unused_mut)]
        let mut dir = open(spool_dir)?;
        // Debug builds only: lets end-to-end tests form a batch of
        // concurrent commits exactly (tests/group_commit.rs).
        #[cfg(debug_assertions)]
        if let Some(batch) = std::env::var("MASQMAIL_TEST_SYNC_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            dir.hold_syncs_for(batch);
        }
        Ok(Spool {
            dir: Arc::new(dir),
            locks: Arc::new(open(lock_dir)?),
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes available to unprivileged writers on the spool's file system.
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        let st = rustix::fs::fstatvfs(self.dir.fd())?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Reads and parses the header file of `id`.
    pub fn read(&self, id: &QueueId) -> Result<Message, SpoolError> {
        let name = header_name(id);
        let bytes = self.read_file(&name)?;
        decode_header_file(id, &bytes, &self.dir.join(&name))
    }

    /// Opens the data file of `msg` for streaming its body, checking the
    /// id line and that the size is what `DS:` says (R10).
    pub fn open_body(&self, id: &QueueId, msg: &Message) -> Result<SpooledBody, SpoolError> {
        SpooledBody::open(&self.dir, &data_name(id), id, msg.data_size)
    }

    /// The whole body of `msg` in memory, checked as [`Spool::open_body`]
    /// does (tests and small-message callers; delivery streams instead).
    pub fn read_body(&self, id: &QueueId, msg: &Message) -> Result<Vec<u8>, SpoolError> {
        let body = self.open_body(id, msg)?;
        let max = usize::try_from(body.len()).map_err(|_| SpoolError::Corrupt {
            path: self.dir.join(&data_name(id)),
            line: 0,
            what: "body too large to read into memory",
        })?;
        let bytes = body
            .read_start(max)
            .map_err(|e| SpoolError::io(self.dir.join(&data_name(id)), e))?;
        if bytes.len() != max {
            return Err(SpoolError::Corrupt {
                path: self.dir.join(&data_name(id)),
                line: 0,
                what: "body size differs from DS: in the header file",
            });
        }
        Ok(bytes)
    }

    /// Rewrites the header file of `msg` durably. The caller holds the
    /// message lock.
    pub fn update(&self, msg: &Message) -> Result<(), SpoolError> {
        let bytes = encode_header_file(msg)?;
        let name = header_name(&msg.id);
        let steps = Steps {
            synced: "spool-update-synced",
            renamed: "spool-update-renamed",
            dir_synced: "spool-update-dir-synced",
        };
        self.dir
            .write_durably_at(&name, &bytes, FILE_MODE, &steps)
            .map_err(|e| SpoolError::io(self.dir.join(&name), e))
    }

    /// Deletes a message: `-H` first, then `-D`, then syncs the directory.
    /// Both unlinks are tried; the first error (e.g. a missing file) is
    /// returned after the rest has been done.
    pub fn remove(&self, id: &QueueId) -> Result<(), SpoolError> {
        let mut first_error = None;
        let ticket = self.dir.sync_ticket();
        for name in [header_name(id), data_name(id)] {
            if let Err(e) = self.dir.remove(&name) {
                first_error.get_or_insert(SpoolError::io(self.dir.join(&name), e));
            }
        }
        crate::crashpoint!("spool-removed");
        self.dir
            .sync_since(ticket)
            .map_err(|e| SpoolError::io(self.dir.path().to_path_buf(), e))?;
        crate::crashpoint!("spool-remove-dir-synced");
        first_error.map_or(Ok(()), Err)
    }

    /// Ids of the header files (`??????-???-??-H`), shuffled (spool.md §7:
    /// every run starts somewhere else, so one bad message cannot always
    /// go first).
    pub fn ids(&self) -> Result<Vec<QueueId>, SpoolError> {
        let names = self
            .dir
            .names()
            .map_err(|e| SpoolError::io(self.dir.path().to_path_buf(), e))?;
        let mut ids: Vec<QueueId> = names.iter().filter_map(|n| header_id(n)).collect();
        fastrand::shuffle(&mut ids);
        Ok(ids)
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, SpoolError> {
        let err = |e| SpoolError::io(self.dir.join(name), e);
        let mut file = self.dir.open_regular(name).map_err(err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(err)?;
        Ok(bytes)
    }
}

/// The id of a header file name, if it is one.
fn header_id(name: &str) -> Option<QueueId> {
    QueueId::parse(name.strip_suffix("-H")?)
}

/// The id of a data file name, if it is one.
fn data_id(name: &str) -> Option<QueueId> {
    QueueId::parse(name.strip_suffix("-D")?)
}

#[cfg(test)]
mod tests;
