//! Checking a server exercise: the student's file imported in their sandbox, the course's own
//! checks run after it by the check harness, whose records come back on a pipe of their own.

use crate::run::{self, RunCtl, StdinCmd};
use crate::sandbox::Sandbox;
use shared::check::{decide, CheckReport, MAX_RECORDS};
use shared::wire::{ExitInfo, ServerMsg};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Runs the check as run `id`: `files` are the student's, `entry` the exercise's file, `checks`
/// the course's. The program's messages go to `out`, then `Checked`, then `Exit`. The verdict
/// is decided here from the harness's records and how the program ended (see shared::check for
/// the threat model), never from the program's output; the caller records it.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    sandbox: Arc<Sandbox>,
    id: u32,
    files: Vec<(String, String)>,
    entry: &str,
    checks: &str,
    stdin_rx: mpsc::Receiver<StdinCmd>,
    out: mpsc::Sender<ServerMsg>,
    ctl: Arc<RunCtl>,
) -> anyhow::Result<CheckReport> {
    let (io, records) = sandbox.spawn_checked(id, &files, entry, checks).await?;
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
        Some(Ok(exit)) => Some(ending(exit)),
        Some(Err(message)) => Some(message.clone()),
        None => Some("the run ended without an exit".into()),
    };
    let why = if bytes.len() > MAX_RECORDS { Some("the checks wrote too many results".into()) } else { why };
    let report = decide(&String::from_utf8_lossy(&bytes), why);
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

/// How a program that did not exit cleanly ended, for the verdict (the page words the exit itself).
fn ending(exit: &ExitInfo) -> String {
    match (&exit.reason, exit.code, exit.signal) {
        (Some(reason), ..) => reason.clone(),
        (None, Some(code), _) => format!("the program exited with code {code}"),
        (None, None, Some(sig)) => format!("the program was ended by signal {sig}"),
        (None, None, None) => "the program ended".into(),
    }
}
