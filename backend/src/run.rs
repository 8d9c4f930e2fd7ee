//! One server run: its one owner (`RunCtl`: phase, pid and the one stop that covers its whole
//! life), its stdin, its stdout/stderr streamed to the page with a cap, the wall-clock limit,
//! ending every process from the host when asking does not work, and its `Exit`, always last.

use crate::sandbox::capture::Seen;
use crate::sandbox::record::Recorded;
use crate::sandbox::{RunEvent, RunIo, Sandbox};
use crate::steps::{Stamps, Step};
use shared::lang::Lang;
use shared::wire::{EndReason, ExitInfo, Recording, ServerMsg, Stream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

/// How long the in-sandbox helper gets to end a run it was asked to end (and a program to
/// answer SIGINT) before the next, harder step: past the last, the host ends the sandbox.
pub const GRACE: Duration = Duration::from_millis(500);

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a slot (the student's, then the server's).
    Queued,
    /// Its sandbox is starting, or its files are being written.
    Starting,
    Running,
    Ended,
}

/// Why a run is being ended from outside its program; a later, stronger stop replaces an
/// earlier one (`Page` < `Kill` < `Teacher`, `Left`), never the other way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The page's Stop: this signal (SIGINT or SIGTERM) first, then SIGKILL.
    Page(i32),
    /// The page's "kill", or the checker ending a program it started.
    Kill,
    /// The teacher's Stop.
    Teacher,
    /// The page that started it left.
    Left,
}

impl Stop {
    fn strength(&self) -> u8 {
        match self {
            Stop::Page(_) => 1,
            Stop::Kill => 2,
            Stop::Teacher | Stop::Left => 3,
        }
    }

    /// What the run's `Exit` says about it, when it says more than the signal.
    pub fn reason(&self, lang: Lang) -> Option<String> {
        match self {
            Stop::Teacher => Some(lang.pick("被老师停止", "stopped by the teacher").into()),
            Stop::Left => Some(lang.pick("启动它的页面已经关闭", "the page that started it was closed").into()),
            _ => None,
        }
    }
}

/// One run's owner, from the moment it is asked for until its `Exit`: shared by the session
/// (the page's messages), the teacher's view and the task that drives it.
pub struct RunCtl {
    /// The file it runs, for the teacher's view.
    pub entry: String,
    pub asked: Instant,
    /// What the page types for it.
    pub stdin: mpsc::Sender<StdinCmd>,
    /// The language of the page that asked for it: what the server says about the run.
    pub lang: Lang,
    phase: Mutex<Phase>,
    /// Its pid inside the sandbox once it started (0 before).
    pid: AtomicU32,
    stop: watch::Sender<Option<Stop>>,
    /// Where its time goes, when `steps` is on (a benchmark's tracing mode).
    steps: Option<Stamps>,
}

impl RunCtl {
    /// `steps`: its stamps, when that tracing mode is on (`Stamps::new`).
    pub fn new(entry: String, stdin: mpsc::Sender<StdinCmd>, lang: Lang, steps: Option<Stamps>) -> RunCtl {
        RunCtl {
            entry,
            lang,
            asked: Instant::now(),
            stdin,
            phase: Mutex::new(Phase::Queued),
            pid: AtomicU32::new(0),
            stop: watch::Sender::new(None),
            steps,
        }
    }

    /// Stamps `step` of this run, when the `steps` tracing mode is on.
    pub fn stamp(&self, step: Step) {
        if let Some(s) = &self.steps {
            s.stamp(step);
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.lock().expect("phase poisoned")
    }

    pub fn set_phase(&self, phase: Phase) {
        *self.phase.lock().expect("phase poisoned") = phase;
    }

    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// Asks the run to end, whatever phase it is in: a queued run leaves its queue, a starting
    /// one never starts, a running one is ended (see `drive`).
    pub fn stop(&self, why: Stop) {
        self.stop.send_if_modified(|now| match now {
            Some(old) if old.strength() >= why.strength() => false,
            _ => {
                *now = Some(why);
                true
            }
        });
    }

    /// The stop asked for so far, if any.
    pub fn stopping(&self) -> Option<Stop> {
        self.stop.borrow().clone()
    }

    /// Resolves when a stop is asked for (at once if it was already).
    pub async fn stopped(&self) -> Stop {
        let mut rx = self.stop.subscribe();
        let stop = rx.wait_for(|s| s.is_some()).await.map(|s| s.clone());
        stop.ok().flatten().unwrap_or(Stop::Kill)
    }

    fn subscribe(&self) -> watch::Receiver<Option<Stop>> {
        self.stop.subscribe()
    }
}

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

