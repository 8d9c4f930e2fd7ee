//! Solutions per lesson: which lessons' solutions the teacher hid (a hidden solution never
//! leaves the server for a student), and who opened which solution, when.

use super::db::{now_ms, Db};
use anyhow::Result;
use rusqlite::params;
use shared::course::{Block, Lesson};

/// A student opened a solution.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SolutionView {
    pub student: i64,
    pub lesson: String,
    pub cell: String,
    pub at_ms: i64,
}

impl Db {
    /// Hides (or releases) the solutions of `lesson`.
    pub async fn hide_solutions(&self, lesson: &str, hidden: bool) -> Result<()> {
        let lesson = lesson.to_string();
        self.call(move |c| {
            if hidden {
                c.execute("INSERT OR IGNORE INTO hidden_solutions (lesson) VALUES (?1)", [lesson]).map(drop)
            } else {
                c.execute("DELETE FROM hidden_solutions WHERE lesson = ?1", [lesson]).map(drop)
            }
        })
        .await
    }

    /// The lessons whose solutions are hidden.
    pub async fn hidden_solutions(&self) -> Result<Vec<String>> {
        self.call(|c| {
            let mut st = c.prepare("SELECT lesson FROM hidden_solutions ORDER BY lesson")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Whether the solutions of `lesson` are hidden.
    pub async fn solutions_hidden(&self, lesson: &str) -> Result<bool> {
        let lesson = lesson.to_string();
        self.call(move |c| c.query_row("SELECT EXISTS (SELECT 1 FROM hidden_solutions WHERE lesson = ?1)", [lesson], |r| r.get(0)))
            .await
    }

    /// Notes that student `id` opened the solution of `lesson`/`cell` (the first time counts).
    pub async fn solution_opened(&self, id: i64, lesson: &str, cell: &str) -> Result<()> {
        let (lesson, cell) = (lesson.to_string(), cell.to_string());
        self.call(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO solution_views (student, lesson, cell, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, lesson, cell, now_ms()],
            )
            .map(drop)
        })
        .await
    }

    /// Every solution opened, first opened first.
    pub async fn solution_views(&self) -> Result<Vec<SolutionView>> {
        self.call(|c| {
            let mut st = c.prepare("SELECT student, lesson, cell, at_ms FROM solution_views ORDER BY at_ms")?;
            let rows = st.query_map([], |r| Ok(SolutionView { student: r.get(0)?, lesson: r.get(1)?, cell: r.get(2)?, at_ms: r.get(3)? }))?;
            rows.collect()
        })
        .await
    }
}

/// `lesson` as a student may see it: without its solutions when they are hidden.
pub fn for_student(lesson: &Lesson, hidden: bool) -> Lesson {
    let mut lesson = lesson.clone();
    if hidden {
        for block in &mut lesson.blocks {
            let cells = match block {
                Block::Text { .. } => continue,
                Block::Cell(c) => std::slice::from_mut(c),
                Block::Group(g) => g.files.as_mut_slice(),
            };
            for cell in cells {
                if let Some(ex) = &mut cell.exercise {
                    ex.solution = None;
                }
            }
        }
    }
    lesson
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hidden_lesson_is_served_without_any_solution_and_a_released_one_with_them() {
        let course = crate::course::Course::load(None).unwrap();
        let lesson = course.lessons().iter().find(|l| l.cells().any(|c| c.exercise.as_ref().is_some_and(|e| e.solution.is_some()))).unwrap();
        let db = Db::in_memory();
        assert!(!db.solutions_hidden(&lesson.id).await.unwrap(), "released unless hidden");
        db.hide_solutions(&lesson.id, true).await.unwrap();
        assert_eq!(db.hidden_solutions().await.unwrap(), [lesson.id.clone()]);
        let hidden = for_student(lesson, db.solutions_hidden(&lesson.id).await.unwrap());
        assert!(hidden.cells().all(|c| c.exercise.as_ref().is_none_or(|e| e.solution.is_none())));
        let json = serde_json::to_string(&hidden).unwrap();
        assert!(!json.contains("\"solution\""), "{json}");
        db.hide_solutions(&lesson.id, false).await.unwrap();
        let released = for_student(lesson, db.solutions_hidden(&lesson.id).await.unwrap());
        assert_eq!(&released, lesson);
    }
}
