//! The teacher's messages to the class, shown as banners above the page until the student
//! dismisses them (newest last).

use crate::i18n::tr;
use leptos::prelude::*;

thread_local! {
    static NOTICES: RwSignal<Vec<(u32, String)>> = RwSignal::new(Vec::new());
    static NEXT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn notices() -> RwSignal<Vec<(u32, String)>> {
    NOTICES.with(|n| *n)
}

pub fn push(message: String) {
    let id = NEXT.with(|n| n.replace(n.get() + 1));
    notices().update(|v| v.push((id, message)));
}

#[component]
pub fn Notices() -> impl IntoView {
    let list = notices();
    view! {
        <For each=move || list.get() key=|(id, _)| *id let:notice>
            <div class="notice" role="alert" data-role="notice">
                <span class="notice-from">{move || tr("notice-from")}</span>
                <span class="notice-text">{notice.1.clone()}</span>
                <button class="small" data-action="dismiss-notice" aria-label=move || tr("dismiss")
                    on:click=move |_| list.update(|v| v.retain(|(id, _)| *id != notice.0))>
                    "✕"
                </button>
            </div>
        </For>
    }
}
