//! Host uids for sandboxes. Started by root, bwrap would map the sandbox user to host
//! root, so each live sandbox gets a uid of its own, exclusive across every classbook process.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where leases are locked by default: one file per uid, `flock`ed while a sandbox has it.
pub const LOCK_DIR: &str = "/run/classbook/uids";

/// Free uids, least recently released first: a uid comes back only after every other one,
/// so a session never inherits the last one's dying processes (which RLIMIT_NPROC counts).
/// A uid is lent only while its lock file is `flock`ed, so two servers (two processes, or
/// two in one test binary) never hand out the same uid; the kernel drops the lock when the
/// lease ends or its process dies.
#[derive(Clone, Debug)]
pub struct UidPool {
    free: Arc<Mutex<VecDeque<u32>>>,
    lock_dir: PathBuf,
}

/// A uid lent to one sandbox; it goes back to the pool (and its lock is released) when dropped.
#[derive(Debug)]
pub struct UidLease {
    pub uid: u32,
    pool: UidPool,
    _lock: File,
}

impl UidPool {
    /// Uids `first..first+count`, locked under [`LOCK_DIR`].
    pub fn new(first: u32, count: u32) -> UidPool {
        UidPool::with_lock_dir(Path::new(LOCK_DIR), first, count)
    }

    pub fn with_lock_dir(lock_dir: &Path, first: u32, count: u32) -> UidPool {
        UidPool {
            free: Arc::new(Mutex::new((first..first.saturating_add(count)).collect())),
            lock_dir: lock_dir.to_path_buf(),
        }
    }

    /// The least recently released uid that no other process holds.
    pub fn lease(&self) -> Result<UidLease, String> {
        std::fs::create_dir_all(&self.lock_dir)
            .map_err(|e| format!("cannot make the uid lock directory {}: {e}", self.lock_dir.display()))?;
        let mut free = self.free.lock().expect("uid pool poisoned");
        for _ in 0..free.len() {
            let Some(uid) = free.pop_front() else { break };
            match try_lock(&self.lock_dir.join(uid.to_string())) {
                Ok(Some(lock)) => return Ok(UidLease { uid, pool: self.clone(), _lock: lock }),
                Ok(None) => free.push_back(uid), // another server's sandbox has it
                Err(e) => {
                    free.push_front(uid);
                    return Err(format!("cannot lock sandbox uid {uid} in {}: {e}", self.lock_dir.display()));
                }
            }
        }
        Err("no free sandbox uid: too many sessions".into())
    }
}

/// The file, locked exclusively by this open file, or `None` if someone else holds it.
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let file = File::options().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(file));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(err)
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.free.lock() {
            free.push_back(self.uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("classbook-uids-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn leases_are_distinct_and_a_released_uid_comes_back_last() {
        let pool = UidPool::with_lock_dir(&lock_dir("order"), 61000, 3);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_ne!(a.uid, b.uid);
        drop(a);
        let c = pool.lease().unwrap();
        assert_eq!(c.uid, 61002, "the never-used uid comes before the released one");
        let d = pool.lease().unwrap();
        assert_eq!(d.uid, 61000);
        assert!(pool.lease().is_err());
        drop((b, c, d));
    }

    #[test]
    fn two_pools_on_one_lock_dir_never_lend_the_same_uid() {
        // Two servers: separate pools, separate open files, one lock directory.
        let dir = lock_dir("shared");
        let (one, two) = (UidPool::with_lock_dir(&dir, 61000, 3), UidPool::with_lock_dir(&dir, 61000, 3));
        let a = one.lease().unwrap();
        let b = two.lease().unwrap();
        assert_ne!(a.uid, b.uid, "the second server skips the uid the first one holds");
        let c = one.lease().unwrap();
        assert!(![a.uid, b.uid].contains(&c.uid));
        assert!(two.lease().is_err(), "all three are held, across both pools");
        let held = b.uid;
        drop(b);
        // A child another test spawns between fork and exec shares b's open file, and with it
        // the lock, until its exec closes it (the file is close-on-exec): allow that moment.
        let mut again = one.lease();
        for _ in 0..200 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            again = one.lease();
        }
        assert_eq!(again.unwrap().uid, held, "a released lock is free for the other server");
        drop((a, c));
    }
}
