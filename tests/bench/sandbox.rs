//! Benchmark (not a test) of server runs, in one run on this machine:
//! 1. a sandboxed `print(1)` through the WebSocket against bare `python3 -c 'print(1)'`;
//! 2. 40 simulated students each running a TCP echo demo (server thread + client, 100
//!    messages) through classbook, against 40 loops of bare bubblewrap running the same.
//! Run: `cargo run --release -p classbook-e2e --bin bench-sandbox [seconds]`.

use classbook_e2e::serve;
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

/// Runs `code` and waits for its exit; true when it printed "ok"-or-anything and exited 0.
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
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
    let server = serve(None).await;

    // 1. print(1): bare python3 against a warm sandbox through the WebSocket.
    let mut bare = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let ok = std::process::Command::new("/usr/bin/python3").args(["-c", "print(1)"]).output().unwrap();
        assert!(ok.status.success());
        bare.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut ws = connect(server.addr).await;
    run(&mut ws, 1, "print(1)").await; // starts the sandbox
    let mut ours = Vec::new();
    for i in 0..40 {
        let t = Instant::now();
        assert!(run(&mut ws, 100 + i, "print(1)").await);
        ours.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (b, o) = (median(bare), median(ours));
    println!("print(1): bare python3 {b:.1} ms, sandboxed through the WebSocket {o:.1} ms: {:.2}× (goal ≤ 1.6×)", o / b);

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
