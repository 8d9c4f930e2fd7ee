//! HTTP routes: the lesson API, joining the class, the session WebSocket, the teacher's API
//! (`teacher`), the Python worker's relay (`relay`), and the page's assets, with the
//! cross-origin isolation headers (they give localhost and https pages SharedArrayBuffer);
//! `origin` refuses other sites' requests, `csp` is the page's Content-Security-Policy,
//! `listen` the accept loop (http or https).

mod csp;
mod help;
pub mod listen;
pub mod origin;
mod relay;
mod teacher;

use crate::app::App;
use crate::class::JoinError;
use crate::{assets, session};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::lang::Lang;
use std::sync::Arc;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/lessons", get(lessons))
        .route("/api/lessons/{id}", get(lesson))
        .route("/api/session", get(ws))
        .route("/api/class", get(class_info))
        .route("/api/join", post(join))
        .route("/api/work", get(work))
        .nest("/api/teacher", teacher::router(app.clone()))
        .nest("/api/relay", relay::router())
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(app.clone(), origin::check))
        .layer(middleware::from_fn(isolation_headers))
        .with_state(app)
}

/// The language an answer is worded in (lessons, the teacher's grid, error texts): `?lang=`,
/// else the first of `Accept-Language` (the page sends its interface language), else the
/// class's (`Class::default_lang`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct InLang(pub Lang);

impl InLang {
    /// The language a request names (see `InLang`).
    pub(crate) fn of(uri: &axum::http::Uri, headers: &axum::http::HeaderMap, app: &App) -> Lang {
        #[derive(serde::Deserialize)]
        struct Named {
            lang: Option<String>,
        }
        let named = Query::<Named>::try_from_uri(uri).ok().and_then(|q| q.0.lang);
        let accepted = || {
            let header = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
            let first = header.split(',').next()?.split(';').next()?.trim();
            (!first.is_empty() && first != "*").then(|| first.to_string())
        };
        match named.or_else(accepted) {
            Some(code) => Lang::from_code(&code),
            None => app.class.default_lang(),
        }
    }

    /// The language's code (`zh`, `en`), as lessons are looked up by.
    pub(crate) fn code(self) -> &'static str {
        self.0.code()
    }
}

impl axum::extract::FromRequestParts<Arc<App>> for InLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        Ok(InLang(InLang::of(&parts.uri, &parts.headers, app)))
    }
}

async fn lessons(State(app): State<Arc<App>>, lang: InLang) -> Response {
    Json(app.course().summaries_in(lang.code())).into_response()
}

/// A lesson as students get it: without its solutions while the teacher hides them.
async fn lesson(State(app): State<Arc<App>>, Path(id): Path<String>, lang: InLang) -> Response {
    let Some(lesson) = app.course().lesson_in(&id, lang.code()).cloned() else {
        return error(StatusCode::NOT_FOUND, no_lesson(lang.0, &id));
    };
    match app.class.db.solutions_hidden(&id).await {
        Ok(hidden) => Json(crate::class::solutions::for_student(&lesson, hidden)).into_response(),
        Err(e) => failed(lang.0, e),
    }
}

/// The code the server keeps of the student holding the bearer token (after a restore on a
/// new machine, the page puts it back into its cells).
async fn work(State(app): State<Arc<App>>, InLang(lang): InLang, headers: axum::http::HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    if !crate::class::valid_token(token) {
        return error(StatusCode::UNAUTHORIZED, lang.pick("请用 Authorization: Bearer 发送页面的令牌", "send the page's token as Authorization: Bearer"));
    }
    let student = match app.class.db.student_by_token(token).await {
        Ok(Some(s)) => s,
        Ok(None) => return error(StatusCode::NOT_FOUND, lang.pick("没有学生持有这个令牌：请先加入班级", "no student holds this token: join first")),
        Err(e) => return failed(lang, e),
    };
    match app.class.db.work_of(student.id).await {
        Ok(work) => {
            let cells: Vec<_> = work.into_iter().map(|w| serde_json::json!({"lesson": w.lesson, "cell": w.cell, "code": w.code, "output": w.output})).collect();
            ([(header::CACHE_CONTROL, "no-store")], Json(serde_json::json!({"name": student.name, "cells": cells}))).into_response()
        }
        Err(e) => failed(lang, e),
    }
}

