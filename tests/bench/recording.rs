//! Benchmark (not a test) of what recording a server run costs: the course's echo,
//! sticky-packet, thread-pool and (deadlock-free) two-locks demos, each run again and again
//! through the WebSocket on a server that records every run (packets of the loopback, the
//! program's threads, waits and calls) and on one that records nothing; prints the median wall
//! time of each and the ratio (goal ≤ 1.10×); with `steps`, then where each demo's time goes,
//! recorded and not, step by step (`classbook::steps`, the server's tracing mode).
//! Run: `cargo run --release -p classbook-e2e --bin bench-recording [runs per demo] [steps]`.

use classbook::app::App;
use classbook::class::rate::Rate;
use classbook::steps::{self, Step};
use classbook_e2e::{median, serve_class};
use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const ECHO: &str = r#"
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

const STICKY: &str = r#"
import socket, struct, threading
srv = socket.create_server(("127.0.0.1", 8081))
def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        data += conn.recv(n - len(data))
    return data
def serve():
    conn, _ = srv.accept()
    with conn:
        for _ in range(200):
            size = struct.unpack("!I", recv_exactly(conn, 4))[0]
            recv_exactly(conn, size)
        conn.sendall(b"done")
threading.Thread(target=serve).start()
with socket.create_connection(("127.0.0.1", 8081)) as c:
    for i in range(200):
        body = b"message number %d" % i
        c.send(struct.pack("!I", len(body)))
        c.send(body)
    assert c.recv(16) == b"done"
print("ok")
"#;

const POOL: &str = r#"
from concurrent.futures import ThreadPoolExecutor
import threading
lock = threading.Lock()
total = 0
def work(n):
    global total
    s = sum(i * i for i in range(2000))
    with lock:
        total += s + n
with ThreadPoolExecutor(max_workers=4) as pool:
    list(pool.map(work, range(200)))
print("ok", total)
"#;

const TWO_LOCKS: &str = r#"
import threading
a, b = threading.Lock(), threading.Lock()
count = 0
def worker():
    global count
    for _ in range(2000):
        with a:
            with b:
                count += 1
threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("ok", count)
"#;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/session")).await.expect("connect");
    let _hello = ws.next().await;
    ws
}

/// CPU time of this process so far (both servers and their pages), in ms.
fn own_cpu_ms() -> f64 {
    // SAFETY: getrusage writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// What one run cost: wall time as the page saw it, the program's CPU time (the sandbox's
/// count), and this process's (the server's and the page's) CPU time meanwhile, all in ms.
#[derive(Default)]
struct Cost {
    wall: Vec<f64>,
    program_cpu: Vec<f64>,
    server_cpu: Vec<f64>,
}

/// Runs `code` to its exit; adds its cost to `cost`, returns the recorded messages.
async fn run_costed(ws: &mut Ws, id: u32, code: &str, cost: &mut Cost) -> usize {
    let cpu = own_cpu_ms();
    let (wall, events, program) = run_full(ws, id, code).await;
    cost.server_cpu.push(own_cpu_ms() - cpu);
    cost.wall.push(wall);
    cost.program_cpu.push(program as f64);
    events
}

/// Runs `code` to its exit; its wall time in ms as the page sees it and the recorded messages.
async fn run(ws: &mut Ws, id: u32, code: &str) -> (f64, usize) {
    let (wall, events, _) = run_full(ws, id, code).await;
    (wall, events)
}

async fn run_full(ws: &mut Ws, id: u32, code: &str) -> (f64, usize, u64) {
    let req = RunRequest { run_id: id, files: vec![FileSpec { name: "b.py".into(), text: code.into() }], entry: "b.py".into(), args: vec![], watch_listen: false };
    let start = Instant::now();
    ws.send(Message::Text(serde_json::to_string(&ClientMsg::Run(req)).unwrap().into())).await.unwrap();
    let mut recorded = 0;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            match serde_json::from_str::<ServerMsg>(t.as_str()).unwrap() {
                ServerMsg::Exit(e) if e.run_id == id => {
                    assert_eq!(e.code, Some(0), "the demo failed");
                    return (start.elapsed().as_secs_f64() * 1e3, recorded, e.cpu_ms);
                }
                ServerMsg::Packet { .. } | ServerMsg::Activity { .. } => recorded += 1,
                ServerMsg::Error { run_id: Some(r), message } if r == id => panic!("run failed: {message}"),
                _ => {}
            }
        }
    }
    panic!("the connection closed");
}


