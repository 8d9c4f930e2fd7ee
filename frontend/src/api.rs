//! Typed access to the backend's HTTP API (`/api/lessons`, `/api/lessons/<id>`).

use serde::de::DeserializeOwned;
use shared::course::{Lesson, LessonSummary};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(window.fetch_with_str(url)).await.map_err(|_| "the class server cannot be reached".to_string())?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "not a response")?;
    if !resp.ok() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let text = JsFuture::from(resp.text().map_err(|_| "no body")?).await.map_err(|_| "the body could not be read")?;
    serde_json::from_str(&text.as_string().unwrap_or_default()).map_err(|e| format!("{url}: {e}"))
}

pub async fn lessons() -> Result<Vec<LessonSummary>, String> {
    get_json("/api/lessons").await
}

pub async fn lesson(id: &str) -> Result<Lesson, String> {
    get_json(&format!("/api/lessons/{}", js_sys::encode_uri_component(id))).await
}
