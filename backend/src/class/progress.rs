//! The teacher's grid of students × exercises (passed / tried / not yet, attempts, the time of
//! the first pass), with each exercise's class totals, as JSON for the page and CSV.

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
    /// The lesson's title.
    pub lesson_title: String,
    /// The exercise's own title: the heading above it in the lesson (else its cell id).
    pub title: String,
    /// Students who passed it, who tried it, and checks made by everyone.
    pub passed: u32,
    pub tried: u32,
    pub attempts: u32,
    /// When someone first passed it.
    pub first_pass_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct StudentProgress {
    pub id: i64,
    pub name: String,
    /// `lesson/cell` → "passed" (any attempt passed) or "tried"; absent: not yet.
    pub results: BTreeMap<String, &'static str>,
    /// `lesson/cell` → checks made.
    pub attempts: BTreeMap<String, u32>,
    /// `lesson/cell` → when the student first passed it.
    pub first_pass_ms: BTreeMap<String, i64>,
}

/// What a student who never gave a name is called.
pub const ANONYMOUS: &str = "anonymous";

impl Progress {
    pub fn build(course: &Course, students: Vec<StudentRow>, results: Vec<ResultRow>) -> Progress {
        let mut exercises: Vec<ExerciseRef> = course
            .lessons()
            .iter()
            .flat_map(|l| {
                exercise_titles(l).into_iter().map(|(cell, title)| ExerciseRef {
                    lesson: l.id.clone(),
                    cell,
                    lesson_title: l.title.clone(),
                    title,
                    passed: 0,
                    tried: 0,
                    attempts: 0,
                    first_pass_ms: None,
                })
            })
            .collect();
        let mut by_student: BTreeMap<i64, StudentProgress> = students
            .into_iter()
            .map(|s| {
                let p = StudentProgress {
                    name: display_name(&s.name).to_string(),
                    id: s.id,
                    results: BTreeMap::new(),
                    attempts: BTreeMap::new(),
                    first_pass_ms: BTreeMap::new(),
                };
                (s.id, p)
            })
            .collect();
        for r in results {
            let key = format!("{}/{}", r.lesson, r.cell);
            if let Some(e) = exercises.iter_mut().find(|e| e.lesson == r.lesson && e.cell == r.cell) {
                e.attempts += r.attempts;
                e.tried += 1;
                e.passed += u32::from(r.passed);
                e.first_pass_ms = match (e.first_pass_ms, r.first_pass_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(s) = by_student.get_mut(&r.student) {
                s.results.insert(key.clone(), if r.passed { "passed" } else { "tried" });
                s.attempts.insert(key.clone(), r.attempts);
                if let Some(at) = r.first_pass_ms {
                    s.first_pass_ms.insert(key, at);
                }
            }
        }
        Progress { exercises, students: by_student.into_values().collect() }
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

/// Each exercise of `lesson` with its title: the last heading before it, else its cell id.
fn exercise_titles(lesson: &shared::course::Lesson) -> Vec<(String, String)> {
    use shared::course::Block;
    let mut heading: Option<String> = None;
    let mut out = Vec::new();
    for block in &lesson.blocks {
        let cells = match block {
            Block::Text { html, .. } => {
                heading = last_heading(html).or(heading);
                continue;
            }
            Block::Cell(c) => vec![c],
            Block::Group(g) => g.files.iter().collect(),
        };
        for c in cells.into_iter().filter(|c| c.exercise.is_some()) {
            out.push((c.id.clone(), heading.clone().unwrap_or_else(|| c.id.clone())));
        }
    }
    out
}

/// The text of the last `<h2>`…`<h4>` in `html` (tags inside removed, entities of `&<>"` undone).
fn last_heading(html: &str) -> Option<String> {
    let start = ["<h2", "<h3", "<h4"].iter().filter_map(|t| html.rfind(t)).max()?;
    let body = &html[start..];
    let open_end = body.find('>')? + 1;
    let close = body.find("</h")?;
    let mut text = String::new();
    let mut in_tag = false;
    for ch in body[open_end..close].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
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
        let results = vec![ResultRow { student: 1, lesson: first.0.clone(), cell: first.1.clone(), passed: true, attempts: 3, first_pass_ms: Some(7) }];
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
        let e = &p.exercises[0];
        assert_eq!((e.passed, e.tried, e.attempts, e.first_pass_ms), (1, 1, 3, Some(7)));
        assert_eq!(p.students[0].attempts.get(&key), Some(&3));
    }

    #[test]
    fn exercises_are_titled_by_the_heading_above_them_so_two_of_one_lesson_differ() {
        let course = Course::load(None).unwrap();
        let p = Progress::build(&course, vec![], vec![]);
        let tftp: Vec<&ExerciseRef> = p.exercises.iter().filter(|e| e.lesson == "tftp").collect();
        assert_eq!(tftp.len(), 2, "{tftp:?}");
        assert_ne!(tftp[0].title, tftp[1].title);
        assert!(tftp.iter().all(|e| e.title.contains("练习") && !e.title.contains('<')), "{tftp:?}");
        assert!(tftp.iter().all(|e| e.lesson_title.contains("TFTP")));
    }
}
