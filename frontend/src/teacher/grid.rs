//! The progress grid, students × exercises (✓ passed / … tried / · not yet; the symbol says it
//! without the colour; attempts and the time of the first pass on hover), each exercise's class
//! totals (passed, attempts, first pass), its CSV export fetched with the teacher's token, and
//! the projector view (large type, no names) for showing the class its progress.

use super::api::{self, Progress};
use super::students::display_name;
use super::Board;
use crate::i18n::tr;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

/// (data-result, symbol, text key) of a result.
fn result_of(r: Option<&String>) -> (&'static str, &'static str, &'static str) {
    match r.map(String::as_str) {
        Some("passed") => ("passed", "✓", "teacher-passed"),
        Some("tried") => ("tried", "…", "teacher-tried"),
        _ => ("none", "·", "teacher-not-yet"),
    }
}

#[component]
pub fn ProgressGrid(board: Board) -> impl IntoView {
    let exporting = RwSignal::new(false);
    let export = move |_| {
        let Some(token) = board.token.get_untracked() else { return };
        exporting.set(true);
        spawn_local(async move {
            match api::progress_csv(&token).await {
                Ok(csv) => download("classbook-progress.csv", &csv),
                Err(e) => board.failed(e),
            }
            exporting.set(false);
        });
    };
    let table = move || {
        let Progress { exercises, students } = board.progress.get();
        let total = exercises.len();
        // Titles wrap (the whole title, with its lesson, on hover): two exercises of one
        // lesson are told apart by their own headings.
        let head_cells = exercises
            .iter()
            .map(|e| {
                let full = format!("{} · {}", e.lesson_title, e.title);
                view! {
                    <th scope="col" class="ex" title=full data-exercise=e.key()>
                        <span class="ex-lesson">{e.lesson_title.clone()}</span>
                        <span class="ex-title">{e.title.clone()}</span>
                    </th>
                }
            })
            .collect_view();
        let rows = students
            .into_iter()
            .map(|s| {
                let name = display_name(&s.name);
                let passed = exercises.iter().filter(|e| s.results.get(&e.key()).is_some_and(|r| r == "passed")).count();
                let cells = exercises
                    .iter()
                    .map(|e| {
                        let k = e.key();
                        let (result, symbol, key) = result_of(s.results.get(&k));
                        let mut label = format!("{name} · {}: {}", e.title, tr(key));
                        if let Some(n) = s.attempts.get(&k) {
                            label.push_str(&format!(" · {n} {}", tr("teacher-attempts")));
                        }
                        if let Some(at) = s.first_pass_ms.get(&k) {
                            label.push_str(&format!(" · {} {}", tr("teacher-first-pass"), clock(*at)));
                        }
                        view! {
                            <td class=format!("result {result}") data-exercise=k.clone() data-result=result
                                data-attempts=s.attempts.get(&k).copied().unwrap_or(0).to_string() title=label.clone() aria-label=label>
                                {symbol}
                            </td>
                        }
                    })
                    .collect_view();
                view! {
                    <tr data-student-id=s.id.to_string()>
                        <th scope="row">{name.clone()}</th>
                        {cells}
                        <td class="total">{format!("{passed}/{total}")}</td>
                    </tr>
                }
            })
            .collect_view();
        let class_size = board.progress.with(|p| p.students.len());
        let totals = |what: &'static str, f: fn(&api::Exercise, usize) -> String| {
            let cells = exercises.iter().map(|e| view! { <td class="sum" data-exercise=e.key()>{f(e, class_size)}</td> }).collect_view();
            view! { <tr class="sums" data-role=what><th scope="row">{move || tr(what)}</th>{cells}<td></td></tr> }
        };
        view! {
            <table class="grid" data-role="grid">
                <thead>
                    <tr>
                        <th scope="col">{move || tr("teacher-name")}</th>
                        {head_cells}
                        <th scope="col">{move || tr("teacher-passed")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
                <tfoot>
                    {totals("teacher-passed-count", |e, n| format!("{}/{n}", e.passed))}
                    {totals("teacher-attempts-count", |e, _| e.attempts.to_string())}
                    {totals("teacher-first-pass", |e, _| e.first_pass_ms.map(clock).unwrap_or_else(|| "—".into()))}
                </tfoot>
            </table>
        }
    };
    view! {
        <section class="progress" aria-labelledby="progress-title">
            <h2 id="progress-title">{move || tr("teacher-progress")}</h2>
            <div class="grid-tools">
                <span class="legend">
                    <span class="result passed">"✓"</span>" "{move || tr("teacher-passed")}"  "
                    <span class="result tried">"…"</span>" "{move || tr("teacher-tried")}"  "
                    <span class="result none">"·"</span>" "{move || tr("teacher-not-yet")}
                </span>
                <span>
                    <button data-action="projector" on:click=move |_| board.projector.set(true)>
                        "▣ " {move || tr("teacher-projector")}
                    </button>
                    " "
                    <button data-action="export-csv" aria-label=move || tr("teacher-export") disabled=move || exporting.get() on:click=export>
                        "⤓ " {move || tr("teacher-export")}
                    </button>
                </span>
            </div>
            <div class="table-scroll">{table}</div>
        </section>
    }
}

/// "14:05", local time of `ms` since the epoch.
fn clock(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The class's progress for a projector: each exercise with how many passed, in large type,
/// and no student's name.
#[component]
pub fn Projector(board: Board) -> impl IntoView {
    let rows = move || {
        let p = board.progress.get();
        let n = p.students.len().max(1);
        p.exercises
            .into_iter()
            .map(|e| {
                let share = 100.0 * e.passed as f64 / n as f64;
                view! {
                    <li data-exercise=e.key() data-passed=e.passed.to_string()>
                        <span class="p-title" title=format!("{} · {}", e.lesson_title, e.title)>{e.title.clone()}</span>
                        <span class="p-bar" aria-hidden="true"><span style=format!("width: {share:.0}%")></span></span>
                        <span class="p-count">{format!("{}/{}", e.passed, p.students.len())}</span>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <section class="projector" data-role="projector" aria-labelledby="projector-title">
            <h2 id="projector-title">{move || tr("teacher-progress")}</h2>
            <ol class="p-list">{rows}</ol>
            <button data-action="leave-projector" on:click=move |_| board.projector.set(false)>{move || tr("teacher-close")}</button>
        </section>
    }
}

/// Hands `text` to the browser as a downloaded file.
fn download(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/csv;charset=utf-8");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    if let Some(a) = doc.create_element("a").ok().and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok()) {
        a.set_href(&url);
        a.set_download(name);
        if let Some(body) = doc.body() {
            let _ = body.append_child(&a);
            a.click();
            a.remove();
        }
    }
    // Revoked later: the download reads the URL after this function returns.
    set_timeout(move || drop(web_sys::Url::revoke_object_url(&url)), std::time::Duration::from_secs(30));
}
