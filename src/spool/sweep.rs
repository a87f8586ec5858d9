//! The recovery sweep run at startup and before queue runs (R37).
//!
//! A crash can leave, by construction of [`Spool::commit`], only temp
//! files (`*.tmp`) or a data file without its header; neither was ever
//! acknowledged, so once they are older than `min_age` (no commit takes
//! that long) they are removed. Everything else that looks wrong is
//! reported and left alone for the administrator: a header without data
//! (a message we cannot deliver but must not silently drop), empty files,
//! files of another owner, and anything named like a spool file that is
//! not a regular file.
//!
//! # Security
//! Only `lstat` is used, so symlinks are never followed; only regular files
//! owned by us are removed, and only names matching the spool patterns.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Stat};

use super::{Spool, SpoolError, data_id, data_name, header_id, header_name};

/// What is wrong with a file the sweep left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepProblem {
    /// `<ID>-H` without `<ID>-D`: undeliverable, kept for inspection.
    HeaderWithoutData,
    /// A zero-length spool file.
    Empty,
    /// A symlink, directory, FIFO, ... named like a spool file.
    NotRegular,
    /// Owned by another uid (neither read nor removed by the sweep).
    ForeignOwner(u32),
    /// `lstat` failed.
    Unreadable(String),
}

/// The sweep's findings, by file name.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub removed: Vec<String>,
    pub problems: Vec<(String, SweepProblem)>,
}

impl Spool {
    /// Removes orphans older than `min_age` and reports anomalies (each is
    /// also logged).
    pub fn sweep(&self, min_age: Duration) -> Result<SweepReport, SpoolError> {
        let names = self
            .dir
            .names()
            .map_err(|e| SpoolError::io(self.dir.path().to_path_buf(), e))?;
        let present: HashSet<&str> = names.iter().map(String::as_str).collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let euid = rustix::process::geteuid().as_raw();
        let mut report = SweepReport::default();

        for name in &names {
            let (is_tmp, header, data) = (name.ends_with(".tmp"), header_id(name), data_id(name));
            if !is_tmp && header.is_none() && data.is_none() {
                continue;
            }
            let st = match self.dir.stat(name) {
                Ok(Some(st)) => st,
                Ok(None) => continue, // removed meanwhile (a commit or a delivery)
                Err(e) => {
                    report.problem(self, name, SweepProblem::Unreadable(e.to_string()));
                    continue;
                }
            };
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                report.problem(self, name, SweepProblem::NotRegular);
                continue;
            }
            if st.st_uid != euid {
                report.problem(self, name, SweepProblem::ForeignOwner(st.st_uid));
                continue;
            }
            let old = age(&st, now) >= min_age.as_secs();
            let orphan_data = data
                .as_ref()
                .is_some_and(|id| !present.contains(header_name(id).as_str()));
            if old && (is_tmp || orphan_data) {
                match self.dir.remove(name) {
                    Ok(()) => {
                        tracing::warn!(file = %self.dir.join(name).display(), "removed orphaned spool file");
                        report.removed.push(name.clone());
                    }
                    Err(e) => report.problem(self, name, SweepProblem::Unreadable(e.to_string())),
                }
                continue;
            }
            if st.st_size == 0 {
                report.problem(self, name, SweepProblem::Empty);
            }
            if let Some(id) = header
                && !present.contains(data_name(&id).as_str())
            {
                report.problem(self, name, SweepProblem::HeaderWithoutData);
            }
        }
        if !report.removed.is_empty() {
            self.dir
                .sync()
                .map_err(|e| SpoolError::io(self.dir.path().to_path_buf(), e))?;
        }
        Ok(report)
    }
}

impl SweepReport {
    fn problem(&mut self, spool: &Spool, name: &str, problem: SweepProblem) {
        tracing::warn!(file = %spool.dir.join(name).display(), ?problem, "suspicious spool file left in place");
        self.problems.push((name.to_string(), problem));
    }
}

/// Seconds since the last modification; 0 for times in the future.
fn age(st: &Stat, now: u64) -> u64 {
    now.saturating_sub(u64::try_from(st.st_mtime).unwrap_or(0))
}
