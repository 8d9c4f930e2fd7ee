//! The teacher's grid of students × exercises (passed / tried / not yet), as JSON for the
//! page and as CSV for a spreadsheet.

use super::db::{ResultRow, StudentRow};
use crate::course::Course;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct Progress {
    pub exercises: Vec<ExerciseRef>,
    pub students: Vec<StudentProgress>,
}

#[derive(Debug, Serialize)]
pub struct ExerciseRef {
    pub lesson: String,
    pub cell: String,
    pub title: String,
}

#[derive(Debug, Serialize)]
pub struct StudentProgress {
    pub id: i64,
    pub name: String,
    /// `lesson/cell` → "passed" (any attempt passed) or "tried"; absent: not yet.
    pub results: BTreeMap<String, &'static str>,
}

/// What a student who never gave a name is called.
pub const ANONYMOUS: &str = "anonymous";

impl Progress {
    pub fn build(course: &Course, students: Vec<StudentRow>, results: Vec<ResultRow>) -> Progress {
        let exercises = course
            .lessons()
            .iter()
            .flat_map(|l| {
                l.cells().filter(|c| c.exercise.is_some()).map(|c| ExerciseRef {
                    lesson: l.id.clone(),
                    cell: c.id.clone(),
                    title: l.title.clone(),
                })
            })
            .collect();
        let mut by_student: BTreeMap<i64, BTreeMap<String, &'static str>> = BTreeMap::new();
        for r in results {
            let verdict = if r.passed { "passed" } else { "tried" };
            by_student.entry(r.student).or_default().insert(format!("{}/{}", r.lesson, r.cell), verdict);
        }
        let students = students
            .into_iter()
            .map(|s| StudentProgress {
                results: by_student.remove(&s.id).unwrap_or_default(),
                name: display_name(&s.name).to_string(),
                id: s.id,
            })
            .collect();
        Progress { exercises, students }
    }

    /// `name,lesson/cell,…` then one row per student: passed, tried or empty.
    pub fn csv(&self) -> String {
        let keys: Vec<String> = self.exercises.iter().map(|e| format!("{}/{}", e.lesson, e.cell)).collect();
        let mut out = String::from("name");
        for k in &keys {
            out.push(',');
            out.push_str(&csv_field(k));
        }
        out.push_str("\r\n");
        for s in &self.students {
            out.push_str(&csv_field(&s.name));
            for k in &keys {
                out.push(',');
                out.push_str(s.results.get(k).copied().unwrap_or(""));
            }
            out.push_str("\r\n");
        }
        out
    }
}

pub fn display_name(name: &str) -> &str {
    if name.is_empty() {
        ANONYMOUS
    } else {
        name
    }
}

/// Quotes a field when needed, and keeps a spreadsheet from reading a name as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_shows_passed_over_tried_and_csv_quotes_names() {
        let course = Course::load(None).unwrap();
        let first = course.lessons().iter().find_map(|l| l.cells().find(|c| c.exercise.is_some()).map(|c| (l.id.clone(), c.id.clone()))).unwrap();
        let students = vec![
            StudentRow { id: 1, name: "Li, \"Lei\"".into(), last_seen_ms: 0, hand_ms: None },
            StudentRow { id: 2, name: "".into(), last_seen_ms: 0, hand_ms: None },
        ];
        let results = vec![ResultRow { student: 1, lesson: first.0.clone(), cell: first.1.clone(), passed: true }];
        let p = Progress::build(&course, students, results);
        let key = format!("{}/{}", first.0, first.1);
        assert_eq!(p.students[0].results.get(&key), Some(&"passed"));
        assert!(p.students[1].results.is_empty());
        assert_eq!(p.students[1].name, ANONYMOUS);
        let csv = p.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with(&format!("name,{key}")), "{}", lines[0]);
        assert!(lines[1].starts_with("\"Li, \"\"Lei\"\"\",passed"), "{}", lines[1]);
        assert!(lines[2].starts_with("anonymous,,"), "{}", lines[2]);
    }
}