/// Where the time of `code`'s runs goes on each server, interleaved: the median of each step's
/// time after the page sent Run, recorded against not recorded.
async fn show_steps(name: &str, code: &str, runs: u32, on: &mut Ws, off: &mut Ws, id: &mut u32) {
    let mut sent: HashMap<u32, (bool, u64, u64)> = HashMap::new();
    for _ in 0..runs {
        for (recorded, ws) in [(true, &mut *on), (false, &mut *off)] {
            *id += 1;
            let t0 = steps::now_ns();
            run(ws, *id, code).await;
            sent.insert(*id, (recorded, t0, steps::now_ns()));
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await; // the last stamps follow its Exit
    // step -> (recorded, not) offsets in ms
    let mut at: BTreeMap<Step, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut read: (Vec<f64>, Vec<f64>) = Default::default();
    for run in steps::take() {
        let Some(&(recorded, t0, heard)) = sent.get(&run.run_id) else { continue };
        let ms = |ns: u64| (ns as f64 - t0 as f64) / 1e6;
        for (step, ns) in run.stamps {
            let both = at.entry(step).or_default();
            if recorded { both.0.push(ms(ns)) } else { both.1.push(ms(ns)) }
        }
        if recorded { read.0.push(ms(heard)) } else { read.1.push(ms(heard)) }
    }
    println!("{name}: where the time goes ({runs} runs each, median ms after the page sent Run):");
    println!("  {:<22} {:>9} {:>13}", "step", "recorded", "not recorded");
    for (step, (with, without)) in &at {
        println!("  {:<22} {:>9.2} {:>13.2}", format!("{step:?}"), median(with), median(without));
    }
    println!("  {:<22} {:>9.2} {:>13.2}", "page read Exit", median(&read.0), median(&read.1));
}

#[tokio::main]
async fn main() {
    let runs: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let with_steps = std::env::args().any(|a| a == "steps");
    // One page starting hundreds of runs: the class's rate limits are not measured.
    let unlimited = |app: &mut App| {
        app.class.run_rate = Rate { burst: 1e9, per_sec: 1e9 };
        app.class.message_rate = Rate { burst: 1e9, per_sec: 1e9 };
    };
    let recording = serve_class(None, unlimited).await;
    let plain = serve_class(None, |app| {
        unlimited(app);
        app.sandbox.as_mut().expect("sandboxes").record = false;
    })
    .await;
    let (mut on, mut off) = (connect(recording.addr).await, connect(plain.addr).await);
    run(&mut on, 1, "print(1)").await; // start both sandboxes
    run(&mut off, 1, "print(1)").await;
    let mut id = 10;
    let demos = [("echo (100 round trips)", ECHO), ("sticky packets (200 framed messages)", STICKY), ("thread pool (200 tasks)", POOL), ("two locks in order (4,000 acquires)", TWO_LOCKS)];
    for (name, code) in demos {
        let (mut with, mut without, mut events) = (Cost::default(), Cost::default(), 0);
        for _ in 0..runs {
            id += 1;
            // Alternating, so a busy moment of the machine falls on both.
            events = run_costed(&mut on, id, code, &mut with).await;
            run_costed(&mut off, id, code, &mut without).await;
        }
        let (w, wo) = (median(&with.wall), median(&without.wall));
        println!("{name}: recorded {w:.1} ms ({events} events), not recorded {wo:.1} ms: {:.2}× (goal ≤ 1.10×)", w / wo);
        println!(
            "  CPU (median ms): the program {:.0} against {:.0}, the server and page {:.1} against {:.1}",
            median(&with.program_cpu),
            median(&without.program_cpu),
            median(&with.server_cpu),
            median(&without.server_cpu)
        );
    }
    if with_steps {
        steps::enable();
        for (name, code) in demos {
            show_steps(name, code, runs, &mut on, &mut off, &mut id).await;
        }
    }
}
