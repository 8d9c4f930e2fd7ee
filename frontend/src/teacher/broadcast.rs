//! Speaking to the whole class: a message every connected student sees as a banner, and a
//! lesson picker that takes every connected student to that lesson.

use super::api;
use super::Board;
use crate::i18n::tr;
use leptos::prelude::*;

/// What became of the last action: shown next to its button.
#[derive(Clone, Copy, PartialEq)]
enum Sent {
    No,
    Sending,
    Done,
    Failed,
}

fn sent_text(s: Sent) -> &'static str {
    match s {
        Sent::No => "",
        Sent::Sending => tr("teacher-sending"),
        Sent::Done => tr("teacher-sent"),
        Sent::Failed => tr("teacher-send-failed"),
    }
}

#[component]
pub fn Broadcast(board: Board) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let message_sent = RwSignal::new(Sent::No);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = text.get_untracked().trim().to_string();
        if t.is_empty() {
            return;
        }
        message_sent.set(Sent::Sending);
        board.act(
            move |token| async move { api::message(&token, &t).await },
            move |ok| {
                message_sent.set(if ok { Sent::Done } else { Sent::Failed });
                if ok {
                    text.set(String::new());
                }
            },
        );
    };
    let lesson = RwSignal::new(String::new());
    let goto_sent = RwSignal::new(Sent::No);
    let goto = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let l = lesson.get_untracked();
        let l = if l.is_empty() { board.lessons.with_untracked(|v| v.first().map(|l| l.id.clone())).unwrap_or_default() } else { l };
        if l.is_empty() {
            return;
        }
        goto_sent.set(Sent::Sending);
        board.act(move |token| async move { api::goto(&token, &l).await }, move |ok| goto_sent.set(if ok { Sent::Done } else { Sent::Failed }));
    };
    view! {
        <section class="broadcast" aria-labelledby="broadcast-title">
            <h2 id="broadcast-title">{move || tr("teacher-class")}</h2>
            <form data-role="message" on:submit=send>
                <label for="teacher-message">{move || tr("teacher-message")}</label>
                <div class="row">
                    <textarea id="teacher-message" data-role="message-text" rows="2" maxlength="500"
                        prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                    <button type="submit" class="run" data-action="send-message">{move || tr("teacher-send")}</button>
                </div>
                <span class="muted" role="status" data-role="message-status">{move || sent_text(message_sent.get())}</span>
            </form>
            <form data-role="goto" on:submit=goto>
                <label for="teacher-goto">{move || tr("teacher-goto")}</label>
                <div class="row">
                    <select id="teacher-goto" data-role="goto-lesson" on:change=move |ev| lesson.set(event_target_value(&ev))>
                        {move || board.lessons.get().into_iter().map(|l| {
                            let selected = lesson.get_untracked() == l.id;
                            view! { <option value=l.id.clone() selected=selected>{l.title.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <button type="submit" data-action="goto">{move || tr("teacher-goto-button")}</button>
                </div>
                <span class="muted" role="status" data-role="goto-status">{move || sent_text(goto_sent.get())}</span>
            </form>
        </section>
    }
}
