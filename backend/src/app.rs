//! The state every request shares: the course and how (or why not) to make sandboxes.

use crate::course::Course;
use crate::run::Slots;
use crate::sandbox;
use crate::session::Sessions;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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
            run_slots: Slots::new(32),
            runs_per_student: 8,
        }
    }

    pub fn course(&self) -> Arc<Course> {
        self.course.read().expect("course lock poisoned").clone()
    }
}
