//! The page's routes, read from the URL hash: `#/`, `#/lesson/<id>`,
//! `#/scratch?runtime=browser|server&code=<base64url>[&step=N]`, `#/teacher[?token=…]`.

use shared::course::Runtime;

#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    Lessons,
    Lesson(String),
    /// `step`: the cell opens stepped through, at step N (1-based; a browser cell).
    Scratch { runtime: Runtime, code: String, step: Option<usize> },
    /// The teacher's page; `token` when the address carries one (it is then stored and removed).
    Teacher { token: Option<String> },
    NotFound(String),
}

pub fn parse(hash: &str) -> Route {
    let path = hash.trim_start_matches('#');
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Route::Lessons,
        ["lesson", id] => Route::Lesson(js_sys::decode_uri_component(id).ok().and_then(|s| s.as_string()).unwrap_or_default()),
        ["scratch"] => {
            let mut runtime = Runtime::Browser;
            let mut code = String::new();
            let mut step = None;
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("runtime", v)) => runtime = Runtime::parse(v).unwrap_or(Runtime::Browser),
                    Some(("code", v)) => {
                        code = shared::link::decode(v).and_then(|b| String::from_utf8(b).ok()).unwrap_or_default()
                    }
                    Some(("step", v)) => step = v.parse::<usize>().ok().filter(|n| *n >= 1),
                    _ => {}
                }
            }
            Route::Scratch { runtime, code, step }
        }
        ["teacher"] => {
            let token = query.split('&').find_map(|p| p.strip_prefix("token=")).filter(|t| !t.is_empty());
            let token = token.map(|t| js_sys::decode_uri_component(t).ok().and_then(|s| s.as_string()).unwrap_or_default());
            Route::Teacher { token }
        }
        _ => Route::NotFound(hash.to_string()),
    }
}

pub fn current() -> Route {
    parse(&web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default())
}

/// The share link of a browser cell's code, opened stepped through at `step` (1-based).
pub fn step_link(code: &str, step: usize) -> String {
    format!("{}&step={step}", scratch_link(Runtime::Browser, code))
}

/// The share link of a piece of code.
pub fn scratch_link(runtime: Runtime, code: &str) -> String {
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    format!("{origin}/#/scratch?runtime={}&code={}", runtime.as_str(), shared::link::encode(code.as_bytes()))
}
