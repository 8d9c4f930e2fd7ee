//! Benchmark (not a test) of server runs, in one run on this machine:
//! 1. a sandboxed `print(1)` through the WebSocket (a warm session) against bare
//!    `python3 -c 'print(1)'`, interleaved, with the floors measured in the same loop: a
//!    WebSocket round trip that starts nothing, and a warm CPython in bare bubblewrap forking a
//!    child that exits at once, or that runs `print(1)` into a pipe; then where a warm run's time
//!    goes, step by step (`classbook::steps`, the server's tracing mode);
//! 2. 40 simulated students each running a TCP echo demo (server thread + client, 100
//!    messages) through classbook, against 40 loops of bare bubblewrap running the same.
//! Run: `cargo run --release -p classbook-e2e --bin bench-sandbox [seconds of part 2 (0: skip it)] [runs of part 1]`.

use classbook::class::rate::{PerAddress, Rate};
use classbook::steps::{self, Step};
use classbook_e2e::{median, serve_class};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ECHO_DEMO: &str = r#"
import socket, threading
srv = socket.create_server(("127.0.0.1", 8080))
def serve():
    conn, _ = srv.accept()
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)
threading.Thread(target=serve).start()
with socket.create_connection(("127.0.0.1", 8080)) as c:
    for i in range(100):
        c.sendall(b"message %d" % i)
        assert c.recv(1024) == b"message %d" % i
print("ok")
"#;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/session")).await.expect("connect");
    let _hello = ws.next().await;
    ws
}

/// Runs `code` and waits for its exit; true when it exited 0.
async fn run(ws: &mut Ws, id: u32, code: &str) -> bool {
    let req = RunRequest {
        run_id: id,
        files: vec![FileSpec { name: "b.py".into(), text: code.into() }],
        entry: "b.py".into(),
        args: vec![],
        watch_listen: false,
    };
    let text = serde_json::to_string(&ClientMsg::Run(req)).unwrap();
    ws.send(Message::Text(text.into())).await.unwrap();
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            match serde_json::from_str::<ServerMsg>(t.as_str()).unwrap() {
                ServerMsg::Exit(e) if e.run_id == id => return e.code == Some(0),
                ServerMsg::Error { run_id: Some(r), message } if r == id => panic!("run failed: {message}"),
                _ => {}
            }
        }
    }
    false
}


/// The 10th and 90th percentiles.
fn spread(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 10], v[v.len() * 9 / 10])
}

/// A message the server answers at once, starting nothing (stdin for a run that is not
/// running): the WebSocket's own round trip.
async fn round_trip(ws: &mut Ws) {
    let text = serde_json::to_string(&ClientMsg::CloseStdin { run_id: 999_999 }).unwrap();
    ws.send(Message::Text(text.into())).await.unwrap();
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            if let ServerMsg::Error { .. } = serde_json::from_str::<ServerMsg>(t.as_str()).unwrap() {
                return;
            }
        }
    }
    panic!("the connection closed");
}

