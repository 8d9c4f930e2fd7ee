//! Checking a student's TFTP server: start it in their sandbox beside a generated file, wait
//! until it is bound, run the built-in client's four checks from inside the sandbox's network,
//! stream each result (`ServerMsg::TftpCheck`) and the client's packet trace, then stop it.

use crate::run::{self, RunCtl, StdinCmd, Stop};
use crate::sandbox::tftp::trace::{RunTrace, Side, TRACE_CHANNEL};
use crate::sandbox::Sandbox;
use classbook_tftp::{run_checks_in, CheckEnv, CheckOutcome, CheckPlan, StoredFile, TraceEvent, TraceReceiver, TraceSink};
use shared::wire::ServerMsg;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the student's server gets to bind its socket.
const BIND_WITHIN: Duration = Duration::from_secs(10);
/// Largest stored upload read back from the sandbox.
const MAX_READ_BACK: usize = 1 << 20;
const CASES: [&str; 4] = ["download", "upload", "missing_file", "lost_ack"];

/// Runs the check as run `id`: `files` are the student's, `entry` their server, `port` where
/// the exercise says it listens. Every message goes to `out`; `Exit` (of the server) comes last.
/// Returns whether all four cases passed (the verdict the caller records).
pub async fn check(
    sandbox: Arc<Sandbox>,
    id: u32,
    files: Vec<(String, String)>,
    entry: &str,
    port: u16,
    stdin_rx: mpsc::Receiver<StdinCmd>,
    out: mpsc::Sender<ServerMsg>,
    ctl: Arc<RunCtl>,
) -> anyhow::Result<bool> {
    let mut passed = 0;
    let Some(sockets) = sandbox.socket_factory() else {
        anyhow::bail!("TFTP checks need a real sandbox (its own network); this server runs without one");
    };
    let mut plan = CheckPlan::new(seed());
    plan.retransmit_wait = Duration::from_secs(5);
    plan.limit = Duration::from_secs(15);
    let mut all: Vec<(String, Vec<u8>)> = files.into_iter().map(|(n, t)| (n, t.into_bytes())).collect();
    all.push((plan.download_name.clone(), plan.download_data.clone()));
    let io = sandbox.spawn(id, &all, entry, &[], true).await?;

    // The program's own messages pass through here, so its Exit can wait for the results.
    let (tx, mut program) = mpsc::channel::<ServerMsg>(256);
    let driver = tokio::spawn(run::drive(sandbox.clone(), id, io, stdin_rx, tx, ctl.clone()));
    let bound = tokio::time::sleep(BIND_WITHIN);
    tokio::pin!(bound);
    let mut exit = None;
    // The last line the program printed, to say why it ended early.
    let mut last_line = String::new();
    let listening = loop {
        tokio::select! {
            msg = program.recv() => match msg {
                Some(ServerMsg::Listening { .. }) => break true,
                Some(ServerMsg::Exit(e)) => { exit = Some(ServerMsg::Exit(e)); break false; }
                Some(other) => {
                    if let ServerMsg::Output { data, .. } = &other {
                        if let Some(line) = data.lines().rev().find(|l| !l.trim().is_empty()) {
                            last_line = line.trim().to_string();
                        }
                    }
                    let _ = out.send(other).await;
                }
                None => break false,
            },
            _ = &mut bound => break false,
        }
    };
    if !listening {
        let why = if exit.is_some() && !last_line.is_empty() {
            format!("your server ended before it bound a UDP socket: {last_line}")
        } else if exit.is_some() {
            "your server ended before it bound a UDP socket".to_string()
        } else {
            format!("your server did not bind a UDP socket within {} s", BIND_WITHIN.as_secs())
        };
        for case in CASES {
            let _ = out.send(ServerMsg::TftpCheck { run_id: id, case: case.into(), passed: false, message: why.clone() }).await;
        }
    } else {
        let server = SocketAddr::from(([127, 0, 0, 1], port));
        let (trace_tx, mut traces) = TraceSink::channel(TRACE_CHANNEL);
        let (progress_tx, mut progress) = mpsc::unbounded_channel::<CheckOutcome>();
        let reader = sandbox.clone();
        let stored: StoredFile = Arc::new(move |name| {
            let reader = reader.clone();
            Box::pin(async move { reader.read_file(&name, MAX_READ_BACK).await })
        });
        let env = CheckEnv { sockets: Some(sockets), stored: Some(stored), progress: Some(progress_tx) };
        let checks = run_checks_in(server, &plan, Some(trace_tx), env);
        tokio::pin!(checks);
        let mut trace = ClientTrace { run: RunTrace::new(Side::Client), run_id: id, dropped: 0 };
        let mut done = false;
        // Relay the program's output, each result and the trace while the checks run.
        while !done {
            tokio::select! {
                _ = &mut checks => done = true,
                Some(outcome) = progress.recv() => passed += send_outcome(&out, id, outcome).await as usize,
                Some(event) = traces.recv() => trace.pass(&event, &traces, &out).await,
                msg = program.recv(), if exit.is_none() => match msg {
                    Some(ServerMsg::Exit(e)) => exit = Some(ServerMsg::Exit(e)),
                    Some(other) => { let _ = out.send(other).await; }
                    None => exit = Some(ServerMsg::Error { run_id: Some(id), message: "the run ended".into() }),
                },
            }
        }
        while let Ok(outcome) = progress.try_recv() {
            passed += send_outcome(&out, id, outcome).await as usize;
        }
        while let Ok(event) = traces.try_recv() {
            trace.pass(&event, &traces, &out).await;
        }
    }
    // Stop the server (a correct one never ends by itself) and pass on the rest, Exit last.
    ctl.stop(Stop::Kill);
    while exit.is_none() {
        match tokio::time::timeout(Duration::from_secs(5), program.recv()).await {
            Ok(Some(ServerMsg::Exit(e))) => exit = Some(ServerMsg::Exit(e)),
            Ok(Some(other)) => {
                let _ = out.send(other).await;
            }
            _ => break,
        }
    }
    let _ = driver.await;
    while let Ok(msg) = program.try_recv() {
        let _ = out.send(msg).await;
    }
    if let Some(exit) = exit {
        let _ = out.send(exit).await;
    }
    Ok(passed == CASES.len())
}