/// The client's address, as the listener recorded it (`ConnectInfo`); the unspecified address
/// when the router is served without it.
pub(crate) fn peer_ip(ext: &axum::http::Extensions) -> std::net::IpAddr {
    ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The client's address as an extractor (see `peer_ip`).
pub(crate) struct PeerIp(pub std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(peer_ip(&parts.extensions)))
    }
}

/// A JSON `{"error": …}` with `status`; `message` is in the request's language (`InLang`).
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

/// A 500 for a failure of the server's own (the class database…), its details as they came.
pub(crate) fn failed(lang: Lang, e: anyhow::Error) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, lang.pick(format!("服务器出错：{e:#}"), format!("the server failed: {e:#}")))
}

/// A 400 for a body that is not the JSON expected (`expected` shows its shape).
pub(crate) fn bad_body(lang: Lang, e: impl std::fmt::Display, expected: &str) -> Response {
    error(StatusCode::BAD_REQUEST, lang.pick(format!("请求体应是 {expected}：{e}"), format!("expected {expected}: {e}")))
}

/// A 404 for a lesson the course does not have.
pub(crate) fn no_lesson(lang: Lang, id: &str) -> String {
    lang.pick(format!("没有课程 '{id}'"), format!("no lesson '{id}'"))
}

async fn class_info(State(app): State<Arc<App>>) -> Response {
    let class = &app.class;
    Json(serde_json::json!({"needs_code": class.access_code.is_some(), "title": class.title, "lang": class.lang})).into_response()
}

#[derive(serde::Deserialize)]
struct JoinRequest {
    token: String,
    name: String,
    #[serde(default)]
    code: Option<String>,
    /// A one-time restore code from the teacher: join as the student it was made for.
    #[serde(default)]
    restore: Option<String>,
}

async fn join(
    State(app): State<Arc<App>>,
    PeerIp(from): PeerIp,
    InLang(lang): InLang,
    body: Result<Json<JoinRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(lang, e, r#"{"token", "name", "code"}"#),
    };
    match app.class.join(from, &req.token, &req.name, req.code.as_deref(), req.restore.as_deref()).await {
        Ok(s) => {
            tracing::info!(student = s.id, name = %s.name, restored = req.restore.is_some(), "joined");
            if req.restore.as_deref().is_some_and(|r| !r.trim().is_empty()) {
                // The page's open session (if any) was of the student its token had before.
                app.sessions.close_token(&req.token, s.id);
            }
            Json(serde_json::json!({"id": s.id, "name": s.name})).into_response()
        }
        Err(refused) => {
            let status = match &refused {
                JoinError::BadRequest(_) => StatusCode::BAD_REQUEST,
                JoinError::WrongCode => StatusCode::FORBIDDEN,
                JoinError::WrongRestoreCode => StatusCode::GONE,
                JoinError::TooManyTries | JoinError::TooManyNew => StatusCode::TOO_MANY_REQUESTS,
                JoinError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                JoinError::Failed(why) => {
                    tracing::error!("join failed: {why}");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            error(status, refused.said(lang))
        }
    }
}

#[derive(serde::Deserialize)]
struct SessionQuery {
    /// The student's token (kept by the page), so a reconnect finds the same sandbox.
    token: Option<String>,
}

async fn ws(
    State(app): State<Arc<App>>,
    PeerIp(from): PeerIp,
    Query(q): Query<SessionQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Bounded before anything is buffered: a larger message ends the connection (the page
    // checks its own messages against the same limit and says so at once).
    upgrade
        .max_message_size(session::MAX_MESSAGE)
        .max_frame_size(session::MAX_MESSAGE)
        .on_upgrade(move |socket| session::serve(socket, app, q.token, from))
}

async fn isolation_headers(req: axum::extract::Request, next: Next) -> Response {
    let host = origin::host_of(&req);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let html = h.get(header::CONTENT_TYPE).and_then(|t| t.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    if html {
        let policy = HeaderValue::from_str(&csp::policy(host.as_deref())).expect("the policy is ASCII");
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}
