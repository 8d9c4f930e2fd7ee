//! Checking a server exercise: the student's file imported in their sandbox, the course's own
//! checks run after it by the check harness, whose records come back on a pipe of their own;
//! an exercise's traffic property is judged from the run's packets as they pass to the page.

use crate::run::{self, RunCtl, StdinCmd};
use crate::sandbox::Sandbox;
use shared::lang::Lang;
use shared::capture::traffic::Judge;
use shared::check::{decide, CheckLine, CheckReport, Status, MAX_RECORDS};
use shared::course::TrafficCheck;
use shared::wire::{ExitInfo, Recording, ServerMsg};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Runs the check as run `id`: `files` are the student's, `entry` the exercise's file, `checks`
/// the course's, `traffic` the exercise's traffic property. The program's messages go to `out`,
/// then `Checked`, then `Exit`. The verdict is decided here from the harness's records, how the
/// program ended (see shared::check for the threat model) and the packets the backend captured
/// (`shared::capture::traffic`), never from the program's output; the caller records it.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    sandbox: Arc<Sandbox>,
    id: u32,
    files: Vec<(String, String)>,
    entry: &str,
    checks: &str,
    traffic: Option<TrafficCheck>,
    stdin_rx: mpsc::Receiver<StdinCmd>,
    out: mpsc::Sender<ServerMsg>,
    ctl: Arc<RunCtl>,
) -> anyhow::Result<CheckReport> {
    let (io, records) = sandbox.spawn_checked(id, &files, entry, checks).await?;
    let lang = ctl.lang;
    // The property is judged only where the backend captures the run's packets.
    let captured = io.packets.is_some();
    let mut judge = traffic.map(Judge::new);
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = records.take(MAX_RECORDS as u64 + 1).read_to_end(&mut buf).await;
        buf
    });
    // The program's own messages pass through here, so the verdict can come before its Exit.
    let (tx, mut program) = mpsc::channel::<ServerMsg>(256);
    let driver = tokio::spawn(run::drive(sandbox, id, io, stdin_rx, tx, ctl));
    let mut ended: Option<Result<ExitInfo, String>> = None;
    while let Some(msg) = program.recv().await {
        match msg {
            ServerMsg::Exit(e) => ended = Some(Ok(e)),
            ServerMsg::Error { message, .. } if ended.is_none() => ended = Some(Err(message)),
            other => {
                if let Some(judge) = judge.as_mut() {
                    match &other {
                        ServerMsg::Packet { packet, .. } => judge.see(packet),
                        ServerMsg::RecordingCut { what: Recording::Packets, .. } => judge.cut(),
                        _ => {}
                    }
                }
                let _ = out.send(other).await;
            }
        }
    }
    let _ = driver.await;
    // Every process of the run is gone by its Exit, so the pipe is at its end; a bound anyway.
    let bytes = match tokio::time::timeout(Duration::from_secs(2), reader).await {
        Ok(Ok(bytes)) => bytes,
        _ => Vec::new(),
    };
    let why = match &ended {
        Some(Ok(exit)) if exit.success() => None,
        Some(Ok(exit)) => Some(ending(exit, lang)),
        Some(Err(message)) => Some(message.clone()),
        None => Some(lang.pick("运行结束了，却没有退出信息", "the run ended without an exit").into()),
    };
    let too_many = lang.pick("检查写出的结果太多", "the checks wrote too many results");
    let why = if bytes.len() > MAX_RECORDS { Some(too_many.into()) } else { why };
    let mut report = decide(&String::from_utf8_lossy(&bytes), why);
    if let Some(judge) = judge {
        report.results.push(if captured { judge.verdict(lang) } else { uncaptured(lang) });
        report.passed = report.passed && report.results.iter().all(|r| r.status == Status::Passed);
    }
    let _ = out.send(ServerMsg::Checked { run_id: id, report: report.clone() }).await;
    match ended {
        Some(Ok(exit)) => {
            let _ = out.send(ServerMsg::Exit(exit)).await;
        }
        Some(Err(message)) => {
            let _ = out.send(ServerMsg::Error { run_id: Some(id), message }).await;
        }
        None => {}
    }
    Ok(report)
}

/// The traffic property's line where no packet is captured (a server without a sandbox).
fn uncaptured(lang: Lang) -> CheckLine {
    let description = lang.pick(
        "流量检查需要真正的沙箱（它自己的网络）；这台服务器没有沙箱，无法记录数据包",
        "the traffic check needs a real sandbox (its own network); this server runs without one, so it records no packets",
    );
    CheckLine { description: description.into(), status: Status::Failed }
}

/// How a program that did not exit cleanly ended, for the verdict (the page words the exit itself).
fn ending(exit: &ExitInfo, lang: Lang) -> String {
    match (&exit.reason, exit.code, exit.signal) {
        (Some(reason), ..) => reason.clone(),
        (None, Some(code), _) => lang.pick(format!("程序以退出码 {code} 结束"), format!("the program exited with code {code}")),
        (None, None, Some(sig)) => lang.pick(format!("程序被信号 {sig} 结束"), format!("the program was ended by signal {sig}")),
        (None, None, None) => lang.pick("程序结束了", "the program ended").into(),
    }
}
