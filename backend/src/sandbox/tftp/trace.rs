//! TFTP packet traces on their way to the page, through queues that are all bounded and never
//! wait for a page that does not read: per run the first packets, then one `CUT` notice.

use classbook_tftp::{Direction, TraceEvent, TraceReceiver, TraceSink};
use shared::trace::PacketTrace;
use shared::wire::ServerMsg;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Packets of one run drawn on the page; past this the trace is cut and the cut announced.
pub const MAX_TRACE_EVENTS: usize = 2000;
/// Trace events a TFTP server or client may have queued for its relay; past this they are
/// dropped (and the run's trace cut). The relay takes them in at once, so only a starved
/// relay lets it fill.
pub const TRACE_CHANNEL: usize = 1024;
/// Page messages a relay holds for a page that is slow to read: one run's whole trace. Past
/// this the run's trace is cut. Events are at most ~3 KB (their texts are clipped by the tftp
/// crate), so with `TRACE_CHANNEL` one companion's trace holds at most ~10 MB.
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
/// and nothing more. Packets lost on the way (the page did not read them in time) cut it too,
/// since a diagram with a gap would mislead; that notice counts the packets not drawn.
pub struct RunTrace {
    run_id: u32,
    side: Side,
    drawn: usize,
    /// Packets not drawn since the cut (shared with a notice that may still wait to be sent).
    cut: Option<Arc<AtomicU64>>,
}

impl RunTrace {
    pub fn new(run_id: u32, side: Side) -> RunTrace {
        RunTrace { run_id, side, drawn: 0, cut: None }
    }

    /// The page message for one traced packet: the packet, the cap's notice, or nothing.
    pub fn packet(&mut self, event: &TraceEvent) -> Option<ServerMsg> {
        if let Some(not_drawn) = &self.cut {
            not_drawn.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let trace = to_page(event, self.side);
        if self.drawn < MAX_TRACE_EVENTS {
            self.drawn += 1;
            return Some(ServerMsg::Trace { run_id: self.run_id, event: trace });
        }
        self.cut = Some(Arc::new(AtomicU64::new(1)));
        let note = format!("trace cut after {MAX_TRACE_EVENTS} packets; the transfer goes on");
        let notice = PacketTrace { from: trace.from, opcode: "CUT".into(), ms: trace.ms, note: Some(note), ..PacketTrace::default() };
        Some(ServerMsg::Trace { run_id: self.run_id, event: notice })
    }

    /// `lost` packets could not be passed on: the trace is cut here. Returns the notice to send
    /// after the messages already on their way, unless the trace was cut before.
    pub fn lose(&mut self, lost: u64, ms: f64) -> Option<LostNotice> {
        if let Some(not_drawn) = &self.cut {
            not_drawn.fetch_add(lost, Ordering::Relaxed);
            return None;
        }
        let not_drawn = Arc::new(AtomicU64::new(lost));
        self.cut = Some(not_drawn.clone());
        Some(LostNotice { run_id: self.run_id, drawn: self.drawn, ms, not_drawn })
    }
}

/// The `CUT` notice of a trace that lost packets, written when it is sent so that it counts
/// every packet not drawn until then.
pub struct LostNotice {
    run_id: u32,
    drawn: usize,
    ms: f64,
    not_drawn: Arc<AtomicU64>,
}

impl LostNotice {
    pub fn message(&self) -> ServerMsg {
        let (drawn, lost) = (self.drawn, self.not_drawn.load(Ordering::Relaxed));
        let note = format!(
            "trace cut after {drawn} packets: the page did not read them in time, {lost} more were not drawn; the transfers go on"
        );
        let event = PacketTrace { from: "server".into(), opcode: "CUT".into(), ms: self.ms, note: Some(note), ..PacketTrace::default() };
        ServerMsg::Trace { run_id: self.run_id, event }
    }
}

/// Carries a TFTP server's trace to the page of the run it follows, from a task of its own
/// that never waits for the page: what the page cannot take yet waits in a bounded queue.
pub struct Relay {
    state: Arc<Mutex<State>>,
    /// The server's sink (for its count of queued events).
    sink: TraceSink,
    /// How many events the task has taken from the channel.
    taken: watch::Receiver<u64>,
}

struct State {
    follower: Option<Follower>,
    /// Messages for pages, oldest first: at most `MAX_PENDING`, plus one cut notice a run.
    pending: VecDeque<Pending>,
    /// The channel's count of dropped events when last looked at.
    dropped: u64,
    /// When (ms into its transfer) the last event taken in happened, for a cut notice.
    last_ms: f64,
}

/// The run the packets are drawn under now.
struct Follower {
    out: mpsc::Sender<ServerMsg>,
    trace: RunTrace,
}

struct Pending {
    run_id: u32,
    out: mpsc::Sender<ServerMsg>,
    message: Message,
}

enum Message {
    Ready(ServerMsg),
    Lost(LostNotice),
}

impl Message {
    fn into_msg(self) -> ServerMsg {
        match self {
            Message::Ready(msg) => msg,
            Message::Lost(notice) => notice.message(),
        }
    }
}

impl Relay {
    /// Starts relaying what `events` receives; `sink` is its sending side, which the server
    /// traces to. The relay's task ends when every other clone of `sink` is dropped.
    pub fn start(events: TraceReceiver, sink: TraceSink) -> Relay {
        let state = Arc::new(Mutex::new(State { follower: None, pending: VecDeque::new(), dropped: 0, last_ms: 0.0 }));
        let (taken_tx, taken) = watch::channel(0);
        tokio::spawn(relay(events, state.clone(), taken_tx));
        Relay { state, sink, taken }
    }

