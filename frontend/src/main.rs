//! The classbook page (Leptos, client-side rendered). Map: `app` (shell, routing),
//! `notebook` (lesson list, lesson view, cells, edits, progress, import/export), `editor`
//! (CodeMirror), `runtime` (browser worker, server WebSocket), `api` (HTTP), `i18n`
//! (interface text), `storage` (browser storage), `settings` (theme, erase), `help` (shortcuts).

mod api;
mod app;
mod editor;
mod help;
mod i18n;
mod notebook;
mod route;
mod runtime;
mod settings;
mod storage;

fn main() {
    console_error_panic_hook::set_once();
    settings::init();
    // Start the Python engine before anything renders: it is the slowest thing to load.
    runtime::browser::start();
    runtime::server::connect();
    leptos::mount::mount_to_body(app::App);
}
