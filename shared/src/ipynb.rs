//! Jupyter notebooks (nbformat 4.5) to and from classbook cells: a lesson with the student's
//! code exported as .ipynb or .py, and an .ipynb read back whole or refused with a clear reason.

use crate::course::{Block, Lesson, Runtime};
use serde_json::{json, Map, Value};
use std::fmt;

/// The largest notebook `from_ipynb` reads (it ends up in the browser's storage).
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// The most cells `from_ipynb` reads.
pub const MAX_CELLS: usize = 500;

/// A notebook as classbook sees it: prose and code cells in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Notebook {
    pub title: String,
    /// The lesson it was exported from, if any.
    pub lesson: Option<String>,
    pub cells: Vec<NbCell>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NbCell {
    /// Prose: Markdown (which may hold HTML, as a lesson's rendered text does).
    Markdown(String),
    Code(CodeCell),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CodeCell {
    /// The cell's id: the lesson's, or `cell-N` for a notebook that has none.
    pub id: String,
    pub runtime: Runtime,
    /// File name inside a server group.
    pub file: Option<String>,
    /// The group this file belongs to.
    pub group: Option<String>,
    /// Whether the group starts this file as a program (false for a module it imports).
    pub start: bool,
    pub code: String,
    /// What its last run printed on the page (stdout and stderr as shown), if it ran.
    pub output: Option<String>,
}

/// Why a file could not be read as a notebook. Nothing is imported when there is one.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportError {
    TooLarge(usize),
    NotJson(String),
    NotNotebook(String),
    Version(i64),
    NotPython(String),
    TooManyCells(usize),
    BadCell { index: usize, why: String },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::TooLarge(n) => write!(f, "the file is {n} bytes; notebooks up to {MAX_BYTES} bytes are read"),
            ImportError::NotJson(e) => write!(f, "not a notebook: the file is not valid JSON ({e})"),
            ImportError::NotNotebook(why) => write!(f, "not a Jupyter notebook: {why}"),
            ImportError::Version(v) => write!(f, "notebook format {v}; only format 4 is read"),
            ImportError::NotPython(l) => write!(f, "a notebook in {l}, not Python"),
            ImportError::TooManyCells(n) => write!(f, "{n} cells; notebooks up to {MAX_CELLS} cells are read"),
            ImportError::BadCell { index, why } => write!(f, "cell {}: {why}", index + 1),
        }
    }
}

impl Notebook {
    /// A lesson's prose (its Markdown source) and code, with `code_of(cell_id)` (the student's
    /// edit) in place of a cell's original where it returns `Some`, and `output_of(cell_id)`
    /// (what its last run printed) as the cell's output. The title is a heading once: the
    /// lesson's own, or one added when its prose does not start with a heading.
    pub fn from_lesson(
        lesson: &Lesson,
        code_of: impl Fn(&str) -> Option<String>,
        output_of: impl Fn(&str) -> Option<String>,
    ) -> Notebook {
        let titled = matches!(lesson.blocks.first(), Some(Block::Text { markdown, .. }) if markdown.starts_with("# "));
        let mut cells = if titled { Vec::new() } else { vec![NbCell::Markdown(format!("# {}", lesson.title))] };
        let code = |c: &crate::course::Cell, group: Option<&str>| {
            NbCell::Code(CodeCell {
                id: c.id.clone(),
                runtime: c.runtime,
                file: c.file.clone(),
                group: group.map(str::to_string),
                start: c.start,
                code: code_of(&c.id).unwrap_or_else(|| c.code.clone()),
                output: output_of(&c.id).filter(|o| !o.is_empty()),
            })
        };
        for block in &lesson.blocks {
            match block {
                Block::Text { markdown, .. } if !markdown.is_empty() => cells.push(NbCell::Markdown(markdown.clone())),
                Block::Text { html, .. } => cells.push(NbCell::Markdown(html.trim().to_string())),
                Block::Cell(c) => cells.push(code(c, None)),
                Block::Group(g) => cells.extend(g.files.iter().map(|c| code(c, Some(&g.id)))),
            }
        }
        Notebook { title: lesson.title.clone(), lesson: Some(lesson.id.clone()), cells }
    }

