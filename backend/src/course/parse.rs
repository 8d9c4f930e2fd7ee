//! The lesson file format (documented in README.md, "Writing lessons"): front matter,
//! Markdown prose, and fenced code cells with `{key=value}` attributes, plus attached blocks.

use super::Problem;
use pulldown_cmark::{html, Options, Parser};
use shared::course::{Block, Cell, Exercise, Expected, Group, Lesson, Runtime, TftpServerCheck, TrafficCheck, TrafficRule};

/// A problem at a line of the lesson, in both languages (the caller names the file).
fn err(line: usize, zh: impl Into<String>, en: impl Into<String>) -> Problem {
    Problem::at(line, zh, en)
}

/// Fences that attach to the code cell just before them.
const ATTACHED: [&str; 5] = ["output", "stdin", "check", "hint", "solution"];

/// Parses one lesson. `stem` (the file name without `.md`) is the default id.
/// Returns the lesson's `order` key with the lesson, or every error found.
pub fn parse_lesson(stem: &str, text: &str) -> Result<(u32, Lesson), Vec<Problem>> {
    let mut errors = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut meta = Meta { id: stem.to_string(), title: None, order: 1000, minutes: 15, runtime: Runtime::Browser };
    let body_start = parse_front_matter(&lines, &mut meta, &mut errors);

    let mut blocks: Vec<Block> = Vec::new();
    let mut prose = String::new();
    // Whether anything but blank lines came since the last code cell (attached blocks must follow it).
    let mut prose_since_cell = true;
    // The last cell had an error of its own: its attached blocks add none (one error per fault).
    let mut broken_cell = false;
    let mut cell_count = 0;
    let mut i = body_start;
    while i < lines.len() {
        let line = lines[i];
        let Some(fence) = Fence::open(line) else {
            if !line.trim().is_empty() {
                prose_since_cell = true;
            }
            prose.push_str(line);
            prose.push('\n');
            i += 1;
            continue;
        };
        let start = i + 1; // 1-based line of the opening fence
        let mut body = Vec::new();
        let mut closed = false;
        i += 1;
        while i < lines.len() {
            if fence.closes(lines[i]) {
                closed = true;
                i += 1;
                break;
            }
            body.push(lines[i]);
            i += 1;
        }
        if !closed {
            errors.push(err(start, format!("代码围栏 '{}' 没有结束", fence.marker), format!("code fence '{}' is never closed", fence.marker)));
            break;
        }
        let content = body.join("\n");
        let (lang, attrs) = split_info(&fence.info);
        if lang == "python" || lang == "py" {
            flush_prose(&mut prose, &mut blocks);
            cell_count += 1;
            broken_cell = false;
            match make_cell(&attrs, content, start, cell_count, meta.runtime) {
                Ok((cell, group)) => add_cell(&mut blocks, cell, group, start, &mut errors),
                Err(e) => {
                    errors.push(e);
                    broken_cell = true;
                }
            }
            prose_since_cell = false;
        } else if ATTACHED.contains(&lang.as_str()) {
            match last_cell(&mut blocks) {
                _ if broken_cell && !prose_since_cell => {}
                Some(cell) if !prose_since_cell => {
                    if let Err(e) = attach(cell, &lang, &attrs, content, start) {
                        errors.push(e);
                    }
                }
                _ => errors.push(err(start, format!("'{lang}' 块必须紧跟在一个 python 单元格之后"), format!("a '{lang}' block must directly follow a python cell"))),
            }
        } else {
            prose_since_cell = true;
            prose.push_str(line_at(&lines, start - 1));
            prose.push('\n');
            prose.push_str(&content);
            if !content.is_empty() {
                prose.push('\n');
            }
            prose.push_str(line_at(&lines, i - 1));
            prose.push('\n');
        }
    }
    flush_prose(&mut prose, &mut blocks);
    check_cells(&blocks, &mut errors);
    let Some(title) = meta.title.clone() else {
        errors.push(err(1, "开头的元数据需要一行 'title: ...'", "the front matter needs a 'title: ...' line"));
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let lesson = Lesson { id: meta.id, title, minutes: meta.minutes, blocks, prev: None, next: None, lang: String::new() };
    Ok((meta.order, lesson))
}

struct Meta {
    id: String,
    title: Option<String>,
    order: u32,
    minutes: u32,
    runtime: Runtime,
}

/// Reads `---` … `---` at the top; returns the index of the first body line.
fn parse_front_matter(lines: &[&str], meta: &mut Meta, errors: &mut Vec<Problem>) -> usize {
    if lines.first().map(|l| l.trim()) != Some("---") {
        errors.push(err(1, "课程文件以元数据开头：一行 '---'，'title: ...'，再一行 '---'", "a lesson starts with front matter: a '---' line, 'title: ...', then '---'"));
        return 0;
    }
    for (i, line) in lines.iter().enumerate().skip(1) {
        let n = i + 1;
        let line = line.trim();
        if line == "---" {
            return i + 1;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            errors.push(err(n, format!("元数据里应是 'key: value'，这里是 '{line}'"), format!("expected 'key: value' in the front matter, found '{line}'")));
            continue;
        };
        let value = value.trim();
        // `title: "A: B"` as YAML writes it: the quotes are not part of the value.
        let value = ['"', '\''].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
        let number = |errors: &mut Vec<Problem>| {
            value.parse::<u32>().map_err(|_| errors.push(err(n, format!("'{}' 必须是整数", key.trim()), format!("'{}' must be a whole number", key.trim())))).ok()
        };
        match key.trim() {
            "id" if valid_id(value) => meta.id = value.to_string(),
            "id" => errors.push(err(n, "id 只能用字母、数字、'-' 和 '_'", "an id may use only letters, digits, '-' and '_'")),
            "title" if !value.is_empty() => meta.title = Some(value.to_string()),
            "title" => errors.push(err(n, "标题是空的", "the title is empty")),
            "order" => meta.order = number(errors).unwrap_or(meta.order),
            "minutes" => meta.minutes = number(errors).unwrap_or(meta.minutes),
            "runtime" => match Runtime::parse(value) {
                Some(r) => meta.runtime = r,
                None => errors.push(err(n, format!("runtime 必须是 'browser' 或 'server'，不能是 '{value}'"), format!("runtime must be 'browser' or 'server', not '{value}'"))),
            },
            other => errors.push(err(
                n,
                format!("未知的元数据键 '{other}'（可用的有：id、title、order、minutes、runtime）"),
                format!("unknown front matter key '{other}' (known: id, title, order, minutes, runtime)"),
            )),
        }
    }
    errors.push(err(1, "元数据没有以一行 '---' 结束", "the front matter is never closed with a '---' line"));
    lines.len()
}

struct Fence {
    marker: String,
    info: String,
}

impl Fence {
    fn open(line: &str) -> Option<Fence> {
        let ch = line.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = line.chars().take_while(|c| *c == ch).count();
        (len >= 3).then(|| Fence { marker: ch.to_string().repeat(len), info: line[len..].trim().to_string() })
    }

    fn closes(&self, line: &str) -> bool {
        let t = line.trim_end();
        t.starts_with(&self.marker) && t.chars().all(|c| Some(c) == self.marker.chars().next())
    }
}

fn line_at<'a>(lines: &[&'a str], i: usize) -> &'a str {
    lines.get(i).copied().unwrap_or("")
}

