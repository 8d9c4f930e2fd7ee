//! The code editor of a cell: a plain textarea for now (CodeMirror arrives with the
//! notebook issue), with Tab indenting and Shift+Enter / Ctrl+Enter to run.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlTextAreaElement, KeyboardEvent};

#[component]
pub fn Editor(code: RwSignal<String>, label: String, on_run: Callback<()>) -> impl IntoView {
    let rows = move || code.with(|c| c.lines().count().max(1) + 1);
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && (ev.shift_key() || ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            on_run.run(());
        } else if ev.key() == "Tab" && !ev.shift_key() {
            ev.prevent_default();
            let Some(area) = ev.target().and_then(|t| t.dyn_into::<HtmlTextAreaElement>().ok()) else { return };
            let start = area.selection_start().ok().flatten().unwrap_or(0);
            let end = area.selection_end().ok().flatten().unwrap_or(start);
            let _ = area.set_range_text_with_start_and_end(
                "    ",
                start,
                end,
            );
            let _ = area.set_selection_range(start + 4, start + 4);
            code.set(area.value());
        }
    };
    view! {
        <textarea
            class="editor"
            spellcheck="false"
            autocapitalize="off"
            aria-label=label
            rows=rows
            prop:value=move || code.get()
            on:input=move |ev| code.set(event_target_value(&ev))
            on:keydown=on_keydown
        ></textarea>
    }
}
