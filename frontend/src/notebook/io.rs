//! Notebooks in and out of the page: a lesson with the student's edits downloaded as .ipynb or
//! .py, and an .ipynb imported into the scratch page (kept in the browser). The conversions
//! themselves are `shared::ipynb`.

use super::cell::{CodeCell, GroupCell};
use super::edits::LessonEdits;
use crate::i18n::tr;
use crate::storage;
use leptos::prelude::*;
use shared::course::{Block, Lesson};
use shared::ipynb::{self, Notebook};
use wasm_bindgen::JsCast;

/// Where the imported notebook's text is kept, and the "lesson" its cells' edits are kept under.
const IMPORT_KEY: &str = "import";
const IMPORT_LESSON: &str = "import";

thread_local! {
    static IMPORTS: ArcRwSignal<u32> = ArcRwSignal::new(0);
}

fn imports() -> ArcRwSignal<u32> {
    IMPORTS.with(|v| v.clone())
}

/// Offers `text` as a file download named `name`.
fn download(name: &str, text: &str, mime: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let parts = js_sys::Array::of1(&text.into());
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let Ok(a) = doc.create_element("a") else { return };
    let a: web_sys::HtmlAnchorElement = a.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
}

/// Export buttons of a lesson: the lesson as the student has it now.
#[component]
pub fn ExportButtons(lesson: Lesson) -> impl IntoView {
    let edits = use_context::<LessonEdits>();
    let lesson = StoredValue::new(lesson);
    let notebook = move || lesson.with_value(|l| Notebook::from_lesson(l, |id| edits.and_then(|e| e.code_of(id)), |id| edits.and_then(|e| e.output_of(id))));
    let id = move || lesson.with_value(|l| l.id.clone());
    view! {
        <button data-action="export-ipynb" aria-label=move || tr("export-ipynb")
            on:click=move |_| download(&format!("{}.ipynb", id()), &ipynb::to_ipynb(&notebook()), "application/x-ipynb+json")>
            "⤓ " {move || tr("export-ipynb")}
        </button>
        <button data-action="export-py" aria-label=move || tr("export-py")
            on:click=move |_| download(&format!("{}.py", id()), &ipynb::to_py(&notebook()), "text/x-python")>
            "⤓ " {move || tr("export-py")}
        </button>
    }
}

/// Reads a chosen .ipynb; only a notebook read whole replaces the imported one.
#[component]
pub fn ImportButton() -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let error: RwSignal<Option<String>> = RwSignal::new(None);
    let on_change = move |_| {
        let Some(el) = input.get_untracked() else { return };
        let Some(file) = el.files().and_then(|f| f.get(0)) else { return };
        el.set_value("");
        leptos::task::spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string());
            let result = match text {
                None => Err("the file could not be read".to_string()),
                Some(text) => match ipynb::from_ipynb(&text) {
                    Err(e) => Err(e.to_string()),
                    Ok(_) if !storage::set(IMPORT_KEY, &text) => Err("the browser's storage is full".to_string()),
                    Ok(_) => Ok(()),
                },
            };
            match result {
                Err(e) => error.set(Some(e)),
                Ok(()) => {
                    error.set(None);
                    // Edits of the previous import belong to other cells.
                    super::edits::forget_lesson(IMPORT_LESSON);
                    imports().update(|v| *v += 1);
                }
            }
        });
    };
    view! {
        <input type="file" accept=".ipynb,application/x-ipynb+json,application/json" class="hidden-file"
            data-role="import-file" node_ref=input on:change=on_change tabindex="-1" aria-hidden="true"/>
        <button data-action="import" aria-label=move || tr("import-ipynb")
            on:click=move |_| { if let Some(el) = input.get_untracked() { el.click() } }>
            "⤒ " {move || tr("import-ipynb")}
        </button>
        {move || error.get().map(|e| view! {
            <p class="error" role="alert" data-role="import-error">{move || tr("import-failed")}" "{e.clone()}</p>
        })}
    }
}

/// The imported notebook's cells on the scratch page, with the student's edits kept.
#[component]
pub fn ImportedNotebook() -> impl IntoView {
    move || {
        imports().track();
        let nb: Option<Notebook> = storage::get(IMPORT_KEY).and_then(|t| ipynb::from_ipynb(&t).ok());
        nb.map(|nb| view! { <ImportedCells nb=nb/> })
    }
}

#[component]
fn ImportedCells(nb: Notebook) -> impl IntoView {
    LessonEdits::provide(IMPORT_LESSON);
    let title = if nb.title.is_empty() { None } else { Some(nb.title.clone()) };
    // Prose comes back as plain text (`Notebook::blocks`), so it is shown as text, never as HTML.
    let blocks = nb.blocks().into_iter().map(|b| match b {
        Block::Text { html: text, .. } => view! { <div class="prose imported-text">{text}</div> }.into_any(),
        Block::Cell(cell) => view! { <CodeCell cell=cell namespace="scratch".to_string()/> }.into_any(),
        Block::Group(group) => view! { <GroupCell group=group/> }.into_any(),
    });
    view! {
        <section class="imported" data-role="imported">
            <h2>{move || tr("imported")} {title.map(|t| format!(" · {t}"))}</h2>
            <button data-action="remove-imported" on:click=move |_| {
                storage::remove(IMPORT_KEY);
                super::edits::forget_lesson(IMPORT_LESSON);
                imports().update(|v| *v += 1);
            }>{move || tr("remove-imported")}</button>
            {blocks.collect_view()}
        </section>
    }
}