/// `python {runtime=server id=a}` → ("python", [("runtime","server"), ("id","a")]).
fn split_info(info: &str) -> (String, Vec<(String, String)>) {
    let (lang, rest) = match info.find(|c: char| c.is_whitespace() || c == '{') {
        Some(at) => (&info[..at], info[at..].trim()),
        None => (info, ""),
    };
    let inner = rest.trim().trim_start_matches('{').trim_end_matches('}');
    let mut attrs = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=')).collect();
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
                chars.next();
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
            }
        }
        attrs.push((key, value));
    }
    (lang.to_lowercase(), attrs)
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_file_name(s: &str) -> bool {
    valid_id(s.replace('.', "").as_str()) && !s.starts_with('.') && s.len() <= 64
}

fn make_cell(
    attrs: &[(String, String)],
    code: String,
    line: usize,
    n: usize,
    default_runtime: Runtime,
) -> Result<(Cell, Option<String>), Problem> {
    let mut cell = Cell::new(format!("c{n}"), default_runtime, code);
    cell.line = line as u32;
    let mut group = None;
    for (key, value) in attrs {
        match key.as_str() {
            "runtime" => {
                cell.runtime = Runtime::parse(value)
                    .ok_or_else(|| err(line, format!("runtime 必须是 'browser' 或 'server'，不能是 '{value}'"), format!("runtime must be 'browser' or 'server', not '{value}'")))?
            }
            "id" if valid_id(value) => cell.id = value.clone(),
            "id" => return Err(err(line, "id 只能用字母、数字、'-' 和 '_'", "an id may use only letters, digits, '-' and '_'")),
            "file" if valid_file_name(value) => cell.file = Some(value.clone()),
            "file" => return Err(err(
                    line,
                    format!("'{value}' 不是简单的文件名（字母、数字、'-'、'_'、'.'）"),
                    format!("'{value}' is not a plain file name (letters, digits, '-', '_', '.')"),
                )),
            "group" if valid_id(value) => group = Some(value.clone()),
            "group" => return Err(err(line, "组名只能用字母、数字、'-' 和 '_'", "a group name may use only letters, digits, '-' and '_'")),
            "start" => {
                cell.start = match value.as_str() {
                    "true" | "yes" | "" => true,
                    "false" | "no" => false,
                    _ => return Err(err(line, "start 必须是 true 或 false", "start must be true or false")),
                }
            }
            "exercise" => {
                cell.exercise = Some(Exercise { check: String::new(), hint: None, hint_html: None, solution: None, tftp_server: None, traffic: None })
            }
            other => {
                return Err(err(
                    line,
                    format!("未知的单元格属性 '{other}'（可用的有：runtime、id、file、group、start、exercise）"),
                    format!("unknown cell attribute '{other}' (known: runtime, id, file, group, start, exercise)"),
                ))
            }
        }
    }
    if group.is_some() && cell.file.is_none() {
        return Err(err(line, "组里的单元格需要 file=文件名", "a cell in a group needs file=NAME"));
    }
    if group.is_some() && cell.runtime != Runtime::Server {
        return Err(err(line, "组在沙箱里一起运行：请加上 runtime=server", "groups run together in the sandbox: add runtime=server"));
    }
    Ok((cell, group))
}

