//! The student's work on the class server: the code of each lesson cell sent as they edit
//! (1 s after typing pauses), each run's output, the raised hand, and a restore (the kept code
//! put back into this browser after joining with the teacher's restore code).

use crate::api::{self, HttpError};
use crate::i18n::tr;
use crate::notebook::Phase;
use crate::runtime::server;
use crate::storage;
use leptos::prelude::*;
use shared::wire::{ClientMsg, Stream};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// How long typing must pause before the code goes to the server.
const SEND_AFTER_MS: i32 = 1000;
/// The most output of a run the page sends (its last part); the server keeps as much.
const MAX_OUTPUT: usize = 16 * 1024;

thread_local! {
    /// The latest code of each (lesson, cell) not sent yet.
    static PENDING: RefCell<BTreeMap<(String, String), String>> = const { RefCell::new(BTreeMap::new()) };
    static GENERATION: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    // Reference-counted, not owned by the view that first reads it.
    static HAND: ArcRwSignal<bool> = ArcRwSignal::new(false);
    /// Cells whose refusal the student was told about (once each).
    static TOLD: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// The student edited `cell` of `lesson`: its code goes to the server once typing pauses.
pub fn code_changed(lesson: &str, cell: &str, code: String) {
    PENDING.with(|p| p.borrow_mut().insert((lesson.to_string(), cell.to_string()), code));
    let generation = GENERATION.with(|g| g.replace(g.get().wrapping_add(1)).wrapping_add(1));
    set_timeout(
        move || {
            if GENERATION.with(|g| g.get()) == generation {
                flush();
            }
        },
        std::time::Duration::from_millis(SEND_AFTER_MS as u64),
    );
}

/// Sends every edit waiting; kept for later while the class server is out of reach.
pub fn flush() {
    if server::link().get_untracked() != server::Link::Open {
        return;
    }
    for ((lesson, cell), code) in PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())) {
        server::send(&ClientMsg::SaveCode { lesson, cell, code }, None);
    }
}

/// Sends the output of each run of a lesson cell when it ends, so the teacher sees it.
pub fn keep_output(lesson: String, cell: String, phase: RwSignal<Phase>, output: RwSignal<Vec<(Stream, String)>>) {
    Effect::new(move |was: Option<Phase>| {
        let now = phase.get();
        let ended = matches!(now, Phase::Done | Phase::Failed) && was.is_some_and(|w| w != now);
        if ended && server::link().get_untracked() == server::Link::Open {
            let text: String = output.with_untracked(|o| o.iter().map(|(_, t)| t.as_str()).collect());
            let text = tail(&text, MAX_OUTPUT).to_string();
            server::send(&ClientMsg::SaveOutput { lesson: lesson.clone(), cell: cell.clone(), output: text }, None);
        }
        now
    });
}

/// The last `max` bytes of `text`, at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The server did not keep a cell's code: the student is told once per cell.
pub fn refused(lesson: String, cell: String, message: String) {
    let first = TOLD.with(|t| {
        let mut t = t.borrow_mut();
        let key = (lesson, cell);
        let first = !t.contains(&key);
        if first {
            t.push(key);
        }
        first
    });
    if first {
        super::notice::push(format!("{}: {message}", tr("work-refused")));
    }
}

/// Whether this student's hand is up.
pub fn hand() -> ArcRwSignal<bool> {
    HAND.with(|h| h.clone())
}

/// The teacher answered: the hand goes down.
pub fn answered() {
    hand().set(false);
    super::notice::push(tr("hand-answered").to_string());
}

/// The header's "raise hand" button (students who joined).
#[component]
pub fn HandButton() -> impl IntoView {
    let up = RwSignal::from(hand());
    let toggle = move |_| {
        let raised = !up.get_untracked();
        server::send(&ClientMsg::RaiseHand { raised }, None);
        up.set(raised);
    };
    view! {
        <button class="hand" class:raised=move || up.get() data-action="raise-hand" data-raised=move || up.get().to_string()
            aria-pressed=move || up.get().to_string() title=move || tr("hand-help") on:click=toggle>
            "✋ "<span class="label">{move || if up.get() { tr("hand-down") } else { tr("hand-up") }}</span>
        </button>
    }
}

#[derive(serde::Deserialize)]
struct KeptCell {
    lesson: String,
    cell: String,
    code: String,
}

#[derive(serde::Deserialize)]
struct Kept {
    cells: Vec<KeptCell>,
}

/// After a restore: puts the code the server kept into this browser's edits (each with its
/// lesson's current original), then shows the open page again. How many cells came back.
pub async fn restore() -> Result<usize, HttpError> {
    let kept: Kept = api::fetch_json("GET", "/api/work", None, Some(&server::token())).await?;
    let mut lessons: BTreeMap<String, Option<shared::course::Lesson>> = BTreeMap::new();
    let mut restored = 0;
    for c in kept.cells {
        if !lessons.contains_key(&c.lesson) {
            let lesson = api::lesson(&c.lesson, crate::i18n::lang().get_untracked()).await.ok();
            lessons.insert(c.lesson.clone(), lesson);
        }
        let original = lessons[&c.lesson].as_ref().and_then(|l| l.cells().find(|x| x.id == c.cell).map(|x| x.code.clone()));
        if let Some(original) = original {
            crate::notebook::edits::put(&c.lesson, &c.cell, &c.code, &original);
            restored += 1;
        }
    }
    super::course_version().update(|v| *v += 1);
    Ok(restored)
}

/// The teacher reset exercise `cell` of `lesson`: this browser forgets the edit and the pass.
pub fn reset_cell(lesson: &str, cell: &str) {
    crate::notebook::edits::forget(lesson, cell);
    crate::notebook::progress::forget(lesson, cell);
    if crate::route::current() == crate::route::Route::Lesson(lesson.to_string()) {
        super::course_version().update(|v| *v += 1);
    }
}

/// Keeps the stored name in step when the teacher renamed the student.
pub fn renamed(name: String) {
    storage::set("name", &name);
    super::join::set_name(name);
}
