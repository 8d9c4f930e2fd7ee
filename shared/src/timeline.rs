//! What a run's program did, as recorded inside it (`ServerMsg::Activity`): its processes and
//! threads, their waits (on what, at which line, held by whom), sleeps and socket calls, and the
//! switches between asyncio tasks or greenlets; and the pure search for a cycle of waits.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a thread waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitOn {
    Lock,
    Rlock,
    Semaphore,
    Condition,
    Event,
    Queue,
    Join,
    Child,
}

impl WaitOn {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitOn::Lock => "lock",
            WaitOn::Rlock => "rlock",
            WaitOn::Semaphore => "semaphore",
            WaitOn::Condition => "condition",
            WaitOn::Event => "event",
            WaitOn::Queue => "queue",
            WaitOn::Join => "join",
            WaitOn::Child => "child",
        }
    }
}

/// What a sleeping thread waits for: time or the network, not another thread of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SleepOn {
    /// `time.sleep`.
    Sleep,
    /// `select.select` or a `selectors` selector (an asyncio event loop's too).
    Select,
    Accept,
    /// `recv`, `recvfrom` or `recv_into` on a socket with nothing to read yet.
    Recv,
    Connect,
}

impl SleepOn {
    pub fn as_str(self) -> &'static str {
        match self {
            SleepOn::Sleep => "sleep",
            SleepOn::Select => "select",
            SleepOn::Accept => "accept",
            SleepOn::Recv => "recv",
            SleepOn::Connect => "connect",
        }
    }
}

/// Whose tasks take turns on one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// An asyncio event loop's tasks.
    Asyncio,
    /// greenlets (gevent's too).
    Greenlet,
}

impl Scheduler {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Asyncio => "asyncio",
            Scheduler::Greenlet => "greenlet",
        }
    }
}

/// A socket call of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOp {
    Send,
    Sendall,
    Sendto,
    Recv,
    Recvfrom,
    RecvInto,
    Accept,
    Connect,
}

impl CallOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOp::Send => "send",
            CallOp::Sendall => "sendall",
            CallOp::Sendto => "sendto",
            CallOp::Recv => "recv",
            CallOp::Recvfrom => "recvfrom",
            CallOp::RecvInto => "recv_into",
            CallOp::Accept => "accept",
            CallOp::Connect => "connect",
        }
    }
}

/// Names and texts longer than this are refused (the agent clips them before).
pub const MAX_NAME: usize = 64;

