//! The state every request shares: the course, how (or why not) to make sandboxes, the
//! class (students, teacher, database), and whether the server is stopping.

use crate::class::{db::Db, Class};
use crate::course::Course;
use crate::run::Slots;
use crate::sandbox;
use crate::session::Sessions;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Programs running at once on a server, by default.
pub const MAX_RUNS: usize = 32;
/// Programs one student may run at once, by default.
pub const RUNS_PER_STUDENT: usize = 8;

/// How a class server is set up, from `serve`'s flags, environment and settings file: the
/// App is built from these (and its course, sandbox and database) once.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Programs running at once on the server.
    pub max_runs: usize,
    /// Programs one student may run at once.
    pub runs_per_student: usize,
    /// Students must join with this code (none: anyone who opens the page may).
    pub access_code: Option<String>,
    pub max_students: usize,
    /// The class's name on the join page.
    pub title: String,
    /// The class's language (`zh`, `en`) for pages whose student chose none; `None`: each
    /// page follows its browser.
    pub lang: Option<String>,
    /// The teacher's token; a fresh random one when `None`.
    pub teacher_token: Option<String>,
    /// Other sites whose pages may open sessions and post (normalized origins).
    pub allowed_origins: Vec<String>,
    /// How long a student's sandbox outlives their last page.
    pub grace: Duration,
    /// A page's WebSocket that says nothing for this long (not even a pong) is closed.
    pub idle_timeout: Duration,
}

impl Default for Settings {
    /// Classroom defaults: 32 programs at once, 8 per student, 60 students, no access code,
    /// 60 s grace, 75 s of silence.
    fn default() -> Settings {
        Settings {
            max_runs: MAX_RUNS,
            runs_per_student: RUNS_PER_STUDENT,
            access_code: None,
            max_students: crate::class::MAX_STUDENTS,
            title: "classbook".into(),
            lang: None,
            teacher_token: None,
            allowed_origins: Vec::new(),
            grace: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
        }
    }
}

pub struct App {
    course: RwLock<Arc<Course>>,
    /// How to start sandboxes, or why server cells cannot run on this machine.
    pub sandbox: Result<sandbox::Config, String>,
    /// Students' sessions by token, kept for `grace` after their last connection closes.
    pub sessions: Sessions,
    pub grace: Duration,
    /// A page's WebSocket that says nothing for this long (not even a pong) is closed.
    pub idle_timeout: Duration,
    /// Programs running at once on this server; more wait in a queue.
    pub run_slots: Slots,
    /// Programs one student may run at once; more wait in their own queue.
    pub runs_per_student: usize,
    pub class: Class,
    /// Turns true when the server begins to stop: sessions end, new ones are refused.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Student WebSockets open now (a stop waits for them to say goodbye).
    pub open_sockets: std::sync::atomic::AtomicUsize,
    /// Input and Stop for the Python workers of pages without shared memory (plain http).
    pub relay: crate::relay::Relay,
    /// Sites other than the server's own host whose pages may open sessions and post
    /// (`--allowed-origin`), as `http::origin::normalize` writes them.
    pub allowed_origins: Vec<String>,
}

impl App {
    /// Classroom defaults (`Settings::default`) and a class database in memory (for tests;
    /// `serve` opens the class database file and uses `App::with`).
    pub fn new(course: Course, sandbox: Result<sandbox::Config, String>) -> App {
        App::with(course, sandbox, Db::in_memory(), Settings::default())
    }

    /// The server for `course`, making sandboxes as `sandbox` says (or saying why it cannot),
    /// keeping the class in `db`, set up as `settings` say.
    pub fn with(course: Course, sandbox: Result<sandbox::Config, String>, db: Db, settings: Settings) -> App {
        let mut class = Class::new(db);
        class.access_code = settings.access_code.filter(|c| !c.is_empty());
        class.max_students = settings.max_students;
        class.title = settings.title;
        class.lang = settings.lang;
        if let Some(token) = settings.teacher_token {
            class.teacher_token = token;
        }
        App {
            course: RwLock::new(Arc::new(course)),
            sandbox,
            sessions: Sessions::default(),
            grace: settings.grace,
            idle_timeout: settings.idle_timeout,
            run_slots: Slots::new(settings.max_runs),
            runs_per_student: settings.runs_per_student,
            class,
            stopping: tokio::sync::watch::Sender::new(false),
            open_sockets: Default::default(),
            relay: Default::default(),
            allowed_origins: settings.allowed_origins,
        }
    }

    pub fn course(&self) -> Arc<Course> {
        self.course.read().expect("course lock poisoned").clone()
    }

    /// Serves `course` from now on (a reload of the course directory).
    pub fn set_course(&self, course: Course) {
        *self.course.write().expect("course lock poisoned") = Arc::new(course);
    }

    /// Stops the class gracefully: new sessions are refused, every page is told, each
    /// session ends (its programs are killed), every sandbox is closed, and the database is
    /// flushed and closed.
    pub async fn shut_down(&self) {
        let notice = "the class server is stopping: your work in the browser is kept; reload when it is back".to_string();
        let told = self.sessions.broadcast(shared::wire::ServerMsg::Notice { message: notice }).await;
        tracing::info!("stopping: told {told} connected page(s)");
        self.stopping.send_replace(true);
        self.sessions.close_all().await;
        // Each session closes its socket once its notice is out; wait for them (a little).
        for _ in 0..50 {
            if self.open_sockets.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match self.class.db.close().await {
            Ok(()) => tracing::info!("class database flushed and closed"),
            Err(e) => tracing::error!("{e:#}"),
        }
    }
}
