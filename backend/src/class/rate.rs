//! Rate limits per student and per client address: a token bucket that allows a burst, then a
//! steady rate. Excess is refused with a message (never dropped silently); the caller says why.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses tracked at once; past it, addresses whose bucket is full again are forgotten.
const MAX_ADDRESSES: usize = 4096;

/// One bucket per client address, so what one machine does never spends another's allowance.
pub struct PerAddress {
    pub rate: Rate,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl PerAddress {
    pub fn new(rate: Rate) -> PerAddress {
        PerAddress { rate, buckets: Mutex::default() }
    }

    fn with<T>(&self, from: IpAddr, f: impl FnOnce(&mut Bucket, Rate) -> T) -> T {
        let rate = self.rate;
        let mut map = self.buckets.lock().expect("rate lock poisoned");
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&from) {
            let now = Instant::now();
            map.retain(|_, b| {
                b.refill(rate, now);
                b.tokens < rate.burst
            });
        }
        f(map.entry(from).or_insert_with(|| Bucket::full(rate)), rate)
    }

    /// Whether `from` has a token now (none is taken).
    pub fn available(&self, from: IpAddr) -> bool {
        self.with(from, |b, rate| b.available(rate))
    }

    /// Takes one of `from`'s tokens if there is one.
    pub fn take(&self, from: IpAddr) -> bool {
        self.with(from, |b, rate| b.take(rate))
    }
}

/// A limit: `burst` at once, refilled at `per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_sec: f64,
}

/// One student's bucket for one kind of action.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(rate: Rate) -> Bucket {
        Bucket { tokens: rate.burst, at: Instant::now() }
    }

    /// Whether a token is there now (none is taken).
    pub fn available(&mut self, rate: Rate) -> bool {
        self.refill(rate, Instant::now());
        self.tokens >= 1.0
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(rate.burst);
        self.at = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, rate: Rate) -> bool {
        self.take_at(rate, Instant::now())
    }

    fn take_at(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let rate = Rate { burst: 3.0, per_sec: 2.0 };
        let mut b = Bucket::full(rate);
        let t0 = b.at;
        assert!((0..3).all(|_| b.take_at(rate, t0)));
        assert!(!b.take_at(rate, t0), "the burst is spent");
        assert!(b.take_at(rate, t0 + Duration::from_millis(500)), "half a second refills one at 2/s");
        assert!(!b.take_at(rate, t0 + Duration::from_millis(600)));
        assert!((0..3).all(|_| b.take_at(rate, t0 + Duration::from_secs(60))), "refills up to the burst");
        assert!(!b.take_at(rate, t0 + Duration::from_secs(60)));
    }
}
