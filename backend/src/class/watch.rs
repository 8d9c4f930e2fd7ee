//! Course reloading: polls the course directory; on a change a valid course is served and pages
//! get `CourseChanged`, a broken one keeps the old course and its errors go to the teacher.

use crate::app::App;
use crate::course::{Course, Problem};
use shared::wire::ServerMsg;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the directory is looked at.
pub const EVERY: Duration = Duration::from_millis(500);

/// Names, sizes and modification times of the lesson files: what a save changes.
type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files: Fingerprint = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
        .map(|e| {
            let meta = e.metadata().ok();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.as_ref().map(|m| m.len()).unwrap_or(0),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    files.sort();
    files
}

/// Watches `dir` until the server stops.
pub fn spawn(app: Arc<App>, dir: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stopping = app.stopping.subscribe();
        let look = |dir: PathBuf| async move { tokio::task::spawn_blocking(move || fingerprint(&dir)).await.unwrap_or_default() };
        let mut seen = look(dir.clone()).await;
        tracing::info!("watching {} for lesson changes", dir.display());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            let now = look(dir.clone()).await;
            if now == seen {
                continue;
            }
            // An editor may write a file in several steps: wait until it settles.
            tokio::time::sleep(Duration::from_millis(150)).await;
            seen = look(dir.clone()).await;
            reload(&app, &dir).await;
        }
    })
}

/// Loads the course again and serves it if it is valid.
pub async fn reload(app: &App, dir: &Path) {
    let d = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || Course::load(Some(&d)))
        .await
        .unwrap_or_else(|e| Err(vec![Problem::new("", None, format!("课程重新加载失败：{e}"), format!("the course reload failed: {e}"))]));
    match loaded {
        Ok(course) => {
            let changed = changed_lessons(&app.course(), &course);
            // Translations left out are shown to the teacher like any problem; the rest serves.
            let problems = course.problems().to_vec();
            app.set_course(course);
            *app.class.course_errors.lock().expect("course errors poisoned") = problems;
            if changed.is_empty() {
                return;
            }
            tracing::info!("course reloaded: changed lessons {}", changed.join(", "));
            app.sessions.broadcast(ServerMsg::CourseChanged { lessons: changed }).await;
        }
        Err(errors) => {
            for e in &errors {
                tracing::error!("course not reloaded: {}", e.said(app.class.default_lang()));
            }
            tracing::error!("the previous version of the course is still served");
            *app.class.course_errors.lock().expect("course errors poisoned") = errors;
        }
    }
}

/// Ids of lessons added, removed or different between `old` and `new`.
pub fn changed_lessons(old: &Course, new: &Course) -> Vec<String> {
    let mut ids: Vec<String> = new
        .lessons()
        .iter()
        .filter(|l| crate::course::LANGUAGES.iter().any(|lang| old.lesson_in(&l.id, lang) != new.lesson_in(&l.id, lang)))
        .map(|l| l.id.clone())
        .chain(old.lessons().iter().filter(|l| new.lesson(&l.id).is_none()).map(|l| l.id.clone()))
        .collect();
    ids.sort();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lessons_lists_edits_additions_and_removals() {
        let lesson = |t: &str| format!("---\ntitle: {t}\norder: 1\n---\ntext\n");
        let old = Course::from_files(vec![("a.md".into(), lesson("A")), ("b.md".into(), lesson("B"))]).unwrap();
        let new = Course::from_files(vec![("a.md".into(), lesson("A")), ("c.md".into(), lesson("C"))]).unwrap();
        // `a` changed too: its link to the next lesson now goes to `c`.
        assert_eq!(changed_lessons(&old, &new), ["a", "b", "c"]);
        assert!(changed_lessons(&old, &old).is_empty());
    }
}
