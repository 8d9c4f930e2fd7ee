//! The built page (`dist/`: wasm app, worker, Pyodide) embedded in the binary, served
//! precompressed (brotli/gzip made at build time) with cache headers that fit each file.
//!
//! Every file is also served under `/v/<version>/`, where the version is a hash of every
//! embedded file: there it never changes, so it is cached as immutable (a second visit takes the
//! Python engine from the HTTP cache without asking, and V8 its compiled wasm from its code cache).
//! index.html loads its scripts from there; a new build is a new version, so a browser never
//! mixes files of two builds. Other versions are not found.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

#[derive(RustEmbed)]
#[folder = "../dist"]
struct Dist;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>classbook</title>\
<p>The page is not built into this binary. Build it with <code>./run serve</code> (see README.md).";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The version of the embedded page: 16 hex digits of a SHA-256 over every file's name and hash.
pub fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut names: Vec<_> = Dist::iter().collect();
        names.sort();
        let mut all = Sha256::new();
        for name in names {
            let hash = Dist::get(&name).map(|f| f.metadata.sha256_hash()).unwrap_or_default();
            all.update((name.len() as u64).to_le_bytes());
            all.update(name.as_bytes());
            all.update(hash);
        }
        hex(&all.finalize()[..8])
    });
    &VERSION
}

/// The page's `index.html` as served (`None` when the page was not built): its scripts with a
/// relative address (`src="./…"`, ours; trunk's are absolute and hashed) load from `/v/<version>/`.
pub fn index_html() -> Option<Vec<u8>> {
    static PAGE: LazyLock<Option<Vec<u8>>> = LazyLock::new(|| {
        let built = Dist::get("index.html")?;
        let text = String::from_utf8_lossy(&built.data).replace("src=\"./", &format!("src=\"./v/{}/", version()));
        Some(text.into_bytes())
    });
    PAGE.clone()
}

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let mut path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    let mut versioned = false;
    if let Some(rest) = path.strip_prefix("v/") {
        match rest.split_once('/') {
            Some((v, file)) if v == version() && !file.is_empty() => (path, versioned) = (file, true),
            _ => return (StatusCode::NOT_FOUND, "not found: this page is of another version of classbook").into_response(),
        }
    }
    if path == "index.html" {
        return page(&headers);
    }
    let Some(file) = Dist::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let cache = if versioned || is_hashed(path) { IMMUTABLE } else { "no-cache" };
    let out = headers_for(path, cache, &etag);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let mut out = out;
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

/// index.html as `index_html` gives it: revalidated at each visit (it names the version), and
/// sent uncompressed (it is small, and its compressed copies hold the unversioned text).
fn page(headers: &HeaderMap) -> Response {
    let Some(body) = index_html() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT)
            .into_response();
    };
    let etag = format!("\"{}\"", hex(&Sha256::digest(&body)[..12]));
    let out = headers_for("index.html", "no-cache", &etag);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    (out, Body::from(body)).into_response()
}

fn headers_for(path: &str, cache: &'static str, etag: &str) -> HeaderMap {
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex etag"));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    out
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

    async fn get(path: &str) -> Response {
        serve(path.parse().unwrap(), HeaderMap::new()).await
    }

    fn cache_of(res: &Response) -> &str {
        res.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn the_pages_scripts_load_from_its_version_which_is_immutable() {
        let Some(page) = index_html() else { return }; // the page is not built into this binary
        let page = String::from_utf8(page).unwrap();
        let v = version();
        assert!(page.contains(&format!("src=\"./v/{v}/start-worker.js\"")), "{page}");
        assert!(!page.contains("src=\"./start-worker.js\""), "{page}");
        let versioned = get(&format!("/v/{v}/worker.js")).await;
        assert_eq!((versioned.status(), cache_of(&versioned)), (StatusCode::OK, IMMUTABLE));
        let engine = get(&format!("/v/{v}/pyodide/pyodide.asm.wasm")).await;
        assert_eq!((engine.status(), cache_of(&engine)), (StatusCode::OK, IMMUTABLE));
        // The old addresses still answer, revalidated; another build's version is not found.
        let plain = get("/worker.js").await;
        assert_eq!((plain.status(), cache_of(&plain)), (StatusCode::OK, "no-cache"));
        assert_eq!(get("/v/0123456789abcdef/worker.js").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&format!("/v/{v}/")).await.status(), StatusCode::NOT_FOUND);
        let index = get("/").await;
        assert_eq!((index.status(), cache_of(&index)), (StatusCode::OK, "no-cache"));
    }

    #[test]
    fn accept_encoding_is_parsed_with_quality_zero() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("", "gzip"));
    }
}