    /// The notebook as lesson blocks: prose as text (never HTML: an imported file is not
    /// trusted), code cells as cells, and consecutive files of one group as that group again.
    pub fn blocks(&self) -> Vec<Block> {
        let mut blocks: Vec<Block> = Vec::new();
        for cell in &self.cells {
            match cell {
                NbCell::Markdown(text) => blocks.push(Block::Text { html: plain_text(text), markdown: String::new() }),
                NbCell::Code(c) => {
                    let mut cell = crate::course::Cell::new(c.id.clone(), c.runtime, c.code.clone());
                    cell.file = c.file.clone();
                    cell.start = c.start;
                    match (&c.group, blocks.last_mut()) {
                        (Some(g), Some(Block::Group(last))) if last.id == *g => last.files.push(cell),
                        (Some(g), _) => blocks.push(Block::Group(crate::course::Group {
                            id: g.clone(),
                            runtime: Runtime::Server,
                            files: vec![cell],
                            line: 0,
                        })),
                        (None, _) => blocks.push(Block::Cell(cell)),
                    }
                }
            }
        }
        blocks
    }

    pub fn code_cells(&self) -> impl Iterator<Item = &CodeCell> {
        self.cells.iter().filter_map(|c| match c {
            NbCell::Code(c) => Some(c),
            NbCell::Markdown(_) => None,
        })
    }
}

/// Jupyter's convention: the source as a list of lines, each but the last ending in `\n`.
fn source_lines(text: &str) -> Value {
    Value::Array(text.split_inclusive('\n').map(|l| Value::String(l.to_string())).collect())
}

