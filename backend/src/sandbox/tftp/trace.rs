//! TFTP packet traces on their way to the run they are drawn under, through queues that are all
//! bounded and never wait for a page: per run the first packets, then one `CUT` notice.

use classbook_tftp::{Direction, TraceEvent, TraceReceiver, TraceSink};
use shared::trace::PacketTrace;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Packets of one run drawn on the page; past this the trace is cut and the cut announced.
pub const MAX_TRACE_EVENTS: usize = 2000;
/// Trace events a TFTP server or client may have queued for its relay; past this they are
/// dropped (and the run's trace cut). The relay takes them in at once, so only a starved
/// relay lets it fill.
pub const TRACE_CHANNEL: usize = 1024;
/// Packets a relay holds, all its runs together, for runs whose pages are slow to read: one
/// run's whole trace. Past this the followed run's trace is cut. Events are at most ~3 KB
/// (their texts are clipped by the tftp crate), so with `TRACE_CHANNEL` one companion's trace
/// holds at most ~10 MB.
pub const MAX_PENDING: usize = MAX_TRACE_EVENTS + 1;
/// Longest a finishing run waits for its relay to take in the packets traced before.
const FINISH_WAIT: Duration = Duration::from_secs(1);

/// Which end of the traced transfers is ours.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The companion server: what it received came from the client.
    Server,
    /// The exercise checker's client: what it sent came from the client.
    Client,
}

/// The page's view of one traced datagram.
pub fn to_page(event: &TraceEvent, ours: Side) -> PacketTrace {
    let sent_by_us = event.direction == Direction::Sent;
    let from = match (ours, sent_by_us) {
        (Side::Server, true) | (Side::Client, false) => "server",
        _ => "client",
    };
    PacketTrace {
        transfer: event.transfer,
        from: from.into(),
        opcode: event.opcode.map(|o| o.to_string()).unwrap_or_else(|| "?".into()),
        block: event.block,
        size: event.size as u32,
        filename: event.filename.clone(),
        options: event.options.clone(),
        ms: event.elapsed_us as f64 / 1000.0,
        retransmit: event.retransmit,
        error: event.error_code.map(|c| (c, event.error_message.clone().unwrap_or_default())),
        note: event.note.clone(),
    }
}

/// One run's trace: the first `MAX_TRACE_EVENTS` packets as they come, then one `CUT` notice
/// and nothing more. Packets lost on the way (they could not be held for the page) cut it
/// too, since a diagram with a gap would mislead; that notice counts the packets not drawn.
pub struct RunTrace {
    side: Side,
    drawn: usize,
    /// Packets not drawn since the cut (shared with a notice that may still wait to be sent).
    cut: Option<Arc<AtomicU64>>,
}

impl RunTrace {
    pub fn new(side: Side) -> RunTrace {
        RunTrace { side, drawn: 0, cut: None }
    }

