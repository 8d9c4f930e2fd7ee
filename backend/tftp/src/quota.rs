//! The upload space of a server's write directory, shared by all its uploads at once: a file
//! is counted when its upload starts and each byte as it is written; a failed upload gives both back.

use crate::packet::ErrorCode;
use crate::transfer::TransferError;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the write directory may hold, and what it holds (stored files and running uploads).
#[derive(Debug)]
pub(crate) struct Quota {
    max_bytes: Option<u64>,
    max_files: Option<u64>,
    bytes: AtomicU64,
    files: AtomicU64,
}

impl Quota {
    /// Limits for `dir`, counting what it holds already (once, at start: afterwards only this
    /// server's uploads change it).
    pub fn new(max_bytes: Option<u64>, max_files: Option<u64>, dir: Option<&Path>) -> Quota {
        let (bytes, files) = dir.map_or((0, 0), usage_under);
        Quota { max_bytes, max_files, bytes: AtomicU64::new(bytes), files: AtomicU64::new(files) }
    }

    /// Bytes an upload may still write, if there is a limit.
    pub fn left(&self) -> Option<u64> {
        self.max_bytes.map(|max| max.saturating_sub(self.bytes.load(Ordering::Acquire)))
    }

    /// Starts an upload: counts its file (ERROR 3 when the directory holds as many as it may).
    pub fn start(self: &Arc<Quota>) -> Result<Charge, TransferError> {
        if !add(&self.files, 1, self.max_files) {
            let max = self.max_files.unwrap_or_default();
            return Err(TransferError::local(ErrorCode::DISK_FULL, format!("upload space holds {max} files, the most it may")));
        }
        Ok(Charge { quota: self.clone(), bytes: AtomicU64::new(0), kept: false })
    }

    /// A stored file was replaced by an upload: its bytes and its place are free again.
    pub fn replaced(&self, bytes: u64) {
        let _ = self.bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(bytes)));
        let _ = self.files.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(1)));
    }
}

/// Adds `n` to `used` unless that would pass `max`; whether it did.
fn add(used: &AtomicU64, n: u64, max: Option<u64>) -> bool {
    used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
        let after = u.checked_add(n)?;
        max.is_none_or(|max| after <= max).then_some(after)
    })
    .is_ok()
}

/// One upload's share of the quota: given back when dropped, unless kept (the file was stored).
#[derive(Debug)]
pub(crate) struct Charge {
    quota: Arc<Quota>,
    bytes: AtomicU64,
    kept: bool,
}

impl Charge {
    /// Counts `n` more bytes written; ERROR 3 when the write directory would hold more than
    /// its quota, whichever uploads wrote the rest.
    pub fn take(&self, n: u64) -> Result<(), TransferError> {
        let quota = &self.quota;
        if !add(&quota.bytes, n, quota.max_bytes) {
            let (used, max) = (quota.bytes.load(Ordering::Acquire), quota.max_bytes.unwrap_or_default());
            return Err(TransferError::local(ErrorCode::DISK_FULL, format!("upload space used up ({used} of {max} bytes)")));
        }
        self.bytes.fetch_add(n, Ordering::AcqRel);
        Ok(())
    }

    /// The upload was stored: its bytes and file stay counted.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if !self.kept {
            self.quota.bytes.fetch_sub(self.bytes.load(Ordering::Acquire), Ordering::AcqRel);
            self.quota.files.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Bytes and number of the regular files under `dir`, subdirectories included (symlinks not followed).
fn usage_under(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut files) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => {
                    bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                    files += 1;
                }
                _ => {}
            }
        }
    }
    (bytes, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(bytes: u64, files: u64) -> Arc<Quota> {
        Arc::new(Quota::new(Some(bytes), Some(files), None))
    }

    #[test]
    fn uploads_at_once_share_the_bytes_and_a_failed_one_gives_its_share_back() {
        let quota = quota(1000, 10);
        let (a, b) = (quota.start().unwrap(), quota.start().unwrap());
        a.take(600).unwrap();
        assert!(matches!(b.take(500), Err(TransferError::Local { code: ErrorCode::DISK_FULL, .. })));
        b.take(400).unwrap();
        assert_eq!(quota.left(), Some(0));
        drop(a);
        assert_eq!(quota.left(), Some(600));
        b.keep();
        assert_eq!(quota.left(), Some(600), "a stored upload stays counted");
    }

    #[test]
    fn files_are_counted_from_the_start_of_their_upload() {
        let quota = quota(1000, 2);
        let first = quota.start().unwrap();
        quota.start().unwrap().keep();
        assert!(quota.start().is_err());
        drop(first);
        assert!(quota.start().is_ok());
    }
}
