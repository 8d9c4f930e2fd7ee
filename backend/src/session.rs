//! A student's session: one sandbox, found again by the student's token when the page
//! reconnects. Each WebSocket connection (`/api/session?token=`) has a writer task that
//! sends `ServerMsg`s and a read loop for `ClientMsg`s; each run is a task. When a
//! connection closes its programs are killed; the sandbox (and /work) stays for a grace
//! period, then goes. `roster` is the teacher's side: presence, runs, stop, broadcast.

mod roster;

pub use roster::{LiveRun, LiveStudent};

mod exercise_check;
mod tftp_check;

use crate::app::App;
use crate::class::rate::Bucket;
use crate::run::{Phase, RunCtl, Slots, StdinCmd, Stop};
use crate::sandbox::{valid_file_name, Sandbox, MAX_RUN_FILES};
use crate::steps::Step;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use shared::course::{Runtime, TftpServerCheck, TrafficCheck};
use shared::lang::Lang;
use shared::wire::{ClientMsg, Refusal, RunRequest, ServerMsg, Signal};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Largest message the page may send (a run's files included).
pub const MAX_MESSAGE: usize = shared::wire::MAX_CLIENT_MESSAGE;
/// Messages waiting for one page; past it, whoever sends waits (a flooding program's pipe fills).
pub const OUTBOX: usize = 256;
/// A page that takes no message for this long is disconnected: its runs end and free their
/// slots, and nothing the server owes anyone else waits for it.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Messages queued together that a connection's writer sends in one write, at most.
const BATCH: usize = 64;
/// Pages one student may have connected at once (tabs, a second device).
pub const MAX_PAGES: usize = 4;

/// What a `SaveCode` or `SaveOutput` brings.
enum Work {
    Code(String),
    Output(String),
}

/// This connection's runs, from the moment each is asked for until it has exited.
type Runs = Arc<Mutex<HashMap<u32, Arc<RunCtl>>>>;

/// Every session by token.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Shared>>>);

/// What outlives a connection: the sandbox, the student's run slots, who is connected.
pub struct Shared {
    /// The student's row in the class database.
    student: i64,
    sandbox: tokio::sync::Mutex<Option<Arc<Sandbox>>>,
    slots: Slots,
    /// Bumped at every connect, so a grace timer knows whether the student came back.
    epoch: std::sync::atomic::AtomicU64,
    /// Each open connection's outbox and runs, by connection number.
    conns: Mutex<HashMap<u64, (mpsc::Sender<ServerMsg>, Runs)>>,
    /// Which lesson the student has open, and when they last did something.
    presence: Mutex<roster::Presence>,
    /// Rate limits: runs, and every message.
    buckets: Mutex<(Bucket, Bucket)>,
    /// Set when the session is closed for good (the teacher removed the student, or a restore
    /// gave its token to another student): every connection of the session closes.
    removed: tokio::sync::watch::Sender<bool>,
    /// The language of the student's page (the latest `Language`; at first the class's):
    /// what the server says to the student is in it.
    lang: Mutex<Lang>,
}

impl Shared {
    pub(crate) fn lang(&self) -> Lang {
        *self.lang.lock().expect("lang poisoned")
    }

    /// Whether any page of this student is connected now.
    pub(crate) fn connected(&self) -> bool {
        !self.conns.lock().expect("conns poisoned").is_empty()
    }
}

impl Sessions {
    fn attach(
        &self,
        token: &str,
        student: i64,
        app: &App,
        out: &mpsc::Sender<ServerMsg>,
        runs: &Runs,
    ) -> Result<(Arc<Shared>, u64), Refusal> {
        let class = &app.class;
        let shared = self
            .0
            .lock()
            .expect("sessions poisoned")
            .entry(token.to_string())
            .or_insert_with(|| {
                Arc::new(Shared {
                    student,
                    sandbox: Default::default(),
                    slots: Slots::new(app.runs_per_student),
                    epoch: Default::default(),
                    conns: Default::default(),
                    presence: Default::default(),
                    buckets: Mutex::new((Bucket::full(class.run_rate), Bucket::full(class.message_rate))),
                    removed: tokio::sync::watch::Sender::new(false),
                    lang: Mutex::new(class.default_lang()),
                })
            })
            .clone();
        let conn = {
            let mut conns = shared.conns.lock().expect("conns poisoned");
            if conns.len() >= MAX_PAGES {
                return Err(Refusal::TooManyPages { max: MAX_PAGES });
            }
            let conn = shared.epoch.fetch_add(1, Ordering::SeqCst);
            conns.insert(conn, (out.clone(), runs.clone()));
            conn
        };
        shared.presence.lock().expect("presence poisoned").touch();
        Ok((shared, conn))
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
    /// This connection's number within the session.
    conn: u64,
    /// This connection's runs, queued or going.
    runs: Runs,
    /// When the frame being handled was read (`steps::now_ns`), for the `steps` tracing mode.
    received: u64,
}

pub async fn serve(socket: WebSocket, app: Arc<App>, token: Option<String>, from: std::net::IpAddr) {
    app.open_sockets.fetch_add(1, Ordering::SeqCst);
    let counted = app.clone();
    connection(socket, app, token, from).await;
    counted.open_sockets.fetch_sub(1, Ordering::SeqCst);
}

/// Tells a page why it was refused, then closes its socket.
async fn refuse(out: mpsc::Sender<ServerMsg>, writer: tokio::task::JoinHandle<()>, reason: Refusal) {
    tracing::info!("a page was refused: {reason:?}");
    let _ = out.send(ServerMsg::Refused { reason }).await;
    drop(out);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
}

/// One WebSocket from the page, from the first message to the close.
async fn connection(socket: WebSocket, app: Arc<App>, token: Option<String>, from: std::net::IpAddr) {
    let id = token.filter(|t| crate::class::valid_token(t)).unwrap_or_else(|| crate::class::random_hex(9));
    let (mut sink, mut stream) = socket.split();
    let (out, mut rx) = mpsc::channel::<ServerMsg>(OUTBOX);
    // Pages are pinged (browsers answer by themselves), and one the server has heard nothing
    // from for `app.idle_timeout` is closed: a machine that vanished keeps no connection open.
    let idle_timeout = app.idle_timeout;
    let ping_every = idle_timeout * 2 / 5;
    let mut writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let text = |msg: ServerMsg| Message::Text(serde_json::to_string(&msg).expect("wire types serialize").into());
        loop {
            let frame = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => text(msg),
                    None => break,
                },
                _ = ping.tick() => Message::Ping(Default::default()),
            };
            // What else is queued already goes in the same write (a recorded run's events come
            // in bursts): one system call and one wake-up of the page for many messages.
            let batch = async {
                sink.feed(frame).await?;
                for _ in 1..BATCH {
                    match rx.try_recv() {
                        Ok(msg) => sink.feed(text(msg)).await?,
                        Err(_) => break,
                    }
                }
                sink.flush().await
            };
            match tokio::time::timeout(SEND_TIMEOUT, batch).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::info!("a page read nothing for {SEND_TIMEOUT:?}: disconnected");
                    return;
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await; // every sender is gone: we are done
    });
    let mut stopping = app.stopping.subscribe();
    let student = if *stopping.borrow() { Err(Refusal::Stopping) } else { app.class.admit_session(from, &id).await };
    let student = match student {
        Ok(s) => s,
        Err(reason) => return refuse(out, writer, reason).await,
    };
    tracing::info!(student = student.id, "connected");
    let _ = app.class.db.touch(student.id).await;
    let runs = Runs::default();
    let (shared, conn) = match app.sessions.attach(&id, student.id, &app, &out, &runs) {
        Ok(attached) => attached,
        Err(reason) => return refuse(out, writer, reason).await,
    };
    let mut removed = shared.removed.subscribe();
    let mut session = Session { id: id.clone(), app, out, shared, conn, runs, received: 0 };
    // The hand as the class database keeps it: a reloaded page shows what the teacher sees.
    session.send(ServerMsg::Hello { session: id.clone(), hand: student.hand_ms.is_some() }).await;
    let mut stopped = false;
    let mut writer_gone = false;
    loop {
        let msg = tokio::select! {
            msg = tokio::time::timeout(idle_timeout, stream.next()) => match msg {
                Ok(msg) => msg,
                Err(_) => {
                    tracing::info!("a page said nothing for {idle_timeout:?}, not even to a ping: disconnected");
                    break;
                }
            },
            _ = stopping.wait_for(|s| *s) => { stopped = true; break }
            // Removed, or its token restored to another student: let the page read what it
            // was told, then close.
            _ = removed.wait_for(|r| *r) => { stopped = true; break }
            // The page stopped reading (or the socket broke): this connection is over.
            _ = &mut writer => { writer_gone = true; break }
        };
        let Some(Ok(msg)) = msg else { break };
        match msg {
            Message::Text(text) => {
                session.received = crate::steps::now_ns();
                session.handle(text.as_str()).await
            }
            Message::Binary(_) => {
                let why = session.say("服务器不理解二进制消息：请发送 JSON 文本".into(), "binary messages are not understood: send JSON text".into());
                session.error(None, why).await
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    tracing::info!(student = session.shared.student, "disconnected");
    let student = session.shared.student;
    let app = session.app.clone();
    session.leave().await;
    let _ = app.class.db.touch(student).await;
    if stopped && !writer_gone {
        // Let the writer deliver what is queued (the stopping notice) and close the socket.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    } else if !writer_gone {
        writer.abort();
    }
}

impl Session {
    /// Kills this connection's programs now; closes the sandbox after the grace period
    /// unless the student reconnected.
    async fn leave(self) {
        let others = {
            let mut conns = self.shared.conns.lock().expect("conns poisoned");
            conns.remove(&self.conn);
            conns.len()
        };
        // Queued runs leave their queue and never start; running ones end (see run::drive).
        for ctl in self.runs.lock().expect("runs poisoned").values() {
            ctl.stop(Stop::Left);
        }
        if others > 0 {
            return;
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        let (app, id, shared) = (self.app, self.id, self.shared);
        if *app.stopping.borrow() {
            return; // the server closes every sandbox itself
        }
        tokio::spawn(async move {
            tokio::time::sleep(app.grace).await;
            if shared.connected() || shared.epoch.load(Ordering::SeqCst) != epoch {
                return; // the student came back
            }
            {
                // Only this session: the teacher may have removed it and the page joined anew.
                let mut all = app.sessions.0.lock().expect("sessions poisoned");
                if all.get(&id).is_some_and(|s| Arc::ptr_eq(s, &shared)) {
                    all.remove(&id);
                }
            }
            let sandbox = shared.sandbox.lock().await.take();
            if let Some(sandbox) = sandbox {
                sandbox.close().await;
            }
            tracing::info!(student = shared.student, "session ended");
        });
    }

    async fn send(&self, msg: ServerMsg) {
        let _ = self.out.send(msg).await;
    }

    async fn error(&self, run_id: Option<u32>, message: impl Into<String>) {
        self.send(ServerMsg::Error { run_id, message: message.into() }).await;
    }

    /// The wording in the student's language.
    fn say(&self, zh: String, en: String) -> String {
        self.shared.lang().pick(zh, en)
    }

    fn no_cell(&self, lesson: &str, cell: &str) -> String {
        self.say(format!("课程 '{lesson}' 里没有单元格 '{cell}'"), format!("no cell '{cell}' in lesson '{lesson}'"))
    }

    fn not_running(&self, run_id: u32) -> String {
        self.say(format!("运行 {run_id} 没有在运行"), format!("run {run_id} is not running"))
    }

    async fn handle(&mut self, text: &str) {
        if text.len() > MAX_MESSAGE {
            let n = text.len();
            let msg = self.say(format!("消息太大（{n} 字节；上限是 {MAX_MESSAGE}）"), format!("message too large ({n} bytes; the limit is {MAX_MESSAGE})"));
            return self.error(None, msg).await;
        }
        let msg = match serde_json::from_str::<ClientMsg>(text) {
            Ok(m) => m,
            Err(e) => return self.error(None, self.say(format!("消息格式不对：{e}"), format!("malformed message: {e}"))).await,
        };
        let run_id = match &msg {
            ClientMsg::Run(r) => Some(r.run_id),
            ClientMsg::Check { run_id, .. } | ClientMsg::CheckTftp { run_id, .. } => Some(*run_id),
            ClientMsg::Stdin { run_id, .. } | ClientMsg::CloseStdin { run_id } | ClientMsg::Signal { run_id, .. } => Some(*run_id),
            _ => None,
        };
        let is_run = matches!(msg, ClientMsg::Run(_) | ClientMsg::Check { .. } | ClientMsg::CheckTftp { .. });
        if let ClientMsg::Language { lang } = msg {
            // Not rate-limited: it costs nothing, and a refusal would be said in the old language.
            *self.shared.lang.lock().expect("lang poisoned") = lang;
            return;
        }
        if let Err(why) = self.within_rate(is_run) {
            return self.error(run_id, why).await;
        }
        self.shared.presence.lock().expect("presence poisoned").touch();
        match msg {
            ClientMsg::Run(req) => {
                let id = req.run_id;
                if let Err(e) = self.start_run(req, Special::Run).await {
                    self.error(Some(id), e.to_string()).await;
                }
            }
            ClientMsg::CheckTftp { run_id, lesson, cell, code } => {
                if let Err(e) = self.check_tftp(run_id, &lesson, &cell, code).await {
                    self.error(Some(run_id), e.to_string()).await;
                }
            }
            ClientMsg::Check { run_id, lesson, cell, code } => {
                if let Err(e) = self.check_exercise(run_id, lesson, cell, code).await {
                    self.error(Some(run_id), e.to_string()).await;
                }
            }
            ClientMsg::Viewing { lesson } => {
                let lesson = lesson.filter(|l| l.len() <= 64);
                self.shared.presence.lock().expect("presence poisoned").lesson = lesson;
            }
            ClientMsg::ExerciseResult { lesson, cell, passed } => {
                // Only exercises of the course being served: made-up names never reach the grid.
                if let Err(why) = self.known_cell(&lesson, &cell, true) {
                    return self.error(None, why).await;
                }
                // A server exercise's verdict is the server's own (recorded at its Check), so
                // a page cannot claim one.
                let on_server = self.app.course().lesson(&lesson).and_then(|l| l.cells().find(|c| c.id == cell)).is_some_and(|c| c.runtime == Runtime::Server);
                if on_server {
                    let why = self.say(
                        format!("练习 '{cell}' 在服务器上检查，结果由服务器自己记录"),
                        format!("exercise '{cell}' is checked on the server, which records its result itself"),
                    );
                    return self.error(None, why).await;
                }
                if let Err(e) = self.app.class.db.record_attempt(self.shared.student, &lesson, &cell, passed).await {
                    tracing::error!("cannot record an exercise result: {e:#}");
                    let why = self.say(format!("你的结果没有保存：{e:#}"), format!("your result was not saved: {e:#}"));
                    self.error(None, why).await;
                }
            }
            ClientMsg::SaveCode { lesson, cell, code } => self.save_work(lesson, cell, Work::Code(code)).await,
            ClientMsg::SaveOutput { lesson, cell, output } => self.save_work(lesson, cell, Work::Output(output)).await,
            ClientMsg::RaiseHand { raised } => {
                if let Err(e) = self.app.class.db.set_hand(self.shared.student, raised).await {
                    let why = self.say(format!("举手没有成功：{e:#}"), format!("your hand was not raised: {e:#}"));
                    self.error(None, why).await;
                }
            }
            ClientMsg::Language { .. } => {}
            ClientMsg::SolutionOpened { lesson, cell } => {
                if let Err(why) = self.known_cell(&lesson, &cell, true) {
                    return self.error(None, why).await;
                }
                if let Err(e) = self.app.class.db.solution_opened(self.shared.student, &lesson, &cell).await {
                    tracing::error!("cannot record an opened solution: {e:#}");
                }
            }
            ClientMsg::Stdin { run_id, data } => self.stdin(run_id, StdinCmd::Data(data)).await,
            ClientMsg::CloseStdin { run_id } => self.stdin(run_id, StdinCmd::Close).await,
            ClientMsg::Signal { run_id, signal } => {
                let ctl = self.runs.lock().expect("runs poisoned").get(&run_id).cloned();
                let Some(ctl) = ctl else {
                    return self.error(Some(run_id), self.not_running(run_id)).await;
                };
                ctl.stop(match signal {
                    Signal::Interrupt => Stop::Page(libc::SIGINT),
                    Signal::Terminate => Stop::Page(libc::SIGTERM),
                    Signal::Kill => Stop::Kill,
                });
            }
        }
    }

    /// Whether `lesson` of the course being served has a cell `cell` (an exercise, when
    /// `exercise`): made-up names never reach the class database.
    fn known_cell(&self, lesson: &str, cell: &str, exercise: bool) -> Result<(), String> {
        let course = self.app.course();
        let exists = course.lesson(lesson).is_some_and(|l| l.cells().any(|c| c.id == cell && (!exercise || c.exercise.is_some())));
        if exists {
            return Ok(());
        }
        let (lesson, cell): (String, String) = (lesson.chars().take(64).collect(), cell.chars().take(64).collect());
        Err(match exercise {
            true => self.say(format!("课程 '{lesson}' 里没有练习 '{cell}'"), format!("no exercise '{cell}' in lesson '{lesson}'")),
            false => self.no_cell(&lesson, &cell),
        })
    }

    /// Keeps the student's code or output of a lesson cell (`class::work`, bounded).
    async fn save_work(&self, lesson: String, cell: String, work: Work) {
        if let Err(why) = self.known_cell(&lesson, &cell, false) {
            return self.error(None, why).await;
        }
        let db = &self.app.class.db;
        let student = self.shared.student;
        let saved = match &work {
            Work::Code(code) => db.save_code(student, &lesson, &cell, code).await,
            Work::Output(output) => db.save_output(student, &lesson, &cell, output).await,
        };
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => self.send(ServerMsg::WorkRefused { lesson, cell, message: refused.said(self.shared.lang()) }).await,
            Err(e) => {
                tracing::error!("cannot keep a student's work: {e:#}");
                let message = self.say(format!("班级数据库出错：{e:#}"), format!("the class database failed: {e:#}"));
                self.send(ServerMsg::WorkRefused { lesson, cell, message }).await
            }
        }
    }

    /// Takes a token from the student's buckets, or says why not.
    fn within_rate(&self, is_run: bool) -> Result<(), String> {
        let class = &self.app.class;
        let mut buckets = self.shared.buckets.lock().expect("buckets poisoned");
        if !buckets.1.take(class.message_rate) {
            let n = class.message_rate.per_sec;
            return Err(self.say(
                format!("消息太多：每秒最多 {n} 条；这一条没有处理，请稍后再试"),
                format!("too many messages: at most {n} a second; this one was not handled, try again in a moment"),
            ));
        }
        if is_run && !buckets.0.take(class.run_rate) {
            let n = class.run_rate.per_sec;
            return Err(self.say(
                format!("启动的程序太多：每秒最多 {n} 个；这一个没有运行，请稍后再试"),
                format!("too many programs started: at most {n} a second; this one did not run, try again in a moment"),
            ));
        }
        Ok(())
    }

    async fn stdin(&self, run_id: u32, cmd: StdinCmd) {
        let tx = self.runs.lock().expect("runs poisoned").get(&run_id).map(|h| h.stdin.clone());
        let Some(tx) = tx else {
            return self.error(Some(run_id), self.not_running(run_id)).await;
        };
        // Closing the input of a program that stopped reading it (or is ending) loses nothing:
        // only typed data that cannot be delivered is worth saying.
        let is_data = matches!(cmd, StdinCmd::Data(_));
        if tx.try_send(cmd).is_err() && is_data {
            let why = self.say("输入没有送达：程序没有在读取输入".into(), "input not delivered: the program is not reading its input".into());
            self.error(Some(run_id), why).await;
        }
    }

    /// A "tftp-server" exercise of the course: the student's code runs as the cell's file and
    /// the built-in client checks it (see `tftp_check`).
    async fn check_tftp(&mut self, run_id: u32, lesson: &str, cell: &str, code: String) -> anyhow::Result<()> {
        let course = self.app.course();
        // The exercise as the student reads it: its checks' messages in the page's language.
        let found = course.lesson_in(lesson, self.shared.lang().code()).and_then(|l| l.cells().find(|c| c.id == cell).cloned());
        let Some(found) = found else { anyhow::bail!(self.no_cell(lesson, cell)) };
        let Some(spec) = found.exercise.as_ref().and_then(|e| e.tftp_server.clone()) else {
            anyhow::bail!(self.say(format!("课程 '{lesson}' 的单元格 '{cell}' 不是 TFTP 服务器练习"), format!("cell '{cell}' of lesson '{lesson}' is not a TFTP server exercise")));
        };
        let entry = found.file.clone().unwrap_or_else(|| format!("{}.py", found.id));
        let files = vec![shared::wire::FileSpec { name: entry.clone(), text: code }];
        let req = RunRequest { run_id, files, entry, args: Vec::new(), watch_listen: true };
        self.start_run(req, Special::Tftp { spec, lesson: lesson.to_string(), cell: cell.to_string() }).await
    }

    /// A server exercise of the course: the student's code as the cell's file, the course's
    /// checks after it (see `exercise_check`); the verdict is recorded here, not by the page.
    async fn check_exercise(&mut self, run_id: u32, lesson: String, cell: String, code: String) -> anyhow::Result<()> {
        let course = self.app.course();
        let found = course.lesson_in(&lesson, self.shared.lang().code()).and_then(|l| l.cells().find(|c| c.id == cell).cloned());
        let Some(found) = found else { anyhow::bail!(self.no_cell(&lesson, &cell)) };
        let Some(exercise) = found.exercise.as_ref().filter(|e| e.tftp_server.is_none()) else {
            anyhow::bail!(self.say(
                format!("课程 '{lesson}' 的单元格 '{cell}' 不是用检查来判定的练习"),
                format!("cell '{cell}' of lesson '{lesson}' is not an exercise checked by its checks")
            ));
        };
        if found.runtime != Runtime::Server {
            anyhow::bail!(self.say(format!("练习 '{cell}' 在浏览器里运行，不在服务器上"), format!("exercise '{cell}' runs in the browser, not on the server")));
        }
        let (checks, traffic) = (exercise.check.clone(), exercise.traffic);
        let entry = found.file.clone().unwrap_or_else(|| format!("{}.py", found.id));
        let files = vec![shared::wire::FileSpec { name: entry.clone(), text: code }];
        let req = RunRequest { run_id, files, entry, args: Vec::new(), watch_listen: false };
        self.start_run(req, Special::Check { checks, traffic, lesson, cell }).await
    }

    async fn start_run(&mut self, req: RunRequest, special: Special) -> anyhow::Result<()> {
        let id = req.run_id;
        if !valid_file_name(&req.entry) || !req.entry.ends_with(".py") {
            let entry = &req.entry;
            anyhow::bail!(self.say(format!("入口 '{entry}' 必须是以 .py 结尾的简单文件名"), format!("entry '{entry}' must be a plain file name ending in .py")));
        }
        if req.files.len() > MAX_RUN_FILES {
            let n = req.files.len();
            anyhow::bail!(self.say(format!("一次运行最多带 {MAX_RUN_FILES} 个文件；这一次有 {n} 个"), format!("a run may bring at most {MAX_RUN_FILES} files; this one has {n}")));
        }
        if let Some(bad) = req.files.iter().find(|f| !valid_file_name(&f.name)) {
            let name = &bad.name;
            anyhow::bail!(self.say(
                format!("'{name}' 不是简单的文件名（字母、数字、'-'、'_'、'.'）"),
                format!("'{name}' is not a plain file name (letters, digits, '-', '_', '.')")
            ));
        }
        let (stdin_tx, stdin_rx) = mpsc::channel(64);
        let steps = crate::steps::Stamps::new(id, self.received);
        let ctl = Arc::new(RunCtl::new(req.entry.clone(), stdin_tx, self.shared.lang(), steps));
        {
            let mut runs = self.runs.lock().expect("runs poisoned");
            if runs.contains_key(&id) {
                anyhow::bail!(self.say(format!("运行 {id} 已经在运行"), format!("run {id} is already running")));
            }
            runs.insert(id, ctl.clone());
        }
        let (app, shared, runs, out) = (self.app.clone(), self.shared.clone(), self.runs.clone(), self.out.clone());
        let files: Vec<(String, String)> = req.files.into_iter().map(|f| (f.name, f.text)).collect();
        ctl.stamp(Step::Accepted);
        tokio::spawn(async move {
            let result: Result<(), String> = async {
                // The student's own queue first, so their extra runs hold no server slot.
                let _mine = shared.slots.wait(id, &out, &ctl).await?;
                let _slot = app.run_slots.wait(id, &out, &ctl).await?;
                ctl.set_phase(Phase::Starting);
                let sandbox = sandbox_of(&app, &shared, ctl.lang).await?;
                // A stop that came while the sandbox started is not lost.
                if let Some(stop) = ctl.stopping() {
                    return Err(crate::run::queued_stop(&stop, ctl.lang));
                }
                match special {
                    Special::Run => {}
                    Special::Tftp { spec, lesson, cell } => {
                        ctl.set_phase(Phase::Running);
                        let check = tftp_check::check(sandbox, id, files, &req.entry, spec.port, stdin_rx, out.clone(), ctl.clone());
                        let passed = check.await.map_err(|e| format!("{e:#}"))?;
                        return record(&app, &shared, &out, &lesson, &cell, passed).await;
                    }
                    Special::Check { checks, traffic, lesson, cell } => {
                        ctl.set_phase(Phase::Running);
                        let check = exercise_check::check(sandbox, id, files, &req.entry, &checks, traffic, stdin_rx, out.clone(), ctl.clone());
                        // The sandbox's own words (it ended…) stay as they came, framed in the page's language.
                        let report = check.await.map_err(|e| ctl.lang.pick(format!("检查没有完成：{e:#}"), format!("{e:#}")))?;
                        return record(&app, &shared, &out, &lesson, &cell, report.passed).await;
                    }
                }
                ctl.stamp(Step::SandboxReady);
                let io = sandbox
                    .spawn(id, &files, &req.entry, &req.args, req.watch_listen)
                    .await
                    .map_err(|e| {
                        let e = format!("{e:#}");
                        ctl.lang.pick(format!("程序没有启动：{e}"), e)
                    })?;
                ctl.stamp(Step::Spawned);
                ctl.set_phase(Phase::Running);
                crate::run::drive(sandbox.clone(), id, io, stdin_rx, out.clone(), ctl.clone()).await;
                Ok(())
            }
            .await;
            ctl.set_phase(Phase::Ended);
            if let Err(message) = result {
                let _ = out.try_send(ServerMsg::Error { run_id: Some(id), message });
            }
            runs.lock().expect("runs poisoned").remove(&id);
        });
        Ok(())
    }
}

/// What a run is for: a program, or the check of an exercise whose verdict the server records.
enum Special {
    Run,
    Tftp { spec: TftpServerCheck, lesson: String, cell: String },
    Check { checks: String, traffic: Option<TrafficCheck>, lesson: String, cell: String },
}

/// Records the server's own verdict of an exercise as an attempt in the class database.
async fn record(app: &App, shared: &Shared, out: &mpsc::Sender<ServerMsg>, lesson: &str, cell: &str, passed: bool) -> Result<(), String> {
    if let Err(e) = app.class.db.record_attempt(shared.student, lesson, cell, passed).await {
        tracing::error!("cannot record an exercise result: {e:#}");
        let message = shared.lang().pick(format!("你的结果没有保存：{e:#}"), format!("your result was not saved: {e:#}"));
        let _ = out.send(ServerMsg::Error { run_id: None, message }).await;
    }
    Ok(())
}

/// The session's sandbox, started on first use and again if it ended; never for a session
/// whose pages have all left (nothing would close it).
/// Fails with what to tell the student, in `lang`.
async fn sandbox_of(app: &App, shared: &Shared, lang: Lang) -> Result<Arc<Sandbox>, String> {
    let mut slot = shared.sandbox.lock().await;
    if !shared.connected() {
        return Err(lang.pick("程序启动前页面已经离开", "the page left before the program started").into());
    }
    if let Some(s) = slot.as_ref().filter(|s| s.is_alive()) {
        return Ok(s.clone());
    }
    // The teacher's command to fix it stays as the server wrote it.
    let cfg = app.sandbox.as_ref().map_err(|why| lang.pick(format!("这台班级服务器不能运行服务器单元格：{why}"), why.clone()))?;
    // Named at random, not by the token: the name is seen in cgroup paths and logs.
    let sandbox = Sandbox::start(cfg, &crate::class::random_hex(8)).await;
    let sandbox = Arc::new(sandbox.map_err(|e| lang.pick(format!("你的沙箱没有启动：{e:#}"), format!("{e:#}")))?);
    *slot = Some(sandbox.clone());
    Ok(sandbox)
}
