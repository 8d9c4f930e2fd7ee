//! The teacher endpoints (`/api/teacher/*`), typed; every call carries the teacher's token
//! as `Authorization: Bearer`.

use crate::api::{fetch, fetch_json, HttpError};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Student {
    pub id: u64,
    pub name: String,
    pub online: bool,
    pub lesson: Option<String>,
    pub last_active_ms: f64,
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub runs: Vec<Run>,
    /// When the student raised their hand (until the teacher answers).
    #[serde(default)]
    pub hand_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Run {
    pub run_id: u32,
    pub entry: String,
    pub state: String,
    pub cpu_ms: Option<u64>,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Exercise {
    pub lesson: String,
    pub cell: String,
    pub lesson_title: String,
    /// The heading above the exercise in its lesson.
    pub title: String,
    /// Students who passed / tried it, and checks made by the class.
    pub passed: u32,
    pub tried: u32,
    pub attempts: u32,
    pub first_pass_ms: Option<f64>,
}

impl Exercise {
    /// `lesson/cell`, the key of a result.
    pub fn key(&self) -> String {
        format!("{}/{}", self.lesson, self.cell)
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProgressRow {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub results: HashMap<String, String>,
    #[serde(default)]
    pub attempts: HashMap<String, u32>,
    #[serde(default)]
    pub first_pass_ms: HashMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Progress {
    pub exercises: Vec<Exercise>,
    pub students: Vec<ProgressRow>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CourseError {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CourseStatus {
    pub errors: Vec<CourseError>,
    pub lessons: usize,
}

pub async fn students(token: &str) -> Result<Vec<Student>, HttpError> {
    fetch_json("GET", "/api/teacher/students", None, Some(token)).await
}

pub async fn progress(token: &str) -> Result<Progress, HttpError> {
    fetch_json("GET", "/api/teacher/progress", None, Some(token)).await
}

pub async fn progress_csv(token: &str) -> Result<String, HttpError> {
    fetch("GET", "/api/teacher/progress.csv", None, Some(token)).await
}

pub async fn course(token: &str) -> Result<CourseStatus, HttpError> {
    fetch_json("GET", "/api/teacher/course", None, Some(token)).await
}

/// Stops one program of a student, or all of them (`run_id: None`).
pub async fn stop(token: &str, student: u64, run_id: Option<u32>) -> Result<(), HttpError> {
    let body = match run_id {
        Some(r) => serde_json::json!({ "student": student, "run_id": r }),
        None => serde_json::json!({ "student": student }),
    };
    fetch("POST", "/api/teacher/stop", Some(body.to_string()), Some(token)).await.map(drop)
}

pub async fn message(token: &str, text: &str) -> Result<(), HttpError> {
    let body = serde_json::json!({ "message": text });
    fetch("POST", "/api/teacher/message", Some(body.to_string()), Some(token)).await.map(drop)
}

pub async fn goto(token: &str, lesson: &str) -> Result<(), HttpError> {
    let body = serde_json::json!({ "lesson": lesson });
    fetch("POST", "/api/teacher/goto", Some(body.to_string()), Some(token)).await.map(drop)
}

/// One cell of a student's kept work.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CellWork {
    pub lesson: String,
    pub cell: String,
    pub code: String,
    pub output: String,
    pub at_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StudentWork {
    pub id: u64,
    pub name: String,
    pub cells: Vec<CellWork>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SolutionView {
    pub student: u64,
    pub name: String,
    pub lesson: String,
    pub cell: String,
    pub at_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Solutions {
    /// Lessons whose solutions are hidden.
    pub hidden: Vec<String>,
    pub opened: Vec<SolutionView>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RestoreCode {
    pub code: String,
    pub minutes: u32,
}

pub async fn work(token: &str, student: u64) -> Result<StudentWork, HttpError> {
    fetch_json("GET", &format!("/api/teacher/work?student={student}"), None, Some(token)).await
}

async fn post(token: &str, path: &str, body: serde_json::Value) -> Result<(), HttpError> {
    fetch("POST", path, Some(body.to_string()), Some(token)).await.map(drop)
}

pub async fn answer(token: &str, student: u64) -> Result<(), HttpError> {
    post(token, "/api/teacher/answer", serde_json::json!({ "student": student })).await
}

pub async fn reset(token: &str, student: u64, lesson: &str, cell: &str) -> Result<(), HttpError> {
    post(token, "/api/teacher/reset", serde_json::json!({ "student": student, "lesson": lesson, "cell": cell })).await
}

pub async fn rename(token: &str, student: u64, name: &str) -> Result<(), HttpError> {
    post(token, "/api/teacher/rename", serde_json::json!({ "student": student, "name": name })).await
}

pub async fn remove(token: &str, student: u64) -> Result<(), HttpError> {
    post(token, "/api/teacher/remove", serde_json::json!({ "student": student })).await
}

pub async fn restore_code(token: &str, student: u64) -> Result<RestoreCode, HttpError> {
    let body = serde_json::json!({ "student": student }).to_string();
    fetch_json("POST", "/api/teacher/restore-code", Some(body), Some(token)).await
}

pub async fn solutions(token: &str) -> Result<Solutions, HttpError> {
    fetch_json("GET", "/api/teacher/solutions", None, Some(token)).await
}

pub async fn hide_solutions(token: &str, lesson: &str, hidden: bool) -> Result<(), HttpError> {
    post(token, "/api/teacher/solutions", serde_json::json!({ "lesson": lesson, "hidden": hidden })).await
}
