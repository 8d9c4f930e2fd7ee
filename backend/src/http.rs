//! HTTP routes: the lesson API, the session WebSocket, and the page's assets, with the
//! cross-origin isolation headers (SharedArrayBuffer needs them) on every response.

use crate::app::App;
use crate::{assets, session};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/lessons", get(lessons))
        .route("/api/lessons/{id}", get(lesson))
        .route("/api/session", get(ws))
        .fallback(assets::serve)
        .layer(middleware::from_fn(isolation_headers))
        .with_state(app)
}

async fn lessons(State(app): State<Arc<App>>) -> Response {
    Json(app.course().summaries().to_vec()).into_response()
}

async fn lesson(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.course().lesson(&id) {
        Some(lesson) => Json(lesson.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": format!("no lesson '{id}'")}))).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    /// The student's token (kept by the page), so a reconnect finds the same sandbox.
    token: Option<String>,
}

async fn ws(State(app): State<Arc<App>>, Query(q): Query<SessionQuery>, upgrade: WebSocketUpgrade) -> Response {
    // Frames above our own limit are still read, so the page gets a clear error for them.
    upgrade
        .max_message_size(session::MAX_MESSAGE * 16)
        .on_upgrade(move |socket| session::serve(socket, app, q.token))
}

async fn isolation_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}
