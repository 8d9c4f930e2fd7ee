//! The state every request shares: the course and how (or why not) to make sandboxes.

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
    /// Programs running at once on this server; more wait in a queue.
    pub run_slots: Slots,
    /// Programs one student may run at once; more wait in their own queue.
    pub runs_per_student: usize,
}

impl App {
    /// Classroom defaults: 60 s grace, 32 programs at once, 8 per student.
    pub fn new(course: Course, sandbox: Result<sandbox::Config, String>) -> App {
        App {
            course: RwLock::new(Arc::new(course)),
            sandbox,
            sessions: Sessions::default(),
            grace: Duration::from_secs(60),
            run_slots: Slots::new(MAX_RUNS),
            runs_per_student: RUNS_PER_STUDENT,
        }
    }

    pub fn course(&self) -> Arc<Course> {
        self.course.read().expect("course lock poisoned").clone()
    }
}
