//! Typed access to the backend's HTTP API (`/api/lessons`, `/api/lessons/<id>`), and the one
//! `fetch` helper every other request (joining, the teacher endpoints) goes through.

use serde::de::DeserializeOwned;
use crate::i18n::Lang;
use leptos::prelude::GetUntracked;
use shared::course::{Lesson, LessonSummary};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why a request failed: `status` is `None` when the server could not be reached at all;
/// `message` is the server's `{"error": …}` text when it sent one.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpError {
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} (HTTP {s})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn failed(message: &str) -> HttpError {
    HttpError { status: None, message: message.to_string() }
}

/// Sends a request (a JSON `body` if given, `Authorization: Bearer` if `bearer` is given, and
/// the interface language as `Accept-Language`) and returns the body text of a 2xx answer.
pub async fn fetch(method: &str, url: &str, body: Option<String>, bearer: Option<&str>) -> Result<String, HttpError> {
    let window = web_sys::window().ok_or_else(|| failed("no window"))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|_| failed("no headers"))?;
    if let Some(b) = &body {
        let _ = headers.set("Content-Type", "application/json");
        init.set_body(&JsValue::from_str(b));
    }
    if let Some(t) = bearer {
        let _ = headers.set("Authorization", &format!("Bearer {t}"));
    }
    // The server words its error texts (and the teacher's course problems) in this language.
    let _ = headers.set("Accept-Language", crate::i18n::lang().get_untracked().code());
    init.set_headers(&headers);
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| failed("the class server cannot be reached"))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| failed("not a response"))?;
    let text = JsFuture::from(resp.text().map_err(|_| failed("no body"))?)
        .await
        .map_err(|_| failed("the body could not be read"))?
        .as_string()
        .unwrap_or_default();
    if resp.ok() {
        return Ok(text);
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| url.to_string());
    Err(HttpError { status: Some(resp.status()), message })
}

/// `fetch`, then the answer parsed as JSON.
pub async fn fetch_json<T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<String>,
    bearer: Option<&str>,
) -> Result<T, HttpError> {
    let text = fetch(method, url, body, bearer).await?;
    serde_json::from_str(&text).map_err(|e| HttpError { status: None, message: format!("{url}: {e}") })
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    fetch_json("GET", url, None, None).await.map_err(|e| e.to_string())
}

/// The lesson list, titles in `lang` where the course has them.
pub async fn lessons(lang: Lang) -> Result<Vec<LessonSummary>, String> {
    get_json(&format!("/api/lessons?lang={}", lang.code())).await
}

/// Lesson `id` in `lang`, or in the course's first language (its `lang` says so).
pub async fn lesson(id: &str, lang: Lang) -> Result<Lesson, String> {
    get_json(&format!("/api/lessons/{}?lang={}", js_sys::encode_uri_component(id), lang.code())).await
}
