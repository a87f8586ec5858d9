//! Reserving a fresh message id and committing a new message durably.
//!
//! Order on disk (R34): data and header temp files written, both
//! `fdatasync`ed (at the same time, on two threads: a lone commit waits
//! for one sync, not two); then renamed, `<ID>-D` first, `<ID>-H` second;
//! then the directory fsynced. Only then does [`Spool::commit`] return
//! `Ok`, and only then may the caller say "250".
//!
//! Syncs per message: two of the message's own files, plus its share of a
//! directory sync. Commits that reach the directory sync together share
//! one ([`crate::fs::group_sync`]): a lone commit pays 3, a batch of ten
//! that arrive together 2.1 (tests/group_commit.rs); how many arrive
//! together depends on how long the directory sync takes. The sync that covers a commit always started after
//! its renames, and any directory sync that failed while they were pending
//! fails the commit (451), even if a later one succeeded.
//!
//! Why one directory sync is enough: against a process crash the renames
//! are ordered by the kernel, so `-H` never exists without `-D`. Against
//! power loss before the final sync the message was never acknowledged;
//! whatever part survives is an orphan for the sweep.
//!
//! # Security
//! The reservation file is created with `O_EXCL`, so two processes can
//! never own the same id; renames use `RENAME_NOREPLACE`, so a commit can
//! never overwrite another message, and cleanup after a failure removes
//! only files this commit created.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use crate::fs::durable::{Dir, sync_data};
use crate::message::{Message, QueueId};

use super::{FILE_MODE, Spool, SpoolError, data_name, encode_header_file, header_name};

/// Transfer numbers have two base-62 digits.
const TRANSFERS: u32 = 62 * 62;

/// A message id claimed by `<ID>-D.tmp`. Dropping it without committing
/// removes the temp file.
#[derive(Debug)]
pub struct Reservation {
    id: QueueId,
    file: Option<File>,
    dir: Arc<Dir>,
    /// The data file's first line (the id) is written.
    started: bool,
    body_len: u64,
}

impl Reservation {
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Body bytes written so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Appends body text to the temporary data file, so a message can be
    /// written as it arrives. Nothing is visible in the queue before
    /// [`Spool::commit_appended`]; dropping the reservation removes it all.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), SpoolError> {
        let Some(file) = self.file.as_mut() else {
            return Err(SpoolError::Internal("reservation already used"));
        };
        let mut result = Ok(());
        if !self.started {
            result = file.write_all(format!("{}\n", self.id).as_bytes());
            self.started = true;
        }
        result = result.and_then(|()| file.write_all(bytes));
        if let Err(e) = result {
            return Err(SpoolError::io(self.dir.join(&self.tmp_name()), e));
        }
        self.body_len += bytes.len() as u64;
        Ok(())
    }

    fn tmp_name(&self) -> String {
        format!("{}-D.tmp", self.id)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = self.dir.remove(&self.tmp_name());
        }
    }
}

