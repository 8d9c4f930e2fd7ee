//! What a careless or hostile student, or a stranger on the LAN, does to a class server: the
//! moves of the chaos test and of `bench-load --chaos`. Each machine speaks from a loopback
//! address of its own (127.0.0.N), so per-address limits see it as a LAN would; every move is
//! bounded in count and time and ends what it started.

use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg, Signal};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The loopback address of simulated machine `n` (1 is this machine's own 127.0.0.1).
pub fn machine(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `to` from `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    let tcp = sock.connect(to).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// One HTTP/1.1 request from `from`; the status (0 if there was no answer) and the body.
pub async fn http_from(from: IpAddr, to: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    request(from, to, &to.to_string(), method, path, None, body).await
}

/// One HTTP/1.1 request from `from` to `to`, as a page opened at `http://{host}/` sends it
/// (`Host` and `Origin`); the status (0 if there was no answer) and the body.
pub async fn request(
    from: IpAddr,
    to: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let Ok(mut tcp) = tcp_from(from, to).await else { return (0, String::new()) };
    let body = body.unwrap_or("");
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if tcp.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut raw)).await;
    let raw = String::from_utf8_lossy(&raw);
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// Joins as `name` with `token` (and the class's code, if any); the HTTP status.
pub async fn join_from(from: IpAddr, to: SocketAddr, token: &str, name: &str, code: Option<&str>) -> u16 {
    let body = serde_json::json!({"token": token, "name": name, "code": code}).to_string();
    http_from(from, to, "POST", "/api/join", Some(&body)).await.0
}

/// The page's WebSocket from `from`: `Ok` after the server's Hello, `Err` with what it said.
pub async fn connect_from(from: IpAddr, to: SocketAddr, token: &str) -> Result<Ws, String> {
    let tcp = tcp_from(from, to).await.map_err(|e| e.to_string())?;
    let url = format!("ws://{to}/api/session?token={token}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
        .await
        .map_err(|e| e.to_string())?;
    match next(&mut ws, Duration::from_secs(10)).await {
        Some(ServerMsg::Hello { .. }) => Ok(ws),
        other => Err(format!("{other:?}")),
    }
}

pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> bool {
    ws.send(Message::Text(serde_json::to_string(msg).expect("serializes").into())).await.is_ok()
}

/// The next message within `within`, or None (closed, broken, or nothing came).
pub async fn next(ws: &mut Ws, within: Duration) -> Option<ServerMsg> {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

pub fn run_msg(id: u32, files: &[(&str, &str)], entry: &str, watch: bool) -> ClientMsg {
    let files = files.iter().map(|(n, t)| FileSpec { name: n.to_string(), text: t.to_string() }).collect();
    ClientMsg::Run(RunRequest { run_id: id, files, entry: entry.into(), args: vec![], watch_listen: watch })
}

/// Runs `code` as run `id` and returns its stdout once it exits 0 (or why not), within 60 s.
pub async fn run(ws: &mut Ws, id: u32, code: &str) -> Result<String, String> {
    if !send(ws, &run_msg(id, &[("main.py", code)], "main.py", false)).await {
        return Err("the connection is gone".into());
    }
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(ws, left).await {
            Some(ServerMsg::Output { run_id, data, .. }) if run_id == id => out.push_str(&data),
            Some(ServerMsg::Exit(e)) if e.run_id == id => {
                return if e.code == Some(0) { Ok(out) } else { Err(format!("exit {e:?}: {out}")) };
            }
            Some(ServerMsg::Error { run_id: Some(r), message }) if r == id => return Err(message),
            Some(_) => {}
            None => return Err("no Exit within 60 s".into()),
        }
    }
}

/// The name a hostile program gives its processes (`prctl(PR_SET_NAME)`), so the host can see
/// which are alive: at most 15 bytes.
pub fn tag(what: &str, n: u32) -> String {
    format!("{what}{:05}{n}", std::process::id() % 100_000)
}

const NAME_ME: &str = "import ctypes\nctypes.CDLL(None).prctl(15, TAG.encode(), 0, 0, 0)\n";

/// Processes on this machine named `name`, whatever namespace they are in.
pub fn alive_named(name: &str) -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .count()
}

/// Two programs print as fast as they can to a page that reads nothing, for `hold`.
pub async fn flood_without_reading(to: SocketAddr, from: IpAddr, token: &str, code: Option<&str>, hold: Duration) {
    join_from(from, to, token, "flood", code).await;
    let Ok(mut ws) = connect_from(from, to, token).await else { return };
    let flood = "import sys\nchunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)\n";
    for id in 1..=2 {
        send(&mut ws, &run_msg(id, &[("main.py", flood)], "main.py", false)).await;
    }
    tokio::time::sleep(hold).await;
}

/// Stops the sandbox's helper (SIGSTOP to its parent), forks five CPU burners named `name`,
/// then presses Stop: `Ok` when the run ended and no burner is left.
pub async fn stop_helper_and_burn(to: SocketAddr, from: IpAddr, token: &str, code: Option<&str>, name: &str) -> Result<(), String> {
    join_from(from, to, token, "burner", code).await;
    let mut ws = connect_from(from, to, token).await?;
    let body = format!(
        "TAG = {name:?}\nimport os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\n\
         for _ in range(5):\n    if os.fork() == 0:\n        {}\n        while True:\n            pass\n\
         print('burning', flush=True)\ntime.sleep(600)\n",
        NAME_ME.trim_end().replace('\n', "\n        ")
    );
    send(&mut ws, &run_msg(1, &[("main.py", &body)], "main.py", false)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive_named(name) < 5 {
        if Instant::now() > deadline {
            return Err("the burners never started".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&mut ws, &ClientMsg::Signal { run_id: 1, signal: Signal::Interrupt }).await;
    loop {
        match next(&mut ws, Duration::from_secs(10)).await {
            Some(ServerMsg::Exit(e)) if e.run_id == 1 => break,
            Some(_) => {}
            None => return Err("no Exit within 10 s of Stop".into()),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    match alive_named(name) {
        0 => Ok(()),
        n => Err(format!("{n} burner(s) outlived Stop")),
    }
}

/// Queues `n` sleeping programs named `name`, then leaves the page.
pub async fn queue_and_leave(to: SocketAddr, from: IpAddr, token: &str, code: Option<&str>, name: &str, n: u32) {
    join_from(from, to, token, "leaver", code).await;
    let Ok(mut ws) = connect_from(from, to, token).await else { return };
    let body = format!("TAG = {name:?}\n{NAME_ME}import time\ntime.sleep(120)\n");
    for id in 1..=n {
        send(&mut ws, &run_msg(id, &[("main.py", &body)], "main.py", false)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = ws.close(None).await;
}

/// Sends `n` wrong access codes; how many were refused as guessing (429).
pub async fn guess_codes(to: SocketAddr, from: IpAddr, n: u32) -> u32 {
    let mut throttled = 0;
    for i in 0..n {
        if join_from(from, to, &format!("{:032x}", 0x6e55_0000u64 + i as u64), "guess", Some(&format!("{i:06}"))).await == 429 {
            throttled += 1;
        }
    }
    throttled
}

/// Opens `n` sessions with random tokens that never join; how many the server admitted.
pub async fn anonymous_sessions(to: SocketAddr, from: IpAddr, n: u32) -> u32 {
    let mut admitted = Vec::new();
    for i in 0..n {
        if let Ok(ws) = connect_from(from, to, &format!("{:032x}", 0xa404_0000u64 + i as u64)).await {
            admitted.push(ws);
        }
    }
    admitted.len() as u32
}

/// A run with too many files, and `results` made-up exercise results; how many results the
/// server accepted (it answers each refused one with an Error).
pub async fn bad_input(to: SocketAddr, from: IpAddr, token: &str, code: Option<&str>, results: u32) -> Result<u32, String> {
    join_from(from, to, token, "fuzzer", code).await;
    let mut ws = connect_from(from, to, token).await?;
    let names: Vec<String> = (0..shared::wire::MAX_RUN_FILES + 8).map(|i| format!("f{i}.py")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    send(&mut ws, &run_msg(1, &files, "f0.py", false)).await;
    match next(&mut ws, Duration::from_secs(10)).await {
        Some(ServerMsg::Error { run_id: Some(1), .. }) => {}
        other => return Err(format!("a run with too many files got {other:?}")),
    }
    for i in 0..results {
        let msg = ClientMsg::ExerciseResult { lesson: "closures".into(), cell: format!("made-up-{i}"), passed: true };
        if !send(&mut ws, &msg).await {
            break;
        }
    }
    let mut refused = 0;
    while let Some(msg) = next(&mut ws, Duration::from_secs(2)).await {
        if matches!(msg, ServerMsg::Error { .. }) {
            refused += 1;
        }
    }
    Ok(results.saturating_sub(refused))
}

/// Opens `n` connections that send half a request head and then nothing, held for `hold`;
/// how many the server still kept open at the end (it should close them: a per-address cap at
/// once, a header timeout later).
pub async fn idle_connections(to: SocketAddr, from: IpAddr, n: u32, hold: Duration) -> u32 {
    let mut open = Vec::new();
    for _ in 0..n {
        if let Ok(mut tcp) = tcp_from(from, to).await {
            let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
            open.push(tcp);
        }
    }
    tokio::time::sleep(hold).await;
    let mut kept = 0;
    for tcp in &mut open {
        let mut byte = [0u8; 1];
        // Closed by the server: the read ends at once (EOF or reset); kept: it would wait.
        if let Err(_elapsed) = tokio::time::timeout(Duration::from_millis(5), tcp.read(&mut byte)).await {
            kept += 1;
        }
    }
    kept
}

/// Latencies in ms, sorted: the `p` quantile.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        f64::NAN
    } else {
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
}