fn add_cell(blocks: &mut Vec<Block>, cell: Cell, group: Option<String>, line: usize, errors: &mut Vec<Problem>) {
    let Some(name) = group else {
        blocks.push(Block::Cell(cell));
        return;
    };
    if let Some(Block::Group(g)) = blocks.last_mut() {
        if g.id == name {
            if g.files.iter().any(|f| f.file == cell.file) {
                errors.push({
                let file = cell.file.unwrap_or_default();
                err(line, format!("组 '{name}' 已经有一个名为 {file:?} 的文件"), format!("group '{name}' already has a file named {file:?}"))
            });
            } else {
                g.files.push(cell);
            }
            return;
        }
    }
    if blocks.iter().any(|b| matches!(b, Block::Group(g) if g.id == name)) {
        errors.push(err(line, format!("组 '{name}' 被分开了：请让它的单元格相邻"), format!("group '{name}' is split: keep its cells next to each other")));
        return;
    }
    blocks.push(Block::Group(Group { id: name, runtime: cell.runtime, files: vec![cell], line: line as u32 }));
}

fn last_cell(blocks: &mut [Block]) -> Option<&mut Cell> {
    match blocks.last_mut()? {
        Block::Cell(c) => Some(c),
        Block::Group(g) => g.files.last_mut(),
        Block::Text { .. } => None,
    }
}

