//! Test support: a real classbook server on a loopback port, and a WebSocket client that
//! speaks the run protocol. Shared by the backend's integration tests.
#![allow(dead_code)]

use classbook::{app::App, course::Course, sandbox};
use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, ExitInfo, FileSpec, RunRequest, ServerMsg, Stream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server with the bundled course and real sandboxes.
pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut sandbox::Config)) -> Server {
    start_full(tweak, Duration::from_secs(60), |_| {}).await
}

/// With sessions kept for `grace` after their last connection closes.
pub async fn start_with_grace(grace: Duration) -> Server {
    start_full(|_| {}, grace, |_| {}).await
}

/// With the server's other settings changed by `tweak_app`.
pub async fn start_with_app(tweak_app: impl FnOnce(&mut App)) -> Server {
    start_full(|_| {}, Duration::from_secs(60), tweak_app).await
}

async fn start_full(tweak: impl FnOnce(&mut sandbox::Config), grace: Duration, tweak_app: impl FnOnce(&mut App)) -> Server {
    let mut cfg = sandbox::Config::detect();
    tweak(&mut cfg);
    classbook::probe_sandbox(&cfg).await.expect("sandboxes must work on the test machine");
    let mut app = App::new(Course::load(None).expect("bundled course"), Ok(cfg));
    app.grace = grace;
    tweak_app(&mut app);
    let app = std::sync::Arc::new(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(classbook::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop) }
}

/// An HTTP reply: the status, the head (status line and headers) and the body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// The real `classbook` binary started by `cmd` (stdout is taken here): the child, the address
/// its banner names, and its later stdout lines. Log lines share stdout with the banner and may
/// come first, so the banner is the first line that says "serving".
pub fn serve_binary(mut cmd: std::process::Command) -> (std::process::Child, SocketAddr, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().expect("classbook serve starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout piped");
    // Every line is read: a closed pipe would end the server at its next print.
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let banner = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(30)).ok()).find(|l| l.contains("serving"));
    let banner = banner.expect("the server prints its banner within 30 s");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner {banner:?}"));
    (child, addr, rx)
}

/// One HTTP/1.1 request to `addr` with extra `headers` (`Host` defaults to `addr`), a JSON
/// body if any; the reply within 20 s.
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut raw)).await.expect("a reply within 20 s").unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP reply");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Reply { status, head: head.to_string(), body: body.to_string() }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session: String,
    /// Whether the server's Hello said the student's hand is raised.
    pub hand: bool,
}

/// What one run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// stdout and stderr as they arrived, as the page shows them.
    pub combined: String,
    pub exit: ExitInfo,
    pub events: Vec<ServerMsg>,
}

impl Client {
    pub async fn connect(server: &Server) -> Client {
        Client::connect_url(format!("ws://{}/api/session", server.addr)).await
    }

    /// Connects as the student holding `token` (the page keeps it across reloads).
    pub async fn connect_as(server: &Server, token: &str) -> Client {
        Client::connect_url(format!("ws://{}/api/session?token={token}", server.addr)).await
    }

    /// Connects to the server at `addr` as the student holding `token`.
    pub async fn connect_to(addr: SocketAddr, token: &str) -> Client {
        Client::connect_url(format!("ws://{addr}/api/session?token={token}")).await
    }

    async fn connect_url(url: String) -> Client {
        Client::connect_with(url, &[]).await.unwrap_or_else(|(status, body)| panic!("websocket refused: {status} {body}"))
    }

