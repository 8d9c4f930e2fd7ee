//! One server run: feeds its stdin, streams its stdout/stderr to the page with a cap,
//! enforces the wall-clock limit, and reports how it ended (`Exit`), always last.

use crate::sandbox::{RunEvent, RunIo, Sandbox};
use shared::wire::{ExitInfo, ServerMsg, Stream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// A limited number of programs at once, first come first served; the rest wait and the
/// page is told how many are ahead.
pub struct Slots {
    sem: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
}

impl Slots {
    pub fn new(n: usize) -> Slots {
        Slots { sem: Arc::new(tokio::sync::Semaphore::new(n)), waiting: AtomicUsize::new(0) }
    }

    /// A slot for run `id`, sending `Queued` first if it must wait. Fails if `cancel` fires.
    pub async fn wait(
        &self,
        id: u32,
        out: &mpsc::Sender<ServerMsg>,
        cancel: &tokio::sync::Notify,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, String> {
        if let Ok(permit) = self.sem.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst) as u32;
        let _ = out.send(ServerMsg::Queued { run_id: id, ahead }).await;
        let result = tokio::select! {
            permit = self.sem.clone().acquire_owned() => permit.map_err(|_| "the server is stopping".to_string()),
            _ = cancel.notified() => Err("stopped while waiting in the queue".to_string()),
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// What the page sends to a running program's standard input.
pub enum StdinCmd {
    Data(String),
    Close,
}

/// The run's share of output it may still send, and whether some was cut; and the pace
/// at which it may send it.
struct OutputCap {
    left: AtomicUsize,
    truncated: AtomicBool,
    pace: std::sync::Mutex<Pace>,
}

/// A token bucket over both streams of a run: `RATE` bytes a second after a `BURST`.
struct Pace {
    /// When the bucket is empty again (past instants mean it holds a full burst).
    free_at: tokio::time::Instant,
}

const RATE: f64 = 512.0 * 1024.0;
const BURST: Duration = Duration::from_millis(125); // 64 KiB at RATE

impl OutputCap {
    /// How long to wait before sending `n` more bytes.
    fn delay_for(&self, n: usize) -> Duration {
        let mut pace = self.pace.lock().expect("pace poisoned");
        let now = tokio::time::Instant::now();
        let start = pace.free_at.max(now - BURST);
        pace.free_at = start + Duration::from_secs_f64(n as f64 / RATE);
        (pace.free_at - BURST).saturating_duration_since(now)
    }
}

/// What others may learn about, or do to, a run while it goes (the teacher's view).
#[derive(Debug, Default)]
pub struct RunStatus {
    /// Why someone else (the teacher) stopped it; it becomes the `Exit`'s reason.
    pub stopped_because: std::sync::OnceLock<String>,
    /// Its pid inside the sandbox once it started (0 before).
    pub pid: std::sync::atomic::AtomicU32,
}

/// Drives run `id` to its end. `out` carries messages to the page; `status` is shared with
/// the teacher's view.
pub async fn drive(
    sandbox: Arc<Sandbox>,
    id: u32,
    io: RunIo,
    stdin_rx: mpsc::Receiver<StdinCmd>,
    out: mpsc::Sender<ServerMsg>,
    status: Arc<RunStatus>,
) {
    let started = Instant::now();
    let RunIo { stdin, stdout, stderr, mut events } = io;
    let limits = sandbox.limits().clone();
    let cap = Arc::new(OutputCap {
        left: AtomicUsize::new(limits.output_bytes),
        truncated: AtomicBool::new(false),
        pace: std::sync::Mutex::new(Pace { free_at: tokio::time::Instant::now() }),
    });
    let pumps = [(stdout, Stream::Stdout), (stderr, Stream::Stderr)]
        .map(|(p, stream)| tokio::spawn(pump(p, id, stream, out.clone(), cap.clone())));
    let feeder = tokio::spawn(feed_stdin(stdin, stdin_rx));

    let before = sandbox.counters();
    let deadline = tokio::time::Instant::from_std(started + Duration::from_secs(limits.wall_secs));
    let mut reason = None;
    let (code, signal, cpu_ms) = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(RunEvent::Started { pid })) => {
                status.pid.store(pid, Ordering::SeqCst);
                let _ = out.send(ServerMsg::Started { run_id: id, pid }).await;
            }
            Ok(Some(RunEvent::Listening)) => {
                let _ = out.send(ServerMsg::Listening { run_id: id }).await;
            }
            Ok(Some(RunEvent::Exit { code, signal, cpu_ms })) => break (code, signal, cpu_ms),
            Ok(Some(RunEvent::Failed(message))) => {
                feeder.abort();
                let _ = out.send(ServerMsg::Error { run_id: Some(id), message }).await;
                return;
            }
            Ok(Some(RunEvent::Lost(why))) => {
                reason = Some(why);
                break (None, Some(libc::SIGKILL), 0);
            }
            Ok(None) => {
                reason = Some("the sandbox ended".into());
                break (None, Some(libc::SIGKILL), 0);
            }
            Err(_elapsed) => {
                reason = Some(format!("wall-clock limit of {} s reached", limits.wall_secs));
                let _ = sandbox.kill(id).await;
                // Wait briefly for the agent's word, which carries the CPU time.
                match tokio::time::timeout(Duration::from_secs(2), wait_exit(&mut events)).await {
                    Ok(Some(exit)) => break exit,
                    _ => break (None, Some(libc::SIGKILL), 0),
                }
            }
        }
    };
    let after = sandbox.counters();
    if let Some(why) = status.stopped_because.get() {
        reason = Some(why.clone());
    }
    if reason.is_none() {
        reason = if signal == Some(libc::SIGXCPU) {
            Some(format!("CPU time limit of {} s reached", limits.cpu_secs))
        } else if signal == Some(libc::SIGKILL) && after.oom_kills > before.oom_kills {
            Some(format!("out of memory: the limit is {} MiB", limits.memory_bytes >> 20))
        } else if code != Some(0) && after.pid_limit_hits > before.pid_limit_hits {
            Some(format!("process limit of {} reached", limits.nproc))
        } else {
            None
        };
    }
    // Every process of the run is gone now, so its pipes end: wait for the last output.
    for p in pumps {
        let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
    }
    feeder.abort();
    // The companion TFTP server's last packets of this run go before its Exit.
    for msg in sandbox.finish_companion_trace(id).await {
        let _ = out.send(msg).await;
    }
    let exit = ExitInfo {
        run_id: id,
        code,
        signal,
        cpu_ms,
        wall_ms: started.elapsed().as_millis() as u64,
        truncated: cap.truncated.load(Ordering::SeqCst),
        reason,
    };
    let _ = out.send(ServerMsg::Exit(exit)).await;
}

async fn wait_exit(events: &mut mpsc::UnboundedReceiver<RunEvent>) -> Option<(Option<i32>, Option<i32>, u64)> {
    while let Some(ev) = events.recv().await {
        if let RunEvent::Exit { code, signal, cpu_ms } = ev {
            return Some((code, signal, cpu_ms));
        }
    }
    None
}

/// Copies one stream to the page as text, at most at the run's pace. Sending waits (for
/// the pace, and for room in the page's queue), so a flood slows the program (its pipe
/// fills) instead of growing memory or drowning the page; past the cap the rest is read
/// and dropped, so the program can still finish.
async fn pump(mut pipe: pipe::Receiver, id: u32, stream: Stream, out: mpsc::Sender<ServerMsg>, cap: Arc<OutputCap>) {
    let mut buf = vec![0u8; 16384];
    let mut text = Utf8Carry::default();
    let mut open = true;
    while let Ok(n) = pipe.read(&mut buf).await {
        let data = if n == 0 { text.finish() } else { text.push(&buf[..n]) };
        if open && !data.is_empty() {
            let (data, cut) = cap.take(data);
            tokio::time::sleep(cap.delay_for(data.len())).await;
            if !data.is_empty() && out.send(ServerMsg::Output { run_id: id, stream, data }).await.is_err() {
                open = false;
            }
            if cut {
                open = false;
                if !cap.truncated.swap(true, Ordering::SeqCst) {
                    let note = "\n[classbook: output cut here; the program keeps running]\n".to_string();
                    let _ = out.send(ServerMsg::Output { run_id: id, stream: Stream::Stderr, data: note }).await;
                }
            }
        }
        if n == 0 {
            break;
        }
    }
}

impl OutputCap {
    /// Takes what fits of `data`; the flag says something was cut.
    fn take(&self, data: String) -> (String, bool) {
        let mut granted = 0;
        let _ = self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            granted = left.min(data.len());
            Some(left - granted)
        });
        if granted == data.len() {
            return (data, false);
        }
        let mut end = granted;
        while !data.is_char_boundary(end) {
            end -= 1;
        }
        (data[..end].to_string(), true)
    }
}

