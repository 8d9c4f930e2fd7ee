//! What a run's program records about itself (threads, processes, waits, socket calls): lines
//! of JSON that hooks the agent installs in the program write to a pipe only this run has.
//!
//! These come from inside the program, so the program can misdraw them, but only for its own
//! run: it could write lines into its pipe or turn the hooks off. It cannot reach another run or
//! the packets (see `capture`). The reader never waits: lines past `MAX_LINE` bytes are
//! skipped, malformed ones ignored, and past `MAX_EVENTS` a run's recording is cut; the pipe is
//! read to its end so the program never blocks on it (its hooks write without waiting and drop
//! what does not fit). While the program lives the pipe is read at a pace (`PACE`), so a run
//! that records thousands of events wakes the backend hundreds of times, not thousands; once
//! it has ended (`Ended::now`), what is left is read at once.

use shared::timeline::Activity;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, Notify};

/// Events of one run sent to its page; past this its recording is cut.
pub const MAX_EVENTS: usize = 10_000;
/// Longest line a recorder may write; longer ones are skipped whole.
pub const MAX_LINE: usize = 1024;
/// What a run's queue holds at most: every event it may be shown and two cut notices.
const QUEUE: usize = MAX_EVENTS + 2;

/// What the recording tells the run.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Event(Activity),
    /// The recording stops here: `shown` events were given, `not_shown` were not (so far; a
    /// second notice with the final count may follow).
    Cut { shown: u32, not_shown: u64 },
}

/// The wait between two reads of a live run's pipe when the last read was small: what the
/// program writes meanwhile waits in the pipe (64 KiB, so dropped only past ~8 MB/s, where a
/// run reaches `MAX_EVENTS` within a second anyway).
const PACE: Duration = Duration::from_millis(2);
/// A read this large is followed by the next at once.
const BIG_READ: usize = 16 << 10;

/// A run's recording as it is read: its events, and how to say that the program ended.
pub struct Reading {
    pub events: mpsc::Receiver<Recorded>,
    pub ended: Ended,
}

/// Tells a run's reader that the program ended, so the rest is read without pacing.
#[derive(Clone)]
pub struct Ended(Arc<Notify>);

impl Ended {
    pub fn now(&self) {
        self.0.notify_one();
    }
}

/// Reads the run's recording pipe until every process of the run closed it.
pub fn read(pipe: pipe::Receiver) -> Reading {
    let (tx, rx) = mpsc::channel(QUEUE);
    let ended = Ended(Arc::new(Notify::new()));
    tokio::spawn(reader(pipe, tx, ended.clone()));
    Reading { events: rx, ended }
}

async fn reader(mut pipe: pipe::Receiver, tx: mpsc::Sender<Recorded>, ended: Ended) {
    let mut buf = vec![0u8; 64 << 10];
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut shown = 0u32;
    let mut cut: Option<u64> = None;
    let mut paced = true;
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for part in buf[..n].split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match part.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (part, false),
            };
            if !skipping {
                if line.len() + body.len() > MAX_LINE {
                    skipping = true;
                    line.clear();
                } else {
                    line.extend_from_slice(body);
                }
            }
            if !complete {
                continue;
            }
            let whole = !std::mem::take(&mut skipping);
            let event = if whole { Activity::parse(&line).ok() } else { None };
            line.clear();
            let Some(event) = event else { continue };
            match &mut cut {
                Some(not_shown) => *not_shown += 1,
                None if (shown as usize) < MAX_EVENTS => {
                    // Never full: it holds all this run may be given.
                    if tx.try_send(Recorded::Event(event)).is_ok() {
                        shown += 1;
                    }
                }
                None => {
                    cut = Some(1);
                    let _ = tx.try_send(Recorded::Cut { shown, not_shown: 1 });
                }
            }
        }
        if paced && n < BIG_READ {
            tokio::select! {
                _ = tokio::time::sleep(PACE) => {}
                _ = ended.0.notified() => paced = false,
            }
        }
    }
    if let Some(not_shown) = cut {
        let _ = tx.try_send(Recorded::Cut { shown, not_shown });
    }
}
