//! What every transfer shares, whichever side and direction: negotiated parameters, the error
//! type, statistics, and reporting a failure to the peer with one ERROR packet.

use crate::link::{Counters, Link};
use crate::packet::{ErrorCode, Packet};
use serde::Serialize;
use std::io;
use std::time::Duration;

/// Parameters in force once options are settled.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub blksize: usize,
    pub window: usize,
    /// Retransmission timer bounds; equal bounds mean a fixed timer.
    pub min_timeout: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

impl Params {
    /// The one rule for the retransmission timer: an RFC 2349 `timeout` both sides agreed on
    /// fixes it; windowed transfers adapt it between `min` and `max` (RFC 1123 4.2.3.2), since
    /// a window whose tail is lost is only recovered by a timeout; lock-step transfers keep
    /// `max`, so slow, simple peers (students' clients) never see early retransmissions.
    pub fn new(blksize: usize, window: usize, negotiated: Option<u8>, min: Duration, max: Duration, retries: u32) -> Params {
        let (min_timeout, timeout) = match negotiated {
            Some(seconds) => (Duration::from_secs(u64::from(seconds)), Duration::from_secs(u64::from(seconds))),
            None if window > 1 => (min.min(max), max),
            None => (max, max),
        };
        Params { blksize, window, min_timeout, timeout, retries }
    }
}

/// Adaptive retransmission timeout: RFC 6298 smoothing of round-trip samples (Karn's rule:
/// callers sample only packets sent once), doubled on each timeout and back to the smoothed
/// value once the transfer progresses again, kept within the bounds.
#[derive(Clone, Debug)]
pub(crate) struct Rto {
    min: Duration,
    max: Duration,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The timeout the samples give, before any backoff.
    base: Duration,
    current: Duration,
}

impl Rto {
    /// Starts at the maximum, or from a first sample (e.g. the request/OACK round trip).
    pub fn new(params: &Params, first_sample: Option<Duration>) -> Rto {
        let (min, max) = (params.min_timeout, params.timeout);
        let mut rto = Rto { min, max, srtt: None, rttvar: Duration::ZERO, base: max, current: max };
        if let Some(rtt) = first_sample {
            rto.sample(rtt);
        }
        rto
    }

    pub fn timeout(&self) -> Duration {
        self.current
    }

    pub fn sample(&mut self, rtt: Duration) {
        if self.min >= self.max {
            return;
        }
        let srtt = match self.srtt {
            None => {
                self.rttvar = rtt / 2;
                rtt
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                (srtt * 7 + rtt) / 8
            }
        };
        self.srtt = Some(srtt);
        self.base = (srtt + self.rttvar * 4).clamp(self.min, self.max);
        self.current = self.base;
    }

    pub fn backoff(&mut self) {
        self.current = (self.current * 2).min(self.max);
    }

    /// A wait timed out: counts the retry, gives up past `params.retries`, else backs off.
    pub fn timed_out(&mut self, retries: &mut u32, params: &Params) -> Result<(), TransferError> {
        *retries += 1;
        if *retries > params.retries {
            return Err(TransferError::Timeout(params.retries));
        }
        self.backoff();
        Ok(())
    }

    /// The peer acknowledged new data: it is alive, so the backoff ends.
    pub fn progress(&mut self) {
        self.current = self.base;
    }
}

/// Why a transfer ended without success.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("no answer after {0} retransmissions")]
    Timeout(u32),
    /// The request itself was never answered (nothing listens, or it never replies).
    #[error("no answer to the request after {0} retransmissions")]
    Unanswered(u32),
    /// The peer sent an ERROR packet.
    #[error("peer sent ERROR {code}: {message}")]
    Peer { code: ErrorCode, message: String },
    /// We ended the transfer and told the peer with this ERROR (refused request, protocol
    /// violation, size limit, option problem).
    #[error("ERROR {code}: {message}")]
    Local { code: ErrorCode, message: String },
}