/// One recorded event. Times (`us`) are microseconds since the Unix epoch, the clock packets
/// are stamped with; `tid` is the kernel's thread id (unique across the run's processes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case", deny_unknown_fields)]
pub enum Activity {
    /// A process of the run began (its main process too), named as the program names it.
    Process { us: u64, pid: u32, ppid: u32, name: String },
    ProcessEnd { us: u64, pid: u32 },
    Thread { us: u64, pid: u32, tid: u32, name: String },
    ThreadEnd { us: u64, pid: u32, tid: u32 },
    /// Thread `tid` blocks at `line` of the student's code on object `obj` (an id within its
    /// process), which thread `holder` holds when known (locks).
    Wait { us: u64, pid: u32, tid: u32, on: WaitOn, obj: u64, line: u32, #[serde(default)] holder: Option<u32> },
    /// Thread `tid`'s wait ended (it got what it waited for, or gave up).
    WaitEnd { us: u64, pid: u32, tid: u32 },
    /// A socket call at `line`: `len` bytes given (sends) or returned (receives; accept and
    /// connect 0), `port` the socket's own port and `peer` the other end's, when known.
    Call { us: u64, pid: u32, tid: u32, op: CallOp, len: u32, line: u32, #[serde(default)] port: u16, #[serde(default)] peer: u16 },
    /// A pool's worker (thread `tid` of process `pid`) began running a submitted call: the
    /// function's `name` and a short, clipped text of its arguments (`args`).
    Task { us: u64, pid: u32, tid: u32, name: String, args: String },
    /// The task thread `tid` ran last ended (returned or raised).
    TaskEnd { us: u64, pid: u32, tid: u32 },
    /// Thread `tid` sleeps at `line` of the student's code (0: none of theirs): off the CPU
    /// until time passes or the network has something for it (recorded only when it would block).
    Sleep { us: u64, pid: u32, tid: u32, on: SleepOn, line: u32 },
    SleepEnd { us: u64, pid: u32, tid: u32 },
    /// Thread `tid` switched to run `name` (an asyncio task, a greenlet) of `of`, until its next
    /// `Step` or `StepEnd`.
    Step { us: u64, pid: u32, tid: u32, of: Scheduler, name: String },
    /// The step thread `tid` ran ended (an asyncio task gave its event loop back).
    StepEnd { us: u64, pid: u32, tid: u32 },
}

impl Activity {
    pub fn us(&self) -> u64 {
        match self {
            Activity::Process { us, .. }
            | Activity::ProcessEnd { us, .. }
            | Activity::Thread { us, .. }
            | Activity::ThreadEnd { us, .. }
            | Activity::Wait { us, .. }
            | Activity::WaitEnd { us, .. }
            | Activity::Call { us, .. }
            | Activity::Task { us, .. }
            | Activity::TaskEnd { us, .. }
            | Activity::Sleep { us, .. }
            | Activity::SleepEnd { us, .. }
            | Activity::Step { us, .. }
            | Activity::StepEnd { us, .. } => *us,
        }
    }

    /// Parses one line the program's recorder wrote; anything malformed, unknown or with an
    /// over-long name is an error.
    pub fn parse(line: &[u8]) -> Result<Activity, String> {
        let event: Activity = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        match &event {
            Activity::Process { name, .. } | Activity::Thread { name, .. } | Activity::Task { name, .. } | Activity::Step { name, .. } if name.len() > MAX_NAME => {
                Err(format!("a name of {} bytes", name.len()))
            }
            Activity::Task { args, .. } if args.len() > MAX_NAME => Err(format!("arguments of {} bytes", args.len())),
            _ => Ok(event),
        }
    }
}

/// A wait still open.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenWait {
    pub pid: u32,
    pub tid: u32,
    pub on: WaitOn,
    pub obj: u64,
    pub line: u32,
    pub holder: Option<u32>,
}

/// The waits open now, kept up to date event by event.
#[derive(Clone, Debug, Default)]
pub struct Waits {
    open: HashMap<u32, OpenWait>,
}

impl Waits {
    pub fn apply(&mut self, event: &Activity) {
        match event {
            Activity::Wait { pid, tid, on, obj, line, holder, .. } => {
                self.open.insert(*tid, OpenWait { pid: *pid, tid: *tid, on: *on, obj: *obj, line: *line, holder: *holder });
            }
            Activity::WaitEnd { tid, .. } | Activity::ThreadEnd { tid, .. } => {
                self.open.remove(tid);
            }
            // A process that ends (or is stopped) while its threads wait ends with them waiting:
            // a deadlock stays shown after Stop.
            _ => {}
        }
    }

