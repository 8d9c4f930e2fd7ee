//! The course model as the page receives it from `GET /api/lessons[/<id>]`.
//! The backend's `course` module parses lesson files into these types.

use serde::{Deserialize, Serialize};

/// Where a code cell runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// CPython (Pyodide) in the student's browser, in a Web Worker.
    Browser,
    /// The system python3 in the student's sandbox on the class server.
    Server,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Browser => "browser",
            Runtime::Server => "server",
        }
    }

    pub fn parse(s: &str) -> Option<Runtime> {
        match s {
            "browser" => Some(Runtime::Browser),
            "server" => Some(Runtime::Server),
            _ => None,
        }
    }
}

/// One entry of the lesson list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LessonSummary {
    pub id: String,
    pub title: String,
    pub order: u32,
    /// Estimated time in minutes.
    pub minutes: u32,
    pub exercises: u32,
    /// The language the title is in (`zh`, `en`): the one asked for, or the course's first
    /// language when the lesson has no translation into it.
    #[serde(default)]
    pub lang: String,
}

/// A whole lesson, ready to render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    pub id: String,
    pub title: String,
    pub minutes: u32,
    pub blocks: Vec<Block>,
    pub prev: Option<LessonLink>,
    pub next: Option<LessonLink>,
    /// The language the lesson is written in (see `LessonSummary::lang`).
    #[serde(default)]
    pub lang: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LessonLink {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Block {
    /// Prose, already rendered from Markdown to HTML by the backend; `markdown` is its source
    /// (for exports to formats that render Markdown themselves, such as .ipynb).
    Text {
        html: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        markdown: String,
    },
    /// A single code cell.
    Cell(Cell),
    /// Several files that run together in one sandbox (e.g. server.py + client.py).
    Group(Group),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Unique within the lesson; stable across edits of the lesson text.
    pub id: String,
    pub runtime: Runtime,
    /// File name inside a group (e.g. `server.py`); `None` for a lone cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Whether a group starts this file as a program (false for modules and data files).
    #[serde(default = "yes")]
    pub start: bool,
    pub code: String,
    /// Standard input fed to the cell when it is checked automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// The output the lesson expects; checked in CI, never shown before a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expected>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<Exercise>,
    /// 1-based line of the cell's fence in its lesson file (for error messages).
    #[serde(default)]
    pub line: u32,
}

fn yes() -> bool {
    true
}

impl Cell {
    /// A plain cell: no file name, no expectations, not an exercise.
    pub fn new(id: impl Into<String>, runtime: Runtime, code: impl Into<String>) -> Cell {
        Cell {
            id: id.into(),
            runtime,
            file: None,
            start: true,
            code: code.into(),
            stdin: None,
            expected: None,
            exercise: None,
            line: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    pub text: String,
    /// Compare loosely: `...` in the expected text matches any run of characters
    /// (addresses, times, thread interleavings).
    pub loose: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exercise {
    /// Hidden Python run after the student's code by the check harness (shared/src/check.py),
    /// which calls `check(description, condition)` once per check.
    pub check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The hint rendered from Markdown and sanitized by the backend, as prose is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    /// A "tftp-server" exercise: the student writes a TFTP server and the built-in client
    /// checks it (then `check` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tftp_server: Option<TftpServerCheck>,
    /// A server exercise's traffic property (`check {traffic=RULE port=PORT}`): judged by the
    /// server from the packets it captured of the check run, beside the Python checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficCheck>,
}

/// What the traffic that a server exercise's checks make the student's code send to `port`
/// (on the sandbox's loopback) must look like (`capture::traffic` judges it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficCheck {
    pub rule: TrafficRule,
    pub port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrafficRule {
    /// `framed`: every TCP segment carrying data to the port is one whole message: a 4-byte
    /// big-endian length header, then exactly that many bytes.
    Framed,
}

impl TrafficRule {
    /// Every rule, by the name a lesson gives it.
    pub const ALL: [(&'static str, TrafficRule); 1] = [("framed", TrafficRule::Framed)];

    pub fn named(name: &str) -> Option<TrafficRule> {
        TrafficRule::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }
}

/// Where a "tftp-server" exercise's server listens (127.0.0.1:port in the student's sandbox,
/// serving and storing files in its working directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TftpServerCheck {
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub runtime: Runtime,
    pub files: Vec<Cell>,
    #[serde(default)]
    pub line: u32,
}

impl Lesson {
    /// Every cell of the lesson in order, group members included.
    pub fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.blocks.iter().flat_map(|b| match b {
            Block::Text { .. } => Vec::new(),
            Block::Cell(c) => vec![c],
            Block::Group(g) => g.files.iter().collect(),
        })
    }
}

/// Compares a run's output with what a lesson expects. With `loose`, each `...`
/// in the expectation matches any text (including none and newlines).
/// Trailing white space on each line and at the end is ignored in both modes.
pub fn output_matches(expected: &Expected, actual: &str) -> bool {
    let norm = |s: &str| {
        s.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_string()
    };
    let (want, got) = (norm(&expected.text), norm(actual));
    if !expected.loose {
        return want == got;
    }
    let parts: Vec<&str> = want.split("...").collect();
    let mut rest = got.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(text: &str, loose: bool) -> Expected {
        Expected { text: text.into(), loose }
    }

    #[test]
    fn strict_match_ignores_trailing_space_only() {
        assert!(output_matches(&exp("a\nb\n", false), "a  \nb"));
        assert!(!output_matches(&exp("a\nb", false), "a\nc"));
        assert!(!output_matches(&exp("a", false), " a"));
    }

    #[test]
    fn loose_match_lets_ellipsis_stand_for_any_text() {
        let e = exp("<object at 0x...>\ndone", true);
        assert!(output_matches(&e, "<object at 0x7f00ab>\ndone"));
        assert!(!output_matches(&e, "<object at 0x7f00ab>\nfailed"));
        assert!(output_matches(&exp("start\n...\nend", true), "start\n1\n2\nend"));
        assert!(!output_matches(&exp("start...end", true), "start...nd"));
    }
}