/// The notebook as nbformat 4.5 JSON. Code cells carry `metadata.classbook` (runtime, file,
/// group, cell id) so an import puts them back where they ran.
///
/// A server group's files are written to disk by Jupyter's `%%writefile` (so its programs can
/// import each other), and after its last file a cell runs the group as the page does: each
/// program in turn, the earlier ones (servers) in the background, then stops them.
pub fn to_ipynb(nb: &Notebook) -> String {
    let mut cells: Vec<Value> = Vec::new();
    for (i, cell) in nb.cells.iter().enumerate() {
        cells.push(match cell {
            NbCell::Markdown(text) => json!({
                "cell_type": "markdown", "id": format!("md-{i}"), "metadata": {}, "source": source_lines(text),
            }),
            NbCell::Code(c) => {
                let mut meta = Map::new();
                meta.insert("cell".into(), json!(c.id));
                meta.insert("runtime".into(), json!(c.runtime.as_str()));
                if let Some(f) = &c.file {
                    meta.insert("file".into(), json!(f));
                }
                if let Some(g) = &c.group {
                    meta.insert("group".into(), json!(g));
                }
                if !c.start {
                    meta.insert("start".into(), json!(false));
                }
                let outputs = match &c.output {
                    Some(text) => json!([{ "output_type": "stream", "name": "stdout", "text": source_lines(text) }]),
                    None => json!([]),
                };
                let source = match (&c.group, &c.file) {
                    (Some(_), Some(file)) => format!("{WRITEFILE}{file}\n{}", c.code),
                    _ => c.code.clone(),
                };
                json!({
                    "cell_type": "code", "id": format!("code-{i}"), "execution_count": null,
                    "metadata": { "classbook": meta }, "outputs": outputs, "source": source_lines(&source),
                })
            }
        });
        if let Some((group, programs)) = group_ends_at(nb, i) {
            cells.push(json!({
                "cell_type": "code", "id": format!("run-{i}"), "execution_count": null,
                "metadata": { "classbook": { "run_group": group } }, "outputs": [],
                "source": source_lines(&run_group(&programs)),
            }));
        }
    }
    let mut classbook = Map::new();
    classbook.insert("title".into(), json!(nb.title));
    if let Some(l) = &nb.lesson {
        classbook.insert("lesson".into(), json!(l));
    }
    let doc = json!({
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": { "name": "python3", "display_name": "Python 3", "language": "python" },
            "language_info": { "name": "python" },
            "classbook": classbook,
        },
        "cells": cells,
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    out.push('\n');
    out
}

/// Jupyter's cell magic that writes a cell's text into a file (a group's files start with it).
const WRITEFILE: &str = "%%writefile ";

/// When cell `i` is the last file of a server group: the group and the files it starts, in order.
fn group_ends_at(nb: &Notebook, i: usize) -> Option<(String, Vec<String>)> {
    let NbCell::Code(CodeCell { group: Some(group), .. }) = &nb.cells[i] else { return None };
    let same = |c: Option<&NbCell>| matches!(c, Some(NbCell::Code(CodeCell { group: Some(g), .. })) if g == group);
    if same(nb.cells.get(i + 1)) {
        return None;
    }
    let first = (0..=i).rev().take_while(|&j| same(nb.cells.get(j))).last().unwrap_or(i);
    let programs = nb.cells[first..=i]
        .iter()
        .filter_map(|c| match c {
            NbCell::Code(c) if c.start => c.file.clone(),
            _ => None,
        })
        .collect();
    Some((group.clone(), programs))
}

/// The cell that runs a server group in Jupyter: the programs in turn, all but the last in the
/// background (given a second to start listening), then the servers stopped; each one's output
/// printed under its name.
fn run_group(programs: &[String]) -> String {
    let (last, servers) = programs.split_last().map(|(l, s)| (l.as_str(), s)).unwrap_or(("", &[]));
    let list = servers.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    format!(
        "# classbook: run the group as the page does: the servers in the background, then the last program.\n\
         import subprocess, sys, time\n\
         servers = []\n\
         for name in [{list}]:\n\
         \x20   servers.append((name, subprocess.Popen([sys.executable, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))\n\
         \x20   time.sleep(1)\n\
         last = subprocess.run([sys.executable, {last:?}], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)\n\
         print(last.stdout, end=\"\")\n\
         for name, server in servers:\n\
         \x20   try:\n\
         \x20       out = server.communicate(timeout=2)[0]\n\
         \x20   except subprocess.TimeoutExpired:\n\
         \x20       server.terminate()\n\
         \x20       out = server.communicate()[0]\n\
         \x20   print(f\"--- {{name}} ---\")\n\
         \x20   print(out, end=\"\")\n"
    )
}

/// The notebook as a Python script in the "percent" format editors know (`# %%` starts a cell):
/// prose becomes comments, code stays code.
pub fn to_py(nb: &Notebook) -> String {
    let mut out = format!("# {}\n", nb.title);
    if let Some(l) = &nb.lesson {
        out.push_str(&format!("# classbook lesson: {l}\n"));
    }
    for cell in &nb.cells {
        out.push('\n');
        match cell {
            NbCell::Markdown(text) => {
                out.push_str("# %% [markdown]\n");
                for line in plain_text(text).lines() {
                    out.push_str(if line.is_empty() { "#" } else { "# " });
                    out.push_str(line);
                    out.push('\n');
                }
            }
            NbCell::Code(c) => {
                out.push_str(&format!("# %% {} runtime={}", c.id, c.runtime.as_str()));
                if let Some(f) = &c.file {
                    out.push_str(&format!(" file={f}"));
                }
                out.push('\n');
                out.push_str(&c.code);
                if !c.code.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Text without HTML tags (entities decoded), blank-line runs squeezed: lesson prose for
/// places that must not render HTML (comments, imported notebooks).
pub fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let mut out = String::new();
    let mut blank = 0;
    for line in text.trim().lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The text of a code cell's stream outputs, if any (others, such as images, are left out).
fn output_text(outputs: Option<&Value>) -> Option<String> {
    let text: String = outputs?
        .as_array()?
        .iter()
        .filter(|o| o.get("output_type").and_then(Value::as_str) == Some("stream"))
        .filter_map(|o| source_of(o.get("text")).ok())
        .collect();
    (!text.is_empty()).then_some(text)
}

fn source_of(v: Option<&Value>) -> Result<String, String> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| p.as_str().ok_or_else(|| "its source holds something other than text".to_string()))
            .collect(),
        Some(_) => Err("its source is not text".into()),
        None => Err("it has no source".into()),
    }
}

/// Reads an .ipynb: nbformat 4, Python (when the notebook says its language), markdown, raw
/// and code cells. Every problem is an `ImportError`; nothing partial is returned.
pub fn from_ipynb(text: &str) -> Result<Notebook, ImportError> {
    if text.len() > MAX_BYTES {
        return Err(ImportError::TooLarge(text.len()));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let doc = doc.as_object().ok_or_else(|| ImportError::NotNotebook("the top level is not an object".into()))?;
    let version = doc
        .get("nbformat")
        .ok_or_else(|| ImportError::NotNotebook("no \"nbformat\" field".into()))?
        .as_i64()
        .ok_or_else(|| ImportError::NotNotebook("\"nbformat\" is not a number".into()))?;
    if version != 4 {
        return Err(ImportError::Version(version));
    }
    let empty = Map::new();
    let meta = match doc.get("metadata") {
        None => &empty,
        Some(m) => m.as_object().ok_or_else(|| ImportError::NotNotebook("\"metadata\" is not an object".into()))?,
    };
    let language = meta
        .get("kernelspec")
        .and_then(|k| k.get("language"))
        .or_else(|| meta.get("language_info").and_then(|l| l.get("name")))
        .and_then(Value::as_str);
    if let Some(lang) = language {
        if !lang.eq_ignore_ascii_case("python") {
            return Err(ImportError::NotPython(lang.to_string()));
        }
    }
    let cells = doc
        .get("cells")
        .ok_or_else(|| ImportError::NotNotebook("no \"cells\" list".into()))?
        .as_array()
        .ok_or_else(|| ImportError::NotNotebook("\"cells\" is not a list".into()))?;
    if cells.len() > MAX_CELLS {
        return Err(ImportError::TooManyCells(cells.len()));
    }
    let classbook = meta.get("classbook");
    let title = classbook.and_then(|c| c.get("title")).and_then(Value::as_str).unwrap_or("").to_string();
    let lesson = classbook.and_then(|c| c.get("lesson")).and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::with_capacity(cells.len());
    let mut ids = std::collections::HashSet::new();
    for (index, cell) in cells.iter().enumerate() {
        let bad = |why: String| ImportError::BadCell { index, why };
        let kind = cell.get("cell_type").and_then(Value::as_str).ok_or_else(|| bad("no cell_type".into()))?;
        let source = source_of(cell.get("source")).map_err(bad)?;
        match kind {
            "markdown" | "raw" => out.push(NbCell::Markdown(source)),
            "code" => {
                let cb = cell.get("metadata").and_then(|m| m.get("classbook"));
                if cb.and_then(|c| c.get("run_group")).is_some() {
                    continue; // made by the export to run a group in Jupyter; the page runs groups itself
                }
                let field = |name: &str| cb.and_then(|c| c.get(name)).and_then(Value::as_str).map(str::to_string);
                let runtime = match field("runtime") {
                    None => Runtime::Browser,
                    Some(r) => Runtime::parse(&r).ok_or_else(|| bad(format!("unknown runtime {r:?}")))?,
                };
                let valid = |s: &String| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
                let mut id = field("cell").filter(valid).unwrap_or_else(|| format!("cell-{}", index + 1));
                if !ids.insert(id.clone()) {
                    id = format!("{id}-{}", index + 1);
                    ids.insert(id.clone());
                }
                let file = field("file").filter(|f| valid(f) && f.ends_with(".py"));
                let start = cb.and_then(|c| c.get("start")).and_then(Value::as_bool).unwrap_or(true);
                let group = field("group").filter(|_| file.is_some() && runtime == Runtime::Server);
                let code = match &file {
                    Some(f) => source.strip_prefix(&format!("{WRITEFILE}{f}\n")).map(str::to_string).unwrap_or(source),
                    None => source,
                };
                out.push(NbCell::Code(CodeCell { id, runtime, file, group, start, code, output: output_text(cell.get("outputs")) }));
            }
            other => return Err(bad(format!("unknown cell_type {other:?}"))),
        }
    }
    Ok(Notebook { title, lesson, cells: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::{Cell, Group, Lesson};

    fn lesson() -> Lesson {
        let mut server = Cell::new("srv", Runtime::Server, "import socket\n");
        server.file = Some("server.py".into());
        let mut client = Cell::new("cli", Runtime::Server, "print('client')\n");
        client.file = Some("client.py".into());
        Lesson {
            id: "closures".into(),
            title: "闭包".into(),
            minutes: 30,
            blocks: vec![
                Block::Text { html: "<p>A <em>closure</em> &amp; its cells</p>".into(), markdown: String::new() },
                Block::Cell(Cell::new("greeter", Runtime::Browser, "def f():\n    return 1\nprint(f())")),
                Block::Group(Group { id: "echo".into(), runtime: Runtime::Server, files: vec![server, client], line: 0 }),
            ],
            prev: None,
            next: None,
            lang: "zh".into(),
        }
    }

    #[test]
    fn export_then_import_keeps_every_cell_and_the_students_edit() {
        let nb = Notebook::from_lesson(&lesson(), |id| (id == "greeter").then(|| "print('edited')\n".to_string()), |id| (id == "greeter").then(|| "edited\n".to_string()));
        let back = from_ipynb(&to_ipynb(&nb)).expect("reads its own export");
        assert_eq!(back, nb);
        let codes: Vec<&str> = back.code_cells().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["print('edited')\n", "import socket\n", "print('client')\n"]);
        let cli = back.code_cells().find(|c| c.id == "cli").unwrap();
        assert_eq!((cli.runtime, cli.file.as_deref(), cli.group.as_deref()), (Runtime::Server, Some("client.py"), Some("echo")));
    }

    #[test]
    fn export_is_nbformat_4_with_line_lists_and_unique_ids() {
        let v: Value = serde_json::from_str(&to_ipynb(&Notebook::from_lesson(&lesson(), |_| None, |_| None))).unwrap();
        assert_eq!((v["nbformat"].as_i64(), v["nbformat_minor"].as_i64()), (Some(4), Some(5)));
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 6, "title, prose, a cell, the group's two files and the cell that runs them");
        assert_eq!(cells[2]["source"], json!(["def f():\n", "    return 1\n", "print(f())"]));
        assert_eq!(cells[2]["outputs"], json!([]));
        let ids: std::collections::HashSet<&str> = cells.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), cells.len());
    }

    #[test]
    fn an_imported_export_gives_back_the_lessons_group() {
        let mut l = lesson();
        if let Block::Group(g) = &mut l.blocks[2] {
            g.files[0].start = false;
        }
        let nb = from_ipynb(&to_ipynb(&Notebook::from_lesson(&l, |_| None, |_| None))).unwrap();
        let blocks = nb.blocks();
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        assert!(matches!(&blocks[0], Block::Text { html, .. } if html == "# 闭包\n"));
        assert!(matches!(&blocks[1], Block::Text { html, .. } if html == "A closure & its cells\n"));
        match &blocks[3] {
            Block::Group(g) => {
                assert_eq!(g.id, "echo");
                let files: Vec<(&str, bool)> = g.files.iter().map(|f| (f.file.as_deref().unwrap(), f.start)).collect();
                assert_eq!(files, [("server.py", false), ("client.py", true)]);
            }
            other => panic!("not a group: {other:?}"),
        }
    }

    #[test]
    fn py_export_has_percent_cells_and_prose_as_comments() {
        let py = to_py(&Notebook::from_lesson(&lesson(), |_| None, |_| None));
        assert!(py.contains("# %% [markdown]\n# A closure & its cells\n"), "{py}");
        assert!(py.contains("# %% greeter runtime=browser\ndef f():\n    return 1\nprint(f())\n"), "{py}");
        assert!(py.contains("# %% cli runtime=server file=client.py\nprint('client')\n"), "{py}");
    }

    #[test]
    fn a_plain_jupyter_notebook_is_read_with_string_sources_and_raw_cells() {
        let text = r#"{"nbformat": 4, "nbformat_minor": 2, "metadata": {},
            "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []},
                      {"cell_type": "raw", "source": ["a", "b"], "metadata": {}},
                      {"cell_type": "code", "source": [], "metadata": {}, "outputs": []}]}"#;
        let nb = from_ipynb(text).unwrap();
        assert_eq!(nb.cells.len(), 3);
        assert_eq!(nb.cells[1], NbCell::Markdown("ab".into()));
        let ids: Vec<&str> = nb.code_cells().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["cell-1", "cell-3"]);
        assert!(nb.code_cells().all(|c| c.runtime == Runtime::Browser));
    }

    #[test]
    fn corrupt_or_foreign_files_are_refused_with_a_reason() {
        let err = |t: &str| from_ipynb(t).unwrap_err();
        assert!(matches!(err("{\"nbformat\": 4, \"cells\": ["), ImportError::NotJson(_)));
        assert!(matches!(err("[1, 2]"), ImportError::NotNotebook(_)));
        assert!(matches!(err("{\"cells\": []}"), ImportError::NotNotebook(_)));
        assert_eq!(err("{\"nbformat\": 3, \"worksheets\": []}"), ImportError::Version(3));
        let r = r#"{"nbformat": 4, "metadata": {"kernelspec": {"language": "R"}}, "cells": []}"#;
        assert_eq!(err(r), ImportError::NotPython("R".into()));
        let bad = r#"{"nbformat": 4, "cells": [{"cell_type": "markdown", "source": "ok"}, {"cell_type": "widget", "source": ""}]}"#;
        assert_eq!(err(bad).to_string(), "cell 2: unknown cell_type \"widget\"");
        let rt = r#"{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "metadata": {"classbook": {"runtime": "gpu"}}}]}"#;
        assert!(matches!(err(rt), ImportError::BadCell { index: 0, .. }));
        assert!(matches!(err(&" ".repeat(MAX_BYTES + 1)), ImportError::TooLarge(_)));
    }

    #[test]
    fn plain_text_drops_tags_and_decodes_entities() {
        assert_eq!(plain_text("<h2>标题</h2>\n\n\n<p>a &lt;b&gt; &amp; c</p>"), "标题\n\na <b> & c\n");
    }

    #[test]
    fn prose_is_exported_as_its_markdown_with_the_title_once() {
        let mut l = lesson();
        l.blocks[0] = Block::Text { html: "<h1>闭包</h1>\n<p>A <em>closure</em></p>".into(), markdown: "# 闭包\n\nA *closure*".into() };
        let v: Value = serde_json::from_str(&to_ipynb(&Notebook::from_lesson(&l, |_| None, |_| None))).unwrap();
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells[0]["source"], json!(["# 闭包\n", "\n", "A *closure*"]));
        let headings = cells.iter().filter(|c| c["cell_type"] == "markdown" && c["source"][0].as_str().is_some_and(|s| s.starts_with("# "))).count();
        assert_eq!(headings, 1, "the title once");
    }

    #[test]
    fn outputs_are_exported_and_a_group_is_written_to_files_and_run() {
        let nb = Notebook::from_lesson(&lesson(), |_| None, |id| (id == "greeter").then(|| "1\n".to_string()));
        let v: Value = serde_json::from_str(&to_ipynb(&nb)).unwrap();
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells[2]["outputs"], json!([{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]));
        assert_eq!(cells[3]["source"][0], "%%writefile server.py\n");
        assert_eq!(cells[4]["source"][0], "%%writefile client.py\n");
        let run: String = cells[5]["source"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(cells[5]["metadata"]["classbook"]["run_group"], "echo");
        assert!(run.contains("for name in [\"server.py\"]:") && run.contains("[sys.executable, \"client.py\"]"), "{run}");
        // Read back: the magic and the run cell are the export's, not the student's code.
        assert_eq!(from_ipynb(&to_ipynb(&nb)).unwrap(), nb);
    }
}
