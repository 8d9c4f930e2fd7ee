//! The code editor of a cell: CodeMirror 6 (frontend/editor/codemirror.js, bundled at build
//! time and loaded by editor/load-editor.js as `window.classbookEditor`), kept in step with a signal.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, KeyboardEvent};

/// The event editor/load-editor.js fires once the editor module is loaded.
const READY_EVENT: &str = "classbook-editor";

fn module() -> Option<JsValue> {
    let m = js_sys::Reflect::get(&web_sys::window()?.into(), &"classbookEditor".into()).ok()?;
    (!m.is_undefined()).then_some(m)
}

fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Option<JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(target, &method.into()).ok()?.dyn_into().ok()?;
    f.apply(target, &args.iter().collect::<js_sys::Array>()).ok()
}

/// A mounted CodeMirror view with the closures it calls back into.
struct Mounted {
    handle: JsValue,
    _on_change: Closure<dyn FnMut(String)>,
    _on_run: Closure<dyn FnMut(bool)>,
}

/// The stop shortcut (Ctrl+Shift+X), handled by the cell around the editor.
pub fn is_stop_key(ev: &KeyboardEvent) -> bool {
    (ev.ctrl_key() || ev.meta_key()) && ev.shift_key() && ev.key().eq_ignore_ascii_case("x")
}

/// The step-through shortcut (Ctrl+Shift+Enter), handled by the cell around the editor.
pub fn is_visualise_key(ev: &KeyboardEvent) -> bool {
    (ev.ctrl_key() || ev.meta_key()) && ev.shift_key() && ev.key() == "Enter"
}

/// `on_run(advance)`: Shift+Enter gives `true` (then the next cell's editor gets the focus),
/// Ctrl+Enter `false`.
#[component]
pub fn Editor(code: RwSignal<String>, label: String, on_run: Callback<bool>) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    let label = StoredValue::new(label);
    let mounted: StoredValue<Option<Mounted>, LocalStorage> = StoredValue::new_local(None);
    let mount = move || {
        if mounted.with_value(|m| m.is_some()) {
            return;
        }
        let (Some(el), Some(module)) = (node.get_untracked(), module()) else { return };
        let el: HtmlElement = el.into();
        let on_change = Closure::<dyn FnMut(String)>::new(move |text: String| {
            code.try_set(text);
        });
        let focus_from = el.clone();
        let on_run_js = Closure::<dyn FnMut(bool)>::new(move |advance: bool| {
            on_run.run(advance);
            if advance {
                focus_next_cell(&focus_from);
            }
        });
        let callbacks = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&callbacks, &"label".into(), &label.get_value().into());
        let _ = js_sys::Reflect::set(&callbacks, &"onChange".into(), on_change.as_ref());
        let _ = js_sys::Reflect::set(&callbacks, &"onRun".into(), on_run_js.as_ref());
        let doc = code.get_untracked();
        if let Some(handle) = call(&module, "create", &[el.into(), doc.into(), callbacks.into()]) {
            mounted.set_value(Some(Mounted { handle, _on_change: on_change, _on_run: on_run_js }));
        }
    };
    // Mount once the element is in the page and the module is loaded (it may load later).
    Effect::new(move |_| {
        if node.get().is_some() {
            mount();
        }
    });
    let listener = window_event_listener(leptos::ev::Custom::<web_sys::Event>::new(READY_EVENT), move |_| mount());
    // Changes made by the page (reset, take the new original) reach the editor.
    Effect::new(move |_| {
        let text = code.get();
        mounted.with_value(|m| {
            if let Some(m) = m {
                call(&m.handle, "set", &[text.into()]);
            }
        });
    });
    on_cleanup(move || {
        listener.remove();
        if let Some(Some(m)) = mounted.try_update_value(|m| m.take()) {
            call(&m.handle, "destroy", &[]);
        }
    });
    view! { <div class="editor" data-role="editor" node_ref=node></div> }
}

/// Focuses the editor of the cell after the one holding `from` (Shift+Enter).
fn focus_next_cell(from: &HtmlElement) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let Ok(all) = doc.query_selector_all(".cell [data-role=editor]") else { return };
    let this_cell = from.closest(".cell").ok().flatten();
    let mut seen = false;
    for i in 0..all.length() {
        let Some(el) = all.item(i).and_then(|n| n.dyn_into::<HtmlElement>().ok()) else { continue };
        if el == *from {
            seen = true;
        } else if seen && el.closest(".cell").ok().flatten() != this_cell {
            if let Some(content) = el.query_selector(".cm-content").ok().flatten().and_then(|c| c.dyn_into::<HtmlElement>().ok()) {
                let _ = content.focus();
                content.scroll_into_view_with_bool(false);
            }
            return;
        }
    }
}
