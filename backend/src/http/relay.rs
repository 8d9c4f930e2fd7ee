//! The relay's two routes: the Python worker's blocking wait (`GET /api/relay/{channel}`) and
//! its page's post (`POST /api/relay/{channel}`); see `crate::relay` for why they exist.

use super::{bad_body, error, peer_ip, InLang};
use shared::lang::Lang;
use crate::app::App;
use crate::relay::{Post, PostError, Want};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/{channel}", get(wait).post(post))
        // A line is at most 64 KiB; its JSON escaping at most doubles it (and \u escapes, six times
        // the few control characters a line may hold).
        .layer(DefaultBodyLimit::max(crate::relay::MAX_LINE * 2 + 1024))
}

#[derive(serde::Deserialize)]
struct WaitQuery {
    run: u32,
    /// `input` or `sleep`.
    want: String,
    /// How long to hold the request, in ms (capped by the relay).
    ms: u64,
}

async fn wait(
    State(app): State<Arc<App>>,
    Path(channel): Path<String>,
    Query(q): Query<WaitQuery>,
    InLang(lang): InLang,
    req: axum::extract::Request,
) -> Response {
    let want = match q.want.as_str() {
        "input" => Want::Input,
        "sleep" => Want::Sleep,
        other => return error(StatusCode::BAD_REQUEST, lang.pick(format!("want 是 input 或 sleep，不能是 '{other}'"), format!("want is input or sleep, not '{other}'"))),
    };
    let from = peer_ip(req.extensions());
    match app.relay.wait(from, &channel, q.run, want, Duration::from_millis(q.ms)).await {
        Ok(answer) => {
            let mut res = Json(answer).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => refused(lang, e),
    }
}

async fn post(
    State(app): State<Arc<App>>,
    Path(channel): Path<String>,
    InLang(lang): InLang,
    req: axum::extract::Request,
) -> Response {
    let from = peer_ip(req.extensions());
    let body = match axum::body::to_bytes(req.into_body(), crate::relay::MAX_LINE * 2 + 1024).await {
        Ok(b) => b,
        Err(_) => return refused(lang, PostError::TooLong),
    };
    let post: Post = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return bad_body(lang, e, r#"{"kind": "line"|"eof"|"interrupt", "run", "data"}"#);
        }
    };
    match app.relay.post(from, &channel, post) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(lang, e),
    }
}

fn refused(lang: Lang, e: PostError) -> Response {
    let status = match e {
        PostError::BadChannel => StatusCode::BAD_REQUEST,
        PostError::TooLong => StatusCode::PAYLOAD_TOO_LARGE,
        PostError::QueueFull | PostError::TooManyChannels => StatusCode::TOO_MANY_REQUESTS,
    };
    error(status, e.said(lang))
}
