//! Helping one student: their lesson read-only with their latest code and last output of each
//! cell (from the server), and the teacher's actions on them: reset an exercise, rename,
//! remove, and a one-time restore code for another machine.

use super::api::{self, StudentWork as Work};
use super::students::display_name;
use super::Board;
use crate::i18n::tr;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::course::Lesson;

#[component]
pub fn StudentWork(board: Board) -> impl IntoView {
    move || board.viewing.get().map(|id| view! { <Panel board=board id=id/> })
}

#[component]
fn Panel(board: Board, id: u64) -> impl IntoView {
    let work: RwSignal<Option<Work>> = RwSignal::new(None);
    // The lesson shown: the student's open lesson, else the first one they worked in.
    let lesson_id: RwSignal<Option<String>> = RwSignal::new(None);
    let lesson: RwSignal<Option<Lesson>> = RwSignal::new(None);
    let restore: RwSignal<Option<api::RestoreCode>> = RwSignal::new(None);
    let new_name = RwSignal::new(String::new());
    let load = move || {
        let Some(token) = board.token.get_untracked() else { return };
        spawn_local(async move {
            match api::work(&token, id).await {
                Ok(w) => {
                    if lesson_id.get_untracked().is_none() {
                        let open = board.students.with_untracked(|v| v.iter().find(|s| s.id == id).and_then(|s| s.lesson.clone()));
                        lesson_id.set(open.or_else(|| w.cells.first().map(|c| c.lesson.clone())));
                    }
                    work.set(Some(w));
                }
                Err(e) => board.failed(e),
            }
        });
    };
    load();
    // Follows the student's typing while the panel is open.
    if let Ok(h) = set_interval_with_handle(load, std::time::Duration::from_secs(2)) {
        on_cleanup(move || h.clear());
    }
    Effect::new(move || {
        let Some(l) = lesson_id.get() else { return };
        spawn_local(async move {
            if let Ok(found) = crate::api::lesson(&l, crate::i18n::lang().get_untracked()).await {
                lesson.set(Some(found));
            }
        });
    });
    let name = move || work.with(|w| w.as_ref().map(|w| display_name(&w.name)).unwrap_or_default());
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = new_name.get_untracked().trim().to_string();
        if !n.is_empty() {
            board.act(move |t| async move { api::rename(&t, id, &n).await }, move |ok| if ok { new_name.set(String::new()); load() });
        }
    };
    let remove = move |_| {
        let sure = web_sys::window().and_then(|w| w.confirm_with_message(&format!("{} {}?", tr("teacher-remove-confirm"), name())).ok());
        if sure == Some(true) {
            board.act(move |t| async move { api::remove(&t, id).await }, move |ok| if ok { board.viewing.set(None) });
        }
    };
    let make_code = move |_| {
        let Some(token) = board.token.get_untracked() else { return };
        spawn_local(async move {
            match api::restore_code(&token, id).await {
                Ok(c) => restore.set(Some(c)),
                Err(e) => board.failed(e),
            }
        });
    };
    let lessons_worked = move || {
        let mut ids: Vec<String> = work.with(|w| w.as_ref().map(|w| w.cells.iter().map(|c| c.lesson.clone()).collect()).unwrap_or_default());
        if let Some(l) = lesson_id.get() {
            ids.push(l);
        }
        ids.sort();
        ids.dedup();
        ids
    };
    view! {
        <section class="student-work" data-role="student-work" data-student-id=id.to_string() aria-labelledby="work-title">
            <h2 id="work-title">{move || tr("teacher-work-of")}" "<span data-role="work-name">{name}</span></h2>
            <div class="work-tools">
                <label>
                    <span>{move || tr("teacher-lesson")}" "</span>
                    <select data-role="work-lesson" on:change=move |ev| { lesson.set(None); lesson_id.set(Some(event_target_value(&ev))) }>
                        {move || lessons_worked().into_iter().map(|l| {
                            let selected = lesson_id.get().as_deref() == Some(l.as_str());
                            view! { <option value=l.clone() selected=selected>{board.title(&l)}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <form class="inline" on:submit=rename>
                    <input type="text" data-role="rename" maxlength="40" aria-label=move || tr("teacher-rename")
                        placeholder=move || tr("teacher-rename")
                        prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev))/>
                    <button type="submit" class="small" data-action="rename">{move || tr("teacher-rename")}</button>
                </form>
                <button class="small" data-action="restore-code" on:click=make_code>{move || tr("teacher-restore-code")}</button>
                {move || restore.get().map(|c| view! {
                    <span class="restore-code" data-role="restore-code" data-code=c.code.clone()>
                        <strong>{c.code.clone()}</strong>" "{move || tr("teacher-restore-help")}" ("{c.minutes}" min)"
                    </span>
                })}
                <button class="small stop" data-action="remove-student" on:click=remove>{move || tr("teacher-remove")}</button>
                <button class="small" data-action="close-work" on:click=move |_| board.viewing.set(None)>{move || tr("teacher-close")}</button>
            </div>
            {move || lesson.get().map(|l| {
                let lesson_key = l.id.clone();
                l.cells().cloned().collect::<Vec<_>>().into_iter().map(|c| {
                    let kept = work.with(|w| w.as_ref().and_then(|w| w.cells.iter().find(|k| k.lesson == lesson_key && k.cell == c.id).cloned()));
                    let (code, output, changed) = match &kept {
                        Some(k) if !k.code.is_empty() => (k.code.clone(), k.output.clone(), k.code != c.code),
                        Some(k) => (c.code.clone(), k.output.clone(), false),
                        None => (c.code.clone(), String::new(), false),
                    };
                    let (lesson_id, cell_id) = (lesson_key.clone(), c.id.clone());
                    let reset = move |_| {
                        let (l, cell) = (lesson_id.clone(), cell_id.clone());
                        board.act(move |t| async move { api::reset(&t, id, &l, &cell).await }, move |_| load());
                    };
                    view! {
                        <div class="work-cell" data-cell-id=c.id.clone() data-changed=changed.to_string()>
                            <div class="work-cell-bar">
                                <code>{c.file.clone().unwrap_or_else(|| c.id.clone())}</code>
                                " "<span class="muted">{if changed { tr("teacher-edited") } else { tr("teacher-unchanged") }}</span>
                                {c.exercise.is_some().then(|| view! {
                                    " "<button class="small" data-action="reset-exercise" on:click=reset.clone()>{move || tr("teacher-reset")}</button>
                                })}
                            </div>
                            <pre class="code" data-role="work-code">{code}</pre>
                            {(!output.is_empty()).then(|| view! { <pre class="output" data-role="work-output">{output}</pre> })}
                        </div>
                    }
                }).collect_view()
            })}
        </section>
    }
}
