//! One WebSocket connection (`/api/session`) and the student's sandbox behind it:
//! a writer task sends `ServerMsg`s, the read loop handles `ClientMsg`s, each run is a task.

use crate::app::App;
use crate::run::{self, StdinCmd};
use crate::sandbox::{valid_file_name, Sandbox};
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::wire::{ClientMsg, RunRequest, ServerMsg, Signal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Largest message the page may send (a run's files included).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Programs one student may have running at once.
const MAX_RUNS: usize = 8;

type Stdins = Arc<Mutex<HashMap<u32, mpsc::Sender<StdinCmd>>>>;

struct Session {
    id: String,
    app: Arc<App>,
    out: mpsc::Sender<ServerMsg>,
    sandbox: Option<Arc<Sandbox>>,
    /// Runs still going, by run id, with their stdin.
    runs: Stdins,
}

pub async fn serve(socket: WebSocket, app: Arc<App>) {
    let id = new_session_id();
    let (mut sink, mut stream) = socket.split();
    let (out, mut rx) = mpsc::channel::<ServerMsg>(256);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let text = serde_json::to_string(&msg).expect("wire types serialize");
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    tracing::info!(session = %id, "connected");
    let mut session = Session { id: id.clone(), app, out, sandbox: None, runs: Arc::default() };
    session.send(ServerMsg::Hello { session: id.clone() }).await;
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(text) => session.handle(text.as_str()).await,
            Message::Binary(_) => session.error(None, "binary messages are not understood: send JSON text").await,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    tracing::info!(session = %id, "disconnected");
    if let Some(sandbox) = session.sandbox.take() {
        sandbox.close().await;
    }
    writer.abort();
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 9];
    // SAFETY: getrandom fills the buffer we own.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    assert_eq!(n, bytes.len() as isize, "getrandom failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Session {
    async fn send(&self, msg: ServerMsg) {
        let _ = self.out.send(msg).await;
    }

    async fn error(&self, run_id: Option<u32>, message: impl Into<String>) {
        self.send(ServerMsg::Error { run_id, message: message.into() }).await;
    }

    async fn handle(&mut self, text: &str) {
        if text.len() > MAX_MESSAGE {
            let msg = format!("message too large ({} bytes; the limit is {MAX_MESSAGE})", text.len());
            return self.error(None, msg).await;
        }
        let msg = match serde_json::from_str::<ClientMsg>(text) {
            Ok(m) => m,
            Err(e) => return self.error(None, format!("malformed message: {e}")).await,
        };
        match msg {
            ClientMsg::Run(req) => {
                let id = req.run_id;
                if let Err(e) = self.start_run(req).await {
                    self.error(Some(id), e.to_string()).await;
                }
            }
            ClientMsg::Stdin { run_id, data } => self.stdin(run_id, StdinCmd::Data(data)).await,
            ClientMsg::CloseStdin { run_id } => self.stdin(run_id, StdinCmd::Close).await,
            ClientMsg::Signal { run_id, signal } => {
                let (Some(sandbox), true) = (&self.sandbox, self.is_running(run_id)) else {
                    return self.error(Some(run_id), format!("run {run_id} is not running")).await;
                };
                let result = match signal {
                    Signal::Interrupt => sandbox.signal(run_id, libc::SIGINT).await,
                    Signal::Terminate => sandbox.signal(run_id, libc::SIGTERM).await,
                    Signal::Kill => sandbox.kill(run_id).await,
                };
                if let Err(e) = result {
                    self.error(Some(run_id), e.to_string()).await;
                }
            }
        }
    }

    fn is_running(&self, run_id: u32) -> bool {
        self.runs.lock().expect("runs poisoned").contains_key(&run_id)
    }

    async fn stdin(&self, run_id: u32, cmd: StdinCmd) {
        let tx = self.runs.lock().expect("runs poisoned").get(&run_id).cloned();
        let Some(tx) = tx else {
            return self.error(Some(run_id), format!("run {run_id} is not running")).await;
        };
        if tx.try_send(cmd).is_err() {
            self.error(Some(run_id), "input not delivered: the program is not reading its input").await;
        }
    }

    async fn start_run(&mut self, req: RunRequest) -> anyhow::Result<()> {
        let id = req.run_id;
        if !valid_file_name(&req.entry) || !req.entry.ends_with(".py") {
            anyhow::bail!("entry '{}' must be a plain file name ending in .py", req.entry);
        }
        if let Some(bad) = req.files.iter().find(|f| !valid_file_name(&f.name)) {
            anyhow::bail!("'{}' is not a plain file name (letters, digits, '-', '_', '.')", bad.name);
        }
        {
            let runs = self.runs.lock().expect("runs poisoned");
            if runs.contains_key(&id) {
                anyhow::bail!("run {id} is already running");
            }
            if runs.len() >= MAX_RUNS {
                anyhow::bail!("you already have {MAX_RUNS} programs running: stop one first");
            }
        }
        let sandbox = self.sandbox().await?;
        let files: Vec<(String, String)> = req.files.into_iter().map(|f| (f.name, f.text)).collect();
        let io = sandbox.spawn(id, &files, &req.entry, &req.args, req.watch_listen).await?;
        let (stdin_tx, stdin_rx) = mpsc::channel(64);
        self.runs.lock().expect("runs poisoned").insert(id, stdin_tx);
        let (runs, out) = (self.runs.clone(), self.out.clone());
        tokio::spawn(async move {
            run::drive(sandbox, id, io, stdin_rx, out).await;
            runs.lock().expect("runs poisoned").remove(&id);
        });
        Ok(())
    }

    /// The session's sandbox, started on first use and again if it ended.
    async fn sandbox(&mut self) -> anyhow::Result<Arc<Sandbox>> {
        if let Some(s) = self.sandbox.as_ref().filter(|s| s.is_alive()) {
            return Ok(s.clone());
        }
        let cfg = self.app.sandbox.as_ref().map_err(|why| anyhow::anyhow!("{why}"))?;
        let sandbox = Arc::new(Sandbox::start(cfg, &self.id).await?);
        self.sandbox = Some(sandbox.clone());
        Ok(sandbox)
    }
}
