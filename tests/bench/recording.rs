//! Benchmark (not a test) of what recording a server run costs: the course's echo,
//! sticky-packet, thread-pool and (deadlock-free) two-locks demos, each run again and again
//! through the WebSocket on a server that records every run (packets of the loopback, the
//! program's threads, waits and calls) and on one that records nothing; prints the median wall
//! time of each and the ratio (goal ≤ 1.10×).
//! Run: `cargo run --release -p classbook-e2e --bin bench-recording [runs per demo]`.

use classbook_e2e::{median, serve_class};
use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg};
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

/// Runs `code` to its exit; its wall time in ms as the page sees it and the recorded messages.
async fn run(ws: &mut Ws, id: u32, code: &str) -> (f64, usize) {
    let req = RunRequest { run_id: id, files: vec![FileSpec { name: "b.py".into(), text: code.into() }], entry: "b.py".into(), args: vec![], watch_listen: false };
    let start = Instant::now();
    ws.send(Message::Text(serde_json::to_string(&ClientMsg::Run(req)).unwrap().into())).await.unwrap();
    let mut recorded = 0;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            match serde_json::from_str::<ServerMsg>(t.as_str()).unwrap() {
                ServerMsg::Exit(e) if e.run_id == id => {
                    assert_eq!(e.code, Some(0), "the demo failed");
                    return (start.elapsed().as_secs_f64() * 1e3, recorded);
                }
                ServerMsg::Packet { .. } | ServerMsg::Activity { .. } => recorded += 1,
                ServerMsg::Error { run_id: Some(r), message } if r == id => panic!("run failed: {message}"),
                _ => {}
            }
        }
    }
    panic!("the connection closed");
}


#[tokio::main]
async fn main() {
    let runs: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let recording = serve_class(None, |_| {}).await;
    let plain = serve_class(None, |app| app.sandbox.as_mut().expect("sandboxes").record = false).await;
    let (mut on, mut off) = (connect(recording.addr).await, connect(plain.addr).await);
    run(&mut on, 1, "print(1)").await; // start both sandboxes
    run(&mut off, 1, "print(1)").await;
    let mut id = 10;
    for (name, code) in [("echo (100 round trips)", ECHO), ("sticky packets (200 framed messages)", STICKY), ("thread pool (200 tasks)", POOL), ("two locks in order (4,000 acquires)", TWO_LOCKS)] {
        let (mut with, mut without, mut events) = (Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            id += 1;
            // Alternating, so a busy moment of the machine falls on both.
            let (ms, n) = run(&mut on, id, code).await;
            with.push(ms);
            events = n;
            without.push(run(&mut off, id, code).await.0);
        }
        let (w, wo) = (median(&with), median(&without));
        println!("{name}: recorded {w:.1} ms ({events} events), not recorded {wo:.1} ms: {:.2}× (goal ≤ 1.10×)", w / wo);
    }
}
