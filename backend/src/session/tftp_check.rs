//! Checking a student's TFTP server: start it in their sandbox beside a generated file, wait
//! until it is bound, run the built-in client's four checks from inside the sandbox's network,
//! stream each result (`ServerMsg::TftpCheck`), then stop it. The checker's packets cross the
//! sandbox's loopback, so the page has them from the capture of the check's run.

use crate::run::{self, RunCtl, StdinCmd, Stop};
use crate::sandbox::Sandbox;
use classbook_tftp::{run_checks_in, CheckEnv, CheckOutcome, CheckPlan, StoredFile};
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
    let lang = ctl.lang;
    let Some(sockets) = sandbox.socket_factory() else {
        anyhow::bail!(lang.pick(
            "TFTP 检查需要真正的沙箱（它自己的网络）；这台服务器没有沙箱",
            "TFTP checks need a real sandbox (its own network); this server runs without one"
        ));
    };
    let mut plan = CheckPlan::new(seed());
    plan.lang = lang;
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
        let ended = lang.pick("你的服务器在绑定 UDP 套接字之前就结束了", "your server ended before it bound a UDP socket");
        let secs = BIND_WITHIN.as_secs();
        let why = if exit.is_some() && !last_line.is_empty() {
            lang.pick(format!("{ended}：{last_line}"), format!("{ended}: {last_line}"))
        } else if exit.is_some() {
            ended.to_string()
        } else {
            lang.pick(format!("你的服务器在 {secs} 秒内没有绑定 UDP 套接字"), format!("your server did not bind a UDP socket within {secs} s"))
        };
        for case in CASES {
            let _ = out.send(ServerMsg::TftpCheck { run_id: id, case: case.into(), passed: false, message: why.clone() }).await;
        }
    } else {
        let server = SocketAddr::from(([127, 0, 0, 1], port));
        let (progress_tx, mut progress) = mpsc::unbounded_channel::<CheckOutcome>();
        let reader = sandbox.clone();
        let stored: StoredFile = Arc::new(move |name| {
            let reader = reader.clone();
            Box::pin(async move { reader.read_file(&name, MAX_READ_BACK).await })
        });
        let env = CheckEnv { sockets: Some(sockets), stored: Some(stored), progress: Some(progress_tx) };
        let checks = run_checks_in(server, &plan, None, env);
        tokio::pin!(checks);
        let mut done = false;
        // Relay the program's output and each result while the checks run.
        while !done {
            tokio::select! {
                _ = &mut checks => done = true,
                Some(outcome) = progress.recv() => passed += send_outcome(&out, id, outcome).await as usize,
                msg = program.recv(), if exit.is_none() => match msg {
                    Some(ServerMsg::Exit(e)) => exit = Some(ServerMsg::Exit(e)),
                    Some(other) => { let _ = out.send(other).await; }
                    None => exit = Some(ServerMsg::Error { run_id: Some(id), message: lang.pick("运行结束了", "the run ended").into() }),
                },
            }
        }
        while let Ok(outcome) = progress.try_recv() {
            passed += send_outcome(&out, id, outcome).await as usize;
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
