//! Solutions per lesson: hide or release each lesson's solutions (the server then stops or
//! starts sending them to students), and who opened which solution, when.

use super::api;
use super::Board;
use crate::i18n::tr;
use leptos::prelude::*;

#[component]
pub fn SolutionsPanel(board: Board) -> impl IntoView {
    let lessons = move || board.lessons.get().into_iter().filter(|l| l.exercises > 0).collect::<Vec<_>>();
    view! {
        <section class="solutions" aria-labelledby="solutions-title">
            <h2 id="solutions-title">{move || tr("teacher-solutions")}</h2>
            <div class="table-scroll">
                <table data-role="solutions">
                    <thead>
                        <tr>
                            <th scope="col">{move || tr("teacher-lesson")}</th>
                            <th scope="col">{move || tr("teacher-solutions-state")}</th>
                            <th scope="col">{move || tr("teacher-opened-by")}</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=lessons key=|l| l.id.clone() let:l>
                            <SolutionRow board=board lesson=l.id.clone() title=l.title.clone()/>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn SolutionRow(board: Board, lesson: String, title: String) -> impl IntoView {
    let key = lesson.clone();
    let hidden = Memo::new(move |_| board.solutions.with(|s| s.hidden.contains(&key)));
    let key = lesson.clone();
    let opened = Memo::new(move |_| {
        board.solutions.with(|s| s.opened.iter().filter(|o| o.lesson == key).map(|o| format!("{} ({})", o.name, o.cell)).collect::<Vec<_>>())
    });
    let target = lesson.clone();
    let toggle = move |_| {
        let (l, hide) = (target.clone(), !hidden.get_untracked());
        board.act(move |t| async move { api::hide_solutions(&t, &l, hide).await }, |_| {});
    };
    view! {
        <tr data-lesson=lesson.clone() data-hidden=move || hidden.get().to_string()>
            <th scope="row">{title}</th>
            <td>
                {move || if hidden.get() { tr("teacher-hidden") } else { tr("teacher-released") }}" "
                <button class="small" data-action="toggle-solutions" on:click=toggle>
                    {move || if hidden.get() { tr("teacher-release") } else { tr("teacher-hide") }}
                </button>
            </td>
            <td data-role="opened-by">{move || opened.get().join(", ")}</td>
        </tr>
    }
}
