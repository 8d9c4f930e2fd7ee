//! Packet trace: one serializable `TraceEvent` per datagram a transfer sends or receives, its
//! texts clipped, into a bounded channel that never blocks a transfer (events past it are counted).

use crate::packet::{Opcode, Packet, PacketError};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Longest text of an event (filename, error message, note), in bytes: a request holds at most
/// 512 bytes (RFC 2347), but an ERROR or OACK from a peer can hold 64 KiB.
pub const MAX_TRACED_TEXT: usize = 512;
/// Options of one event (known ones come first); the rest are left out.
pub const MAX_TRACED_OPTIONS: usize = 8;
/// Longest option name or value in an event, in bytes.
pub const MAX_TRACED_OPTION_TEXT: usize = 64;

/// Where trace events go: a bounded channel. A transfer never waits for room: an event that
/// finds the channel full (or closed) is dropped and counted. Clones share the channel and counts.
#[derive(Clone, Debug)]
pub struct TraceSink {
    events: mpsc::Sender<TraceEvent>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Events put in the channel; the lock also orders them, so the first `queued` events the
    /// receiver takes are exactly those counted here.
    queued: Mutex<u64>,
    dropped: AtomicU64,
}

impl TraceSink {
    /// A sink holding at most `capacity` events not yet received, and its receiving end.
    pub fn channel(capacity: usize) -> (TraceSink, TraceReceiver) {
        let (events, receiver) = mpsc::channel(capacity.max(1));
        let counts = Arc::<Counts>::default();
        (TraceSink { events, counts: counts.clone() }, TraceReceiver { events: receiver, counts })
    }

    /// Events put in the channel so far: once the receiver has taken this many, it has every
    /// event traced before the call.
    pub fn queued(&self) -> u64 {
        *self.counts.queued.lock().expect("trace counts poisoned")
    }

    /// Events dropped so far because the channel was full or closed.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Whether an event would be dropped now (so the caller need not build it).
    fn full(&self) -> bool {
        self.events.capacity() == 0
    }

