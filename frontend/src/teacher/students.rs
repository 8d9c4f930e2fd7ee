//! The students table: raised hands first (with Answer), who is online, which lesson they have
//! open, when they last did something, their sandbox's memory, each running program with its
//! Stop button, and "View work" (the `help` panel).

use super::api::{self, Run, Student};
use super::Board;
use crate::i18n::tr;
use leptos::prelude::*;

/// "12 s ago", "5 min ago", "2 h ago".
pub fn ago(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0) as u64;
    let (n, unit) = match s {
        0..60 => (s, "ago-s"),
        60..3600 => (s / 60, "ago-min"),
        _ => (s / 3600, "ago-h"),
    };
    format!("{n}{}", tr(unit))
}

pub fn bytes(b: Option<u64>) -> String {
    match b {
        Some(b) => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        None => "—".into(),
    }
}

pub fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A student's display name; someone who never gave one shows as "anonymous".
pub fn display_name(name: &str) -> String {
    if name.trim().is_empty() {
        tr("anonymous").to_string()
    } else {
        name.to_string()
    }
}

/// Raised hands first (the earliest first), then online students, then by name.
fn order(students: &[Student]) -> Vec<u64> {
    let mut v: Vec<&Student> = students.iter().collect();
    let hand = |s: &Student| s.hand_ms.unwrap_or(f64::INFINITY);
    v.sort_by(|a, b| {
        hand(a).total_cmp(&hand(b)).then(b.online.cmp(&a.online)).then_with(|| a.name.cmp(&b.name)).then(a.id.cmp(&b.id))
    });
    v.into_iter().map(|s| s.id).collect()
}

#[component]
pub fn StudentsTable(board: Board) -> impl IntoView {
    let online = move || board.students.with(|v| v.iter().filter(|s| s.online).count());
    let total = move || board.students.with(|v| v.len());
    let ids = Memo::new(move |_| board.students.with(|v| order(v)));
    view! {
        <section class="students" aria-labelledby="students-title">
            <h2 id="students-title">
                {move || tr("teacher-students")}" · "{online}" "{move || tr("teacher-online")}" / "{total}
            </h2>
            <div class="table-scroll">
                <table data-role="students">
                    <thead>
                        <tr>
                            <th scope="col">{move || tr("teacher-name")}</th>
                            <th scope="col">{move || tr("teacher-lesson")}</th>
                            <th scope="col">{move || tr("teacher-last-active")}</th>
                            <th scope="col">{move || tr("teacher-memory")}</th>
                            <th scope="col">{move || tr("teacher-programs")}</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || ids.get() key=|id| *id let:id>
                            <StudentRow board=board id=id/>
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || total() == 0>
                <p class="muted">{move || tr("teacher-nobody")}</p>
            </Show>
        </section>
    }
}

/// One student's row; it stays in place while its figures change, so focus stays on a button.
#[component]
fn StudentRow(board: Board, id: u64) -> impl IntoView {
    let s = Memo::new(move |_| board.students.with(|v| v.iter().find(|s| s.id == id).cloned()));
    let field = move |f: fn(&Student) -> String| move || s.with(|s| s.as_ref().map(f).unwrap_or_default());
    let online = move || s.with(|s| s.as_ref().is_some_and(|s| s.online));
    let hand = move || s.with(|s| s.as_ref().is_some_and(|s| s.hand_ms.is_some()));
    let answer = move |_| board.act(move |t| async move { api::answer(&t, id).await }, |_| {});
    let view_work = move |_| board.viewing.set(Some(id));
    let name = field(|s| display_name(&s.name));
    let run_ids = Memo::new(move |_| s.with(|s| s.as_ref().map(|s| s.runs.iter().map(|r| r.run_id).collect::<Vec<_>>()).unwrap_or_default()));
    let stopping = RwSignal::new(false);
    let stop_all = move |_| {
        stopping.set(true);
        board.act(move |t| async move { api::stop(&t, id, None).await }, move |_| stopping.set(false));
    };
    let ago_text = move || {
        let last = s.with(|s| s.as_ref().map(|s| s.last_active_ms).unwrap_or(0.0));
        ago(board.now_ms.get() - last)
    };
    view! {
        <tr data-student-id=id.to_string() class:offline=move || !online() data-online=move || online().to_string()
            class:hand=hand data-hand=move || hand().to_string()>
            <th scope="row">
                <span class="presence" aria-hidden="true">{move || if online() { "●" } else { "○" }}</span>
                " "<span data-role="name">{name}</span>
                <span class="visually-hidden">{move || if online() { tr("teacher-online") } else { tr("teacher-offline") }}</span>
                <Show when=hand>
                    " "<span class="hand-up" role="img" aria-label=move || tr("teacher-hand")>"✋"</span>
                    " "<button class="small" data-action="answer-hand" on:click=answer>{move || tr("teacher-answer")}</button>
                </Show>
                " "<button class="small" data-action="view-work" aria-label=move || format!("{} · {}", tr("teacher-view-work"), name())
                    on:click=view_work>{move || tr("teacher-view-work")}</button>
            </th>
            <td data-role="lesson" data-lesson=field(|s| s.lesson.clone().unwrap_or_default())>
                {move || s.with(|s| s.as_ref().and_then(|s| s.lesson.clone())).map(|l| board.title(&l)).unwrap_or_else(|| "—".into())}
            </td>
            <td data-role="last-active">{ago_text}</td>
            <td data-role="memory">{field(|s| bytes(s.memory_bytes))}</td>
            <td class="runs-cell">
                <ul class="runs">
                    <For each=move || run_ids.get() key=|r| *r let:run_id>
                        <RunItem board=board student=s id=id run_id=run_id/>
                    </For>
                </ul>
                <Show when=move || { run_ids.with(|r| !r.is_empty()) }>
                    <button class="stop" data-action="stop-student" disabled=move || stopping.get()
                        aria-label=move || format!("{} · {}", tr("teacher-stop-all"), name())
                        on:click=stop_all>
                        "■ " {move || tr("teacher-stop-all")}
                    </button>
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn RunItem(board: Board, student: Memo<Option<Student>>, id: u64, run_id: u32) -> impl IntoView {
    let run = Memo::new(move |_| student.with(|s| s.as_ref().and_then(|s| s.runs.iter().find(|r| r.run_id == run_id).cloned())));
    let field = move |f: fn(&Run) -> String| move || run.with(|r| r.as_ref().map(f).unwrap_or_default());
    let entry = field(|r| r.entry.clone());
    let stopping = RwSignal::new(false);
    let stop = move |_| {
        stopping.set(true);
        board.act(move |t| async move { api::stop(&t, id, Some(run_id)).await }, move |_| stopping.set(false));
    };
    let state = move || match run.with(|r| r.as_ref().map(|r| r.state.clone())).as_deref() {
        Some("queued") => tr("queued"),
        _ => tr("teacher-running"),
    };
    let who = move || student.with(|s| s.as_ref().map(|s| display_name(&s.name)).unwrap_or_default());
    view! {
        <li data-run-id=run_id.to_string()>
            <code>{entry}</code>
            " · "{state}
            " · CPU "{field(|r| r.cpu_ms.map(seconds).unwrap_or_else(|| "—".into()))}
            " · "<span data-role="run-memory">{field(|r| bytes(r.memory_bytes))}</span>
            " · "{field(|r| seconds(r.elapsed_ms))}" "
            <button class="stop small" data-action="stop-run" disabled=move || stopping.get()
                aria-label=move || format!("{} {} · {}", tr("stop"), entry(), who())
                on:click=stop>
                "■ " {move || tr("stop")}
            </button>
        </li>
    }
}
