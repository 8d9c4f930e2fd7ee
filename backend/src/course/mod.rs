//! The course: lesson files loaded from a directory (or the copy embedded in the binary),
//! validated with file:line errors, and served as `shared::course` types.

mod parse;
mod problem;
mod sanitize;
pub mod translate;

pub use parse::parse_lesson;
pub use problem::Problem;
pub use translate::{FIRST_LANGUAGE, LANGUAGES};

use rust_embed::RustEmbed;
use shared::course::{Lesson, LessonLink, LessonSummary};
use std::collections::BTreeMap;
use std::path::Path;

/// The course shipped inside the binary (`course/` at build time).
#[derive(RustEmbed)]
#[folder = "../course"]
#[include = "*.md"]
struct Bundled;

/// All lessons of a course, in teaching order, with prev/next links filled in, and their
/// translations (`name.<lang>.md`, see `translate`).
#[derive(Clone, Debug, Default)]
pub struct Course {
    lessons: Vec<Lesson>,
    summaries: Vec<LessonSummary>,
    /// Language → lesson id → the lesson in that language (linked like `lessons`).
    translations: BTreeMap<String, BTreeMap<String, Lesson>>,
    /// Each lesson's file, by id, for reports that name it.
    files: BTreeMap<String, String>,
    /// Translations left out because they depart from their original: the original is served
    /// in their place, so a teacher's edit of a lesson during class never takes the course
    /// down; `check-course` fails on them.
    problems: Vec<Problem>,
}