/// A warm CPython in bare bubblewrap that, for each line it reads, forks a child (line `exit`:
/// the child `os._exit`s at once; `print`: it runs `print(1)` into a pipe first, as a run's
/// program does), waits for it and answers how long that took, in µs.
const FORKER: &str = r#"
import os, sys, time
code = compile("print(1)", "b.py", "exec")
for line in sys.stdin:
    r, w = os.pipe()
    t = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        if line.strip() == "print":
            os.dup2(w, 1)
            exec(code, {"__name__": "__main__"})
            sys.stdout.flush()
        os._exit(0)
    os.close(w)
    os.read(r, 64)
    os.waitpid(pid, 0)
    print((time.perf_counter_ns() - t) // 1000, flush=True)
    os.close(r)
"#;

struct Forker {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Forker {
    fn start() -> Forker {
        let mut cmd = bare_bwrap(FORKER);
        let mut child = cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("bwrap");
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Forker { child, lines }
    }

    /// One fork of the warm interpreter, in ms.
    fn fork(&mut self, what: &str) -> f64 {
        writeln!(self.child.stdin.as_mut().unwrap(), "{what}").unwrap();
        self.lines.next().expect("the forker answers").unwrap().trim().parse::<f64>().unwrap() / 1e3
    }
}

impl Drop for Forker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bare_python() -> f64 {
    let t = Instant::now();
    let ok = std::process::Command::new("/usr/bin/python3").args(["-c", "print(1)"]).output().unwrap();
    assert!(ok.status.success());
    t.elapsed().as_secs_f64() * 1e3
}

fn show(name: &str, v: &[f64], bare: f64) {
    let (lo, hi) = spread(v.to_vec());
    println!("  {name:<58} {:>6.2} ms  (p10–p90 {lo:.2}–{hi:.2})  {:.2}× bare python3", median(v), median(v) / bare);
}

/// Part 1: print(1) against bare python3 and the floors, interleaved; then its steps.
async fn print_one(runs: u32) {
    let server = serve_class(None, |app| {
        // One page starting hundreds of runs a second: the class's rate limits are not measured.
        app.class.run_rate = Rate { burst: 1e9, per_sec: 1e9 };
        app.class.message_rate = Rate { burst: 1e9, per_sec: 1e9 };
    })
    .await;
    let mut ws = connect(server.addr).await;
    let mut forker = Forker::start();
    for i in 0..5 {
        assert!(run(&mut ws, 1 + i, "print(1)").await); // starts the sandbox and warms it
    }
    let (mut bare, mut ours, mut trip, mut fork_exit, mut fork_print) = (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        // Interleaved, so a busy moment of the shared machine falls on all of them.
        bare.push(bare_python());
        let t = Instant::now();
        assert!(run(&mut ws, 100 + i, "print(1)").await);
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        round_trip(&mut ws).await;
        trip.push(t.elapsed().as_secs_f64() * 1e3);
        fork_exit.push(forker.fork("exit"));
        fork_print.push(forker.fork("print"));
    }
    let b = median(&bare);
    println!("print(1), {runs} times each, interleaved (median):");
    show("bare `python3 -c 'print(1)'`", &bare, b);
    show("sandboxed print(1) through the WebSocket, warm session", &ours, b);
    show("floor: WebSocket round trip that starts nothing", &trip, b);
    show("floor: warm CPython in bwrap, fork + _exit + wait", &fork_exit, b);
    show("floor: warm CPython in bwrap, fork + print(1) to a pipe + wait", &fork_print, b);
    println!(
        "print(1): bare python3 {b:.2} ms, sandboxed through the WebSocket {:.2} ms: {:.2}× (goal ≤ 0.33×; floor WebSocket + fork + print(1): {:.2}×)",
        median(&ours),
        median(&ours) / b,
        (median(&trip) + median(&fork_print)) / b
    );

    // Where a warm run's time goes: the same runs with the server's tracing mode on.
    steps::enable();
    let mut sent = HashMap::new();
    let mut heard = HashMap::new();
    for i in 0..runs {
        let id = 10_000 + i;
        // Paced as in the interleaved loop above (a student does not press Run back to back).
        tokio::time::sleep(Duration::from_millis(15)).await;
        sent.insert(id, steps::now_ns());
        assert!(run(&mut ws, id, "print(1)").await);
        heard.insert(id, steps::now_ns());
    }
    tokio::time::sleep(Duration::from_millis(50)).await; // the last run's stamps are filed after its Exit
    let mut offsets: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for run in steps::take() {
        let Some(&t0) = sent.get(&run.run_id) else { continue };
        let mut add = |name: &'static str, ns: u64| {
            if !order.contains(&name) {
                order.push(name);
            }
            offsets.entry(name).or_default().push((ns as f64 - t0 as f64) / 1e6);
        };
        add("page sent Run", t0);
        for (step, ns) in &run.stamps {
            add(step_name(*step), *ns);
        }
        add("page read Exit", heard[&run.run_id]);
    }
    let mut medians: Vec<(&str, f64)> = order.iter().map(|n| (*n, median(&offsets[n]))).collect();
    medians.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    println!("where a warm print(1) run's time goes ({runs} runs, median time of each step after the page sent Run):");
    let mut before = 0.0;
    for (name, at) in medians {
        println!("  {at:>6.3} ms  (+{:>6.3})  {name}", at - before);
        before = at;
    }
    drop(forker);
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Received => "backend read the WebSocket frame",
        Step::Accepted => "parsed, checked, run task spawned",
        Step::SandboxReady => "run slots and the session's sandbox held",
        Step::Spawned => "pipes made, Run sent to the agent",
        Step::AgentReceived => "agent read the Run message",
        Step::FilesWritten => "agent wrote the files into /work",
        Step::ChildStarted => "child: the run's first moment in it",
        Step::Forked => "agent handed the run to its spare fork (or forked)",
        Step::StartedSent => "agent sent Started",
        Step::ChildReady => "child set up (streams, signals, limits)",
        Step::ChildRan => "child: the student's code returned",
        Step::ChildExiting => "child: flushed, calls os._exit",
        Step::AgentWoke => "agent woke (SIGCHLD)",
        Step::Reaped => "agent reaped the child (wait4)",
        Step::TreeChecked => "agent checked nothing of the run is left",
        Step::StartedHeard => "backend heard Started",
        Step::ExitHeard => "backend heard Exit",
        Step::CountersRead => "cgroup limit counters read",
        Step::OutputDrained => "stdout/stderr reached their end",
        Step::PacketsFinished => "loopback capture finished the run",
        Step::RecordingsFinished => "recorded events passed on",
        Step::ExitQueued => "Exit in the page's queue",
    }
}

fn bare_bwrap(code: &str) -> std::process::Command {
    let mut c = std::process::Command::new("bwrap");
    c.args(["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib"])
        .args(["--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev"])
        .args(["--tmpfs", "/tmp", "--", "/usr/bin/python3", "-c", code])
        .stdout(std::process::Stdio::null());
    c
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let runs: u32 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(100);

    // 1. print(1): bare python3 against a warm sandbox through the WebSocket, and its steps.
    print_one(runs).await;
    if seconds == 0 {
        return;
    }
    // 40 students from one address: more than one address may bring at once in a class.
    let server = serve_class(None, |app| app.class.new_students = PerAddress::new(Rate { burst: 1000.0, per_sec: 1.0 })).await;

    // 2. 40 students, each running the echo demo again and again for `seconds`.
    let students = 40;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for s in 0..students {
        let (done, addr) = (done.clone(), server.addr);
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(addr).await;
            let mut id = 0;
            while Instant::now() < deadline {
                id += 1;
                if run(&mut ws, id, ECHO_DEMO).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    eprintln!("student {s}: a demo failed");
                }
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let ours_rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();

    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..students {
        let done = done.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            while Instant::now() < deadline {
                if bare_bwrap(ECHO_DEMO).status().map(|s| s.success()).unwrap_or(false) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let bare_rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!(
        "40 students × echo demo: bare bubblewrap loop {bare_rate:.1} demos/s, classbook {ours_rate:.1} demos/s: {:.2}× (goal ≥ 0.85×)",
        ours_rate / bare_rate
    );
}