    /// A cycle of waits (each thread waits for something the next one holds, the last for the
    /// first's), in order from the lowest thread id of the cycle; `None` when there is none.
    pub fn deadlock(&self) -> Option<Vec<OpenWait>> {
        let mut starts: Vec<u32> = self.open.keys().copied().collect();
        starts.sort_unstable();
        for start in starts {
            let mut path: Vec<u32> = Vec::new();
            let mut at = start;
            while let Some(wait) = self.open.get(&at) {
                if let Some(pos) = path.iter().position(|&t| t == at) {
                    let cycle = &path[pos..];
                    let low = cycle.iter().enumerate().min_by_key(|(_, t)| **t).map(|(i, _)| i).unwrap_or(0);
                    let ordered = cycle[low..].iter().chain(&cycle[..low]);
                    return Some(ordered.map(|t| self.open[t].clone()).collect());
                }
                path.push(at);
                match wait.holder {
                    Some(next) if next != at => at = next,
                    _ => break,
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(tid: u32, obj: u64, line: u32, holder: Option<u32>) -> Activity {
        Activity::Wait { us: 1, pid: 10, tid, on: WaitOn::Lock, obj, line, holder }
    }

    #[test]
    fn two_threads_each_waiting_for_the_others_lock_are_a_deadlock_with_both_lines() {
        let mut waits = Waits::default();
        waits.apply(&wait(12, 1, 8, Some(11)));
        assert_eq!(waits.deadlock(), None, "one wait is not a cycle");
        waits.apply(&wait(11, 2, 15, Some(12)));
        let cycle = waits.deadlock().expect("a cycle");
        assert_eq!(cycle.iter().map(|w| (w.tid, w.line)).collect::<Vec<_>>(), [(11, 15), (12, 8)]);
        waits.apply(&Activity::WaitEnd { us: 2, pid: 10, tid: 11 });
        assert_eq!(waits.deadlock(), None, "a wait that ended breaks it");
    }

    #[test]
    fn a_chain_of_waits_that_ends_at_a_running_thread_is_no_deadlock() {
        let mut waits = Waits::default();
        waits.apply(&wait(1, 1, 3, Some(2)));
        waits.apply(&wait(2, 2, 4, Some(3)));
        assert_eq!(waits.deadlock(), None);
        waits.apply(&wait(3, 3, 5, Some(1)));
        assert_eq!(waits.deadlock().map(|c| c.len()), Some(3));
        waits.apply(&Activity::ProcessEnd { us: 9, pid: 10 });
        assert_eq!(waits.deadlock().map(|c| c.len()), Some(3), "stopped while deadlocked: still shown");
        waits.apply(&Activity::ThreadEnd { us: 9, pid: 10, tid: 2 });
        assert_eq!(waits.deadlock(), None, "a thread that ended waits no more");
    }

    #[test]
    fn recorder_lines_parse_strictly() {
        let call = Activity::parse(br#"{"k":"call","us":5,"pid":2,"tid":2,"op":"recv_into","len":9,"line":4,"port":80,"peer":5000}"#);
        assert_eq!(call, Ok(Activity::Call { us: 5, pid: 2, tid: 2, op: CallOp::RecvInto, len: 9, line: 4, port: 80, peer: 5000 }));
        let w = Activity::parse(br#"{"k":"wait","us":5,"pid":2,"tid":3,"on":"rlock","obj":77,"line":4,"holder":null}"#);
        assert!(matches!(w, Ok(Activity::Wait { on: WaitOn::Rlock, holder: None, .. })));
        let task = Activity::parse(br#"{"k":"task","us":5,"pid":2,"tid":3,"name":"square","args":"(3)"}"#);
        assert_eq!(task, Ok(Activity::Task { us: 5, pid: 2, tid: 3, name: "square".into(), args: "(3)".into() }));
        let sleep = Activity::parse(br#"{"k":"sleep","us":5,"pid":2,"tid":3,"on":"accept","line":7}"#);
        assert_eq!(sleep, Ok(Activity::Sleep { us: 5, pid: 2, tid: 3, on: SleepOn::Accept, line: 7 }));
        let step = Activity::parse(br#"{"k":"step","us":5,"pid":2,"tid":3,"of":"asyncio","name":"ping"}"#);
        assert_eq!(step, Ok(Activity::Step { us: 5, pid: 2, tid: 3, of: Scheduler::Asyncio, name: "ping".into() }));
        let long = format!(r#"{{"k":"thread","us":1,"pid":2,"tid":3,"name":"{}"}}"#, "x".repeat(MAX_NAME + 1));
        for bad in [&br#"{"k":"call","us":5,"pid":2,"tid":2,"op":"write","len":9,"line":4}"#[..], b"{\"k\":\"wait\"}", b"[]", b"", long.as_bytes(),
            br#"{"k":"thread_end","us":1,"pid":2,"tid":3,"extra":1}"#, long.replace("thread", "task").replace(r#""tid":3,"#, r#""tid":3,"args":"","#).as_bytes(),
            format!(r#"{{"k":"task","us":1,"pid":2,"tid":3,"name":"f","args":"{}"}}"#, "x".repeat(MAX_NAME + 1)).as_bytes(),
            br#"{"k":"sleep","us":5,"pid":2,"tid":3,"on":"nap","line":7}"#, br#"{"k":"step","us":5,"pid":2,"tid":3,"of":"trio","name":"a"}"#,
            format!(r#"{{"k":"step","us":1,"pid":2,"tid":3,"of":"greenlet","name":"{}"}}"#, "x".repeat(MAX_NAME + 1)).as_bytes()] {
            assert!(Activity::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
