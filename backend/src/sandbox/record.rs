//! What a run's program records about itself (threads, processes, waits, socket calls): lines
//! of JSON that hooks the agent installs in the program write to a pipe only this run has.
//!
//! These come from inside the program, so the program can misdraw them, but only for its own
//! run: it could write lines into its pipe or turn the hooks off. It cannot reach another run or
//! the packets (see `capture`). The reader never waits: lines past `MAX_LINE` bytes are
//! skipped, malformed ones ignored, and past `MAX_EVENTS` a run's recording is cut; the pipe is
//! read to its end so the program never blocks on it (its hooks write without waiting and drop
//! what does not fit). A thread of its own empties the pipe (the kernel wakes it at once, however
//! busy the runtime is) into a bounded queue that a task parses; while the program lives and
//! writes little it reads at a pace (`PACE`: a run that records thousands of events wakes the
//! backend hundreds of times, not thousands); once it has ended (`Ended::now`), at once.

use shared::timeline::Activity;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

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

/// The wait after a small read of a live run's pipe: what the program writes meanwhile waits
/// in the pipe (64 KiB; a flood writes ~25 KB a millisecond, and the thread may be woken late on
/// a busy machine). A read of `BUSY` bytes or more (a quarter of it) is followed by the next at
/// once.
const PACE: Duration = Duration::from_micros(300);
const BUSY: usize = 16 << 10;
/// Chunks (of at most 64 KiB) read but not yet parsed: past them the reader waits, and the
/// program's pipe fills.
const RAW_CHUNKS: usize = 32;

/// A run's recording as it is read: its events, and how to say that the program ended.
pub struct Reading {
    pub events: mpsc::Receiver<Recorded>,
    pub ended: Ended,
}

/// Tells a run's reader that the program ended, so the rest is read without pacing.
#[derive(Clone)]
pub struct Ended(Arc<(Mutex<bool>, Condvar)>);

impl Ended {
    pub fn now(&self) {
        *self.0 .0.lock().expect("ended poisoned") = true;
        self.0 .1.notify_all();
    }

    /// Waits `pace`, or less once the program ended.
    fn pause(&self, pace: Duration) {
        let ended = self.0 .0.lock().expect("ended poisoned");
        if !*ended {
            let _ = self.0 .1.wait_timeout(ended, pace);
        }
    }
}

/// Reads the run's recording pipe (its read end, blocking) until every process of the run
/// closed it.
pub fn read(pipe: OwnedFd) -> Reading {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (raw_tx, mut raw_rx) = mpsc::channel::<Vec<u8>>(RAW_CHUNKS);
    let ended = Ended(Arc::new((Mutex::new(false), Condvar::new())));
    let pacer = ended.clone();
    tokio::task::spawn_blocking(move || reader(std::fs::File::from(pipe), raw_tx, pacer));
    tokio::spawn(async move {
        let mut lines = Lines::new(tx);
        while let Some(chunk) = raw_rx.recv().await {
            lines.feed(&chunk);
        }
        lines.close();
    });
    Reading { events: rx, ended }
}

fn reader(mut pipe: std::fs::File, raw: mpsc::Sender<Vec<u8>>, ended: Ended) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break, // every writer closed it
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if raw.blocking_send(buf[..n].to_vec()).is_err() {
            break; // the run is gone
        }
        if n < BUSY {
            ended.pause(PACE);
        }
    }
}

/// The lines of one run's pipe as they come: whole ones parsed and given, counted and cut.
struct Lines {
    tx: mpsc::Sender<Recorded>,
    line: Vec<u8>,
    skipping: bool,
    shown: u32,
    cut: Option<u64>,
}

impl Lines {
    fn new(tx: mpsc::Sender<Recorded>) -> Lines {
        Lines { tx, line: Vec::new(), skipping: false, shown: 0, cut: None }
    }

    fn feed(&mut self, data: &[u8]) {
        for part in data.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match part.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (part, false),
            };
            if !self.skipping {
                if self.line.len() + body.len() > MAX_LINE {
                    self.skipping = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(body);
                }
            }
            if !complete {
                continue;
            }
            let whole = !std::mem::take(&mut self.skipping);
            let event = if whole { Activity::parse(&self.line).ok() } else { None };
            self.line.clear();
            let Some(event) = event else { continue };
            match &mut self.cut {
                Some(not_shown) => *not_shown += 1,
                None if (self.shown as usize) < MAX_EVENTS => {
                    // Never full: it holds all this run may be given.
                    if self.tx.try_send(Recorded::Event(event)).is_ok() {
                        self.shown += 1;
                    }
                }
                None => {
                    self.cut = Some(1);
                    let _ = self.tx.try_send(Recorded::Cut { shown: self.shown, not_shown: 1 });
                }
            }
        }
    }

    /// The cut notice again with its final count, when lines were left out since.
    fn close(self) {
        if let Some(not_shown) = self.cut {
            let _ = self.tx.try_send(Recorded::Cut { shown: self.shown, not_shown });
        }
    }
}
