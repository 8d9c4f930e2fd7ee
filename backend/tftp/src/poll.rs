//! When a transfer on a lane polls its socket instead of sleeping in `recvfrom`: only while
//! the peer answers fast, a CPU is free, and within a per-process budget of polling transfers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long one receive polls before it sleeps in the kernel. A thread asleep in `recvfrom`
/// must be woken by the scheduler (on a virtual machine, an idle virtual CPU first), which is
/// most of a lock-step round trip on loopback: `tftp-bench` measured 512-byte downloads about
/// twice as fast with polling on a quiet 2-core VM.
pub(crate) const POLL: Duration = Duration::from_micros(60);
/// A peer that answered within this time is fast enough for polling to pay.
pub(crate) const FAST_PEER: Duration = Duration::from_micros(200);
/// How often the machine's count of runnable threads is read again (see `cpu_free`).
const LOAD_CHECK: Duration = Duration::from_millis(10);

/// Transfers of this process polling now.
static POLLING: AtomicUsize = AtomicUsize::new(0);

fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One polling transfer per core beyond the first, at least one.
fn slots() -> usize {
    cpus().saturating_sub(1).max(1)
}

/// Whether no thread waits for a CPU: the runnable count of /proc/loadavg (this thread
/// included) is at most the number of CPUs. Polling on a full machine would take the CPU from
/// another thread, perhaps the peer itself. Read at most every `LOAD_CHECK` by this process.
fn cpu_free() -> bool {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    static CHECKED_MS: AtomicU64 = AtomicU64::new(0);
    static FREE: AtomicBool = AtomicBool::new(false);
    let now_ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + LOAD_CHECK.as_millis() as u64;
    let checked = CHECKED_MS.load(Ordering::Acquire);
    if now_ms - checked >= LOAD_CHECK.as_millis() as u64
        && CHECKED_MS.compare_exchange(checked, now_ms, Ordering::AcqRel, Ordering::Acquire).is_ok()
    {
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        FREE.store(runnable(&loadavg).is_some_and(|n| n <= cpus()), Ordering::Release);
    }
    FREE.load(Ordering::Acquire)
}

/// The runnable count of a /proc/loadavg line ("0.10 0.20 0.30 2/345 6789" gives 2).
fn runnable(loadavg: &str) -> Option<usize> {
    loadavg.split_whitespace().nth(3)?.split('/').next()?.parse().ok()
}

/// A transfer's permission to poll; gives its slot back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        POLLING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < slots()).then_some(n + 1)).ok().map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        POLLING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One transfer's polling state.
#[derive(Default)]
pub(crate) struct Poller {
    slot: Option<Slot>,
}

impl Poller {
    /// Whether the next receive should poll first: the peer was fast and a CPU is free.
    pub fn active(&mut self) -> bool {
        if self.slot.is_some() && !cpu_free() {
            self.slot = None;
        }
        self.slot.is_some()
    }

    /// Polling found nothing within `POLL`: the peer is slower than polling pays for.
    pub fn missed(&mut self) {
        self.slot = None;
    }

    /// A receive that slept in the kernel got a datagram after `waited`.
    pub fn slept(&mut self, waited: Duration) {
        if waited < FAST_PEER && self.slot.is_none() && cpu_free() {
            self.slot = Slot::take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runnable_count_is_read_from_loadavg() {
        assert_eq!(runnable("0.10 0.20 0.30 2/345 6789\n"), Some(2));
        assert_eq!(runnable("garbage"), None);
        assert!(runnable(&std::fs::read_to_string("/proc/loadavg").unwrap()).is_some_and(|n| n >= 1));
    }

    #[test]
    fn only_fast_peers_are_polled_and_slots_are_bounded() {
        let mut slow = Poller::default();
        slow.slept(Duration::from_millis(5));
        assert!(slow.slot.is_none(), "a slow peer is not polled");
        let mut pollers: Vec<Poller> = (0..slots() + 2).map(|_| Poller::default()).collect();
        for p in &mut pollers {
            p.slept(Duration::from_micros(30));
        }
        let holding = pollers.iter().filter(|p| p.slot.is_some()).count();
        // Other tests of this process may hold slots too; never more than `slots()` in all.
        assert!(holding <= slots() && POLLING.load(Ordering::Acquire) <= slots(), "{holding} of {}", slots());
        for p in &mut pollers {
            p.missed();
            assert!(p.slot.is_none(), "a miss stops polling");
        }
    }
}