    /// A slot for run `id`, sending `Queued` first if it must wait. Fails if the run is
    /// stopped meanwhile, saying who stopped it.
    pub async fn wait(
        &self,
        id: u32,
        out: &mpsc::Sender<ServerMsg>,
        ctl: &RunCtl,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, String> {
        if let Some(stop) = ctl.stopping() {
            return Err(queued_stop(&stop, ctl.lang));
        }
        if let Ok(permit) = self.sem.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst) as u32;
        // A page that does not read is not waited for: the position is only news.
        let _ = out.try_send(ServerMsg::Queued { run_id: id, ahead });
        let result = tokio::select! {
            permit = self.sem.clone().acquire_owned() => permit.map_err(|_| ctl.lang.pick("班级服务器正在停止", "the server is stopping").to_string()),
            stop = ctl.stopped() => Err(queued_stop(&stop, ctl.lang)),
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

/// What a run stopped before it started says.
pub fn queued_stop(stop: &Stop, lang: Lang) -> String {
    match stop.reason(lang) {
        Some(why) => lang.pick(format!("在队列中等待时{why}"), format!("{why} while it waited in the queue")),
        None => lang.pick("在队列中等待时被停止", "stopped while waiting in the queue").to_string(),
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

/// Drives run `id` to its end. `out` carries messages to the page; `ctl` is the run's owner:
/// its stop is obeyed here, in steps: the page's SIGINT (or SIGTERM), then SIGKILL from the
/// in-sandbox helper, and when that helper does not confirm within `GRACE` (the student's code
/// can stop or kill it: it runs as the same user), the host ends the whole sandbox, which ends
/// every process in it (they die with the sandbox's PID namespace).
pub async fn drive(
    sandbox: Arc<Sandbox>,
    id: u32,
    io: RunIo,
    stdin_rx: mpsc::Receiver<StdinCmd>,
    out: mpsc::Sender<ServerMsg>,
    ctl: Arc<RunCtl>,
) {
    let started = Instant::now();
    let RunIo { stdin, stdout, stderr, mut events, packets, activity } = io;
    // Neither output nor anything recorded is passed on before the run's `Started` (or its end,
    // if none came): the pipes and the agent's channel are separate, so a quick program's first
    // line can reach the backend before the agent's word that it started.
    let (started_gate, gate) = tokio::sync::watch::channel(false);
    let activity_ended = activity.as_ref().map(|a| a.ended.clone());
    let recordings = forward_recordings(id, packets, activity.map(|a| a.events), &out, gate.clone());
    let limits = sandbox.limits().clone();
    let cap = Arc::new(OutputCap {
        left: AtomicUsize::new(limits.output_bytes),
        truncated: AtomicBool::new(false),
        pace: std::sync::Mutex::new(Pace { free_at: tokio::time::Instant::now() }),
    });
    let pumps = [(stdout, Stream::Stdout), (stderr, Stream::Stderr)]
        .map(|(p, stream)| tokio::spawn(pump(p, id, stream, out.clone(), cap.clone(), ctl.lang, gate.clone())));
    let feeder = tokio::spawn(feed_stdin(stdin, stdin_rx));

    let before = sandbox.counters();
    let deadline = tokio::time::Instant::from_std(started + Duration::from_secs(limits.wall_secs));
    let mut stops = ctl.subscribe();
    let mut ending = Ending::default();
    let mut reason = None;
    // The same reason as data, for the page's own words.
    let mut why: Option<EndReason> = None;
    // A run's CPU, all its processes together, as the host sees it: its budget is twice one
    // process's limit, so forking cannot buy more (RLIMIT_CPU counts one process).
    let budget_ms = limits.cpu_secs * 2000;
    let mut host_cpu_ms = 0;
    let mut helper_baseline = None;
    // First after a second (a plain interval ticks at once, and that first look at /proc would
    // hold up a quick run's Exit for nothing: no run spends its CPU budget in no time).
    let mut watch_cpu = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
    let (code, signal, cpu_ms) = loop {
        let next_step = ending.next_at;
        tokio::select! {
            ev = events.recv() => match ev {
                Some(RunEvent::Started { pid }) => {
                    ctl.stamp(Step::StartedHeard);
                    ctl.pid.store(pid, Ordering::SeqCst);
                    let _ = out.send(ServerMsg::Started { run_id: id, pid }).await;
                    let _ = started_gate.send(true);
                }
                Some(RunEvent::Listening) => {
                    let _ = out.send(ServerMsg::Listening { run_id: id }).await;
                }
                Some(RunEvent::Exit { code, signal, cpu_ms }) => {
                    ctl.stamp(Step::ExitHeard);
                    break (code, signal, cpu_ms);
                }
                Some(RunEvent::Steps(ns)) => {
                    if let Some(s) = &ctl.steps {
                        s.agent(&ns);
                    }
                }
                Some(RunEvent::Failed(message)) => {
                    feeder.abort();
                    sandbox.finish_packets(id).await;
                    recordings.iter().for_each(|r| r.abort());
                    // The agent's words (a file it could not write…) are its own; the page's language frames them.
                    let message = ctl.lang.pick(format!("程序没有运行：{message}"), message);
                    let _ = out.send(ServerMsg::Error { run_id: Some(id), message }).await;
                    return;
                }
                Some(RunEvent::Lost(why)) => {
                    reason = Some(ctl.lang.pick(format!("沙箱出错：{why}"), why));
                    break (None, Some(libc::SIGKILL), 0);
                }
                None => {
                    reason = Some(ctl.lang.pick("沙箱已经结束", "the sandbox ended").into());
                    break (None, Some(libc::SIGKILL), 0);
                }
            },
            _ = tokio::time::sleep_until(deadline), if !ending.killing => {
                let secs = limits.wall_secs;
                reason = Some(ctl.lang.pick(format!("到达运行时间上限 {secs} 秒"), format!("wall-clock limit of {secs} s reached")));
                why = Some(EndReason::WallClock { secs: limits.wall_secs });
                ending.kill(&sandbox, id).await;
            }
            _ = watch_cpu.tick(), if !ending.killing && ctl.pid() != 0 => {
                if let Some(cpu) = run_cpu(&sandbox, ctl.pid()).await {
                    let baseline = *helper_baseline.get_or_insert(cpu.helper_reaped_ms);
                    // Orphans belong to this run only when no other run shares the sandbox.
                    let ms = if sandbox.runs_alive() <= 1 {
                        cpu.tree_ms + cpu.orphans_ms + cpu.helper_reaped_ms.saturating_sub(baseline)
                    } else {
                        cpu.tree_ms
                    };
                    host_cpu_ms = host_cpu_ms.max(ms);
                    if ms > budget_ms {
                        let secs = budget_ms / 1000;
                        reason = Some(ctl.lang.pick(
                            format!("到达这次运行的 CPU 时间上限 {secs} 秒（所有进程合计）"),
                            format!("CPU time limit of {secs} s for the run reached (all its processes together)"),
                        ));
                        why = Some(EndReason::CpuTime { secs: budget_ms / 1000 });
                        ending.kill(&sandbox, id).await;
                    }
                }
            }
            changed = stops.changed(), if !ending.killing => {
                let stop = if changed.is_ok() { stops.borrow_and_update().clone() } else { None };
                match stop {
                    Some(Stop::Page(sig)) if !ending.signalled => ending.signal(&sandbox, id, sig).await,
                    Some(Stop::Page(_)) | None => {}
                    Some(other) => {
                        reason = other.reason(ctl.lang).or(reason);
                        why = match other {
                            Stop::Teacher => Some(EndReason::Teacher),
                            Stop::Left => Some(EndReason::PageClosed),
                            _ => why,
                        };
                        ending.kill(&sandbox, id).await;
                    }
                }
            }
            _ = sleep_until_some(next_step) => {
                if ending.killing {
                    tracing::warn!(run = id, "the sandbox's helper did not end a run within {GRACE:?}: ending the sandbox from the host");
                    sandbox.close().await;
                    why = Some(EndReason::SandboxRestarted);
                    reason = Some(ctl.lang.pick(
                        "它在被要求结束时没有结束（沙箱的助手进程被停止或杀死了），所以 classbook 结束了你的所有程序并重启了你的沙箱".into(),
                        "it did not end when asked (the sandbox's helper was stopped or killed), so classbook ended \
                         every program of yours and restarted your sandbox"
                            .into(),
                    ));
                    break (None, Some(libc::SIGKILL), 0);
                }
                ending.kill(&sandbox, id).await;
            }
        }
    };
    // Its last recorded events are read at once now, not at the live run's pace.
    activity_ended.iter().for_each(|e| e.now());
    let after = sandbox.counters();
    ctl.stamp(Step::CountersRead);
    if reason.is_none() {
        (reason, why) = if signal == Some(libc::SIGXCPU) {
            let secs = limits.cpu_secs;
            (Some(ctl.lang.pick(format!("到达 CPU 时间上限 {secs} 秒"), format!("CPU time limit of {secs} s reached"))), Some(EndReason::CpuTime { secs }))
        } else if signal == Some(libc::SIGKILL) && after.oom_kills > before.oom_kills {
            let mib = limits.memory_bytes >> 20;
            (Some(ctl.lang.pick(format!("内存不够：上限是 {mib} MiB"), format!("out of memory: the limit is {mib} MiB"))), Some(EndReason::Memory { mib }))
        } else if code != Some(0) && after.pid_limit_hits > before.pid_limit_hits {
            let max = limits.nproc;
            (Some(ctl.lang.pick(format!("到达进程数上限 {max}"), format!("process limit of {max} reached"))), Some(EndReason::Processes { max }))
        } else {
            (None, None)
        };
    }
    // The agent sends Started before Exit: from here on the gate only matters if none came.
    let _ = started_gate.send(true);
    // Every process of the run is gone now, so its pipes end: wait for the last output.
    for p in pumps {
        let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
    }
    ctl.stamp(Step::OutputDrained);
    feeder.abort();
    // The run's last packets and recorded events go before its Exit.
    sandbox.finish_packets(id).await;
    ctl.stamp(Step::PacketsFinished);
    // Nothing of the run may follow its Exit: what is not passed on within 2 s is dropped.
    for mut r in recordings {
        if tokio::time::timeout(Duration::from_secs(2), &mut r).await.is_err() {
            r.abort();
            // A task aborted while running on another thread may still finish the send it is
            // in: it has really stopped only when its handle says so.
            let _ = r.await;
        }
    }
    ctl.stamp(Step::RecordingsFinished);
    let exit = ExitInfo {
        run_id: id,
        code,
        signal,
        // The helper counts the program and the children it reaped; the host also saw the rest.
        cpu_ms: cpu_ms.max(host_cpu_ms),
        wall_ms: started.elapsed().as_millis() as u64,
        truncated: cap.truncated.load(Ordering::SeqCst),
        reason,
        why,
    };
    let _ = out.send(ServerMsg::Exit(exit)).await;
    if let Some(s) = &ctl.steps {
        s.stamp(Step::ExitQueued);
        s.finish();
    }
}

/// Carries the run's recordings to its page: the loopback's packets and what the program
/// recorded about itself. The one place these sandbox events become page messages. Each ends
/// when its recording closes (or the page is gone); both queues are bounded by the sandbox.
/// Each starts once `gate` turns true (the run's `Started` was sent), so none comes before it.
fn forward_recordings(
    id: u32,
    packets: Option<mpsc::Receiver<Seen>>,
    activity: Option<mpsc::Receiver<Recorded>>,
    out: &mpsc::Sender<ServerMsg>,
    gate: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(mut packets) = packets {
        let out = out.clone();
        let mut gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _ = gate.wait_for(|started| *started).await;
            while let Some(seen) = packets.recv().await {
                let msg = match seen {
                    Seen::Packet(packet) => ServerMsg::Packet { run_id: id, packet },
                    Seen::Cut { shown, not_shown } => ServerMsg::RecordingCut { run_id: id, what: Recording::Packets, shown, not_shown },
                };
                if out.send(msg).await.is_err() {
                    return;
                }
            }
        }));
    }
    if let Some(mut activity) = activity {
        let out = out.clone();
        let mut gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _ = gate.wait_for(|started| *started).await;
            while let Some(recorded) = activity.recv().await {
                let msg = match recorded {
                    Recorded::Event(event) => ServerMsg::Activity { run_id: id, event },
                    Recorded::Cut { shown, not_shown } => ServerMsg::RecordingCut { run_id: id, what: Recording::Activity, shown, not_shown },
                };
                if out.send(msg).await.is_err() {
                    return;
                }
            }
        }));
    }
    tasks
}

