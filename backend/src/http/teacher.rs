//! The teacher's API under `/api/teacher/`: every route checks `Authorization: Bearer
//! <teacher token>` (in constant time) and answers 401 without it; no answer is ever cached.

use super::{bad_body, error, failed, no_lesson, InLang};
use crate::app::App;
use crate::class::progress::{display_name, Progress};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::wire::ServerMsg;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/students", get(students))
        .route("/stop", post(stop))
        .route("/progress", get(progress))
        .route("/progress.csv", get(progress_csv))
        .route("/message", post(message))
        .route("/goto", post(goto))
        .route("/course", get(course))
        .route("/backup", get(backup))
        .merge(super::help::routes())
        .route_layer(middleware::from_fn_with_state(app, require_teacher))
        .layer(middleware::map_response(no_store))
}

/// Class data (names, progress) must not stay in a browser's or a proxy's cache.
async fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn require_teacher(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty() || !app.class.is_teacher(presented.trim()) {
        let lang = InLang::of(req.uri(), req.headers(), &app);
        return error(StatusCode::UNAUTHORIZED, lang.pick("老师令牌缺少或不对", "the teacher token is missing or wrong"));
    }
    next.run(req).await
}

/// A JSON body, or a 400 that says what was expected (`bad_body`).
type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

async fn students(State(app): State<Arc<App>>, InLang(lang): InLang) -> Response {
    let rows = match app.class.db.students().await {
        Ok(r) => r,
        Err(e) => return failed(lang, e),
    };
    let sessions = app.clone();
    let live = tokio::task::spawn_blocking(move || sessions.sessions.live()).await.unwrap_or_default();
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|s| {
            let l = live.iter().find(|l| l.student == s.id);
            serde_json::json!({
                "id": s.id,
                "name": display_name(&s.name),
                "online": l.is_some_and(|l| l.online),
                "lesson": l.and_then(|l| l.lesson.clone()),
                "last_active_ms": l.map(|l| l.last_active_ms.max(s.last_seen_ms)).unwrap_or(s.last_seen_ms),
                "memory_bytes": l.and_then(|l| l.memory_bytes),
                "runs": l.map(|l| l.runs.clone()).unwrap_or_default(),
                "hand_ms": s.hand_ms,
            })
        })
        .collect();
    Json(list).into_response()
}

#[derive(serde::Deserialize)]
struct StopRequest {
    student: i64,
    #[serde(default)]
    run_id: Option<u32>,
}

async fn stop(State(app): State<Arc<App>>, InLang(lang): InLang, body: Body<StopRequest>) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(lang, e, r#"{"student": id, "run_id": n (optional)}"#),
    };
    let stopped = app.sessions.stop(req.student, req.run_id).await;
    tracing::info!(student = req.student, run = ?req.run_id, stopped, "the teacher stopped programs");
    Json(serde_json::json!({"stopped": stopped})).into_response()
}

/// The grid with the titles of the lessons in `lang` (`?lang=`, the teacher page's language).
async fn progress_of(app: &App, lang: InLang) -> Result<Progress, Response> {
    let db = &app.class.db;
    let (students, results) = tokio::try_join!(db.students(), db.results()).map_err(|e| failed(lang.0, e))?;
    Ok(Progress::build(&app.course(), lang.code(), students, results))
}

async fn progress(State(app): State<Arc<App>>, lang: InLang) -> Response {
    match progress_of(&app, lang).await {
        Ok(p) => Json(p).into_response(),
        Err(r) => r,
    }
}

/// The grid as a spreadsheet, its words and titles in `?lang=`.
async fn progress_csv(State(app): State<Arc<App>>, lang: InLang) -> Response {
    match progress_of(&app, lang).await {
        Ok(p) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"progress.csv\""),
            ],
            p.csv(),
        )
            .into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
struct MessageRequest {
    message: String,
}

async fn message(State(app): State<Arc<App>>, InLang(lang): InLang, body: Body<MessageRequest>) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(lang, e, r#"{"message": "…"}"#),
    };
    let message = req.message.trim().to_string();
    if message.is_empty() || message.chars().count() > 1000 {
        return error(StatusCode::BAD_REQUEST, lang.pick("消息要有 1 到 1000 个字符", "the message must have 1 to 1000 characters"));
    }
    let sent = app.sessions.broadcast(ServerMsg::Notice { message }).await;
    Json(serde_json::json!({"sent": sent})).into_response()
}

#[derive(serde::Deserialize)]
struct GotoRequest {
    lesson: String,
}

async fn goto(State(app): State<Arc<App>>, InLang(lang): InLang, body: Body<GotoRequest>) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(lang, e, r#"{"lesson": "id"}"#),
    };
    if app.course().lesson(&req.lesson).is_none() {
        return error(StatusCode::NOT_FOUND, no_lesson(lang, &req.lesson));
    }
    let sent = app.sessions.broadcast(ServerMsg::Goto { lesson: req.lesson }).await;
    Json(serde_json::json!({"sent": sent})).into_response()
}

/// The problems of the last course reload, worded in the teacher page's language.
async fn course(State(app): State<Arc<App>>, InLang(lang): InLang) -> Response {
    let errors: Vec<serde_json::Value> = app
        .class
        .course_errors
        .lock()
        .expect("course errors poisoned")
        .iter()
        .map(|p| serde_json::json!({"file": p.file, "line": p.line, "message": p.message(lang)}))
        .collect();
    Json(serde_json::json!({"errors": errors, "lessons": app.course().lessons().len()})).into_response()
}

/// A consistent copy of the class database, made while serving (the file itself is held
/// exclusively), as a download named by its date.
async fn backup(State(app): State<Arc<App>>, InLang(lang): InLang) -> Response {
    match app.class.db.backup().await {
        Ok(bytes) => {
            tracing::info!(bytes = bytes.len(), "the teacher took a backup of the class database");
            let name = crate::class::backup::file_name(std::time::SystemTime::now());
            let disposition = format!("attachment; filename=\"{name}\"");
            (
                [
                    (header::CONTENT_TYPE, "application/vnd.sqlite3".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang.pick(format!("无法复制班级数据库：{e:#}"), format!("cannot copy the class database: {e:#}")),
        ),
    }
}
