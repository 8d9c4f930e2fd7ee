//! Host uids for sandboxes. Started by root, bwrap would map the sandbox user to host
//! root, so each live sandbox gets a uid of its own from a configured range.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Free uids, least recently released first: a uid comes back only after every other one,
/// so a session never inherits the last one's dying processes (which RLIMIT_NPROC counts).
#[derive(Clone, Debug)]
pub struct UidPool {
    free: Arc<Mutex<VecDeque<u32>>>,
}

/// A uid lent to one sandbox; it goes back to the pool when dropped.
#[derive(Debug)]
pub struct UidLease {
    pub uid: u32,
    pool: UidPool,
}

impl UidPool {
    pub fn new(first: u32, count: u32) -> UidPool {
        UidPool { free: Arc::new(Mutex::new((first..first.saturating_add(count)).collect())) }
    }

    pub fn lease(&self) -> Option<UidLease> {
        let uid = self.free.lock().expect("uid pool poisoned").pop_front()?;
        Some(UidLease { uid, pool: self.clone() })
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

    #[test]
    fn leases_are_distinct_and_a_released_uid_comes_back_last() {
        let pool = UidPool::new(61000, 3);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_ne!(a.uid, b.uid);
        drop(a);
        let c = pool.lease().unwrap();
        assert_eq!(c.uid, 61002, "the never-used uid comes before the released one");
        let d = pool.lease().unwrap();
        assert_eq!(d.uid, 61000);
        assert!(pool.lease().is_none());
        drop((b, c, d));
    }
}