    /// Connects to `url` with extra request `headers` (`Origin`, `Host`…); a refusal's status
    /// and body.
    pub async fn connect_with(url: String, headers: &[(&str, &str)]) -> Result<Client, (u16, String)> {
        use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Error};
        let mut req = url.into_client_request().expect("a websocket URL");
        for (name, value) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            req.headers_mut().insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        let ws = match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => ws,
            Err(Error::Http(res)) => {
                let body = res.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                return Err((res.status().as_u16(), body));
            }
            Err(e) => panic!("websocket: {e}"),
        };
        let mut c = Client { ws, session: String::new(), hand: false };
        match c.recv().await {
            ServerMsg::Hello { session, hand } => (c.session, c.hand) = (session, hand),
            other => panic!("expected Hello, got {other:?}"),
        }
        // As a page does on connect; these tests read the server's English (a test of the
        // Chinese wording says so with its own `Language`).
        c.send(&ClientMsg::Language { lang: shared::lang::Lang::En }).await;
        Ok(c)
    }

    /// Closes the connection as a page would when the student leaves.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_text(&serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.expect("send");
    }

    /// The next message, within 20 s.
    pub async fn recv(&mut self) -> ServerMsg {
        self.try_recv(Duration::from_secs(20)).await.expect("a message within 20 s")
    }

    /// Whether the server ends this connection within `within` (reading meanwhile, which
    /// answers its pings).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn try_recv(&mut self, within: Duration) -> Option<ServerMsg> {
        loop {
            let frame = tokio::time::timeout(within, self.ws.next()).await.ok()??;
            match frame {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).expect("valid ServerMsg")),
                // Closed, or reset by the server.
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn start(&mut self, run_id: u32, files: &[(&str, &str)], entry: &str, watch_listen: bool) {
        let files = files.iter().map(|(n, t)| FileSpec { name: n.to_string(), text: t.to_string() }).collect();
        let req = RunRequest { run_id, files, entry: entry.into(), args: vec![], watch_listen };
        self.send(&ClientMsg::Run(req)).await;
    }

    /// Starts `entry`, types `stdin` (if any) and closes its input.
    pub async fn start_with_input(&mut self, run_id: u32, files: &[(&str, &str)], entry: &str, watch: bool, stdin: Option<&str>) {
        self.start(run_id, files, entry, watch).await;
        if let Some(data) = stdin {
            self.send(&ClientMsg::Stdin { run_id, data: data.to_string() }).await;
        }
        self.send(&ClientMsg::CloseStdin { run_id }).await;
    }

    /// Runs one file named `main.py` and collects everything until its Exit.
    pub async fn run(&mut self, run_id: u32, code: &str) -> Outcome {
        self.start(run_id, &[("main.py", code)], "main.py", false).await;
        self.collect(run_id).await
    }

    /// Collects messages of `run_id` until its Exit.
    pub async fn collect(&mut self, run_id: u32) -> Outcome {
        self.collect_all(&[run_id]).await.remove(&run_id).expect("collected")
    }

    /// Collects the messages of several runs until each has exited.
    pub async fn collect_all(&mut self, ids: &[u32]) -> std::collections::HashMap<u32, Outcome> {
        self.collect_all_after(ids, Vec::new()).await
    }

    /// Collects run `id` to its exit, checking that run `cancelled` ends in an Error.
    pub async fn collect_all_until_error(&mut self, ids: &[u32], cancelled: u32) -> Outcome {
        let mut out = Outcome::default();
        let (mut exited, mut errored) = (false, false);
        while !(exited && errored) {
            match self.recv().await {
                ServerMsg::Output { run_id, data, .. } if ids.contains(&run_id) => out.stdout.push_str(&data),
                ServerMsg::Exit(e) if ids.contains(&e.run_id) => {
                    out.exit = e;
                    exited = true;
                }
                ServerMsg::Error { run_id: Some(r), message } if r == cancelled => {
                    assert!(message.contains("queue"), "{message}");
                    errored = true;
                }
                ServerMsg::Output { run_id, data, .. } if run_id == cancelled => panic!("cancelled run printed {data}"),
                _ => {}
            }
        }
        out
    }

    /// Like `collect_all`, starting with messages already received.
    pub async fn collect_all_after(&mut self, ids: &[u32], early: Vec<ServerMsg>) -> std::collections::HashMap<u32, Outcome> {
        let mut outs: std::collections::HashMap<u32, Outcome> = ids.iter().map(|i| (*i, Outcome::default())).collect();
        let mut open = ids.len();
        let mut early = early.into_iter();
        while open > 0 {
            let msg = match early.next() {
                Some(m) => m,
                None => self.recv().await,
            };
            let id = match &msg {
                ServerMsg::Output { run_id, .. } | ServerMsg::Started { run_id, .. } => *run_id,
                ServerMsg::Listening { run_id } | ServerMsg::Queued { run_id, .. } => *run_id,
                ServerMsg::TftpCheck { run_id, .. } => *run_id,
                ServerMsg::Checked { run_id, .. } => *run_id,
                ServerMsg::Packet { run_id, .. } | ServerMsg::Activity { run_id, .. } => *run_id,
                ServerMsg::RecordingCut { run_id, .. } => *run_id,
                ServerMsg::Exit(e) => e.run_id,
                ServerMsg::Error { run_id: Some(r), message } if ids.contains(r) => {
                    panic!("run {r} failed: {message}")
                }
                _ => continue,
            };
            let Some(out) = outs.get_mut(&id) else { continue };
            if let ServerMsg::Output { data, .. } = &msg {
                out.combined.push_str(data);
            }
            match &msg {
                ServerMsg::Output { stream: Stream::Stdout, data, .. } => out.stdout.push_str(data),
                ServerMsg::Output { stream: Stream::Stderr, data, .. } => out.stderr.push_str(data),
                ServerMsg::Exit(e) => {
                    out.exit = e.clone();
                    open -= 1;
                }
                _ => {}
            }
            out.events.push(msg);
        }
        outs
    }
}
