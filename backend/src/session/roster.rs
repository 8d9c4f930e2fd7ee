//! The teacher's side of sessions: who is connected and where, what each student runs,
//! stopping a student's programs, messages to every connected page, and closing everything.

use super::{Sessions, Shared};
use crate::class::db::now_ms;
use crate::run::{Phase, Stop};
use crate::sandbox::ProcTable;
use serde::Serialize;
use shared::wire::ServerMsg;
use std::sync::Arc;
use std::time::Duration;

/// Which lesson a student has open and when they last did something.
#[derive(Debug, Default)]
pub(super) struct Presence {
    pub lesson: Option<String>,
    pub last_active_ms: i64,
}

impl Presence {
    pub fn touch(&mut self) {
        self.last_active_ms = now_ms();
    }
}

/// A student with a session (connected, or in the grace period after leaving).
#[derive(Clone, Debug, Serialize)]
pub struct LiveStudent {
    pub student: i64,
    pub online: bool,
    pub lesson: Option<String>,
    pub last_active_ms: i64,
    /// The sandbox's memory (cgroup), when known.
    pub memory_bytes: Option<u64>,
    pub runs: Vec<LiveRun>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LiveRun {
    pub run_id: u32,
    pub entry: String,
    /// "queued" or "running".
    pub state: &'static str,
    pub cpu_ms: Option<u64>,
    /// Resident memory of the program and the processes it started.
    pub memory_bytes: Option<u64>,
    pub elapsed_ms: u64,
}


impl Sessions {
    fn all(&self) -> Vec<Arc<Shared>> {
        self.0.lock().expect("sessions poisoned").values().cloned().collect()
    }

    /// Every session, as the teacher sees it. Blocking (reads /proc for CPU times).
    pub fn live(&self) -> Vec<LiveStudent> {
        let procs = ProcTable::scan();
        self.all().iter().map(|s| live_student(s, &procs)).collect()
    }

    /// Stops run `run_id` of `student` (or all their runs): running ones are killed and end
    /// with the reason "stopped by the teacher"; queued ones leave the queue. How many.
    pub async fn stop(&self, student: i64, run_id: Option<u32>) -> usize {
        let Some(shared) = self.all().into_iter().find(|s| s.student == student) else { return 0 };
        let mut stopped = 0;
        for (_, runs) in shared.conns.lock().expect("conns poisoned").values() {
            for (id, ctl) in runs.lock().expect("runs poisoned").iter() {
                if run_id.is_some_and(|want| want != *id) {
                    continue;
                }
                ctl.stop(Stop::Teacher);
                stopped += 1;
            }
        }
        stopped
    }

    /// Sends `msg` to every connected page. A page that does not take it within 2 s (its
    /// queue full) misses it; everyone else still gets it.
    pub async fn broadcast(&self, msg: ServerMsg) -> usize {
        let outs: Vec<_> = self
            .all()
            .iter()
            .flat_map(|s| s.conns.lock().expect("conns poisoned").values().map(|(o, _)| o.clone()).collect::<Vec<_>>())
            .collect();
        let sends = outs.iter().map(|out| tokio::time::timeout(Duration::from_secs(2), out.send(msg.clone())));
        let results = futures_util::future::join_all(sends).await;
        results.iter().filter(|r| matches!(r, Ok(Ok(())))).count()
    }

    /// Sends `msg` to every page of `student`; how many took it (within 2 s).
    pub async fn send_to(&self, student: i64, msg: ServerMsg) -> usize {
        let outs: Vec<_> = self
            .all()
            .iter()
            .filter(|s| s.student == student)
            .flat_map(|s| s.conns.lock().expect("conns poisoned").values().map(|(o, _)| o.clone()).collect::<Vec<_>>())
            .collect();
        let sends = outs.iter().map(|out| tokio::time::timeout(Duration::from_secs(2), out.send(msg.clone())));
        let results = futures_util::future::join_all(sends).await;
        results.iter().filter(|r| matches!(r, Ok(Ok(())))).count()
    }

    /// The teacher removed `student`: their pages are told, their programs stopped and their
    /// connections closed and their sandbox ended.
    pub async fn remove(&self, student: i64) {
        self.send_to(student, ServerMsg::Refused { reason: shared::wire::Refusal::Removed }).await;
        self.stop(student, None).await;
        self.close_where(|_, s| s.student == student);
    }

    /// A page's token now belongs to another student (a restore): its session is closed, so
    /// the page reconnects and is admitted as that student; the sessions of the student's old
    /// token are closed too (their pages are admitted afresh, or asked to join).
    pub fn close_token(&self, token: &str, student: i64) {
        self.close_where(|t, s| t == token || s.student == student);
    }

    /// Closes the sessions that match: their connections end (their programs with them),
    /// and their sandboxes are ended.
    fn close_where(&self, matches: impl Fn(&str, &Shared) -> bool) {
        let gone: Vec<Arc<Shared>> = {
            let mut all = self.0.lock().expect("sessions poisoned");
            let tokens: Vec<String> = all.iter().filter(|(t, s)| matches(t, s)).map(|(t, _)| t.clone()).collect();
            tokens.iter().filter_map(|t| all.remove(t)).collect()
        };
        for s in gone {
            s.removed.send_replace(true);
            tokio::spawn(async move {
                let sandbox = s.sandbox.lock().await.take();
                if let Some(sandbox) = sandbox {
                    sandbox.close().await;
                }
            });
        }
    }

    /// Ends every session's sandbox (the server is stopping).
    pub async fn close_all(&self) {
        let all: Vec<Arc<Shared>> = self.0.lock().expect("sessions poisoned").drain().map(|(_, s)| s).collect();
        let closes = all.iter().map(|s| async move {
            let sandbox = s.sandbox.lock().await.take();
            if let Some(sandbox) = sandbox {
                sandbox.close().await;
            }
        });
        futures_util::future::join_all(closes).await;
    }
}

fn live_student(s: &Shared, procs: &ProcTable) -> LiveStudent {
    let (lesson, last_active_ms) = {
        let p = s.presence.lock().expect("presence poisoned");
        (p.lesson.clone(), p.last_active_ms)
    };
    // A sandbox being started holds the lock: its memory is unknown for this moment.
    let sandbox = s.sandbox.try_lock().ok().and_then(|g| g.clone());
    let sandbox = sandbox.filter(|sb| sb.is_alive());
    let memory_bytes = sandbox.as_ref().and_then(|sb| sb.memory_bytes());
    let host_pid = sandbox.as_ref().and_then(|sb| sb.host_pid());
    let mut runs = Vec::new();
    for (_, conn_runs) in s.conns.lock().expect("conns poisoned").values() {
        for (id, ctl) in conn_runs.lock().expect("runs poisoned").iter() {
            let running = matches!(ctl.phase(), Phase::Running | Phase::Ended);
            let pid = ctl.pid();
            let usage = host_pid.filter(|_| running && pid != 0).and_then(|root| procs.usage(root, pid));
            let h = ctl;
            runs.push(LiveRun {
                run_id: *id,
                entry: h.entry.clone(),
                state: if running { "running" } else { "queued" },
                cpu_ms: usage.map(|u| u.cpu_ms),
                memory_bytes: usage.map(|u| u.memory_bytes),
                elapsed_ms: h.asked.elapsed().as_millis() as u64,
            });
        }
    }
    runs.sort_by_key(|r| r.run_id);
    LiveStudent {
        student: s.student,
        online: s.connected(),
        lesson,
        last_active_ms,
        memory_bytes,
        runs,
    }
}
