//! The page shell: header (engine progress, server link, name, language, shortcuts, settings),
//! the class's notices and name dialog, and the current route.

use crate::class;
use crate::i18n::{lang, set_lang, tr, Lang};
use crate::notebook::{LessonList, LessonView, Scratch};
use crate::route::{self, Route};
use crate::runtime::{browser, server};
use crate::teacher::TeacherPage;
use leptos::prelude::*;

#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(route::current());
    let handle = window_event_listener(leptos::ev::hashchange, move |_| route.set(route::current()));
    on_cleanup(move || handle.remove());
    // Screen readers and the browser's own text handling follow the interface language.
    Effect::new(move |_| {
        let code = if lang().get() == Lang::En { "en" } else { "zh-CN" };
        class::tell_language();
        if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
            let _ = root.set_attribute("lang", code);
        }
    });
    let student = move || !class::is_teacher(&route.get());
    view! {
        <header class="top">
            <a class="brand" href="#/" title=move || tr("app")>
                <span class="brand-name">"classbook"</span>
                <span class="class-title" data-role="class-title">{move || class::title().get()}</span>
            </a>
            <Show when=student>
                <a class="scratch-link" href="#/scratch" data-action="open-scratch" title=move || tr("scratch")>
                    "✎"<span class="label">" "{move || tr("scratch")}</span>
                </a>
                <EngineStatus/><ServerStatus/><class::NameButton/><class::HandButton/>
            </Show>
            <button class="lang" aria-label="language / 语言" data-action="language"
                on:click=move |_| set_lang(if lang().get() == Lang::Zh { Lang::En } else { Lang::Zh })>
                {move || tr("language")}
            </button>
            <crate::help::HelpButton/>
            <crate::settings::SettingsButton/>
        </header>
        <Show when=student><class::Notices/><class::JoinDialog/></Show>
        <main>
            {move || {
            // A lesson changed on the server: fetch and show the open page again.
            class::course_version().track();
            match route.get() {
                Route::Lessons => view! { <LessonList/> }.into_any(),
                Route::Lesson(id) => view! { <LessonView id=id/> }.into_any(),
                Route::Scratch { runtime, code, step } => view! { <Scratch runtime=runtime code=code step=step/> }.into_any(),
                Route::Teacher { token } => view! { <TeacherPage token=token/> }.into_any(),
                Route::NotFound(_) => view! {
                    <p class="error">{move || tr("not-found")}" · "<a href="#/">{move || tr("back")}</a></p>
                }.into_any(),
            }}}
        </main>
    }
}

/// The browser engine's progress bar, then a short "ready" note.
#[component]
fn EngineStatus() -> impl IntoView {
    let status = browser::status();
    move || match status.get() {
        browser::Engine::Loading { fraction, .. } => view! {
            <div class="engine loading" role="status" data-engine="loading">
                <span>{move || tr("engine-loading")}</span>
                <progress max="1" value=fraction.to_string()></progress>
            </div>
        }
        .into_any(),
        browser::Engine::Ready { ms } => view! {
            <div class="engine ready" role="status" data-engine="ready" title=move || format!("{} ({ms:.0} ms)", tr("engine-ready"))>
                <span class="label">{move || tr("engine-ready")}</span>
            </div>
        }
        .into_any(),
        browser::Engine::Failed(why) => view! {
            <div class="engine failed" role="alert" data-engine="failed">
                {move || tr("engine-failed")}": "{why.clone()}
            </div>
        }
        .into_any(),
    }
}

#[component]
fn ServerStatus() -> impl IntoView {
    let link = server::link();
    let refused = server::refused();
    move || {
        let state = link.get();
        let why = refused.get();
        // Not yet connected, or not joined yet, is no alarm: only a link that was lost is.
        let (class, text) = match (&why, state) {
            (_, server::Link::Open) => ("link open", tr("server-open").to_string()),
            (Some(shared::wire::Refusal::JoinFirst), _) => ("link pending", tr("server-join-first").to_string()),
            (Some(r), _) => ("link closed", server::refusal_text(r)),
            (None, server::Link::Connecting) => ("link pending", tr("server-connecting").to_string()),
            (None, server::Link::Closed) => ("link closed", tr("server-closed").to_string()),
        };
        let title = text.clone();
        view! {
            <div class=class role="status" data-role="server-link" title=title>
                <span class="label">{text}</span>
            </div>
        }
    }
}
