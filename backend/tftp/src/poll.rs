//! When a transfer on a lane polls its socket instead of sleeping in `recvfrom`: only while
//! that measurably speeds the transfer, the peer is fast, a CPU is free, and within a budget.

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
/// Intervals between receives measured in one mode (polling or sleeping) before their median
/// is compared with the other mode's: odd, so the median is one of them, and enough that one
/// preemption of a busy machine does not decide.
const SAMPLES: usize = 9;
/// Intervals not counted after a change of mode: the scheduler still places the peer (on our
/// CPU or another) as it did for the mode before.
const WARMUP: u32 = 2;
/// Receives after which the mode that lost is measured again (one set), as the peer's pace and
/// the machine's load change during a transfer; doubled each time it loses again, up to
/// `RETRY_MAX`, so a transfer spends only a few percent of its receives in the slower mode.
const RETRY_FIRST: u32 = 256;
const RETRY_MAX: u32 = 16384;
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

/// One transfer's polling state. Polling is not always faster: `tftp-bench` measured lock-step
/// 8 KiB blocks and windows of 16 × 1428 bytes up to 1.8 times slower with polling than with
/// sleeping in `recvfrom` (and 512-byte lock-step up to 1.3 times faster), so each transfer
/// measures its pace both ways and keeps the faster. The pace is the interval from one received
/// datagram to the next, sending included: when the peer runs on our CPU it answers while we
/// send, and the receive itself then takes no time in either mode.
pub(crate) struct Poller {
    slot: Option<Slot>,
    /// Intervals of the set being measured, all in the mode `set_polled` says.
    set: Vec<Duration>,
    set_polled: bool,
    /// Intervals still to be left out of the set since the mode changed.
    warmup: u32,
    /// When the latest datagram was received.
    last: Option<Instant>,
    /// Median interval of the latest set measured sleeping, and polling.
    slept: Option<Duration>,
    polled: Option<Duration>,
    /// Receives since the losing mode was last measured, and how many it waits for now.
    since_retry: u32,
    retry_after: u32,
    /// Whether the set being measured is of the losing mode, measured again.
    retrying: bool,
}

impl Default for Poller {
    fn default() -> Poller {
        Poller {
            slot: None,
            set: Vec::with_capacity(SAMPLES),
            set_polled: false,
            warmup: 0,
            last: None,
            slept: None,
            polled: None,
            since_retry: 0,
            retry_after: RETRY_FIRST,
            retrying: false,
        }
    }
}

impl Poller {
    /// Whether the next receive should poll first: polling paid and a CPU is free.
    pub fn active(&mut self) -> bool {
        if self.slot.is_some() && !cpu_free() {
            self.slot = None;
        }
        self.slot.is_some()
    }

    /// A receive got a datagram, polling first or not (as `active` said).
    pub fn received(&mut self, polled: bool) {
        self.received_at(Instant::now(), polled);
    }

    fn received_at(&mut self, now: Instant, polled: bool) {
        let Some(interval) = self.last.replace(now).map(|last| now.saturating_duration_since(last)) else { return };
        if polled != self.set_polled {
            self.set.clear();
            self.set_polled = polled;
            self.warmup = WARMUP;
        }
        self.since_retry = self.since_retry.saturating_add(1);
        if self.warmup > 0 {
            self.warmup -= 1;
            return;
        }
        self.set.push(interval);
        if self.set.len() < SAMPLES {
            return;
        }
        self.set.sort_unstable();
        let median = self.set[SAMPLES / 2];
        self.set.clear();
        if polled {
            self.polled = Some(median);
        } else {
            self.slept = Some(median);
        }
        if std::mem::take(&mut self.retrying) {
            // Still the slower mode: measured again only twice as late; else soon again.
            let won = poll_next(self.slept, self.polled, false) == polled;
            self.retry_after = if won { RETRY_FIRST } else { self.retry_after.saturating_mul(2).min(RETRY_MAX) };
        }
        let retry = self.since_retry >= self.retry_after;
        if retry {
            self.since_retry = 0;
            self.retrying = true;
        }
        if poll_next(self.slept, self.polled, retry) {
            if self.slot.is_none() && cpu_free() {
                self.slot = Slot::take();
            }
        } else {
            self.slot = None;
        }
    }
}

