//! Cross-site requests refused: a WebSocket or state-changing request whose `Origin` is neither
//! the class server's own host (as the request's `Host` names it) nor one `--allowed-origin` names.

use super::error;
use crate::app::App;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// Answers 403 with a JSON error to a WebSocket upgrade or a request that changes something
/// (not GET, HEAD, OPTIONS) when it carries an `Origin` of another site. Requests without
/// `Origin` (programs, not browsers) pass: the check protects students from other pages.
pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let reads_only = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let upgrade = req.headers().contains_key(header::UPGRADE);
    if reads_only && !upgrade {
        return next.run(req).await;
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else { return next.run(req).await };
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let host = host_of(&req);
    if same_site(&origin, host.as_deref(), &app.allowed_origins) {
        return next.run(req).await;
    }
    let host = host.unwrap_or_else(|| "this class server".into());
    tracing::info!(%origin, %host, path = %req.uri().path(), "refused a request from another site's page");
    let lang = super::InLang::of(req.uri(), req.headers(), &app);
    error(
        StatusCode::FORBIDDEN,
        lang.pick(
            format!("已拒绝：这个请求来自 {origin} 的页面，而不是 {host} 的班级服务器；如果那个页面是你的，请用 --allowed-origin {origin} 启动服务器"),
            format!(
                "refused: this request comes from a page at {origin}, not from the class server at {host}; \
                 if that page is yours, start the server with --allowed-origin {origin}"
            ),
        ),
    )
}

/// The host and port the browser addressed: `Host`, or the URI's authority (HTTP/2).
pub(super) fn host_of(req: &Request) -> Option<String> {
    match req.headers().get(header::HOST) {
        Some(h) => h.to_str().ok().map(str::to_string),
        None => req.uri().authority().map(|a| a.to_string()),
    }
}

/// Whether a request from `origin` may reach a server addressed as `host`.
fn same_site(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let Ok(origin) = normalize(origin) else { return false };
    host.and_then(|h| normalize(h).ok()).is_some_and(|h| h == origin) || allowed.contains(&origin)
}

/// An origin (`https://host:port`) or a bare `host[:port]` as the `host[:port]` it is compared
/// by: lowercase, with no port when it is 80 or 443, so `http://` and `https://` compare alike.
/// `Err` says what is wrong with it (for a bad `--allowed-origin`).
pub fn normalize(origin: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("'{origin}' is not an origin like http://host:port ({why})"));
    if origin == "null" {
        return bad("a page with no origin of its own, such as a file, is never the class server");
    }
    let rest = match origin.split_once("://") {
        Some((scheme, rest)) if ["http", "https"].contains(&scheme.to_ascii_lowercase().as_str()) => rest,
        Some(_) => return bad("the scheme must be http or https"),
        None => origin,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // `[v6]:port`, `[v6]`, `name:port` or `name`: the host, and what follows it.
    let (host, after) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, after)) => (format!("[{addr}]"), after),
            None => return bad("an IPv6 address needs its closing ]"),
        },
        None => match rest.find(':') {
            Some(i) => (rest[..i].to_string(), &rest[i..]),
            None => (rest.to_string(), ""),
        },
    };
    let inner = host.trim_start_matches('[').trim_end_matches(']');
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b)) {
        return bad("a host has letters, digits, '-' and '.'");
    }
    let port = match after {
        "" => None,
        p => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
            Some(80 | 443) => None,
            Some(n) => Some(n),
            None => return bad("the port must be a number"),
        },
    };
    let host = host.to_ascii_lowercase();
    Ok(match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_hosts_normalize_to_host_and_port_whatever_the_scheme() {
        assert_eq!(normalize("http://classroom.test:8080").unwrap(), "classroom.test:8080");
        assert_eq!(normalize("classroom.test:8080").unwrap(), "classroom.test:8080");
        assert_eq!(normalize("https://Classroom.Test:8080/").unwrap(), "classroom.test:8080");
        assert_eq!(normalize("http://school.example").unwrap(), "school.example");
        assert_eq!(normalize("https://school.example:443").unwrap(), "school.example");
        assert_eq!(normalize("school.example:80").unwrap(), "school.example");
        assert_eq!(normalize("http://[::1]:8080").unwrap(), "[::1]:8080");
        assert_eq!(normalize("[::1]").unwrap(), "[::1]");
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_a_reason() {
        for bad in ["null", "file://x", "chrome-extension://abc", "http://a b", "http://x:port", "http://[::1", "http://", "x,y"] {
            let err = normalize(bad).unwrap_err();
            assert!(err.contains(bad) && err.contains("http://host:port"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_same_host_and_port_is_same_site_and_others_only_when_allowed() {
        let none: &[String] = &[];
        assert!(same_site("http://127.0.0.1:8080", Some("127.0.0.1:8080"), none));
        assert!(same_site("http://classroom.test:8080", Some("classroom.test:8080"), none));
        assert!(same_site("https://classroom.test:8080", Some("classroom.test:8080"), none));
        assert!(!same_site("http://evil.example:8080", Some("classroom.test:8080"), none));
        assert!(!same_site("http://classroom.test:8081", Some("classroom.test:8080"), none));
        assert!(!same_site("null", Some("classroom.test:8080"), none));
        assert!(!same_site("http://classroom.test:8080", None, none));
        let allowed = [normalize("https://proxy.school.example").unwrap()];
        assert!(same_site("https://proxy.school.example", Some("127.0.0.1:8080"), &allowed));
        assert!(!same_site("https://other.school.example", Some("127.0.0.1:8080"), &allowed));
    }
}
