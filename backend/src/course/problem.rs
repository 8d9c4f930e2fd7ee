//! A problem in a lesson file, kept in both languages and worded in the reader's with
//! `said(lang)` as `file:line: message` (for `check-course`, the server log and the teacher).

use shared::lang::Lang;

/// One problem of the course: where it is (`line` is 1-based; none for a whole file or the
/// whole course) and what it is, in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<u32>,
    zh: String,
    en: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, line: Option<u32>, zh: impl Into<String>, en: impl Into<String>) -> Problem {
        Problem { file: file.into(), line, zh: zh.into(), en: en.into() }
    }

    /// A problem at `line` of a lesson whose file the caller names (`in_file`).
    pub(super) fn at(line: usize, zh: impl Into<String>, en: impl Into<String>) -> Problem {
        Problem::new("", Some(line as u32), zh, en)
    }

    /// The same problem, placed in `file`.
    pub(super) fn in_file(self, file: &str) -> Problem {
        Problem { file: file.to_string(), ..self }
    }

    /// What is wrong, without where.
    pub fn message(&self, lang: Lang) -> &str {
        lang.pick(&self.zh, &self.en)
    }

    /// `file:line: message` (`file: message` without a line; the message alone without a file).
    pub fn said(&self, lang: Lang) -> String {
        let message = self.message(lang);
        match (self.file.as_str(), self.line) {
            ("", _) => message.to_string(),
            (file, Some(line)) => format!("{file}:{line}: {message}"),
            (file, None) => format!("{file}: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_worded_in_either_language_with_its_place() {
        let p = Problem::at(5, "代码围栏 '```' 没有结束", "code fence '```' is never closed").in_file("course/a.md");
        assert_eq!(p.said(Lang::En), "course/a.md:5: code fence '```' is never closed");
        assert_eq!(p.said(Lang::Zh), "course/a.md:5: 代码围栏 '```' 没有结束");
        let whole = Problem::new("course/b.md", None, "没有 'en' 翻译", "no 'en' translation");
        assert_eq!(whole.said(Lang::Zh), "course/b.md: 没有 'en' 翻译");
        assert_eq!(Problem::new("", None, "课程没有课", "no lessons").said(Lang::En), "no lessons");
    }
}
