//! Checking a server exercise: the student's file imported in their sandbox, the course's own
//! checks run after it by the check harness, whose records come back on a pipe of their own;
//! an exercise's traffic property is judged from every packet the capture gives the run, on
//! their way to the page but never waiting for it.

use crate::run::{self, RunCtl, StdinCmd};
use crate::sandbox::capture::Seen;
use crate::sandbox::Sandbox;
use shared::lang::Lang;
use shared::capture::traffic::Judge;
use shared::check::{decide, CheckLine, CheckReport, Status, MAX_RECORDS};
use shared::course::TrafficCheck;
use shared::wire::{ExitInfo, ServerMsg};
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
    let (mut io, records) = sandbox.spawn_checked(id, &files, entry, checks).await?;
    let lang = ctl.lang;
    // The property is judged only where the backend captures the run's packets.
    let captured = io.packets.is_some();
    let judge = match (traffic, io.packets.take()) {
        (Some(rule), Some(packets)) => {
            let (tx, rx) = mpsc::channel(packets.max_capacity());
            io.packets = Some(rx);
            Some(tokio::spawn(judge_packets(Judge::new(rule), packets, tx)))
        }
        (rule, packets) => {
            io.packets = packets;
            rule.map(|rule| tokio::spawn(std::future::ready(Judge::new(rule))))
        }
    };
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
        Some(Ok(exit)) => Some(ending(exit, lang)),
        Some(Err(message)) => Some(message.clone()),
        None => Some(lang.pick("运行结束了，却没有退出信息", "the run ended without an exit").into()),
    };
    let too_many = lang.pick("检查写出的结果太多", "the checks wrote too many results");
    let why = if bytes.len() > MAX_RECORDS { Some(too_many.into()) } else { why };
    let mut report = decide(&String::from_utf8_lossy(&bytes), why);
    if let Some(judging) = judge {
        // The capture has closed the run's packets by its Exit; a bound anyway, past which
        // the judge counts as cut (it never passes on packets it did not see).
        let judge = match tokio::time::timeout(Duration::from_secs(2), judging).await {
            Ok(Ok(judge)) => judge,
            _ => {
                let mut judge = Judge::new(traffic.expect("a judge has a rule"));
                judge.cut();
                judge
            }
        };
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

/// Shows the judge every packet the capture gives the run, and passes each on to the run (for
/// the page) while the run takes them. A page that stops reading holds this up, so the capture
/// cuts the run's packets and the judge fails the rule as cut; once the run stops passing
/// packets on (at its end) the judge still sees the rest. So no page can hide from the judge
/// the packets that break the rule, as it could when the judge saw only what reached the page.
async fn judge_packets(mut judge: Judge, mut packets: mpsc::Receiver<Seen>, to_run: mpsc::Sender<Seen>) -> Judge {
    let mut passing = true;
    while let Some(seen) = packets.recv().await {
        match &seen {
            Seen::Packet(packet) => judge.see(packet),
            Seen::Cut { .. } => judge.cut(),
        }
        if passing && to_run.send(seen).await.is_err() {
            passing = false;
        }
    }
    judge
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::capture::Segment;
    use shared::check::Status;
    use shared::course::TrafficRule;

    fn data(payload: &[u8]) -> Seen {
        let head = payload.get(..4).map(|h| [h[0], h[1], h[2], h[3]]);
        Seen::Packet(Segment { proto: "tcp".into(), dport: 6160, len: payload.len() as u32, head, flags: "PSH,ACK".into(), ..Segment::default() })
    }

    /// A page that stopped reading: the run takes one packet, then nothing, then goes (at its
    /// end, its recordings are dropped after 2 s). The judge still sees the header sent alone.
    #[tokio::test]
    async fn the_judge_sees_the_packets_a_stalled_page_never_took() {
        let (capture, packets) = mpsc::channel(8);
        let (to_run, mut run) = mpsc::channel(1);
        let rule = TrafficCheck { rule: TrafficRule::Framed, port: 6160 };
        let judging = tokio::spawn(judge_packets(Judge::new(rule), packets, to_run));
        for seen in [data(b"\0\0\0\x02hi"), data(b"\0\0\0\x02ok"), data(b"\0\0\0\x05"), data(b"hello")] {
            capture.send(seen).await.unwrap();
        }
        drop(capture);
        assert!(matches!(run.recv().await, Some(Seen::Packet(_))));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!judging.is_finished(), "passing packets on waits for the run while it takes them");
        drop(run);
        let verdict = judging.await.unwrap().verdict(Lang::En);
        assert_eq!(verdict.status, Status::Failed, "{verdict:?}");
        assert!(verdict.description.contains("data segment 3 carried only the 4-byte length header"), "{}", verdict.description);
    }
}