impl Spool {
    /// Claims a fresh id for a message accepted at `time` by `pid` as
    /// transfer number `transfer`. If that id is in use (same second, a pid
    /// equal modulo 62³, or several messages per session per second), the
    /// next transfer number is tried, modulo 3844.
    pub fn reserve(&self, time: u64, pid: u32, transfer: u32) -> Result<Reservation, SpoolError> {
        let mut transfer = transfer % TRANSFERS;
        for _ in 0..TRANSFERS {
            let id = QueueId::generate(time, pid, transfer);
            transfer = (transfer + 1) % TRANSFERS;
            let tmp = format!("{id}-D.tmp");
            let file = match self.dir.create_new(&tmp, FILE_MODE) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SpoolError::io(self.dir.join(&tmp), e)),
            };
            let res = Reservation {
                id,
                file: Some(file),
                dir: Arc::clone(&self.dir),
                started: false,
                body_len: 0,
            };
            // The temp file claims the id among writers; these checks make
            // sure no committed message has it. (A commit renames its
            // `-D.tmp` to `-D`, so at every moment one of them exists.)
            if self.exists(&data_name(&res.id))? || self.exists(&header_name(&res.id))? {
                continue; // dropping `res` removes its temp file
            }
            return Ok(res);
        }
        Err(SpoolError::IdsExhausted)
    }

    fn exists(&self, name: &str) -> Result<bool, SpoolError> {
        self.dir
            .stat(name)
            .map(|s| s.is_some())
            .map_err(|e| SpoolError::io(self.dir.join(name), e))
    }

    /// Writes `msg` (whose id must be the reservation's) and `body`. `Ok`
    /// means accepted; on any error nothing of the message is left (no
    /// `-H`, no temp files) and the caller must answer with a temporary
    /// failure.
    pub fn commit(
        &self,
        mut res: Reservation,
        msg: &Message,
        body: &[u8],
    ) -> Result<(), SpoolError> {
        if msg.data_size != res.body_len + body.len() as u64 {
            return Err(SpoolError::Internal("DS: differs from the body size"));
        }
        res.append(body)?;
        self.commit_appended(res, msg)
    }

    /// Commits a message whose body was written with
    /// [`Reservation::append`]; the same guarantees as [`Spool::commit`].
    pub fn commit_appended(&self, mut res: Reservation, msg: &Message) -> Result<(), SpoolError> {
        if msg.id != res.id {
            return Err(SpoolError::Internal(
                "message id differs from the reserved id",
            ));
        }
        if msg.data_size != res.body_len {
            return Err(SpoolError::Internal("DS: differs from the body size"));
        }
        if !res.started {
            res.append(&[])?;
        }
        // Encode before touching the disk: an unencodable envelope costs
        // nothing but the reservation.
        let header = encode_header_file(msg)?;
        let Some(file) = res.file.take() else {
            return Err(SpoolError::Internal("reservation already used"));
        };
        let mut state = Written::default();
        let result = self.write_message(&res.id, file, &header, &mut state);
        if result.is_err() {
            self.undo(&res.id, &state);
        }
        result
    }

    fn write_message(
        &self,
        id: &QueueId,
        data: File,
        header: &[u8],
        state: &mut Written,
    ) -> Result<(), SpoolError> {
        let dir = &self.dir;
        let (data_tmp, data_final) = (format!("{id}-D.tmp"), data_name(id));
        let (head_tmp, head_final) = (format!("{id}-H.tmp"), header_name(id));
        let at = |name| error_at(dir, name);

        // Both files written, then synced at the same time (the header's
        // on a scoped thread): one sync's latency instead of two for a
        // lone commit, which nothing else could share. An fsync error is
        // final: both files are dropped (closed) below, never synced again.
        state.header_tmp = true;
        let head = dir
            .create_temp(&head_tmp, header, FILE_MODE)
            .map_err(at(&head_tmp))?;
        let (data_synced, head_synced) = std::thread::scope(|s| {
            let head_sync = s.spawn(|| sync_data(&head));
            let data_synced = sync_data(&data);
            let head_synced = head_sync
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the header sync panicked")));
            (data_synced, head_synced)
        });
        drop((data, head));
        data_synced.map_err(at(&data_tmp))?;
        crate::crashpoint!("spool-data-synced");
        head_synced.map_err(at(&head_tmp))?;
        crate::crashpoint!("spool-header-synced");
        // Before the first rename: a directory sync that fails from here
        // on may have covered it (fsyncgate), whoever issued it.
        let ticket = dir.sync_ticket();
        dir.rename_noreplace(&data_tmp, &data_final)
            .map_err(at(&data_final))?;
        state.data = true;
        crate::crashpoint!("spool-data-renamed");
        dir.rename_noreplace(&head_tmp, &head_final)
            .map_err(at(&head_final))?;
        state.header_tmp = false;
        state.header = true;
        crate::crashpoint!("spool-header-renamed");

        // Shared with the commits that renamed meanwhile (group commit).
        dir.sync_since(ticket)
            .map_err(|e| SpoolError::io(dir.path().to_path_buf(), e))?;
        crate::crashpoint!("spool-dir-synced");
        Ok(())
    }

    /// Removes what a failed commit created, header first. Best effort: if
    /// this fails too, the sweep removes the rest later.
    fn undo(&self, id: &QueueId, state: &Written) {
        let mut names = Vec::new();
        if state.header {
            names.push(header_name(id));
        }
        if state.header_tmp {
            names.push(format!("{id}-H.tmp"));
        }
        names.push(if state.data {
            data_name(id)
        } else {
            format!("{id}-D.tmp")
        });
        for name in names {
            if let Err(e) = self.dir.remove(&name)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(file = %self.dir.join(&name).display(), error = %e, "cannot remove after failed commit");
            }
        }
        let _ = self.dir.sync();
    }
}

/// Builds the error for `name` only when there is one.
fn error_at<'a>(dir: &'a Dir, name: &'a str) -> impl FnOnce(io::Error) -> SpoolError + 'a {
    move |e| SpoolError::io(dir.join(name), e)
}

/// Which files of a commit exist so far (for cleanup).
#[derive(Default)]
struct Written {
    data: bool,
    header_tmp: bool,
    header: bool,
}
