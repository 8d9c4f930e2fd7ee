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
    /// Classroom defaults: 60 s grace, 32 programs at once, 8 per student; a class with no
    /// access code whose data lives in memory (`serve` opens the class database file).
    pub fn new(course: Course, sandbox: Result<sandbox::Config, String>) -> App {
        App {
            course: RwLock::new(Arc::new(course)),
            sandbox,
            sessions: Sessions::default(),
            grace: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            run_slots: Slots::new(MAX_RUNS),
            runs_per_student: RUNS_PER_STUDENT,
            class: Class::new(Db::in_memory()),
            stopping: tokio::sync::watch::Sender::new(false),
            open_sockets: Default::default(),
            relay: Default::default(),
            allowed_origins: Vec::new(),
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