    /// What to draw of one traced packet: the packet, the cap's notice, or nothing.
    pub fn packet(&mut self, event: &TraceEvent) -> Option<PacketTrace> {
        if let Some(not_drawn) = &self.cut {
            not_drawn.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let trace = to_page(event, self.side);
        if self.drawn < MAX_TRACE_EVENTS {
            self.drawn += 1;
            return Some(trace);
        }
        self.cut = Some(Arc::new(AtomicU64::new(1)));
        let note = format!("trace cut after {MAX_TRACE_EVENTS} packets; the transfer goes on");
        Some(PacketTrace { from: trace.from, opcode: "CUT".into(), ms: trace.ms, note: Some(note), ..PacketTrace::default() })
    }

    /// `lost` packets could not be passed on: the trace is cut here. Returns the notice to
    /// draw after the packets already on their way, unless the trace was cut before.
    pub fn lose(&mut self, lost: u64, ms: f64) -> Option<LostNotice> {
        if let Some(not_drawn) = &self.cut {
            not_drawn.fetch_add(lost, Ordering::Relaxed);
            return None;
        }
        let not_drawn = Arc::new(AtomicU64::new(lost));
        self.cut = Some(not_drawn.clone());
        Some(LostNotice { drawn: self.drawn, ms, not_drawn })
    }
}

/// The `CUT` notice of a trace that lost packets, written when it is taken so that it counts
/// every packet not drawn until then.
pub struct LostNotice {
    drawn: usize,
    ms: f64,
    not_drawn: Arc<AtomicU64>,
}

impl LostNotice {
    pub fn event(&self) -> PacketTrace {
        let (drawn, lost) = (self.drawn, self.not_drawn.load(Ordering::Relaxed));
        let note = format!(
            "trace cut after {drawn} packets: the page did not read them in time, {lost} more were not drawn; the transfers go on"
        );
        PacketTrace { from: "server".into(), opcode: "CUT".into(), ms: self.ms, note: Some(note), ..PacketTrace::default() }
    }
}

/// What a run's trace queue carries.
enum Item {
    Packet(PacketTrace),
    Lost(LostNotice),
}

/// The packets of one followed run, in order, for its driver to pass to the page; ends once
/// the relay finished the run (or another run took over and every packet was taken).
pub struct CompanionTrace {
    items: mpsc::Receiver<Item>,
    /// The relay's count of packets held for every run's page (one less for each taken).
    held: Arc<AtomicUsize>,
}

impl CompanionTrace {
    pub async fn recv(&mut self) -> Option<PacketTrace> {
        let item = self.items.recv().await?;
        self.held.fetch_sub(1, Ordering::Relaxed);
        Some(match item {
            Item::Packet(trace) => trace,
            Item::Lost(notice) => notice.event(),
        })
    }
}

impl Drop for CompanionTrace {
    fn drop(&mut self) {
        self.items.close();
        while self.items.try_recv().is_ok() {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Carries a TFTP server's trace to the run it is drawn under, from a task of its own that
/// never waits: each run's packets wait in the run's own queue, all of them together bounded.
pub struct Relay {
    state: Arc<Mutex<State>>,
    /// The server's sink (for its count of queued events).
    sink: TraceSink,
    /// How many events the task has taken from the channel.
    taken: watch::Receiver<u64>,
}

struct State {
    follower: Option<Follower>,
    /// Packets in every run's queue, not yet taken by its driver: at most `MAX_PENDING`.
    held: Arc<AtomicUsize>,
    /// The channel's count of dropped events when last looked at.
    dropped: u64,
    /// When (ms into its transfer) the last event taken in happened, for a cut notice.
    last_ms: f64,
}

/// The run the packets are drawn under now.
struct Follower {
    run_id: u32,
    items: mpsc::Sender<Item>,
    trace: RunTrace,
}

impl Relay {
    /// Starts relaying what `events` receives; `sink` is its sending side, which the server
    /// traces to. The relay's task ends when every other clone of `sink` is dropped.
    pub fn start(events: TraceReceiver, sink: TraceSink) -> Relay {
        let held = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(Mutex::new(State { follower: None, held, dropped: 0, last_ms: 0.0 }));
        let (taken_tx, taken) = watch::channel(0);
        tokio::spawn(relay(events, state.clone(), taken_tx));
        Relay { state, sink, taken }
    }

    /// Draws the packets under run `run_id` from now on (the newest run wins): they come out
    /// of the returned queue. Dropping it stops them.
    pub fn follow(&self, run_id: u32) -> CompanionTrace {
        let mut state = self.lock();
        // A run's queue holds its packets and one notice, so a send to it never finds it full.
        let (items, rx) = mpsc::channel(MAX_TRACE_EVENTS + 2);
        state.follower = Some(Follower { run_id, items, trace: RunTrace::new(Side::Server) });
        // Packets dropped before this run was followed are none of its loss.
        state.dropped = self.sink.dropped();
        CompanionTrace { items: rx, held: state.held.clone() }
    }

    /// For a run about to send its `Exit`: waits (at most `FINISH_WAIT`) until every packet
    /// traced before the call is taken in, then stops drawing under `run_id`, so that its
    /// queue ends after the packets in it. Never waits for a page.
    pub fn finish(&self, run_id: u32) -> impl Future<Output = ()> + Send + 'static {
        let target = self.sink.queued();
        let mut taken = self.taken.clone();
        let state = self.state.clone();
        let sink = self.sink.clone();
        async move {
            let _ = tokio::time::timeout(FINISH_WAIT, taken.wait_for(|n| *n >= target)).await;
            let mut state = state.lock().expect("relay state poisoned");
            // Events dropped after the last one taken in cut the trace too.
            state.note_dropped(sink.dropped());
            if state.follower.as_ref().is_some_and(|f| f.run_id == run_id) {
                state.follower = None;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("relay state poisoned")
    }
}

impl State {
    /// Takes in one event for the followed run, if any; `dropped` is the channel's count.
    fn take(&mut self, event: &TraceEvent, dropped: u64) {
        self.last_ms = event.elapsed_us as f64 / 1000.0;
        let full = self.held.load(Ordering::Relaxed) >= MAX_PENDING;
        self.lose(dropped.saturating_sub(self.dropped) + u64::from(full));
        self.dropped = dropped;
        if full {
            return;
        }
        let Some(follower) = self.follower.as_mut() else { return };
        if let Some(trace) = follower.trace.packet(event) {
            self.push(Item::Packet(trace));
        }
    }

    /// Counts events dropped from the channel since the last look.
    fn note_dropped(&mut self, dropped: u64) {
        self.lose(dropped.saturating_sub(self.dropped));
        self.dropped = dropped;
    }

    /// `lost` packets of the followed run could not be passed on: its trace is cut.
    fn lose(&mut self, lost: u64) {
        let Some(follower) = self.follower.as_mut().filter(|_| lost > 0) else { return };
        if let Some(notice) = follower.trace.lose(lost, self.last_ms) {
            self.push(Item::Lost(notice));
        }
    }

    /// Queues an item for the followed run; a run whose queue is gone is followed no more.
    fn push(&mut self, item: Item) {
        let Some(follower) = self.follower.as_ref() else { return };
        // Counted before it can be taken, so the count never goes below zero.
        self.held.fetch_add(1, Ordering::Relaxed);
        // Room is certain: a run's trace is at most `MAX_TRACE_EVENTS` packets and one notice.
        if let Err(e) = follower.items.try_send(item) {
            self.held.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Closed(_) => self.follower = None,
                mpsc::error::TrySendError::Full(_) => unreachable!("a run's trace queue holds its whole trace"),
            }
        }
    }
}

/// The relay's task: takes every event in at once; ends when the server's trace channel closes.
async fn relay(mut events: TraceReceiver, state: Arc<Mutex<State>>, taken: watch::Sender<u64>) {
    let mut count = 0u64;
    while let Some(event) = events.recv().await {
        count += 1;
        state.lock().expect("relay state poisoned").take(&event, events.dropped());
        taken.send_replace(count);
    }
}