    fn send(&self, event: TraceEvent) {
        let mut queued = self.counts.queued.lock().expect("trace counts poisoned");
        match self.events.try_send(event) {
            Ok(()) => *queued += 1,
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn count_dropped(&self) {
        self.counts.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// One datagram seen by one transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    /// Transfer number, unique within one server or client (0: the server's request port).
    pub transfer: u64,
    pub direction: Direction,
    /// Our address (the transfer's own port, its TID).
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// `None` when the datagram was not a valid packet (see `note`).
    pub opcode: Option<Opcode>,
    pub block: Option<u16>,
    /// Datagram length in bytes.
    pub size: usize,
    /// DATA payload length in bytes.
    pub data_len: Option<usize>,
    pub filename: Option<String>,
    pub mode: Option<&'static str>,
    pub options: Vec<(String, String)>,
    /// Microseconds since the transfer started.
    pub elapsed_us: u64,
    pub retransmit: bool,
    pub error_code: Option<u16>,
    pub error_message: Option<String>,
    /// What was done about the packet when that is not obvious: "duplicate ACK ignored",
    /// "unknown transfer ID", "malformed: …".
    pub note: Option<String>,
}

/// The receiving end of a `TraceSink`; it ends once every sink is dropped.
#[derive(Debug)]
pub struct TraceReceiver {
    events: mpsc::Receiver<TraceEvent>,
    counts: Arc<Counts>,
}

impl TraceReceiver {
    pub async fn recv(&mut self) -> Option<TraceEvent> {
        self.events.recv().await
    }

    pub fn try_recv(&mut self) -> Result<TraceEvent, mpsc::error::TryRecvError> {
        self.events.try_recv()
    }

    /// Events dropped so far because the channel was full or closed.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }
}

/// A transfer's handle on the sink: stamps transfer number, local address and time.
#[derive(Clone, Debug)]
pub(crate) struct Tracer {
    sink: Option<TraceSink>,
    transfer: u64,
    local: SocketAddr,
    start: Instant,
}

impl Tracer {
    pub(crate) fn new(sink: Option<TraceSink>, transfer: u64, local: SocketAddr) -> Tracer {
        Tracer { sink, transfer, local, start: Instant::now() }
    }

    pub(crate) fn set_local(&mut self, local: SocketAddr) {
        self.local = local;
    }

    pub(crate) fn packet(
        &self,
        direction: Direction,
        peer: SocketAddr,
        packet: &Packet<'_>,
        size: usize,
        retransmit: bool,
        note: Option<&str>,
    ) {
        let Some(sink) = self.live_sink() else { return };
        let mut event = self.blank(direction, peer, size, note);
        event.opcode = Some(packet.opcode());
        event.retransmit = retransmit;
        match packet {
            Packet::Rrq(req) | Packet::Wrq(req) => {
                event.filename = Some(clip(&req.filename, MAX_TRACED_TEXT));
                event.mode = Some(req.mode.as_str());
                event.options = traced_options(&req.options);
            }
            Packet::Data { block, data } => {
                event.block = Some(*block);
                event.data_len = Some(data.len());
            }
            Packet::Ack { block } => event.block = Some(*block),
            Packet::Error { code, message } => {
                event.error_code = Some(code.0);
                event.error_message = Some(clip(message, MAX_TRACED_TEXT));
            }
            Packet::Oack(options) => event.options = traced_options(options),
        }
        sink.send(event);
    }

    /// The sink, unless there is none or it is full (then the event is counted as dropped).
    fn live_sink(&self) -> Option<&TraceSink> {
        let sink = self.sink.as_ref()?;
        if sink.full() {
            sink.count_dropped();
            return None;
        }
        Some(sink)
    }

    pub(crate) fn malformed(&self, peer: SocketAddr, size: usize, error: &PacketError, action: &str) {
        if self.sink.is_none() {
            return;
        }
        let note = format!("malformed ({error}): {action}");
        self.note(Direction::Received, peer, size, &note);
    }

    /// An event without a decoded packet (e.g. a datagram dropped before decoding).
    pub(crate) fn note(&self, direction: Direction, peer: SocketAddr, size: usize, note: &str) {
        let Some(sink) = self.live_sink() else { return };
        sink.send(self.blank(direction, peer, size, Some(note)));
    }

    fn blank(&self, direction: Direction, peer: SocketAddr, size: usize, note: Option<&str>) -> TraceEvent {
        TraceEvent {
            transfer: self.transfer,
            direction,
            local: self.local,
            peer,
            opcode: None,
            block: None,
            size,
            data_len: None,
            filename: None,
            mode: None,
            options: Vec::new(),
            elapsed_us: self.start.elapsed().as_micros() as u64,
            retransmit: false,
            error_code: None,
            error_message: None,
            note: note.map(|note| clip(note, MAX_TRACED_TEXT)),
        }
    }
}

/// The first `MAX_TRACED_OPTIONS` options, names and values clipped.
fn traced_options(options: &crate::packet::Options) -> Vec<(String, String)> {
    let mut pairs = options.pairs_up_to(MAX_TRACED_OPTIONS);
    for (name, value) in &mut pairs {
        *name = clip(name, MAX_TRACED_OPTION_TEXT);
        *value = clip(value, MAX_TRACED_OPTION_TEXT);
    }
    pairs
}

/// `text` cut to at most `max` bytes, at a character boundary, marked with "…" when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{ErrorCode, Options};

    fn tracer(capacity: usize) -> (Tracer, TraceReceiver, TraceSink) {
        let (sink, receiver) = TraceSink::channel(capacity);
        let local = SocketAddr::from(([127, 0, 0, 1], 69));
        (Tracer::new(Some(sink.clone()), 1, local), receiver, sink)
    }

    #[test]
    fn a_full_trace_channel_drops_and_counts_instead_of_waiting() {
        let (tracer, mut receiver, sink) = tracer(3);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5000));
        for block in 0..10 {
            tracer.packet(Direction::Sent, peer, &Packet::Ack { block }, 4, false, None);
        }
        assert_eq!((sink.queued(), sink.dropped()), (3, 7));
        let blocks: Vec<_> = std::iter::from_fn(|| receiver.try_recv().ok()).map(|e| e.block).collect();
        assert_eq!(blocks, [Some(0), Some(1), Some(2)]);
        drop(receiver);
        tracer.note(Direction::Received, peer, 1, "after the receiver left");
        assert_eq!((sink.queued(), sink.dropped()), (3, 8));
    }

    #[test]
    fn an_event_holds_clipped_texts_and_at_most_eight_options() {
        let (tracer, mut receiver, _) = tracer(4);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5000));
        let message = "é".repeat(40_000);
        tracer.packet(Direction::Received, peer, &Packet::Error { code: ErrorCode(0), message }, 80_002, false, None);
        let unknown = (0..1000).map(|i| (format!("{i}{}", "n".repeat(100)), "v".repeat(5000))).collect();
        tracer.packet(Direction::Received, peer, &Packet::Oack(Options { blksize: Some(8), unknown, ..Options::default() }), 9, false, None);
        let error = receiver.try_recv().unwrap();
        let text = error.error_message.unwrap();
        assert!(text.len() <= MAX_TRACED_TEXT && text.ends_with('…'), "{} bytes", text.len());
        let oack = receiver.try_recv().unwrap();
        assert_eq!(oack.options.len(), MAX_TRACED_OPTIONS);
        assert_eq!(oack.options[0], ("blksize".to_string(), "8".to_string()));
        assert!(oack.options.iter().all(|(n, v)| n.len() <= MAX_TRACED_OPTION_TEXT && v.len() <= MAX_TRACED_OPTION_TEXT));
    }
}