/// Whether the next set of receives polls, from the median intervals measured sleeping and polling:
/// the faster mode, or the other one when it is time to measure it again (`retry`). Never for a
/// peer slower than `FAST_PEER`, and first sleeping, which every transfer starts with.
fn poll_next(slept: Option<Duration>, polled: Option<Duration>, retry: bool) -> bool {
    let Some(slept) = slept.filter(|&slept| slept < FAST_PEER) else { return false };
    // Polling takes a CPU, so it must earn it: a tenth shorter than sleeping, at least.
    let polling_pays = polled.is_none_or(|polled| polled * 10 < slept * 9);
    polling_pays != retry
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
    fn the_faster_mode_is_kept_and_the_other_measured_again() {
        let us = Duration::from_micros;
        assert!(!poll_next(None, None, false), "a transfer first measures sleeping");
        assert!(!poll_next(Some(us(500)), None, false), "a slow peer is not polled");
        assert!(poll_next(Some(us(30)), None, false), "a fast peer is tried polling");
        assert!(poll_next(Some(us(30)), Some(us(10)), false), "polling that shortened the pace goes on");
        assert!(!poll_next(Some(us(30)), Some(us(40)), false), "polling that lengthened the pace stops");
        assert!(!poll_next(Some(us(30)), Some(us(28)), false), "polling must gain a tenth to go on");
        assert!(!poll_next(Some(us(30)), Some(us(10)), true), "sleeping is measured again");
        assert!(poll_next(Some(us(30)), Some(us(40)), true), "polling is measured again");
        assert!(!poll_next(Some(us(500)), Some(us(10)), true), "never for a slow peer");
    }

    #[test]
    fn the_slower_mode_is_measured_again_ever_later() {
        let mut p = Poller::default();
        let mut clock = Instant::now();
        let mut feed = |p: &mut Poller, n: u32, polled: bool, us: u64| {
            for _ in 0..n {
                clock += Duration::from_micros(us);
                p.received_at(clock, polled);
            }
        };
        feed(&mut p, 1, false, 0);
        feed(&mut p, SAMPLES as u32, false, 30);
        feed(&mut p, WARMUP + SAMPLES as u32, true, 60);
        assert_eq!((p.slept, p.polled), (Some(Duration::from_micros(30)), Some(Duration::from_micros(60))));
        assert!(!poll_next(p.slept, p.polled, false));
        let mut slept = 0;
        while !p.retrying && slept < 2 * RETRY_FIRST {
            feed(&mut p, 1, false, 30);
            slept += 1;
        }
        assert!(p.retrying && slept > RETRY_FIRST - 30, "polling measured again after {slept} receives");
        feed(&mut p, WARMUP + SAMPLES as u32, true, 70);
        assert_eq!((p.retrying, p.retry_after, p.polled), (false, 2 * RETRY_FIRST, Some(Duration::from_micros(70))));
    }

    #[test]
    fn a_set_of_slow_waits_stops_polling_and_slots_are_bounded() {
        let feed = |p: &mut Poller, n: usize, polled: bool, us: u64| {
            let mut clock = p.last.unwrap_or_else(Instant::now);
            for _ in 0..n {
                clock += Duration::from_micros(us);
                p.received_at(clock, polled);
            }
        };
        let mut slow = Poller::default();
        feed(&mut slow, SAMPLES + 1, false, 5000);
        assert!(slow.slot.is_none(), "a slow peer is not polled");
        let mut pollers: Vec<Poller> = (0..slots() + 2).map(|_| Poller::default()).collect();
        for p in &mut pollers {
            feed(p, SAMPLES + 1, false, 30);
        }
        let holding = pollers.iter().filter(|p| p.slot.is_some()).count();
        // Other tests of this process may hold slots too; never more than `slots()` in all.
        assert!(holding <= slots() && POLLING.load(Ordering::Acquire) <= slots(), "{holding} of {}", slots());
        for p in &mut pollers {
            feed(p, SAMPLES + WARMUP as usize, true, 50);
            assert!(p.slot.is_none(), "polling slower than sleeping stops");
            assert_eq!(p.polled, Some(Duration::from_micros(50)));
        }
    }
}
