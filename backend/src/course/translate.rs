//! Lessons in several languages: `name.md` is in the course's first language, `name.en.md` its
//! English translation; a translation must keep the original's cells, exercises and code.

use super::Problem;
use shared::course::{Block, Cell, Lesson};
use std::path::Path;

/// The language of `name.md` files.
pub const FIRST_LANGUAGE: &str = "zh";
/// Languages the page has an interface for, and so the languages a lesson may be written in.
pub const LANGUAGES: [&str; 2] = ["zh", "en"];

/// `closures.md` → `("closures", None)`, `closures.en.md` → `("closures", Some("en"))`; `None`
/// for what is not a lesson file (README.md, hidden files, other extensions). A second dot
/// that does not name a language makes an error for the caller to report.
pub fn lesson_file(path: &Path) -> Option<(String, Option<String>)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".md")?;
    if name.starts_with('.') || name == "README.md" || stem.is_empty() {
        return None;
    }
    Some(match stem.rsplit_once('.') {
        Some((base, lang)) => (base.to_string(), Some(lang.to_string())),
        None => (stem.to_string(), None),
    })
}

/// Every way `translated` (from file `tfile`) departs from `original` (from `ofile`) beyond its
/// prose: cells missing, added, reordered, moved between groups, with another runtime, file or
/// start flag, exercises added or removed, or code (cell, check, solution) that differs beyond
/// its string literals and comments. Output, stdin and hints may be translated freely.
pub fn compare(original: &Lesson, ofile: &str, translated: &Lesson, tfile: &str) -> Vec<Problem> {
    let mut errors = Vec::new();
    let ours = placed_cells(original);
    let theirs = placed_cells(translated);
    for (cell, _) in &ours {
        if !theirs.iter().any(|(c, _)| c.id == cell.id) {
            // Where it would be: after the last translated cell that comes before it.
            let place = |id: &str| ours.iter().position(|(o, _)| o.id == id);
            let before = theirs.iter().filter(|(c, _)| place(&c.id) < place(&cell.id) && place(&c.id).is_some()).last();
            let line = before.map_or(1, |(c, _)| c.line);
            let (id, at) = (&cell.id, cell.line);
            errors.push(Problem::new(
                tfile,
                Some(line),
                format!("{ofile}:{at} 的单元格 '{id}' 在这个翻译里没有"),
                format!("cell '{id}' of {ofile}:{at} is missing from this translation"),
            ));
        }
    }
    for (cell, _) in &theirs {
        if !ours.iter().any(|(c, _)| c.id == cell.id) {
            let id = &cell.id;
            errors.push(Problem::new(tfile, Some(cell.line), format!("单元格 '{id}' 不在 {ofile} 里"), format!("cell '{id}' is not in {ofile}")));
        }
    }
    let common = |cells: &[(&Cell, Option<&str>)], other: &[(&Cell, Option<&str>)]| -> Vec<String> {
        cells.iter().filter(|(c, _)| other.iter().any(|(o, _)| o.id == c.id)).map(|(c, _)| c.id.clone()).collect()
    };
    if common(&ours, &theirs) != common(&theirs, &ours) {
        errors.push(Problem::new(tfile, Some(1), format!("单元格的顺序和 {ofile} 里的不同"), format!("the cells come in another order than in {ofile}")));
    }
    for (t, tgroup) in &theirs {
        let Some((o, ogroup)) = ours.iter().find(|(o, _)| o.id == t.id) else { continue };
        let (id, oline) = (&t.id, o.line);
        let at = |zh: &str, en: &str| {
            Problem::new(tfile, Some(t.line), format!("单元格 '{id}' {zh}；请对照 {ofile}:{oline}"), format!("cell '{id}' {en}; compare {ofile}:{oline}"))
        };
        if ogroup != tgroup {
            errors.push(at("在另一个组里", "is in another group"));
        }
        if (o.runtime, &o.file, o.start) != (t.runtime, &t.file, t.start) {
            errors.push(at("的 runtime、file 或 start 不同", "has another runtime, file or start flag"));
        }
        match (&o.exercise, &t.exercise) {
            (Some(oe), Some(te)) => {
                if code_shape(&oe.check) != code_shape(&te.check) {
                    errors.push(at("的检查除了字符串和注释之外还有不同", "has another check beyond its strings and comments"));
                }
                if oe.solution.as_deref().map(code_shape) != te.solution.as_deref().map(code_shape) {
                    errors.push(at("的答案除了字符串和注释之外还有不同", "has another solution beyond its strings and comments"));
                }
                if oe.tftp_server != te.tftp_server {
                    errors.push(at("的 TFTP 服务器检查不同", "has another TFTP server check"));
                }
                if oe.traffic != te.traffic {
                    errors.push(at("的流量检查不同", "has another traffic check"));
                }
            }
            (None, None) => {}
            _ => errors.push(at("在一种语言里是练习，在另一种里不是", "is an exercise in one language and not in the other")),
        }
        if code_shape(&o.code) != code_shape(&t.code) {
            errors.push(at("的代码除了字符串和注释之外还有不同", "has other code beyond its strings and comments"));
        }
    }
    errors
}

