//! A student's session: one sandbox, found again by the student's token when the page
//! reconnects. Each WebSocket connection (`/api/session?token=`) has a writer task that
//! sends `ServerMsg`s and a read loop for `ClientMsg`s; each run is a task. When a
//! connection closes its programs are killed; the sandbox (and /work) stays for a grace
//! period, then goes.

mod tftp_check;

use crate::app::App;
use crate::run::{self, Slots, StdinCmd};
use crate::sandbox::{valid_file_name, Sandbox};
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::course::TftpServerCheck;
use shared::wire::{ClientMsg, RunRequest, ServerMsg, Signal};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Largest message the page may send (a run's files included).
pub const MAX_MESSAGE: usize = 1 << 20;

/// A run of this connection, from the moment it is asked for until it has exited.
struct RunHandle {
    stdin: mpsc::Sender<StdinCmd>,
    /// Stops it while it still waits in a queue.
    cancel: Arc<tokio::sync::Notify>,
    started: Arc<std::sync::atomic::AtomicBool>,
}

type Runs = Arc<Mutex<HashMap<u32, RunHandle>>>;

/// Every session by token.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Shared>>>);

/// What outlives a connection: the sandbox, the student's run slots, who is connected.
pub struct Shared {
    sandbox: tokio::sync::Mutex<Option<Arc<Sandbox>>>,
    slots: Slots,
    connections: std::sync::atomic::AtomicUsize,
    /// Bumped at every connect, so a grace timer knows whether the student came back.
    epoch: std::sync::atomic::AtomicU64,
}

impl Sessions {
    fn attach(&self, token: &str, runs_per_student: usize) -> Arc<Shared> {
        let shared = self
            .0
            .lock()
            .expect("sessions poisoned")
            .entry(token.to_string())
            .or_insert_with(|| {
                Arc::new(Shared {
                    sandbox: Default::default(),
                    slots: Slots::new(runs_per_student),
                    connections: Default::default(),
                    epoch: Default::default(),
                })
            })
            .clone();
        shared.connections.fetch_add(1, Ordering::SeqCst);
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        shared
    }

    /// How many sessions exist (connected or in their grace period).
    pub fn len(&self) -> usize {
        self.0.lock().expect("sessions poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Session {
    id: String,
    app: Arc<App>,
    out: mpsc::Sender<ServerMsg>,
    shared: Arc<Shared>,
    /// This connection's runs, queued or going.
    runs: Runs,
}

/// A token the page may keep: 16 to 64 hex digits.
fn valid_token(t: &str) -> bool {
    (16..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn serve(socket: WebSocket, app: Arc<App>, token: Option<String>) {
    let id = token.filter(|t| valid_token(t)).unwrap_or_else(new_session_id);
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
    let shared = app.sessions.attach(&id, app.runs_per_student);
    let mut session = Session { id: id.clone(), app, out, shared, runs: Arc::default() };
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
    session.leave().await;
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
    /// Kills this connection's programs now; closes the sandbox after the grace period
    /// unless the student reconnected.
    async fn leave(self) {
        let ids: Vec<u32> = self.runs.lock().expect("runs poisoned").keys().copied().collect();
        let sandbox = self.shared.sandbox.lock().await.clone();
        if let Some(sandbox) = &sandbox {
            for id in ids {
                let _ = sandbox.kill(id).await;
            }
        }
        if self.shared.connections.fetch_sub(1, Ordering::SeqCst) > 1 {
            return;
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        let (app, id, shared) = (self.app, self.id, self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(app.grace).await;
            if shared.connections.load(Ordering::SeqCst) > 0 || shared.epoch.load(Ordering::SeqCst) != epoch {
                return; // the student came back
            }
            app.sessions.0.lock().expect("sessions poisoned").remove(&id);
            let sandbox = shared.sandbox.lock().await.take();
            if let Some(sandbox) = sandbox {
                sandbox.close().await;
            }
            tracing::info!(session = %id, "session ended");
        });
    }

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
                if let Err(e) = self.start_run(req, None).await {
                    self.error(Some(id), e.to_string()).await;
                }
            }
            ClientMsg::CheckTftp { run_id, lesson, cell, code } => {
                if let Err(e) = self.check_tftp(run_id, &lesson, &cell, code).await {
                    self.error(Some(run_id), e.to_string()).await;
                }
            }
            // Presence and exercise results: recorded by the class module (issue 8).
            ClientMsg::Viewing { .. } | ClientMsg::ExerciseResult { .. } => {}
            ClientMsg::Stdin { run_id, data } => self.stdin(run_id, StdinCmd::Data(data)).await,
            ClientMsg::CloseStdin { run_id } => self.stdin(run_id, StdinCmd::Close).await,
            ClientMsg::Signal { run_id, signal } => {
                let handle = self.runs.lock().expect("runs poisoned").get(&run_id).map(|h| (h.started.clone(), h.cancel.clone()));
                let Some((started, cancel)) = handle else {
                    return self.error(Some(run_id), format!("run {run_id} is not running")).await;
                };
                if !started.load(Ordering::SeqCst) {
                    cancel.notify_one(); // still queued: it never starts
                    return;
                }
                let Some(sandbox) = self.shared.sandbox.lock().await.clone() else { return };
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

    async fn stdin(&self, run_id: u32, cmd: StdinCmd) {
        let tx = self.runs.lock().expect("runs poisoned").get(&run_id).map(|h| h.stdin.clone());
        let Some(tx) = tx else {
            return self.error(Some(run_id), format!("run {run_id} is not running")).await;
        };
        if tx.try_send(cmd).is_err() {
            self.error(Some(run_id), "input not delivered: the program is not reading its input").await;
        }
    }

    /// A "tftp-server" exercise of the course: the student's code runs as the cell's file and
    /// the built-in client checks it (see `tftp_check`).
    async fn check_tftp(&mut self, run_id: u32, lesson: &str, cell: &str, code: String) -> anyhow::Result<()> {
        let course = self.app.course();
        let found = course.lesson(lesson).and_then(|l| l.cells().find(|c| c.id == cell).cloned());
        let Some(found) = found else { anyhow::bail!("no cell '{cell}' in lesson '{lesson}'") };
        let Some(spec) = found.exercise.as_ref().and_then(|e| e.tftp_server.clone()) else {
            anyhow::bail!("cell '{cell}' of lesson '{lesson}' is not a TFTP server exercise");
        };
        let entry = found.file.clone().unwrap_or_else(|| format!("{}.py", found.id));
        let files = vec![shared::wire::FileSpec { name: entry.clone(), text: code }];
        let req = RunRequest { run_id, files, entry, args: Vec::new(), watch_listen: true };
        self.start_run(req, Some(spec)).await
    }

    async fn start_run(&mut self, req: RunRequest, tftp: Option<TftpServerCheck>) -> anyhow::Result<()> {
        let id = req.run_id;
        if !valid_file_name(&req.entry) || !req.entry.ends_with(".py") {
            anyhow::bail!("entry '{}' must be a plain file name ending in .py", req.entry);
        }
        if let Some(bad) = req.files.iter().find(|f| !valid_file_name(&f.name)) {
            anyhow::bail!("'{}' is not a plain file name (letters, digits, '-', '_', '.')", bad.name);
        }
        let (stdin_tx, stdin_rx) = mpsc::channel(64);
        let cancel = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let mut runs = self.runs.lock().expect("runs poisoned");
            if runs.contains_key(&id) {
                anyhow::bail!("run {id} is already running");
            }
            runs.insert(id, RunHandle { stdin: stdin_tx, cancel: cancel.clone(), started: started.clone() });
        }
        let (app, shared, runs, out, sid) =
            (self.app.clone(), self.shared.clone(), self.runs.clone(), self.out.clone(), self.id.clone());
        let files: Vec<(String, String)> = req.files.into_iter().map(|f| (f.name, f.text)).collect();
        tokio::spawn(async move {
            let result: Result<(), String> = async {
                // The student's own queue first, so their extra runs hold no server slot.
                let _mine = shared.slots.wait(id, &out, &cancel).await?;
                let _slot = app.run_slots.wait(id, &out, &cancel).await?;
                let sandbox = sandbox_of(&app, &shared, &sid).await.map_err(|e| format!("{e:#}"))?;
                if let Some(spec) = tftp {
                    started.store(true, Ordering::SeqCst);
                    let check = tftp_check::check(sandbox, id, files, &req.entry, spec.port, stdin_rx, out.clone());
                    return check.await.map_err(|e| format!("{e:#}"));
                }
                let io = sandbox
                    .spawn(id, &files, &req.entry, &req.args, req.watch_listen)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                started.store(true, Ordering::SeqCst);
                // The companion TFTP server's packets are drawn under the newest run.
                sandbox.trace_companion(id, out.clone());
                run::drive(sandbox.clone(), id, io, stdin_rx, out.clone()).await;
                sandbox.untrace_companion(id);
                Ok(())
            }
            .await;
            if let Err(message) = result {
                let _ = out.send(ServerMsg::Error { run_id: Some(id), message }).await;
            }
            runs.lock().expect("runs poisoned").remove(&id);
        });
        Ok(())
    }
}

/// The session's sandbox, started on first use and again if it ended.
async fn sandbox_of(app: &App, shared: &Shared, id: &str) -> anyhow::Result<Arc<Sandbox>> {
    let mut slot = shared.sandbox.lock().await;
    if let Some(s) = slot.as_ref().filter(|s| s.is_alive()) {
        return Ok(s.clone());
    }
    let cfg = app.sandbox.as_ref().map_err(|why| anyhow::anyhow!("{why}"))?;
    let sandbox = Arc::new(Sandbox::start(cfg, id).await?);
    *slot = Some(sandbox.clone());
    Ok(sandbox)
}
