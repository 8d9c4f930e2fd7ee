//! The keyboard shortcut overlay: opened by the header's `?` button, by `?` outside an editor
//! or text field, and by Ctrl+Shift+/ anywhere; Escape or Close shuts it.

use crate::i18n::tr;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// (keys, what they do): the editor's keymap is frontend/editor/codemirror.js.
const SHORTCUTS: &[(&str, &str)] = &[
    ("Shift+Enter", "key-run-next"),
    ("Ctrl+Enter", "key-run"),
    ("Ctrl+Shift+X", "key-stop"),
    ("Ctrl+Shift+Enter", "key-visualise"),
    ("← → · Home End", "key-vis-steps"),
    ("Ctrl+/", "key-comment"),
    ("Tab / Shift+Tab", "key-indent"),
    ("Ctrl+Z / Ctrl+Shift+Z", "key-undo"),
    ("Esc, Tab", "key-leave"),
    ("? · Ctrl+Shift+/", "key-help"),
];

/// Whether the key event comes from somewhere typing happens.
fn in_text_field(ev: &web_sys::KeyboardEvent) -> bool {
    let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else { return false };
    matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT") || el.is_content_editable()
}

#[component]
pub fn HelpButton() -> impl IntoView {
    let open = RwSignal::new(false);
    let close_button = NodeRef::<leptos::html::Button>::new();
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        let wanted = (ev.key() == "?" && !ev.ctrl_key() && !ev.alt_key() && !in_text_field(&ev))
            || (ev.ctrl_key() && ev.shift_key() && ev.code() == "Slash");
        if wanted {
            ev.prevent_default();
            open.set(true);
        } else if ev.key() == "Escape" && open.get_untracked() {
            open.set(false);
        }
    });
    on_cleanup(move || handle.remove());
    // Focus goes into the overlay when it opens, and back where it was when it closes.
    let before: StoredValue<Option<web_sys::HtmlElement>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move |was_open: Option<bool>| {
        let is_open = open.get();
        let doc = web_sys::window().and_then(|w| w.document());
        if is_open && was_open != Some(true) {
            before.set_value(doc.and_then(|d| d.active_element()).and_then(|e| e.dyn_into().ok()));
        } else if !is_open && was_open == Some(true) {
            if let Some(el) = before.try_update_value(|b| b.take()).flatten() {
                let _ = el.focus();
            }
        }
        is_open
    });
    Effect::new(move |_| {
        if let Some(b) = close_button.get() {
            let _ = b.focus();
        }
    });
    view! {
        <button data-action="help" aria-label=move || tr("help") title=move || tr("help")
            aria-haspopup="dialog" on:click=move |_| open.set(true)>"?"</button>
        <Show when=move || open.get()>
            <div class="overlay" on:click=move |_| open.set(false)>
                <div class="panel help" role="dialog" aria-modal="true" aria-labelledby="help-title" data-role="help"
                    on:click=|ev| ev.stop_propagation()>
                    <h2 id="help-title">{move || tr("help")}</h2>
                    <table>
                        {SHORTCUTS.iter().map(|(keys, what)| view! {
                            <tr><td><kbd>{*keys}</kbd></td><td>{move || tr(what)}</td></tr>
                        }).collect_view()}
                    </table>
                    <button data-action="close-help" node_ref=close_button on:click=move |_| open.set(false)>{move || tr("close")}</button>
                </div>
            </div>
        </Show>
    }
}