/// Turns a byte stream into text without breaking a UTF-8 character split across reads.
#[derive(Default)]
struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let cut = complete_prefix_len(&self.pending);
        let text = String::from_utf8_lossy(&self.pending[..cut]).into_owned();
        self.pending.drain(..cut);
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// Length of the longest prefix that does not end inside a UTF-8 sequence.
fn complete_prefix_len(b: &[u8]) -> usize {
    let n = b.len();
    for back in 1..=n.min(3) {
        let byte = b[n - back];
        if byte & 0xC0 != 0x80 {
            let need = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if need > back { n - back } else { n };
        }
    }
    n
}

async fn feed_stdin(mut stdin: pipe::Sender, mut rx: mpsc::Receiver<StdinCmd>) {
    while let Some(StdinCmd::Data(d)) = rx.recv().await {
        if stdin.write_all(d.as_bytes()).await.is_err() {
            break;
        }
    }
    // Close (or the session going away) drops the pipe: the program reads EOF.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_utf8_characters_wait_for_their_tail() {
        let bytes = "a中b".as_bytes();
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(&bytes[..2]), "a");
        assert_eq!(carry.push(&bytes[2..4]), "中");
        assert_eq!(carry.push(&bytes[4..]), "b");
        assert_eq!(carry.finish(), "");
    }

    #[tokio::test]
    async fn the_pace_allows_a_burst_then_the_rate() {
        let cap = OutputCap {
            left: AtomicUsize::new(usize::MAX),
            truncated: AtomicBool::new(false),
            pace: std::sync::Mutex::new(Pace { free_at: tokio::time::Instant::now() }),
        };
        assert_eq!(cap.delay_for(32 << 10), Duration::ZERO);
        assert_eq!(cap.delay_for(32 << 10), Duration::ZERO);
        let wait = cap.delay_for(512 << 10);
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_millis(1000), "{wait:?}");
    }

    #[test]
    fn the_output_cap_cuts_on_a_character_boundary() {
        let cap = OutputCap {
            left: AtomicUsize::new(4),
            truncated: AtomicBool::new(false),
            pace: std::sync::Mutex::new(Pace { free_at: tokio::time::Instant::now() }),
        };
        assert_eq!(cap.take("ab".into()), ("ab".to_string(), false));
        assert_eq!(cap.take("中文".into()), (String::new(), true));
        assert_eq!(cap.take("x".into()), (String::new(), true));
    }
}
