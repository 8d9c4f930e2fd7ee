//! Exercise progress kept in the browser: which exercises of which lesson the student passed.
//! `record` is the one entry point (the Check button calls it; the class view may too).

use crate::storage;
use leptos::prelude::*;
use std::collections::BTreeMap;

thread_local! {
    /// Bumped at every change, so views that read progress update.
    static VERSION: ArcRwSignal<u32> = ArcRwSignal::new(0);
}

fn version() -> ArcRwSignal<u32> {
    VERSION.with(|v| v.clone())
}

fn key(lesson: &str) -> String {
    format!("progress:{lesson}")
}

fn load(lesson: &str) -> BTreeMap<String, bool> {
    storage::get_json(&key(lesson)).unwrap_or_default()
}

/// Records a check of exercise `cell` of `lesson`: the badge shows the latest check, so a
/// failing check after a pass shows failing (what the code does now is what counts).
pub fn record(lesson: &str, cell: &str, passed: bool) {
    let mut map = load(lesson);
    map.insert(cell.to_string(), passed);
    storage::set_json(&key(lesson), &map);
    version().update(|v| *v += 1);
}

/// Forgets the checks of exercise `cell` of `lesson` (the teacher reset it).
pub fn forget(lesson: &str, cell: &str) {
    let mut map = load(lesson);
    if map.remove(cell).is_some() {
        storage::set_json(&key(lesson), &map);
        version().update(|v| *v += 1);
    }
}

/// `Some(passed)` once the exercise was checked, `None` before. Reactive.
pub fn status(lesson: &str, cell: &str) -> Option<bool> {
    version().track();
    load(lesson).get(cell).copied()
}

/// How many exercises of `lesson` were passed. Reactive.
pub fn passed_count(lesson: &str) -> usize {
    version().track();
    load(lesson).values().filter(|p| **p).count()
}