fn attach(cell: &mut Cell, kind: &str, attrs: &[(String, String)], content: String, line: usize) -> Result<(), Problem> {
    let mut loose = false;
    let (mut tftp_server, mut port, mut traffic) = (false, None, None);
    for (key, value) in attrs {
        match (kind, key.as_str()) {
            ("output", "loose") => loose = true,
            ("check", "tftp-server") => tftp_server = true,
            ("check", "traffic") => match TrafficRule::named(value) {
                Some(rule) => traffic = Some(rule),
                None => {
                    let known = TrafficRule::ALL.map(|(n, _)| n).join(", ");
                    return Err(err(
                        line,
                        format!("未知的流量规则 '{value}'（可用的有：{known}）"),
                        format!("unknown traffic rule '{value}' (known: {known})"),
                    ));
                }
            },
            ("check", "port") => match value.parse::<u16>() {
                Ok(p) if p >= 1024 && p != 6969 => port = Some(p),
                _ => return Err(err(
                        line,
                        format!("port 必须是 1024 到 65535 之间、6969（配套服务器的端口）以外的数，不能是 '{value}'"),
                        format!("port must be a number from 1024 to 65535 other than 6969 (the companion server's), not '{value}'"),
                    )),
            },
            _ => return Err(err(line, format!("'{kind}' 块上未知的属性 '{key}'"), format!("unknown attribute '{key}' on a '{kind}' block"))),
        }
    }
    if let Some(rule) = traffic {
        return attach_traffic(cell, TrafficCheck { rule, port: port.filter(|_| !tftp_server).ok_or_else(|| {
            err(line, "流量检查写作 ```check {traffic=规则 port=端口号}，后面是让学生的代码发送数据的 Python 检查", "a traffic check is written ```check {traffic=RULE port=NUMBER}, followed by Python checks that make the student's code send")
        })? }, content, line);
    }
    if tftp_server || port.is_some() {
        let Some(port) = port.filter(|_| tftp_server) else {
            return Err(err(line, "TFTP 服务器检查写作 ```check {tftp-server port=端口号}", "a TFTP server check is written ```check {tftp-server port=NUMBER}"));
        };
        if cell.runtime != Runtime::Server {
            return Err(err(line, "tftp-server 练习在沙箱里运行：请给它的单元格加上 runtime=server", "a tftp-server exercise runs in the sandbox: add runtime=server to its cell"));
        }
        if !content.trim().is_empty() {
            return Err(err(line, "tftp-server 检查块要留空：由内置的 TFTP 客户端来检查", "a tftp-server check block stays empty: the built-in TFTP client does the checking"));
        }
        let Some(ex) = cell.exercise.as_mut() else {
            return Err(err(line, "'check' 块属于练习单元格：请给单元格的属性加上 'exercise'", "a 'check' block belongs to an exercise cell: add 'exercise' to the cell's attributes"));
        };
        if !ex.check.is_empty() || ex.tftp_server.is_some() {
            return Err(err(line, "这个单元格已经有一个 'check' 块", "this cell already has a 'check' block"));
        }
        ex.tftp_server = Some(TftpServerCheck { port });
        return Ok(());
    }
    let twice = || err(line, format!("这个单元格已经有一个 '{kind}' 块"), format!("this cell already has a '{kind}' block"));
    match kind {
        "output" => {
            if cell.expected.is_some() {
                return Err(twice());
            }
            cell.expected = Some(Expected { text: content, loose });
        }
        "stdin" => {
            if cell.stdin.is_some() {
                return Err(twice());
            }
            cell.stdin = Some(content + "\n");
        }
        _ => {
            let Some(ex) = cell.exercise.as_mut() else {
                return Err(err(
                    line,
                    format!("'{kind}' 块属于练习单元格：请给单元格的属性加上 'exercise'"),
                    format!("a '{kind}' block belongs to an exercise cell: add 'exercise' to the cell's attributes"),
                ));
            };
            let slot = match kind {
                "check" => {
                    if !ex.check.is_empty() {
                        return Err(twice());
                    }
                    ex.check = content;
                    return Ok(());
                }
                "hint" => {
                    if ex.hint.is_some() {
                        return Err(twice());
                    }
                    // The hint is Markdown: the page shows it rendered (and sanitized) like prose.
                    ex.hint_html = Some(super::sanitize::html(&render(&content)));
                    &mut ex.hint
                }
                _ => &mut ex.solution,
            };
            if slot.is_some() {
                return Err(twice());
            }
            *slot = Some(content);
        }
    }
    Ok(())
}

