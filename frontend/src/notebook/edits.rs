//! The student's edits of a lesson's cells, saved in the browser as they type (per lesson and
//! cell, with the original they were based on), restored on load, reset on request.

use crate::storage;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How long typing must pause before an edit is written.
const SAVE_AFTER_MS: i32 = 300;

/// What is stored for an edited cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Saved {
    code: String,
    /// The original the edit was based on: when the lesson's original differs, the teacher
    /// changed the cell after the student edited it.
    base: String,
}

fn key(lesson: &str, cell: &str) -> String {
    format!("edit:{lesson}:{cell}")
}

/// One cell's code, kept in the browser when it differs from the original.
#[derive(Clone, Copy)]
pub struct Edit {
    pub code: RwSignal<String>,
    pub original: StoredValue<String>,
    /// The teacher changed the original since the student's edit (until taken or kept).
    pub original_changed: RwSignal<bool>,
    /// The browser refused the last save (storage full or disabled): the edit lives only on screen.
    pub save_failed: RwSignal<bool>,
    base: StoredValue<String>,
    key: StoredValue<Option<String>>,
    pending: StoredValue<u32>,
}

impl Edit {
    /// The cell's code: the saved edit when there is one (`lesson` is `None` for cells that are
    /// not kept, such as a shared scratch link). Saving follows every change, debounced.
    pub fn new(lesson: Option<&str>, cell: &str, original: &str) -> Edit {
        let key = lesson.map(|l| key(l, cell));
        let saved = key.as_deref().and_then(storage::get_json::<Saved>).filter(|s| s.code != original);
        let (code, base) = match &saved {
            Some(s) => (s.code.clone(), s.base.clone()),
            None => (original.to_string(), original.to_string()),
        };
        let edit = Edit {
            original_changed: RwSignal::new(base != original),
            save_failed: RwSignal::new(false),
            code: RwSignal::new(code),
            original: StoredValue::new(original.to_string()),
            base: StoredValue::new(base),
            key: StoredValue::new(key),
            pending: StoredValue::new(0),
        };
        if let Some(lesson) = lesson {
            // The class server keeps the student's latest code too (for the teacher, a restore).
            let (lesson, cell) = (lesson.to_string(), cell.to_string());
            Effect::new(move |first: Option<()>| {
                edit.code.track();
                if first.is_some() {
                    edit.save_soon();
                    crate::class::code_changed(&lesson, &cell, edit.code.get_untracked());
                }
            });
            // Leaving the page (or the tab being hidden) must not lose typing still waiting to be saved.
            let flush = move || {
                if edit.pending.try_get_value().is_some_and(|p| p != 0) {
                    edit.save_now();
                }
            };
            let hide = window_event_listener(leptos::ev::pagehide, move |_| flush());
            let hidden = window_event_listener(leptos::ev::visibilitychange, move |_| flush());
            on_cleanup(move || {
                hide.remove();
                hidden.remove();
            });
        }
        edit
    }

    /// Whether the code differs from the original.
    pub fn edited(&self) -> bool {
        self.code.with(|c| self.original.with_value(|o| c != o))
    }

    fn save_soon(self) {
        let generation = self.pending.get_value().wrapping_add(1);
        self.pending.set_value(generation);
        let fire = wasm_bindgen::closure::Closure::once_into_js(move || {
            if self.pending.try_get_value() == Some(generation) {
                self.save_now();
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(wasm_bindgen::JsCast::unchecked_ref(&fire), SAVE_AFTER_MS);
        }
    }

    /// Writes the edit now (or forgets it when the code is the original again).
    pub fn save_now(self) {
        let Some(Some(key)) = self.key.try_get_value() else { return };
        let code = self.code.get_untracked();
        if self.original.with_value(|o| *o == code) {
            storage::remove(&key);
            self.original_changed.set(false);
            self.base.set_value(code);
        } else {
            let saved = storage::set_json(&key, &Saved { code, base: self.base.get_value() });
            if self.save_failed.get_untracked() == saved {
                self.save_failed.set(!saved);
            }
        }
    }

    /// Back to the original (also "take the new original"); the edit is forgotten.
    pub fn reset(self) {
        self.base.set_value(self.original.get_value());
        self.original_changed.set(false);
        self.code.set(self.original.get_value());
        self.save_now();
    }

    /// Keeps the student's code, now based on the current original: the notice goes away.
    pub fn keep_mine(self) {
        self.base.set_value(self.original.get_value());
        self.original_changed.set(false);
        self.save_now();
    }
}

/// The edits of the cells on screen, in page order (export, reset of a whole lesson).
#[derive(Clone, Copy)]
pub struct LessonEdits {
    pub lesson: StoredValue<String>,
    cells: StoredValue<Vec<(String, Edit)>>,
    /// What each cell's last run printed on this page (for the .ipynb export).
    outputs: StoredValue<std::collections::HashMap<String, String>>,
}

impl LessonEdits {
    pub fn provide(lesson: &str) -> LessonEdits {
        let edits = LessonEdits {
            lesson: StoredValue::new(lesson.to_string()),
            cells: StoredValue::new(Vec::new()),
            outputs: StoredValue::new(Default::default()),
        };
        provide_context(edits);
        edits
    }

    /// Keeps what cell `cell`'s last run of `program` printed, for the lesson's export.
    pub fn keep_output(cell: &str, program: super::program::Program) {
        let Some(ctx) = use_context::<LessonEdits>() else { return };
        let cell = cell.to_string();
        Effect::new(move |_| {
            if program.exit.get().is_some() {
                let text: String = program.output.with_untracked(|o| o.iter().map(|(_, t)| t.as_str()).collect());
                ctx.outputs.update_value(|m| {
                    m.insert(cell.clone(), text);
                });
            }
        });
    }

    /// What cell `cell` printed when it last ran on this page.
    pub fn output_of(&self, cell: &str) -> Option<String> {
        self.outputs.with_value(|m| m.get(cell).cloned())
    }

    /// The edit of cell `cell` of the lesson in context (a plain, unsaved one without context).
    pub fn cell(cell: &str, original: &str) -> Edit {
        match use_context::<LessonEdits>() {
            Some(ctx) => {
                let edit = Edit::new(Some(&ctx.lesson.get_value()), cell, original);
                ctx.cells.update_value(|c| c.push((cell.to_string(), edit)));
                edit
            }
            None => Edit::new(None, cell, original),
        }
    }

    /// The student's code of `cell` when it differs from the original.
    pub fn code_of(&self, cell: &str) -> Option<String> {
        self.cells.with_value(|c| c.iter().find(|(id, _)| id == cell).filter(|(_, e)| e.edited()).map(|(_, e)| e.code.get_untracked()))
    }

    pub fn reset_all(&self) {
        self.cells.with_value(|c| c.iter().for_each(|(_, e)| e.reset()));
        forget_lesson(&self.lesson.get_value());
    }
}

/// Stores `code` as the edit of `cell` of `lesson`, based on `original` (a restore from the
/// class server); read when the lesson is shown next.
pub fn put(lesson: &str, cell: &str, code: &str, original: &str) {
    if code == original {
        storage::remove(&key(lesson, cell));
    } else {
        storage::set_json(&key(lesson, cell), &Saved { code: code.to_string(), base: original.to_string() });
    }
}

/// Forgets the saved edit of one cell (the teacher reset it).
pub fn forget(lesson: &str, cell: &str) {
    storage::remove(&key(lesson, cell));
}

/// Forgets every saved edit of `lesson`, on screen or not.
pub fn forget_lesson(lesson: &str) {
    storage::keys(&key(lesson, "")).iter().for_each(|k| storage::remove(k));
}