impl Course {
    /// Loads every `*.md` lesson of `dir` (or the bundled course when `dir` is `None`).
    /// Returns every problem found (each worded `file:line: message` by `Problem::said`).
    pub fn load(dir: Option<&Path>) -> Result<Course, Vec<Problem>> {
        let mut files: Vec<(String, String)> = Vec::new();
        match dir {
            Some(dir) => {
                let entries = std::fs::read_dir(dir)
                    .map_err(|e| vec![Problem::new(dir.display().to_string(), None, format!("无法读取课程目录：{e}"), format!("cannot read the course directory: {e}"))])?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if translate::lesson_file(&path).is_some() {
                        match std::fs::read_to_string(&path) {
                            Ok(text) => files.push((path.display().to_string(), text)),
                            Err(e) => {
                                return Err(vec![Problem::new(path.display().to_string(), None, format!("无法读取：{e}"), format!("cannot read: {e}"))])
                            }
                        }
                    }
                }
            }
            None => {
                for name in Bundled::iter() {
                    if translate::lesson_file(Path::new(name.as_ref())).is_some() {
                        let file = Bundled::get(&name).expect("listed file");
                        let text = String::from_utf8_lossy(&file.data).into_owned();
                        files.push((format!("course/{name}"), text));
                    }
                }
            }
        }
        Course::from_files(files)
    }

    /// Builds a course from `(file name, text)` pairs: lessons (`name.md`) and translations
    /// (`name.<lang>.md`), each translation checked against its original (`translate::compare`).
    pub fn from_files(mut files: Vec<(String, String)>) -> Result<Course, Vec<Problem>> {
        files.sort();
        let mut errors = Vec::new();
        let mut lessons: Vec<(u32, Lesson, String)> = Vec::new();
        let mut translated: Vec<(String, String, Lesson, String)> = Vec::new(); // (base, lang, lesson, file)
        // The file base of each lesson, for finding its translations.
        let mut bases: BTreeMap<String, usize> = BTreeMap::new();
        for (name, text) in &files {
            let Some((base, lang)) = translate::lesson_file(Path::new(name)) else { continue };
            if let Some(lang) = &lang {
                if !LANGUAGES.contains(&lang.as_str()) || lang == FIRST_LANGUAGE {
                    let others: Vec<_> = LANGUAGES.iter().filter(|l| **l != FIRST_LANGUAGE).collect();
                    errors.push(Problem::new(
                        name,
                        Some(1),
                        format!("课程文件名是 'name.md'（{FIRST_LANGUAGE}）或翻译 'name.<lang>.md'，<lang> 是 {others:?} 之一，不能是 '{lang}'"),
                        format!("a lesson file is 'name.md' (in {FIRST_LANGUAGE}) or a translation 'name.<lang>.md' with <lang> one of {others:?}, not '{lang}'"),
                    ));
                    continue;
                }
            }
            match parse_lesson(&base, text) {
                Ok((order, lesson)) => match lang {
                    Some(lang) => translated.push((base, lang, lesson, name.clone())),
                    None => {
                        if let Some((_, _, other)) = lessons.iter().find(|(_, l, _)| l.id == lesson.id) {
                            let id = &lesson.id;
                            errors.push(Problem::new(name, Some(1), format!("课程 id '{id}' 已经被 {other} 用了"), format!("lesson id '{id}' is already used by {other}")));
                        } else {
                            bases.insert(base, lessons.len());
                            lessons.push((order, lesson, name.clone()));
                        }
                    }
                },
                Err(errs) => errors.extend(errs.into_iter().map(|e| e.in_file(name))),
            }
        }
        let mut translations: BTreeMap<String, BTreeMap<String, Lesson>> = BTreeMap::new();
        let mut problems = Vec::new();
        for (base, lang, mut lesson, name) in translated {
            let Some((_, original, ofile)) = bases.get(&base).map(|i| &lessons[*i]) else {
                errors.push(Problem::new(name, Some(1), format!("{base}.md 的翻译，但课程里没有 {base}.md"), format!("a translation of {base}.md, which the course does not have")));
                continue;
            };
            let departures = translate::compare(original, ofile, &lesson, &name);
            if !departures.is_empty() {
                problems.extend(departures);
                continue;
            }
            lesson.id = original.id.clone();
            translations.entry(lang).or_default().insert(lesson.id.clone(), lesson);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if lessons.is_empty() {
            return Err(vec![Problem::new("", None, "课程里没有课程文件（*.md）", "the course has no lesson files (*.md)")]);
        }
        lessons.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        let mut out = Course { translations, problems, ..Course::default() };
        let links: Vec<LessonLink> =
            lessons.iter().map(|(_, l, _)| LessonLink { id: l.id.clone(), title: l.title.clone() }).collect();
        for (lang, by_id) in out.translations.iter_mut() {
            // Links in a translation carry the translated titles where there are some.
            let title = |l: &LessonLink| by_id.get(&l.id).map_or(l.title.clone(), |t| t.title.clone());
            let translated_links: Vec<LessonLink> = links.iter().map(|l| LessonLink { id: l.id.clone(), title: title(l) }).collect();
            for (i, link) in links.iter().enumerate() {
                if let Some(lesson) = by_id.get_mut(&link.id) {
                    lesson.prev = i.checked_sub(1).map(|p| translated_links[p].clone());
                    lesson.next = translated_links.get(i + 1).cloned();
                    lesson.lang = lang.clone();
                }
            }
        }
        for (i, (order, mut lesson, file)) in lessons.into_iter().enumerate() {
            lesson.prev = i.checked_sub(1).map(|p| links[p].clone());
            lesson.next = links.get(i + 1).cloned();
            lesson.lang = FIRST_LANGUAGE.into();
            out.summaries.push(LessonSummary {
                id: lesson.id.clone(),
                title: lesson.title.clone(),
                order,
                minutes: lesson.minutes,
                exercises: lesson.cells().filter(|c| c.exercise.is_some()).count() as u32,
                lang: FIRST_LANGUAGE.into(),
            });
            out.files.insert(lesson.id.clone(), file);
            out.lessons.push(lesson);
        }
        Ok(out)
    }

    /// The lesson list in `lang`: each title translated where the lesson is.
    pub fn summaries_in(&self, lang: &str) -> Vec<LessonSummary> {
        let by_id = self.translations.get(lang);
        self.summaries
            .iter()
            .map(|s| match by_id.and_then(|t| t.get(&s.id)) {
                Some(t) => LessonSummary { title: t.title.clone(), lang: lang.into(), ..s.clone() },
                None => s.clone(),
            })
            .collect()
    }

    /// Lesson `id` in `lang`, or in the course's first language when it has no translation
    /// into `lang` (its `lang` says which).
    pub fn lesson_in(&self, id: &str, lang: &str) -> Option<&Lesson> {
        self.translations.get(lang).and_then(|t| t.get(id)).or_else(|| self.lesson(id))
    }

    /// Translations left out because they depart from their original.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// For each language the course has translations into, the lessons it has none of (what
    /// `classbook check-course` reports).
    pub fn missing_translations(&self) -> Vec<Problem> {
        let mut missing = Vec::new();
        for (lang, by_id) in &self.translations {
            for lesson in &self.lessons {
                if !by_id.contains_key(&lesson.id) {
                    let file = &self.files[&lesson.id];
                    let want = file.strip_suffix(".md").map(|b| format!("{b}.{lang}.md")).unwrap_or_default();
                    missing.push(Problem::new(file, None, format!("没有 '{lang}' 翻译（{want}）"), format!("no '{lang}' translation ({want})")));
                }
            }
        }
        missing
    }

    /// Every lesson in every language: the first language's, then each translation.
    pub fn all_lessons(&self) -> Vec<&Lesson> {
        self.lessons.iter().chain(self.translations.values().flat_map(|t| t.values())).collect()
    }

    /// The languages the course is written in: its first, then those it has translations into.
    pub fn languages(&self) -> Vec<String> {
        std::iter::once(FIRST_LANGUAGE.to_string()).chain(self.translations.keys().cloned()).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::lang::Lang;

    fn said(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.said(Lang::En)).collect()
    }

    #[test]
    fn the_bundled_course_is_valid() {
        let course = Course::load(None).unwrap_or_else(|e| panic!("bundled course invalid:\n{}", said(&e).join("\n")));
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
        // Worded in either language, at the same place.
        assert_eq!(errs[0].said(Lang::En), "x/bad.md:5: runtime must be 'browser' or 'server', not 'moon'");
        assert_eq!(errs[0].said(Lang::Zh), "x/bad.md:5: runtime 必须是 'browser' 或 'server'，不能是 'moon'");
    }

    #[test]
    fn translations_are_served_by_language_and_checked_against_their_original() {
        let a = "---\ntitle: 甲\norder: 1\n---\n```python {id=x}\nprint('一')\n```\n".to_string();
        let a_en = "---\ntitle: A\n---\n```python {id=x}\nprint('one')\n```\n".to_string();
        let b = "---\ntitle: 乙\norder: 2\n---\ntext\n".to_string();
        let files = vec![("c/a.md".into(), a.clone()), ("c/a.en.md".into(), a_en), ("c/b.md".into(), b.clone())];
        let course = Course::from_files(files).unwrap();
        assert_eq!(course.languages(), ["zh", "en"]);
        let en = course.lesson_in("a", "en").unwrap();
        assert_eq!((en.title.as_str(), en.lang.as_str()), ("A", "en"));
        // b has no English: the Chinese is served, and says so; its link back names "A".
        let b_en = course.lesson_in("b", "en").unwrap();
        assert_eq!((b_en.lang.as_str(), b_en.prev.as_ref().unwrap().title.as_str()), ("zh", "甲"));
        assert_eq!(en.next.as_ref().unwrap().title, "乙");
        let titles: Vec<_> = course.summaries_in("en").into_iter().map(|s| (s.title, s.lang)).collect();
        assert_eq!(titles, [("A".to_string(), "en".to_string()), ("乙".into(), "zh".into())]);
        assert_eq!(said(&course.missing_translations()), ["c/b.md: no 'en' translation (c/b.en.md)"]);

        // A translation that departs from its original is left out (the original is served in
        // its place) and reported, so an edit during class never takes the course down.
        let wrong = "---\ntitle: A\n---\n```python {id=y}\nprint('one')\n```\n".to_string();
        let course = Course::from_files(vec![("c/a.md".into(), a.clone()), ("c/a.en.md".into(), wrong)]).unwrap();
        let problems = said(course.problems());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("c/a.en.md:1: cell 'x' of c/a.md:5 is missing"), "{problems:?}");
        assert_eq!(course.lesson_in("a", "en").unwrap().lang, "zh");
        let errs = said(&Course::from_files(vec![("c/a.md".into(), a.clone()), ("c/a.fr.md".into(), b.clone())]).unwrap_err());
        assert!(errs[0].starts_with("c/a.fr.md:1: a lesson file is 'name.md'"), "{errs:?}");
        let errs = said(&Course::from_files(vec![("c/a.md".into(), a), ("c/z.en.md".into(), b)]).unwrap_err());
        assert_eq!(errs, ["c/z.en.md:1: a translation of z.md, which the course does not have"]);
    }
}