/// A `check {traffic=RULE port=PORT}` block: Python checks as usual, and a property of what
/// they make the student's code send to the port, judged by the server from its capture.
fn attach_traffic(cell: &mut Cell, traffic: TrafficCheck, content: String, line: usize) -> Result<(), Problem> {
    if cell.runtime != Runtime::Server {
        return Err(err(line, "流量检查由服务器从沙箱的数据包来判断：请给单元格加上 runtime=server", "a traffic check is judged by the server from the sandbox's packets: add runtime=server to its cell"));
    }
    if content.trim().is_empty() {
        return Err(err(
            line,
            format!("流量检查块里需要 Python 检查：由它们让学生的代码向端口 {} 发送数据", traffic.port),
            format!("a traffic check block needs Python checks: they make the student's code send to port {}", traffic.port),
        ));
    }
    let Some(ex) = cell.exercise.as_mut() else {
        return Err(err(line, "'check' 块属于练习单元格：请给单元格的属性加上 'exercise'", "a 'check' block belongs to an exercise cell: add 'exercise' to the cell's attributes"));
    };
    if !ex.check.is_empty() || ex.tftp_server.is_some() {
        return Err(err(line, "这个单元格已经有一个 'check' 块", "this cell already has a 'check' block"));
    }
    ex.check = content;
    ex.traffic = Some(traffic);
    Ok(())
}

fn flush_prose(prose: &mut String, blocks: &mut Vec<Block>) {
    if prose.trim().is_empty() {
        prose.clear();
        return;
    }
    blocks.push(Block::Text { html: super::sanitize::html(&render(prose)), markdown: prose.trim().to_string() });
    prose.clear();
}

/// Markdown prose as HTML, before it is sanitized.
pub(super) fn render(prose: &str) -> String {
    let mut out = String::new();
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    html::push_html(&mut out, Parser::new_ext(prose, opts));
    out
}

