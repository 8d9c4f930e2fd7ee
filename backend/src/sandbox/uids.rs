//! Host uids for sandboxes. Started by root, bwrap would map the sandbox user to host
//! root, so each live sandbox gets a uid of its own from a configured range.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct UidPool {
    free: Arc<Mutex<BTreeSet<u32>>>,
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
        let mut free = self.free.lock().expect("uid pool poisoned");
        let uid = *free.iter().next()?;
        free.remove(&uid);
        Some(UidLease { uid, pool: self.clone() })
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        if let Ok(mut free) = self.pool.free.lock() {
            free.insert(self.uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_and_return_to_the_pool() {
        let pool = UidPool::new(61000, 2);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_ne!(a.uid, b.uid);
        assert!(pool.lease().is_none());
        drop(a);
        assert_eq!(pool.lease().unwrap().uid, 61000);
    }
}
