//! The built page (`dist/`: wasm app, worker, Pyodide) embedded in the binary, served
//! precompressed (brotli/gzip made at build time) with cache headers that fit each file.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../dist"]
struct Dist;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>classbook</title>\
<p>The page is not built into this binary. Build it with <code>./run serve</code> (see README.md).";

/// The page's `index.html` as built into this binary (`None` when the page was not built).
pub fn index_html() -> Option<Vec<u8>> {
    Dist::get("index.html").map(|f| f.data.into_owned())
}

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    let Some(file) = Dist::get(path) else {
        if path == "index.html" {
            return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT)
                .into_response();
        }
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let cache = if is_hashed(path) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let accept = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    for (enc, ext) in [("br", "br"), ("gzip", "gz")] {
        if accepts(accept, enc) {
            if let Some(packed) = Dist::get(&format!("{path}.{ext}")) {
                out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
                return (out, Body::from(packed.data.into_owned())).into_response();
            }
        }
    }
    (out, Body::from(file.data.into_owned())).into_response()
}

fn accepts(header: &str, enc: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
        name.eq_ignore_ascii_case(enc) && !refused
    })
}

/// Trunk names built files `name-<16 hex digits>.ext`: such a name never changes content.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches("_bg");
    stem.rsplit_once('-').is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "zip" => "application/zip",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "py" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("classbook-frontend-0123456789abcdef_bg.wasm"));
        assert!(is_hashed("classbook-frontend-0123456789abcdef.js"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("pyodide/pyodide.asm.wasm"));
    }

    #[test]
    fn accept_encoding_is_parsed_with_quality_zero() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("", "gzip"));
    }
}
