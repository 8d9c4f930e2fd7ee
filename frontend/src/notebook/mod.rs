//! Notebook views: the lesson list (with progress), a lesson (prose and cells, the student's
//! edits kept), and the scratch page (a shared cell, an imported notebook).

mod cell;
pub mod edits;
mod exercise;
mod io;
mod packets;
pub mod progress;
mod program;
mod recorded;
mod timeline;

pub use program::Phase;
mod visualiser;

use crate::api;
use crate::i18n::tr;
use cell::{CodeCell, GroupCell};
use edits::LessonEdits;
use leptos::prelude::*;
use shared::course::{Block, Cell, Runtime};

#[component]
pub fn LessonList() -> impl IntoView {
    let lessons = LocalResource::new(|| api::lessons(crate::i18n::lang().get()));
    view! {
        <h1>{move || tr("lessons")}</h1>
        {move || match lessons.get() {
            None => view! { <p class="muted">{move || tr("loading")}</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            Some(Ok(list)) => view! {
                <ol class="lessons">
                    {list.into_iter().map(|l| view! {
                        <li>
                            <a href=format!("#/lesson/{}", l.id) data-lesson-id=l.id.clone()>{l.title.clone()}</a>
                            <span class="muted">
                                " · " {l.minutes} " " {move || tr("minutes")}
                                {(l.exercises > 0).then(|| {
                                    let (id, total) = (l.id.clone(), l.exercises as usize);
                                    view! {
                                        " · "
                                        <span data-role="lesson-progress">
                                            {move || progress::passed_count(&id).min(total)} "/" {total}
                                        </span>
                                        " " {move || tr("exercises-passed")}
                                    }
                                })}
                            </span>
                        </li>
                    }).collect_view()}
                </ol>
            }.into_any(),
        }}
    }
}

#[component]
pub fn LessonView(id: String) -> impl IntoView {
    // Fetched again in the other language when the student switches.
    let lesson = LocalResource::new(move || {
        let (id, lang) = (id.clone(), crate::i18n::lang().get());
        async move { api::lesson(&id, lang).await }
    });
    move || match lesson.get() {
        None => view! { <p class="muted">{move || tr("loading")}</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        Some(Ok(lesson)) => {
            let edits = LessonEdits::provide(&lesson.id);
            let export = lesson.clone();
            let ns = lesson.id.clone();
            let blocks = lesson.blocks.into_iter().map(|block| match block {
                Block::Text { html, .. } => view! { <section class="prose" inner_html=html></section> }.into_any(),
                Block::Cell(cell) => view! { <CodeCell cell=cell namespace=ns.clone()/> }.into_any(),
                Block::Group(group) => view! { <GroupCell group=group/> }.into_any(),
            });
            let link = |l: Option<shared::course::LessonLink>, key: &'static str, class: &'static str| {
                l.map(|l| view! { <a class=class href=format!("#/lesson/{}", l.id)>{move || tr(key)}": "{l.title}</a> })
            };
            // The lesson is not in the page's language: say so once, above it.
            let fallback = (lesson.lang != crate::i18n::lang().get_untracked().code())
                .then(|| view! { <p class="notice" role="note" data-role="lang-fallback">{move || tr("lesson-not-translated")}</p> });
            view! {
                <article class="lesson" data-lesson=lesson.id.clone() data-lang=lesson.lang.clone()>
                    {fallback}
                    <div class="lesson-tools">
                        <io::ExportButtons lesson=export/>
                        <ResetLessonButton edits=edits/>
                        <RestartButton/>
                    </div>
                    {blocks.collect_view()}
                    <nav class="pager">
                        {link(lesson.prev, "prev", "prev")}
                        <a href="#/">{move || tr("lessons")}</a>
                        {link(lesson.next, "next", "next")}
                    </nav>
                </article>
            }
            .into_any()
        }
    }
}

/// Gives a fresh interpreter: every variable of every lesson is forgotten.
#[component]
fn RestartButton() -> impl IntoView {
    let done = RwSignal::new(false);
    view! {
        <button data-action="restart" title=move || tr("restart-python")
            on:click=move |_| {
                crate::runtime::browser::terminate_and_restart(tr("restarted"));
                done.set(true);
            }>
            "↻ " {move || tr("restart-python")}
        </button>
        <Show when=move || done.get()><span class="muted" role="status">" " {move || tr("restarted")}</span></Show>
    }
}

/// "Reset lesson to original", after a confirmation.
#[component]
fn ResetLessonButton(edits: LessonEdits) -> impl IntoView {
    let asking = RwSignal::new(false);
    view! {
        <Show when=move || !asking.get()>
            <button data-action="reset-lesson" on:click=move |_| asking.set(true)>"↺ " {move || tr("reset-lesson")}</button>
        </Show>
        <Show when=move || asking.get()>
            <span class="confirm" role="alertdialog" aria-label=move || tr("reset-lesson")>
                {move || tr("reset-lesson-confirm")}" "
                <button data-action="reset-lesson-yes" class="danger" on:click=move |_| { edits.reset_all(); asking.set(false) }>
                    {move || tr("yes-reset")}
                </button>
                <button data-action="cancel" on:click=move |_| asking.set(false)>{move || tr("cancel")}</button>
            </span>
        </Show>
    }
}

/// One editable cell holding shared code (`#/scratch?...`), then the imported notebook.
#[component]
pub fn Scratch(runtime: Runtime, code: String, step: Option<usize>) -> impl IntoView {
    let cell = Cell::new("scratch", runtime, code);
    view! {
        <h1>{move || tr("scratch")}</h1>
        <div class="lesson-tools"><io::ImportButton/><RestartButton/></div>
        <CodeCell cell=cell namespace="scratch".to_string() switch=true open_step=step/>
        <io::ImportedNotebook/>
    }
}
