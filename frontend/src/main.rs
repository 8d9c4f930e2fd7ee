//! The classbook page (Leptos, client-side rendered). Map: `app` (shell, routing),
//! `notebook` (lesson list, lesson view, cells, edits, progress, import/export), `editor`
//! (CodeMirror), `runtime` (browser worker, server WebSocket), `class` (joining, presence,
//! teacher messages), `teacher` (the teacher's page), `api` (HTTP), `i18n` (interface text),
//! `storage` (browser storage), `settings` (theme, erase), `help` (shortcuts).

mod api;
mod app;
mod class;
mod editor;
mod help;
mod i18n;
mod notebook;
mod route;
mod runtime;
mod settings;
mod storage;
mod teacher;

fn main() {
    console_error_panic_hook::set_once();
    if let Some(perf) = web_sys::window().and_then(|w| w.performance()) {
        let _ = perf.mark("classbook: app started");
    }
    settings::init();
    // Start the Python engine before anything renders: it is the slowest thing to load. The
    // teacher's page runs no Python (start-worker.js skips it there too).
    if !class::is_teacher(&route::current()) {
        runtime::browser::start();
    }
    // The class WebSocket (presence, server cells) and the name dialog; not on the teacher's page.
    class::start();
    leptos::mount::mount_to_body(app::App);
}