/// CPU so far of the run whose pid in the sandbox is `pid` (a read of the host's /proc).
async fn run_cpu(sandbox: &Sandbox, pid: u32) -> Option<crate::sandbox::RunCpu> {
    let root = sandbox.host_pid()?;
    tokio::task::spawn_blocking(move || crate::sandbox::ProcTable::recent().run_cpu(root, pid)).await.ok()?
}

/// The steps of ending a running program: signalled (the page's SIGINT), then killed by the
/// in-sandbox helper; each step has until `next_at` to work.
#[derive(Default)]
struct Ending {
    signalled: bool,
    killing: bool,
    next_at: Option<tokio::time::Instant>,
}

impl Ending {
    // A stopped helper reads nothing: once its socket is full a send would wait for ever,
    // so each ask is bounded too.
    async fn signal(&mut self, sandbox: &Sandbox, id: u32, sig: i32) {
        self.signalled = true;
        self.next_at = Some(tokio::time::Instant::now() + GRACE);
        let _ = tokio::time::timeout(GRACE, sandbox.signal(id, sig)).await;
    }

    async fn kill(&mut self, sandbox: &Sandbox, id: u32) {
        self.killing = true;
        self.next_at = Some(tokio::time::Instant::now() + GRACE);
        let _ = tokio::time::timeout(GRACE, sandbox.kill(id)).await;
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Copies one stream to the page as text, at most at the run's pace. Sending waits (for
/// the pace, and for room in the page's queue), so a flood slows the program (its pipe
/// fills) instead of growing memory or drowning the page; past the cap the rest is read
/// and dropped, so the program can still finish. Nothing is sent before `gate` opens (the
/// run's `Started` went out); until then the pipe holds what the program wrote.
async fn pump(
    mut pipe: pipe::Receiver,
    id: u32,
    stream: Stream,
    out: mpsc::Sender<ServerMsg>,
    cap: Arc<OutputCap>,
    lang: Lang,
    mut gate: tokio::sync::watch::Receiver<bool>,
) {
    let _ = gate.wait_for(|started| *started).await;
    let mut buf = vec![0u8; 16384];
    let mut text = Utf8Carry::default();
    let mut open = true;
    while let Ok(n) = pipe.read(&mut buf).await {
        let data = if n == 0 { text.finish() } else { text.push(&buf[..n]) };
        if open && !data.is_empty() {
            let (data, cut) = cap.take(data);
            // Only a real wait: tokio's timer rounds even a zero sleep up to its next 1 ms tick.
            let wait = cap.delay_for(data.len());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if !data.is_empty() && out.send(ServerMsg::Output { run_id: id, stream, data }).await.is_err() {
                open = false;
            }
            if cut {
                open = false;
                if !cap.truncated.swap(true, Ordering::SeqCst) {
                    let note = lang.pick("\n[classbook：输出在这里截断；程序仍在运行]\n", "\n[classbook: output cut here; the program keeps running]\n").to_string();
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
