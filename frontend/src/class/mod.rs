//! The student's side of the class (issue 8): joining with a name, presence (`Viewing`),
//! exercise results, their work kept on the server and the raised hand (`work`), and what the
//! teacher sends (notices, "go to lesson", course changes, reset, rename, an answered hand).

mod join;
mod notice;
mod work;

pub use join::{JoinDialog, NameButton};
pub use notice::Notices;
pub use work::{code_changed, keep_output, HandButton};

use crate::route::{self, Route};
use crate::runtime::server;
use leptos::prelude::*;
use shared::wire::{ClientMsg, ServerMsg};
use wasm_bindgen::prelude::*;

thread_local! {
    /// Bumped when the course changed on the server in a way that concerns the open page.
    // Reference-counted: a plain signal would belong to the view that first read it, and go
    // with that view's first re-render (after which course changes were no longer shown).
    static COURSE_VERSION: ArcRwSignal<u32> = ArcRwSignal::new(0);
    /// The class's title (`serve --title`), shown in the header and the tab.
    // Reference-counted, not owned by whichever view first reads it: it lives as long as the page.
    static TITLE: ArcRwSignal<String> = ArcRwSignal::new(String::new());
    /// Exercise results checked while the class server was out of reach (browser exercises
    /// work offline), sent when the WebSocket opens again.
    static UNSENT: std::cell::RefCell<Vec<ClientMsg>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Read it inside a view to re-render that view when the lessons it shows changed.
pub fn course_version() -> ArcRwSignal<u32> {
    COURSE_VERSION.with(|v| v.clone())
}

/// The class's title, as `/api/class` said (empty until then).
pub fn title() -> ArcRwSignal<String> {
    TITLE.with(|t| t.clone())
}

#[derive(serde::Deserialize)]
struct ClassInfo {
    title: String,
}

/// Fetches the class's title for the header and the browser tab.
fn fetch_title() {
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = crate::api::fetch_json::<ClassInfo>("GET", "/api/class", None, None).await {
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(&info.title);
            }
            title().set(info.title);
        }
    });
}

/// Whether the page is the teacher's: it neither joins nor opens a student WebSocket.
pub fn is_teacher(r: &Route) -> bool {
    matches!(r, Route::Teacher { .. })
}

/// At page load: opens the WebSocket (for presence, unless this is the teacher's page),
/// rejoins silently under the remembered name, and follows route changes.
pub fn start() {
    fetch_title();
    if !is_teacher(&route::current()) {
        server::start();
        join::resume();
    }
    let on_hash = Closure::<dyn FnMut()>::new(|| {
        if !is_teacher(&route::current()) {
            // The teacher's page starts no browser Python; a student page needs it.
            crate::runtime::browser::start_once();
            server::start();
            send_viewing();
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
    }
    on_hash.forget();
}

fn viewing() -> Option<String> {
    match route::current() {
        Route::Lesson(id) => Some(id),
        _ => None,
    }
}

fn send_viewing() {
    server::send(&ClientMsg::Viewing { lesson: viewing() }, None);
}

/// The WebSocket (re)opened: tell the teacher where this student is, and what they checked
/// while it was closed.
/// The class has an access code and this browser has not joined yet.
pub fn ask_to_join() {
    join::ask();
}

/// The teacher removed this student: the browser forgets the name and asks to join again.
pub fn removed() {
    crate::storage::remove("name");
    join::ask();
}

pub fn connected() {
    send_viewing();
    work::flush();
    for msg in UNSENT.with(|u| std::mem::take(&mut *u.borrow_mut())) {
        server::send(&msg, None);
    }
}

/// After an exercise check: its result goes to the teacher's grid (lesson pages only).
pub fn exercise_checked(cell: &str, passed: bool) {
    if let Route::Lesson(lesson) = route::current() {
        let msg = ClientMsg::ExerciseResult { lesson, cell: cell.to_string(), passed };
        if server::link().get_untracked() == server::Link::Open {
            server::send(&msg, None);
        } else {
            UNSENT.with(|u| u.borrow_mut().push(msg));
        }
    }
}

/// Scrolls back to `y` once the page, shown again, is tall enough (tries every 100 ms), so a
/// lesson reloaded under the student's eyes stays where they were reading.
fn keep_scroll(y: f64, tries: u32) {
    let Some(w) = web_sys::window() else { return };
    let tall = w.document().and_then(|d| d.document_element()).map(|e| e.scroll_height() as f64).unwrap_or(0.0);
    let view = w.inner_height().ok().and_then(|h| h.as_f64()).unwrap_or(0.0);
    if tall >= y + view || tries == 0 {
        w.scroll_to_with_x_and_y(0.0, y);
    } else {
        set_timeout(move || keep_scroll(y, tries - 1), std::time::Duration::from_millis(100));
    }
}

/// A class-wide message from the server.
pub fn on_message(msg: ServerMsg) {
    match msg {
        ServerMsg::Notice { message } => notice::push(message),
        ServerMsg::Goto { lesson } => {
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_hash(&format!("/lesson/{}", js_sys::encode_uri_component(&lesson)));
            }
        }
        ServerMsg::CourseChanged { lessons } => {
            let concerns_page = match route::current() {
                Route::Lessons => true,
                Route::Lesson(id) => lessons.is_empty() || lessons.contains(&id),
                _ => false,
            };
            if concerns_page {
                let y = web_sys::window().and_then(|w| w.scroll_y().ok()).unwrap_or(0.0);
                course_version().update(|v| *v += 1);
                // After the page has been taken down for the new version (effects run later).
                set_timeout(move || keep_scroll(y, 30), std::time::Duration::from_millis(100));
            }
        }
        ServerMsg::Error { message, .. } => {
            web_sys::console::warn_1(&format!("class server: {message}").into());
        }
        ServerMsg::WorkRefused { lesson, cell, message } => work::refused(lesson, cell, message),
        ServerMsg::HandAnswered => work::answered(),
        ServerMsg::ResetCell { lesson, cell } => work::reset_cell(&lesson, &cell),
        ServerMsg::Renamed { name } => work::renamed(name),
        _ => {}
    }
}