impl TransferError {
    pub(crate) fn local(code: ErrorCode, message: impl Into<String>) -> TransferError {
        TransferError::Local { code, message: message.into() }
    }

    /// The error for a packet that has no place at this point of the transfer.
    pub(crate) fn unexpected(packet: &Packet<'_>, expected: &str) -> TransferError {
        match packet {
            Packet::Error { code, message } => TransferError::Peer { code: *code, message: message.clone() },
            other => TransferError::local(
                ErrorCode::ILLEGAL_OPERATION,
                format!("unexpected {} packet, expected {expected}", other.opcode()),
            ),
        }
    }
}

/// Sends the ERROR packet a `Local` error stands for (others are not reported to the peer),
/// then hands the error back.
pub(crate) async fn report(link: &mut Link, error: TransferError) -> TransferError {
    if let TransferError::Local { code, message } = &error {
        let _ = link.send(&Packet::Error { code: *code, message: message.clone() }, false).await;
    }
    error
}

/// Figures of one finished transfer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TransferStats {
    /// File bytes transferred (after netascii conversion, on the local side).
    pub bytes: u64,
    pub blocks: u64,
    pub blksize: u16,
    pub windowsize: u16,
    /// `tsize` the peer announced in its OACK (downloads) or that we announced (uploads).
    pub tsize: Option<u64>,
    /// True when the peer answered our options with an OACK.
    pub oack: bool,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub retransmits: u64,
    /// DATA blocks received more than once (e.g. the server retransmitting after a lost ACK).
    pub duplicate_blocks: u64,
    pub elapsed_ms: f64,
}

impl TransferStats {
    pub(crate) fn add_counters(&mut self, counters: Counters) {
        self.packets_sent = counters.sent;
        self.packets_received = counters.received;
        self.retransmits = counters.retransmits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(window: usize, negotiated: Option<u8>) -> Params {
        Params::new(512, window, negotiated, Duration::from_millis(50), Duration::from_secs(1), 5)
    }

    #[test]
    fn lock_step_and_negotiated_timers_are_fixed() {
        let lock_step = params(1, None);
        assert_eq!((lock_step.min_timeout, lock_step.timeout), (Duration::from_secs(1), Duration::from_secs(1)));
        let negotiated = params(16, Some(3));
        assert_eq!((negotiated.min_timeout, negotiated.timeout), (Duration::from_secs(3), Duration::from_secs(3)));
        let mut rto = Rto::new(&lock_step, None);
        rto.sample(Duration::from_micros(100));
        assert_eq!(rto.timeout(), Duration::from_secs(1));
    }

    #[test]
    fn windowed_timer_adapts_to_round_trips_within_bounds() {
        assert_eq!(Rto::new(&params(16, None), Some(Duration::from_millis(20))).timeout(), Duration::from_millis(60));
        let mut rto = Rto::new(&params(16, None), None);
        assert_eq!(rto.timeout(), Duration::from_secs(1), "starts at the maximum");
        for _ in 0..20 {
            rto.sample(Duration::from_micros(200));
        }
        assert_eq!(rto.timeout(), Duration::from_millis(50), "never below the minimum");
        for _ in 0..20 {
            rto.sample(Duration::from_millis(100));
        }
        let settled = rto.timeout();
        assert!(settled >= Duration::from_millis(100) && settled < Duration::from_millis(400), "{settled:?}");
    }

    #[test]
    fn timeouts_double_the_timer_up_to_the_maximum_until_progress() {
        let mut rto = Rto::new(&params(16, None), Some(Duration::from_millis(100)));
        let first = rto.timeout();
        rto.backoff();
        assert_eq!(rto.timeout(), (first * 2).min(Duration::from_secs(1)));
        for _ in 0..10 {
            rto.backoff();
        }
        assert_eq!(rto.timeout(), Duration::from_secs(1));
        rto.progress();
        assert_eq!(rto.timeout(), first, "progress ends the backoff");
    }
}