    /// Draws the packets under run `run_id` from now on (the newest run wins).
    pub fn follow(&self, run_id: u32, out: mpsc::Sender<ServerMsg>) {
        let mut state = self.lock();
        state.follower = Some(Follower { out, trace: RunTrace::new(run_id, Side::Server) });
        // Packets dropped before this run was followed are none of its loss.
        state.dropped = self.sink.dropped();
    }

    /// Run `run_id` ended: its trace stops (unless a newer run took over), and what was not
    /// sent of it is dropped (the page ignores a run's messages after its `Exit`).
    pub fn unfollow(&self, run_id: u32) {
        self.lock().forget(run_id);
    }

    /// For a run about to send its `Exit`: waits (at most `FINISH_WAIT`) until every packet
    /// traced before the call is taken in, stops drawing under `run_id` and returns the run's
    /// messages not sent yet, for the caller to send before the `Exit`. Never waits for a page.
    pub fn finish(&self, run_id: u32) -> impl Future<Output = Vec<ServerMsg>> + Send + 'static {
        let target = self.sink.queued();
        let mut taken = self.taken.clone();
        let state = self.state.clone();
        let sink = self.sink.clone();
        let dropped = move || sink.dropped();
        async move {
            let _ = tokio::time::timeout(FINISH_WAIT, taken.wait_for(|n| *n >= target)).await;
            let mut state = state.lock().expect("relay state poisoned");
            // Events dropped after the last one taken in cut the trace too.
            state.note_dropped(dropped());
            let (mine, others) = std::mem::take(&mut state.pending).into_iter().partition::<VecDeque<_>, _>(|p| p.run_id == run_id);
            state.pending = others;
            state.forget(run_id);
            mine.into_iter().map(|p| p.message.into_msg()).collect()
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
        let full = self.pending.len() >= MAX_PENDING;
        self.lose(dropped.saturating_sub(self.dropped) + u64::from(full));
        self.dropped = dropped;
        if full {
            return;
        }
        let Some(follower) = self.follower.as_mut() else { return };
        if let Some(msg) = follower.trace.packet(event) {
            let (run_id, out) = (follower.trace.run_id, follower.out.clone());
            self.pending.push_back(Pending { run_id, out, message: Message::Ready(msg) });
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
            let (run_id, out) = (follower.trace.run_id, follower.out.clone());
            self.pending.push_back(Pending { run_id, out, message: Message::Lost(notice) });
        }
    }

    fn forget(&mut self, run_id: u32) {
        if self.follower.as_ref().is_some_and(|f| f.trace.run_id == run_id) {
            self.follower = None;
        }
        self.pending.retain(|p| p.run_id != run_id);
    }
}

type Reserve = Pin<Box<dyn Future<Output = Result<mpsc::OwnedPermit<ServerMsg>, mpsc::error::SendError<()>>> + Send>>;

/// The relay's task: takes every event in at once and, while messages wait, room in the
/// oldest one's page queue; ends when the server's trace channel closes.
async fn relay(mut events: TraceReceiver, state: Arc<Mutex<State>>, taken: watch::Sender<u64>) {
    let lock = || state.lock().expect("relay state poisoned");
    let mut count = 0u64;
    // Waiting for room in one page's queue; kept across events so it keeps its place in line.
    let mut room: Option<(mpsc::Sender<ServerMsg>, Reserve)> = None;
    loop {
        if room.is_none() {
            room = lock().pending.front().map(|p| (p.out.clone(), Box::pin(p.out.clone().reserve_owned()) as Reserve));
        }
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return };
                count += 1;
                lock().take(&event, events.dropped());
                taken.send_replace(count);
            }
            permit = async { room.as_mut().expect("guarded").1.as_mut().await }, if room.is_some() => {
                let (out, _) = room.take().expect("guarded");
                let mut state = lock();
                let front_is_for = |state: &State| state.pending.front().is_some_and(|p| p.out.same_channel(&out));
                match permit {
                    Ok(permit) if front_is_for(&state) => {
                        let pending = state.pending.pop_front().expect("front");
                        permit.send(pending.message.into_msg());
                    }
                    Ok(_) => {} // the front changed meanwhile (a run finished): try again
                    Err(_) => state.pending.retain(|p| !p.out.same_channel(&out)), // that page is gone
                }
            }
        }
    }
}
