//! The course: lesson files loaded from a directory (or the copy embedded in the binary),
//! validated with file:line errors, and served as `shared::course` types.

mod parse;
mod sanitize;

pub use parse::{parse_lesson, LessonError};

use rust_embed::RustEmbed;
use shared::course::{Lesson, LessonLink, LessonSummary};
use std::path::Path;

/// The course shipped inside the binary (`course/` at build time).
#[derive(RustEmbed)]
#[folder = "../course"]
#[include = "*.md"]
struct Bundled;

/// All lessons of a course, in teaching order, with prev/next links filled in.
#[derive(Clone, Debug, Default)]
pub struct Course {
    lessons: Vec<Lesson>,
    summaries: Vec<LessonSummary>,
}

impl Course {
    /// Loads every `*.md` lesson of `dir` (or the bundled course when `dir` is `None`).
    /// Returns every problem found, each as `file:line: message`.
    pub fn load(dir: Option<&Path>) -> Result<Course, Vec<String>> {
        let mut files: Vec<(String, String)> = Vec::new();
        match dir {
            Some(dir) => {
                let entries = std::fs::read_dir(dir)
                    .map_err(|e| vec![format!("{}: cannot read the course directory: {e}", dir.display())])?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if is_lesson_file(&path) {
                        match std::fs::read_to_string(&path) {
                            Ok(text) => files.push((path.display().to_string(), text)),
                            Err(e) => return Err(vec![format!("{}: cannot read: {e}", path.display())]),
                        }
                    }
                }
            }
            None => {
                for name in Bundled::iter() {
                    if is_lesson_file(Path::new(name.as_ref())) {
                        let file = Bundled::get(&name).expect("listed file");
                        let text = String::from_utf8_lossy(&file.data).into_owned();
                        files.push((format!("course/{name}"), text));
                    }
                }
            }
        }
        Course::from_files(files)
    }

    /// Builds a course from `(file name, text)` pairs.
    pub fn from_files(mut files: Vec<(String, String)>) -> Result<Course, Vec<String>> {
        files.sort();
        let mut errors = Vec::new();
        let mut lessons: Vec<(u32, Lesson, String)> = Vec::new();
        for (name, text) in &files {
            let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or("lesson");
            match parse_lesson(stem, text) {
                Ok((order, lesson)) => {
                    if let Some((_, _, other)) = lessons.iter().find(|(_, l, _)| l.id == lesson.id) {
                        errors.push(format!("{name}:1: lesson id '{}' is already used by {other}", lesson.id));
                    } else {
                        lessons.push((order, lesson, name.clone()));
                    }
                }
                Err(errs) => errors.extend(errs.into_iter().map(|e| format!("{name}:{}: {}", e.line, e.message))),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if lessons.is_empty() {
            return Err(vec!["the course has no lesson files (*.md)".into()]);
        }
        lessons.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        let links: Vec<LessonLink> =
            lessons.iter().map(|(_, l, _)| LessonLink { id: l.id.clone(), title: l.title.clone() }).collect();
        let mut out = Course::default();
        for (i, (order, mut lesson, _)) in lessons.into_iter().enumerate() {
            lesson.prev = i.checked_sub(1).map(|p| links[p].clone());
            lesson.next = links.get(i + 1).cloned();
            out.summaries.push(LessonSummary {
                id: lesson.id.clone(),
                title: lesson.title.clone(),
                order,
                minutes: lesson.minutes,
                exercises: lesson.cells().filter(|c| c.exercise.is_some()).count() as u32,
            });
            out.lessons.push(lesson);
        }
        Ok(out)
    }

    pub fn summaries(&self) -> &[LessonSummary] {
        &self.summaries
    }

    pub fn lesson(&self, id: &str) -> Option<&Lesson> {
        self.lessons.iter().find(|l| l.id == id)
    }

    pub fn lessons(&self) -> &[Lesson] {
        &self.lessons
    }
}

/// `name.md` is a lesson in the course's first language; `name.<lang>.md` is reserved
/// for translations and not loaded yet.
fn is_lesson_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".md") && name.matches('.').count() == 1 && !name.starts_with('.') && name != "README.md"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_course_is_valid() {
        let course = Course::load(None).unwrap_or_else(|e| panic!("bundled course invalid:\n{}", e.join("\n")));
        assert!(course.summaries().len() >= 2);
    }

    #[test]
    fn lessons_are_ordered_and_linked() {
        let a = "---\ntitle: A\norder: 2\n---\ntext\n".to_string();
        let b = "---\ntitle: B\norder: 1\n---\ntext\n".to_string();
        let course = Course::from_files(vec![("a.md".into(), a), ("b.md".into(), b)]).unwrap();
        let ids: Vec<_> = course.summaries().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(course.lesson("b").unwrap().next.as_ref().unwrap().id, "a");
        assert!(course.lesson("b").unwrap().prev.is_none());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad = "---\ntitle: A\n---\n\n```python {runtime=moon}\nprint(1)\n```\n".to_string();
        let errs = Course::from_files(vec![("x/bad.md".into(), bad)]).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("x/bad.md:5: "), "{}", errs[0]);
    }
}