/// The checker's packets on their way to the page. The checker waits for the page, so the
/// channel can fill meanwhile: packets dropped there cut the trace (see `RunTrace`).
struct ClientTrace {
    run: RunTrace,
    run_id: u32,
    /// The channel's count of dropped events when last looked at.
    dropped: u64,
}

impl ClientTrace {
    async fn pass(&mut self, event: &TraceEvent, traces: &TraceReceiver, out: &mpsc::Sender<ServerMsg>) {
        let dropped = traces.dropped();
        if dropped > self.dropped {
            if let Some(notice) = self.run.lose(dropped - self.dropped, event.elapsed_us as f64 / 1000.0) {
                let _ = out.send(ServerMsg::Trace { run_id: self.run_id, event: notice.event() }).await;
            }
            self.dropped = dropped;
        }
        if let Some(trace) = self.run.packet(event) {
            let _ = out.send(ServerMsg::Trace { run_id: self.run_id, event: trace }).await;
        }
    }
}

/// Passes one case's result on; returns whether it passed.
async fn send_outcome(out: &mpsc::Sender<ServerMsg>, id: u32, outcome: CheckOutcome) -> bool {
    let CheckOutcome { name, passed, message } = outcome;
    let _ = out.send(ServerMsg::TftpCheck { run_id: id, case: name, passed, message }).await;
    passed
}

/// A seed that varies file names and contents between checks.
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom fills the buffer we own.
    unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    u64::from_le_bytes(bytes) % 1_000_000
}