/// Whole-lesson rules: unique ids, exercises have checks.
fn check_cells(blocks: &[Block], errors: &mut Vec<Problem>) {
    let mut seen: Vec<&str> = Vec::new();
    for block in blocks {
        let (ids, cells): (Vec<(&str, u32)>, Vec<&Cell>) = match block {
            Block::Text { .. } => continue,
            Block::Cell(c) => (vec![(c.id.as_str(), c.line)], vec![c]),
            Block::Group(g) => {
                let mut ids = vec![(g.id.as_str(), g.line)];
                ids.extend(g.files.iter().map(|c| (c.id.as_str(), c.line)));
                (ids, g.files.iter().collect())
            }
        };
        for (id, line) in ids {
            if seen.contains(&id) {
                errors.push(err(line as usize, format!("id '{id}' 在这一课里用了两次"), format!("id '{id}' is used twice in this lesson")));
            }
            seen.push(id);
        }
        for c in cells {
            if c.exercise.as_ref().is_some_and(|e| e.check.trim().is_empty() && e.tftp_server.is_none()) {
                errors.push(err(c.line as usize, "练习单元格后面需要一个 'check' 块", "an exercise cell needs a 'check' block after it"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::lang::Lang;

    const LESSON: &str = "---\ntitle: 闭包\norder: 3\nminutes: 20\n---\n# Hello\n\nSome *text*.\n\n\
```python {id=first}\nprint(1)\n```\n```output\n1\n```\n\n\
```python {runtime=server group=echo file=server.py}\nprint('s')\n```\n\
```python {runtime=server group=echo file=client.py}\nprint('c')\n```\n\
```python {id=ex exercise}\nx = 1\n```\n```check\ncheck('x is 2', x == 2)\n```\n```hint\nThink.\n```\n";

    #[test]
    fn front_matter_values_may_be_quoted() {
        let (_, lesson) = parse_lesson("q", "---\ntitle: \"Closures: cells\"\n---\ntext\n").unwrap();
        assert_eq!(lesson.title, "Closures: cells");
        let (_, lesson) = parse_lesson("q", "---\ntitle: 'It' s'\n---\ntext\n").unwrap();
        assert_eq!(lesson.title, "It' s");
    }

    #[test]
    fn a_lesson_parses_into_text_cells_groups_and_exercises() {
        let (order, lesson) = parse_lesson("closures", LESSON).unwrap();
        assert_eq!(order, 3);
        assert_eq!(lesson.id, "closures");
        assert_eq!(lesson.title, "闭包");
        assert_eq!(lesson.blocks.len(), 4, "{:#?}", lesson.blocks);
        let Block::Text { html, .. } = &lesson.blocks[0] else { panic!() };
        assert!(html.contains("<em>text</em>"));
        let Block::Cell(c) = &lesson.blocks[1] else { panic!() };
        assert_eq!((c.id.as_str(), c.runtime, c.line), ("first", Runtime::Browser, 10));
        assert_eq!(c.expected.as_ref().unwrap().text, "1");
        let Block::Group(g) = &lesson.blocks[2] else { panic!() };
        assert_eq!(g.files.len(), 2);
        assert_eq!(g.files[1].file.as_deref(), Some("client.py"));
        let Block::Cell(ex) = &lesson.blocks[3] else { panic!() };
        let exercise = ex.exercise.as_ref().unwrap();
        assert!(exercise.check.contains("x == 2"));
        assert_eq!(exercise.hint.as_deref(), Some("Think."));
    }

    #[test]
    fn other_fences_stay_in_the_prose() {
        let text = "---\ntitle: T\n---\n```text\nnot code\n```\n";
        let (_, lesson) = parse_lesson("t", text).unwrap();
        let Block::Text { html, .. } = &lesson.blocks[0] else { panic!() };
        assert!(html.contains("not code"));
    }

    fn first_error(text: &str) -> Problem {
        parse_lesson("t", text).unwrap_err().remove(0)
    }

    #[test]
    fn broken_lessons_get_errors_at_the_right_line() {
        let e = first_error("---\ntitle: T\n---\n\n```python\nprint(1)\n");
        assert_eq!((e.line, e.message(Lang::En).contains("never closed")), (Some(5), true));
        let e = first_error("---\ntitle: T\n---\ntext\n```output\n1\n```\n");
        assert_eq!(e.line, Some(5));
        let e = first_error("---\ntitle: T\n---\n```python {colour=red}\n```\n");
        assert!(e.message(Lang::En).contains("unknown cell attribute 'colour'"), "{}", e.message(Lang::En));

        let e = first_error("---\ntitle: T\n---\n```python {id=a}\n```\n```python {id=a}\n```\n");
        assert_eq!((e.line, e.message(Lang::En).contains("twice")), (Some(6), true));
        let e = first_error("---\ntitle: T\n---\n```python {exercise}\nx=1\n```\n");
        assert!(e.message(Lang::En).contains("check"));
        let e = first_error("---\nnope\n---\n");
        assert_eq!(e.line, Some(2));
        let e = first_error("---\ntitle: T\n---\n```python {runtime=server group=g file=a.py}\n```\ntext\n```python {runtime=server group=g file=b.py}\n```\n");
        assert!(e.message(Lang::En).contains("split"), "{}", e.message(Lang::En));
    }

    #[test]
    fn tftp_server_checks_name_a_port_and_are_validated() {
        let cell = "---\ntitle: T\n---\n```python {id=s runtime=server exercise}\npass\n```\n";
        let (_, lesson) = parse_lesson("t", &format!("{cell}```check {{tftp-server port=6970}}\n```\n")).unwrap();
        let Block::Cell(c) = &lesson.blocks[0] else { panic!() };
        assert_eq!(c.exercise.as_ref().unwrap().tftp_server, Some(TftpServerCheck { port: 6970 }));
        for (check, says) in [
            ("```check {tftp-server}\n```\n", "port=NUMBER"),
            ("```check {tftp-server port=6969}\n```\n", "other than 6969"),
            ("```check {tftp-server port=80}\n```\n", "1024"),
            ("```check {port=7000}\n```\n", "port=NUMBER"),
            ("```check {tftp-server port=7000}\ncheck('x', True)\n```\n", "stays empty"),
        ] {
            let e = first_error(&format!("{cell}{check}"));
            assert_eq!(e.line, Some(7), "{check}");
            assert!(e.message(Lang::En).contains(says), "{check}: {}", e.message(Lang::En));
        }
        let browser = "---\ntitle: T\n---\n```python {id=s exercise}\npass\n```\n```check {tftp-server port=7000}\n```\n";
        assert!(first_error(browser).message(Lang::En).contains("runtime=server"));
    }

    #[test]
    fn traffic_checks_name_a_rule_and_a_port_and_are_validated_with_their_line() {
        let cell = "---\ntitle: T\n---\n```python {id=s runtime=server exercise}\npass\n```\n";
        let (_, lesson) = parse_lesson("t", &format!("{cell}```check {{traffic=framed port=6160}}\ncheck('x', True)\n```\n")).unwrap();
        let Block::Cell(c) = &lesson.blocks[0] else { panic!() };
        let ex = c.exercise.as_ref().unwrap();
        assert_eq!(ex.traffic, Some(TrafficCheck { rule: TrafficRule::Framed, port: 6160 }));
        assert_eq!(ex.check, "check('x', True)");
        for (check, says) in [
            ("```check {traffic=framed}\ncheck('x', True)\n```\n", "port=NUMBER"),
            ("```check {traffic=sticky port=6160}\ncheck('x', True)\n```\n", "unknown traffic rule 'sticky' (known: framed)"),
            ("```check {traffic=framed port=80}\ncheck('x', True)\n```\n", "1024"),
            ("```check {traffic=framed port=6160}\n```\n", "needs Python checks"),
            ("```check {traffic=framed tftp-server port=6160}\ncheck('x', True)\n```\n", "traffic=RULE port=NUMBER"),
        ] {
            let e = first_error(&format!("{cell}{check}"));
            assert_eq!(e.line, Some(7), "{check}");
            assert!(e.message(Lang::En).contains(says), "{check}: {}", e.message(Lang::En));
        }
        let browser = "---\ntitle: T\n---\n```python {id=s exercise}\npass\n```\n```check {traffic=framed port=6160}\ncheck('x', True)\n```\n";
        let e = first_error(browser);
        assert!(e.line == Some(7) && e.message(Lang::Zh).contains("runtime=server"), "{}", e.message(Lang::Zh));
    }

    #[test]
    fn attributes_accept_quotes_and_flags() {
        let (lang, attrs) = split_info(r#"python {id=a file="x.py" exercise}"#);
        assert_eq!(lang, "python");
        assert_eq!(attrs, vec![("id".into(), "a".into()), ("file".into(), "x.py".into()), ("exercise".into(), "".into())]);
    }

    #[test]
    fn a_broken_cell_attribute_is_one_error_not_one_per_attached_block() {
        let text = "---\ntitle: T\n---\n```python {id=ex exercize}\nx = 1\n```\n```check\ncheck('x', x == 1)\n```\n```hint\nThink.\n```\n```solution\nx = 1\n```\n";
        let errors = parse_lesson("t", text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message(Lang::En).contains("unknown cell attribute 'exercize'"), "{errors:?}");
    }
}
