//! Where a server run's time goes: a tracing mode, off unless a benchmark turns it on, that
//! stamps each step of a run from its WebSocket frame to its `Exit` (the agent's and the
//! program's own steps inside the sandbox included) on the one clock every process shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ON: AtomicBool = AtomicBool::new(false);
/// Finished runs' stamps, the newest `KEPT` at most.
static DONE: Mutex<Vec<RunSteps>> = Mutex::new(Vec::new());
const KEPT: usize = 10_000;

/// Turns the mode on for this process (the benchmark does, before its runs).
pub fn enable() {
    ON.store(true, Ordering::SeqCst);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// CLOCK_MONOTONIC in nanoseconds: the clock Python's `time.monotonic_ns` reads in the sandbox
/// (bubblewrap makes no time namespace), so the agent's stamps line up with ours.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The steps of one run, in the order a plain run passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// The backend read the run's WebSocket frame.
    Received,
    /// Parsed, checked and its run task spawned.
    Accepted,
    /// It holds the student's and the server's run slot, and the session's sandbox.
    SandboxReady,
    /// Its pipes made and the run message sent to the agent (`Sandbox::spawn` returned).
    Spawned,
    /// The agent read the message (agent.py).
    AgentReceived,
    /// The agent wrote the run's files into /work.
    FilesWritten,
    /// The run's first moment in its child: a fresh fork's, or the agent's Spare (forked ahead,
    /// while no run lived) once handed the run.
    ChildStarted,
    /// The agent handed the run to its Spare, or `fork()` returned.
    Forked,
    /// The agent sent `started`.
    StartedSent,
    /// The child set itself up (streams, signals, limits; a fresh fork also its session and the
    /// recorder's hooks) and calls runpy.
    ChildReady,
    /// The student's code returned.
    ChildRan,
    /// The child flushed and calls `os._exit`.
    ChildExiting,
    /// The agent woke from its wait (SIGCHLD).
    AgentWoke,
    /// `wait4` gave the agent the child's status.
    Reaped,
    /// The agent made sure nothing of the run is left (kill_tree) and sends `exit`.
    TreeChecked,
    /// The run's driver heard `Started`.
    StartedHeard,
    /// The run's driver heard `Exit`.
    ExitHeard,
    /// The sandbox's limit counters read (which limit ended it).
    CountersRead,
    /// The program's stdout and stderr reached their end.
    OutputDrained,
    /// The loopback's packets until now were passed on.
    PacketsFinished,
    /// The program's recorded events were passed on.
    RecordingsFinished,
    /// `Exit` is in the page's queue.
    ExitQueued,
}

/// The agent's stamps in the order agent.py sends them (`{"ev":"steps","ns":[...]}`).
pub const AGENT_STEPS: [Step; 11] = [
    Step::AgentReceived,
    Step::FilesWritten,
    Step::Forked,
    Step::StartedSent,
    Step::ChildStarted,
    Step::ChildReady,
    Step::ChildRan,
    Step::ChildExiting,
    Step::AgentWoke,
    Step::Reaped,
    Step::TreeChecked,
];

/// One run's stamps so far.
#[derive(Clone, Debug, Default)]
pub struct RunSteps {
    pub run_id: u32,
    pub stamps: Vec<(Step, u64)>,
}

/// A run's stamps while it lives (only made when the mode is on).
pub struct Stamps(Mutex<RunSteps>);

impl Stamps {
    /// Stamps for run `run_id` whose frame was read at `received` (ns), when the mode is on.
    pub fn new(run_id: u32, received: u64) -> Option<Stamps> {
        enabled().then(|| Stamps(Mutex::new(RunSteps { run_id, stamps: vec![(Step::Received, received)] })))
    }

    pub fn stamp(&self, step: Step) {
        self.at(step, now_ns());
    }

    pub fn at(&self, step: Step, ns: u64) {
        self.0.lock().expect("steps poisoned").stamps.push((step, ns));
    }

    /// The agent's stamps (0: a step it did not reach), as it sent them.
    pub fn agent(&self, ns: &[u64]) {
        for (step, &t) in AGENT_STEPS.iter().zip(ns) {
            if t != 0 {
                self.at(*step, t);
            }
        }
    }

    /// The run is over: its stamps join the finished ones (`take`).
    pub fn finish(&self) {
        let run = self.0.lock().expect("steps poisoned").clone();
        let mut done = DONE.lock().expect("steps poisoned");
        if done.len() >= KEPT {
            done.remove(0);
        }
        done.push(run);
    }
}

/// Every finished run's stamps since the last call.
pub fn take() -> Vec<RunSteps> {
    std::mem::take(&mut *DONE.lock().expect("steps poisoned"))
}
