//! The state every request shares: the course and how (or why not) to make sandboxes.

use crate::course::Course;
use crate::sandbox;
use std::sync::{Arc, RwLock};

pub struct App {
    course: RwLock<Arc<Course>>,
    /// How to start sandboxes, or why server cells cannot run on this machine.
    pub sandbox: Result<sandbox::Config, String>,
}

impl App {
    pub fn new(course: Course, sandbox: Result<sandbox::Config, String>) -> Arc<App> {
        Arc::new(App { course: RwLock::new(Arc::new(course)), sandbox })
    }

    pub fn course(&self) -> Arc<Course> {
        self.course.read().expect("course lock poisoned").clone()
    }
}