/// The cells of a lesson with the group each belongs to.
fn placed_cells(lesson: &Lesson) -> Vec<(&Cell, Option<&str>)> {
    lesson
        .blocks
        .iter()
        .flat_map(|b| match b {
            Block::Text { .. } => Vec::new(),
            Block::Cell(c) => vec![(c, None)],
            Block::Group(g) => g.files.iter().map(|c| (c, Some(g.id.as_str()))).collect(),
        })
        .collect()
}

/// Python code with every string literal emptied, comments and blank lines removed and
/// trailing space trimmed: what must be equal in two languages.
pub fn code_shape(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            q @ ('\'' | '"') => {
                let triple = chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q);
                let quote = if triple { 3 } else { 1 };
                i += quote;
                loop {
                    match chars.get(i) {
                        None => break,
                        Some('\\') => i += 2,
                        Some('\n') if !triple => break,
                        Some(c) if *c == q && (!triple || (chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q))) => {
                            i += quote;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push_str("\"\"");
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::parse_lesson;
    use shared::lang::Lang;

    #[test]
    fn strings_and_comments_may_differ_code_may_not() {
        let zh = "print('你好')  # 问候\nx = f\"{n} 个\"\ns = '''多行\n文字'''\n";
        let en = "print('hello')  # greet\nx = f\"{n} of them\"\ns = '''one line'''\n";
        assert_eq!(code_shape(zh), code_shape(en));
        assert_ne!(code_shape("print('a')\n"), code_shape("print('a', end='')\n"));
        assert_ne!(code_shape("x = 1\n"), code_shape("x = 2\n"));
        assert_eq!(code_shape("s = 'it\\'s'  # c\n"), "s = \"\"");
    }

    #[test]
    fn lesson_file_names() {
        assert_eq!(lesson_file(Path::new("c/closures.md")), Some(("closures".into(), None)));
        assert_eq!(lesson_file(Path::new("closures.en.md")), Some(("closures".into(), Some("en".into()))));
        assert_eq!(lesson_file(Path::new("README.md")), None);
        assert_eq!(lesson_file(Path::new(".x.md")), None);
        assert_eq!(lesson_file(Path::new("a.txt")), None);
    }

    fn lesson(text: &str) -> Lesson {
        parse_lesson("l", text).unwrap_or_else(|e| panic!("{e:?}")).1
    }

    #[test]
    fn a_faithful_translation_passes_and_each_departure_is_named_with_its_line() {
        let zh = "---\ntitle: 甲\n---\n文字\n\n```python {id=a}\nprint('一')\n```\n\n```python {id=b exercise}\ndef f(): pass\n```\n```check\ncheck('f', f() is None)\n```\n";
        let en = "---\ntitle: A\n---\nText\n\n```python {id=a}\nprint('one')\n```\n\n```python {id=b exercise}\ndef f(): pass\n```\n```check\ncheck('f returns None', f() is None)\n```\n";
        assert_eq!(compare(&lesson(zh), "l.md", &lesson(en), "l.en.md"), Vec::<Problem>::new());
        let said = |errs: Vec<Problem>| errs.iter().map(|e| e.said(Lang::En)).collect::<Vec<_>>();

        let other_code = en.replace("print('one')", "print('one', 1)");
        let errs = said(compare(&lesson(zh), "l.md", &lesson(&other_code), "l.en.md"));
        assert_eq!(errs, ["l.en.md:6: cell 'a' has other code beyond its strings and comments; compare l.md:6"]);

        let missing = "---\ntitle: A\n---\nText\n\n```python {id=a}\nprint('one')\n```\n";
        let errs = said(compare(&lesson(zh), "l.md", &lesson(missing), "l.en.md"));
        assert_eq!(errs, ["l.en.md:6: cell 'b' of l.md:10 is missing from this translation"]);
        let zh_said = compare(&lesson(zh), "l.md", &lesson(missing), "l.en.md")[0].said(Lang::Zh);
        assert_eq!(zh_said, "l.en.md:6: l.md:10 的单元格 'b' 在这个翻译里没有");

        let extra = format!("{en}\n```python {{id=c}}\nprint(3)\n```\n");
        let errs = said(compare(&lesson(zh), "l.md", &lesson(&extra), "l.en.md"));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("l.en.md:17: cell 'c' is not in l.md"), "{errs:?}");

        let no_exercise = en.replace("{id=b exercise}", "{id=b}").replace("```check\ncheck('f returns None', f() is None)\n```\n", "");
        let errs = said(compare(&lesson(zh), "l.md", &lesson(&no_exercise), "l.en.md"));
        assert!(errs.iter().any(|e| e.contains("cell 'b' is an exercise in one language")), "{errs:?}");
    }
}
