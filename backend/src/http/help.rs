//! The teacher's help for one student, under `/api/teacher/` (behind the teacher's token, see
//! `teacher`): their kept code and output, answering a hand, reset, rename, remove, restore
//! codes, and solutions hidden or released per lesson with who opened one.

use super::{bad_body, error, failed, no_lesson, InLang};
use shared::lang::Lang;
use crate::app::App;
use crate::class::progress::display_name;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::wire::ServerMsg;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/work", get(work))
        .route("/answer", post(answer))
        .route("/reset", post(reset))
        .route("/rename", post(rename))
        .route("/remove", post(remove))
        .route("/restore-code", post(restore_code))
        .route("/solutions", get(solutions).post(hide_solutions))
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The body, or a 400 that says what was expected.
fn body<T>(lang: Lang, b: Body<T>, expected: &str) -> Result<T, Response> {
    b.map(|Json(t)| t).map_err(|e| bad_body(lang, e, expected))
}

/// A 404 for a student the class does not have.
fn no_student(lang: Lang, id: i64) -> Response {
    error(StatusCode::NOT_FOUND, lang.pick(format!("没有学生 {id}"), format!("no student {id}")))
}

/// The student with row `id`, or a 404.
async fn student(app: &App, lang: Lang, id: i64) -> Result<crate::class::db::StudentRow, Response> {
    match app.class.db.student(id).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(no_student(lang, id)),
        Err(e) => Err(failed(lang, e)),
    }
}

#[derive(serde::Deserialize)]
struct StudentQuery {
    student: i64,
}

/// A student's kept code and last output of every cell they touched.
async fn work(State(app): State<Arc<App>>, InLang(lang): InLang, Query(q): Query<StudentQuery>) -> Response {
    let s = match student(&app, lang, q.student).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match app.class.db.work_of(s.id).await {
        Ok(cells) => Json(serde_json::json!({"id": s.id, "name": display_name(&s.name), "cells": cells})).into_response(),
        Err(e) => failed(lang, e),
    }
}

#[derive(serde::Deserialize)]
struct StudentBody {
    student: i64,
}

/// The teacher answered a raised hand: it goes down on both pages.
async fn answer(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<StudentBody>) -> Response {
    let req = match body(lang, b, r#"{"student": id}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Err(e) = app.class.db.set_hand(req.student, false).await {
        return failed(lang, e);
    }
    app.sessions.send_to(req.student, ServerMsg::HandAnswered).await;
    Json(serde_json::json!({"answered": true})).into_response()
}

#[derive(serde::Deserialize)]
struct ResetBody {
    student: i64,
    lesson: String,
    cell: String,
}

/// Forgets a student's attempts and code of one exercise; their open page resets the cell.
async fn reset(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<ResetBody>) -> Response {
    let req = match body(lang, b, r#"{"student": id, "lesson": "id", "cell": "id"}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let exists = app.course().lesson(&req.lesson).is_some_and(|l| l.cells().any(|c| c.id == req.cell && c.exercise.is_some()));
    if !exists {
        let (lesson, cell) = (&req.lesson, &req.cell);
        return error(StatusCode::NOT_FOUND, lang.pick(format!("课程 '{lesson}' 里没有练习 '{cell}'"), format!("no exercise '{cell}' in lesson '{lesson}'")));
    }
    if let Err(r) = student(&app, lang, req.student).await {
        return r;
    }
    if let Err(e) = app.class.db.reset_exercise(req.student, &req.lesson, &req.cell).await {
        return failed(lang, e);
    }
    tracing::info!(student = req.student, lesson = %req.lesson, cell = %req.cell, "the teacher reset an exercise");
    app.sessions.send_to(req.student, ServerMsg::ResetCell { lesson: req.lesson, cell: req.cell }).await;
    Json(serde_json::json!({"reset": true})).into_response()
}

#[derive(serde::Deserialize)]
struct RenameBody {
    student: i64,
    name: String,
}

async fn rename(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<RenameBody>) -> Response {
    let req = match body(lang, b, r#"{"student": id, "name": "…"}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > crate::class::MAX_NAME || name.chars().any(char::is_control) {
        let max = crate::class::MAX_NAME;
        return error(StatusCode::BAD_REQUEST, lang.pick(format!("名字要有 1 到 {max} 个字符，不能有控制字符"), format!("a name has 1 to {max} characters and no control characters")));
    }
    match app.class.db.rename(req.student, &name).await {
        Ok(true) => {
            app.sessions.send_to(req.student, ServerMsg::Renamed { name: name.clone() }).await;
            Json(serde_json::json!({"name": name})).into_response()
        }
        Ok(false) => no_student(lang, req.student),
        Err(e) => failed(lang, e),
    }
}

/// Removes a student and everything kept about them; their pages are told and disconnected.
async fn remove(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<StudentBody>) -> Response {
    let req = match body(lang, b, r#"{"student": id}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match app.class.db.remove(req.student).await {
        Ok(true) => {
            app.sessions.remove(req.student).await;
            tracing::info!(student = req.student, "the teacher removed a student");
            Json(serde_json::json!({"removed": true})).into_response()
        }
        Ok(false) => no_student(lang, req.student),
        Err(e) => failed(lang, e),
    }
}

/// A one-time code (10 minutes) the student types in the join dialog on another machine.
async fn restore_code(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<StudentBody>) -> Response {
    let req = match body(lang, b, r#"{"student": id}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let s = match student(&app, lang, req.student).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let code = app.class.restore_codes.issue(s.id);
    tracing::info!(student = s.id, "the teacher made a restore code");
    let minutes = crate::class::work::RESTORE_VALID_MS / 60_000;
    Json(serde_json::json!({"code": code, "minutes": minutes})).into_response()
}

/// Which lessons' solutions are hidden, and who opened which solution.
async fn solutions(State(app): State<Arc<App>>, InLang(lang): InLang) -> Response {
    let db = &app.class.db;
    let (hidden, views, students) = match tokio::try_join!(db.hidden_solutions(), db.solution_views(), db.students()) {
        Ok(all) => all,
        Err(e) => return failed(lang, e),
    };
    let opened: Vec<_> = views
        .into_iter()
        .map(|v| {
            let name = students.iter().find(|s| s.id == v.student).map(|s| display_name(&s.name).to_string()).unwrap_or_default();
            serde_json::json!({"student": v.student, "name": name, "lesson": v.lesson, "cell": v.cell, "at_ms": v.at_ms})
        })
        .collect();
    Json(serde_json::json!({"hidden": hidden, "opened": opened})).into_response()
}

#[derive(serde::Deserialize)]
struct HideBody {
    lesson: String,
    hidden: bool,
}

/// Hides or releases a lesson's solutions; students' open pages of it fetch it again.
async fn hide_solutions(State(app): State<Arc<App>>, InLang(lang): InLang, b: Body<HideBody>) -> Response {
    let req = match body(lang, b, r#"{"lesson": "id", "hidden": true|false}"#) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if app.course().lesson(&req.lesson).is_none() {
        return error(StatusCode::NOT_FOUND, no_lesson(lang, &req.lesson));
    }
    if let Err(e) = app.class.db.hide_solutions(&req.lesson, req.hidden).await {
        return failed(lang, e);
    }
    tracing::info!(lesson = %req.lesson, hidden = req.hidden, "the teacher changed a lesson's solutions");
    app.sessions.broadcast(ServerMsg::CourseChanged { lessons: vec![req.lesson] }).await;
    Json(serde_json::json!({"hidden": req.hidden})).into_response()
}
