//! The progress grid, students × exercises (✓ passed / … tried / · not yet; the symbol says it
//! without the colour), and its CSV export fetched with the teacher's token.

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
        // Titles run vertically so that twenty exercises fit across a projector.
        let head_cells = exercises
            .iter()
            .map(|e| view! { <th scope="col" class="ex" title=format!("{} · {}", e.title, e.key())><span>{e.title.clone()}</span></th> })
            .collect_view();
        let rows = students
            .into_iter()
            .map(|s| {
                let name = display_name(&s.name);
                let passed = exercises.iter().filter(|e| s.results.get(&e.key()).is_some_and(|r| r == "passed")).count();
                let cells = exercises
                    .iter()
                    .map(|e| {
                        let (result, symbol, key) = result_of(s.results.get(&e.key()));
                        let label = format!("{name} · {}: {}", e.title, tr(key));
                        view! {
                            <td class=format!("result {result}") data-exercise=e.key() data-result=result title=label.clone() aria-label=label>
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
                <button data-action="export-csv" aria-label=move || tr("teacher-export") disabled=move || exporting.get() on:click=export>
                    "⤓ " {move || tr("teacher-export")}
                </button>
            </div>
            <div class="table-scroll">{table}</div>
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
