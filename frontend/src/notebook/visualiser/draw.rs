//! One step of a trace drawn as SVG markup: the frames on the left, the heap objects they reach
//! in columns by distance, arrows from names, cells and containers to what they hold.

use shared::visualise::{Frame, Heap, Kind, Object, Replay, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;

const ROW: u32 = 18;
const HEADER: u32 = 20;
const GAP: u32 = 12;
const FRAME_X: u32 = 8;
const FRAME_W: u32 = 230;
const HEAP_X: u32 = 290;
const BOX_W: u32 = 210;
const COLUMN_W: u32 = 260;
/// Objects farther than this from a name share the last column.
const COLUMNS: usize = 4;
/// Characters of a value drawn inline before it is cut (the full text is its tooltip).
const INLINE_CHARS: usize = 22;

/// Interface words of the drawing, in the page's language.
pub struct Words {
    pub title: &'static str,
    pub returned: &'static str,
    /// "{n} frames not shown".
    pub elided: &'static str,
    /// "{n} more".
    pub more: &'static str,
    pub instance: &'static str,
    pub state: &'static str,
    pub resumes: &'static str,
}

/// What a row of a box shows: a label and a value (inline, or an arrow to an object).
struct Row {
    label: String,
    value: Option<Value>,
}

fn row(label: impl Into<String>, value: Value) -> Row {
    Row { label: label.into(), value: Some(value) }
}

fn note(label: impl Into<String>) -> Row {
    Row { label: label.into(), value: None }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        text.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// The header and rows of an object's box.
fn describe(obj: &Object, words: &Words) -> (String, Vec<Row>) {
    let t = &obj.type_name;
    match &obj.kind {
        Kind::Seq { items, more } => {
            let mut rows: Vec<Row> = items.iter().enumerate().map(|(i, v)| row(i.to_string(), v.clone())).collect();
            if *more > 0 {
                rows.push(note(words.more.replace("{n}", &more.to_string())));
            }
            (t.clone(), rows)
        }
        Kind::Dict { items, more } => {
            let mut rows: Vec<Row> = items
                .iter()
                .map(|(k, v)| match k {
                    Value::Inline(text) => row(text.clone(), v.clone()),
                    Value::Ref(id) => row(format!("#{id}"), v.clone()),
                })
                .collect();
            if *more > 0 {
                rows.push(note(words.more.replace("{n}", &more.to_string())));
            }
            (t.clone(), rows)
        }
        Kind::Function { name, cells, wrapped, .. } => {
            let mut rows: Vec<Row> = cells.iter().map(|(n, v)| row(format!("{n} (cell)"), v.clone())).collect();
            if let Some(w) = wrapped {
                rows.push(row("__wrapped__", w.clone()));
            }
            (format!("function {name}"), rows)
        }
        Kind::Cell { value } => ("cell".into(), value.iter().map(|v| row("", v.clone())).collect()),
        Kind::Generator { name, state, line, vars } => {
            let mut rows = vec![note(format!("{}: {state}", words.state))];
            if let Some(l) = line.filter(|_| state == "suspended" || state == "created") {
                rows.push(note(words.resumes.replace("{n}", &l.to_string())));
            }
            rows.extend(vars.iter().map(|(n, v)| row(n.clone(), v.clone())));
            (format!("generator {name}"), rows)
        }
        Kind::Method { name, receiver, func } => {
            (format!("method {name}"), vec![row("__self__", receiver.clone()), row("__func__", func.clone())])
        }
        Kind::Class { name, mro, slots, attrs } => {
            let mut rows = vec![note(format!("MRO: {}", mro.join(" → ")))];
            if let Some(s) = slots {
                rows.push(note(format!("__slots__: {}", s.join(", "))));
            }
            rows.extend(attrs.iter().map(|(n, v)| row(n.clone(), v.clone())));
            (format!("class {name}"), rows)
        }
        Kind::Instance { class, attrs, slots } => {
            let mut rows = vec![row("__class__", class.clone())];
            rows.extend(attrs.iter().map(|(n, v)| row(n.clone(), v.clone())));
            let head = if *slots { format!("{t} {} (__slots__)", words.instance) } else { format!("{t} {}", words.instance) };
            (head, rows)
        }
        Kind::Iterator { over, index } => {
            let mut rows = vec![row("over", over.clone())];
            if let Some(i) = index {
                rows.push(row("index", Value::Inline(i.to_string())));
            }
            (t.clone(), rows)
        }
        Kind::Other { repr } => (t.clone(), vec![note(cut(repr, 32))]),
    }
}

/// A placed box: where, and the y of each of its rows.
struct Placed {
    x: u32,
    y: u32,
    height: u32,
}

/// Objects reachable from the frames, each with its column (distance from a name, capped),
/// in the order they are first reached.
fn reachable(stack: &[Frame], returned: Option<&Value>, heap: &Heap) -> Vec<(u32, usize)> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<(u32, usize)> = VecDeque::new();
    let roots = stack.iter().flat_map(|f| f.vars.iter().map(|(_, v)| v)).chain(returned);
    for v in roots {
        if let Some(id) = v.as_ref() {
            if seen.insert(id) {
                queue.push_back((id, 0));
            }
        }
    }
    while let Some((id, depth)) = queue.pop_front() {
        let Some(obj) = heap.get(id) else { continue };
        order.push((id, depth.min(COLUMNS - 1)));
        for v in obj.kind.values() {
            if let Some(child) = v.as_ref() {
                if seen.insert(child) {
                    queue.push_back((child, depth + 1));
                }
            }
        }
    }
    order
}

struct Svg {
    out: String,
    /// Arrows drawn last, over the boxes: (data-kind, from attribute, x1, y1, to id).
    arrows: Vec<(String, u32, u32, u32)>,
}

impl Svg {
    /// An inline value or the dot an arrow leaves from, at the right end of a row.
    fn value(&mut self, attrs: &str, v: &Value, x_right: u32, y: u32, arrow_attrs: String) {
        match v {
            Value::Inline(text) => {
                // The element's text is the value (tests read it); a cut one keeps it whole in data-value.
                let shown = cut(text, INLINE_CHARS);
                let full = if shown.len() == text.len() { String::new() } else { format!(r#" data-value="{}""#, escape(text)) };
                let _ = write!(
                    self.out,
                    r#"<text{attrs}{full} x="{x_right}" y="{y}" text-anchor="end" class="vis-value">{}</text>"#,
                    escape(&shown)
                );
            }
            Value::Ref(id) => {
                let cx = x_right - 4;
                let _ = write!(self.out, r#"<circle{attrs} cx="{cx}" cy="{}" r="3.5" class="vis-dot"/>"#, y - 4);
                self.arrows.push((arrow_attrs, cx, y - 4, *id));
            }
        }
    }
}

/// Step `n` of `replay` as SVG markup (all text escaped). `boxed`: primitives get a box of
/// their own beside the frame instead of being written inline.
pub fn render(replay: &Replay, n: usize, words: &Words, boxed: bool) -> String {
    let step = replay.step(n);
    let heap = replay.heap(n);
    let before = n.checked_sub(1).map(|p| replay.step(p));
    let returned = step.returned.as_ref();
    let mut svg = Svg { out: String::new(), arrows: Vec::new() };

    // Frames, outermost first.
    let mut y = 8;
    let half = step.stack.len() / 2;
    for (i, frame) in step.stack.iter().enumerate() {
        if step.elided > 0 && i == half {
            let _ = write!(
                svg.out,
                r##"<text x="{}" y="{}" data-kind="elided" fill="#888">⋮ {}</text>"##,
                FRAME_X + 8,
                y + 12,
                escape(&words.elided.replace("{n}", &step.elided.to_string()))
            );
            y += ROW + GAP;
        }
        let innermost = i + 1 == step.stack.len();
        let old = before.and_then(|b| b.stack.iter().find(|f| f.id == frame.id));
        let rows = frame.vars.len() as u32 + u32::from(innermost && returned.is_some());
        let height = HEADER + ROW * rows + 6;
        let _ = write!(
            svg.out,
            r#"<g data-kind="frame" data-name="{}" data-line="{}"><rect x="{FRAME_X}" y="{y}" width="{FRAME_W}" height="{height}" rx="4" class="vis-frame{}"/><text x="{}" y="{}" class="vis-head">{}</text>"#,
            escape(&frame.name),
            frame.line,
            if innermost { " vis-current" } else { "" },
            FRAME_X + 8,
            y + 14,
            escape(&cut(frame.qualname.as_deref().unwrap_or(&frame.name), 30))
        );
        let mut ry = y + HEADER + ROW - 4;
        for (name, v) in &frame.vars {
            let changed = old.is_none_or(|o| o.vars.iter().find(|(k, _)| k == name).map(|(_, ov)| ov) != Some(v));
            let class = if changed { r#" class="vis-changed""# } else { "" };
            let _ = write!(svg.out, r#"<text x="{}" y="{ry}"{class}>{}</text>"#, FRAME_X + 10, escape(name));
            let mut attrs = format!(r#" data-kind="var" data-name="{}""#, escape(name));
            if changed {
                attrs.push_str(r#" data-changed="true""#);
            }
            if let Value::Ref(id) = v {
                let _ = write!(attrs, r#" data-ref="{id}""#);
            }
            let arrow = format!(r#"data-kind="name-ref" data-name="{}""#, escape(name));
            if boxed && matches!(v, Value::Inline(_)) {
                draw_boxed(&mut svg, &attrs, v, ry);
            } else {
                svg.value(&attrs, v, FRAME_X + FRAME_W - 10, ry, arrow);
            }
            ry += ROW;
        }
        if let (true, Some(v)) = (innermost, returned) {
            let _ = write!(svg.out, r#"<text x="{}" y="{ry}" class="vis-return">{}</text>"#, FRAME_X + 10, escape(words.returned));
            svg.value(r#" data-kind="return""#, v, FRAME_X + FRAME_W - 10, ry, r#"data-kind="name-ref" data-name="return""#.into());
        }
        svg.out.push_str("</g>");
        y += height + GAP;
    }
    let frames_bottom = y;

    // Heap objects in columns.
    let objects = reachable(&step.stack, returned, &heap);
    let mut column_y = [8u32; COLUMNS];
    let mut placed: HashMap<u32, Placed> = HashMap::new();
    let mut columns_used = 0;
    for &(id, column) in &objects {
        let Some(obj) = heap.get(id) else { continue };
        columns_used = columns_used.max(column + 1);
        let (head, rows) = describe(obj, words);
        let x = HEAP_X + column as u32 * COLUMN_W;
        let y = column_y[column];
        let height = HEADER + ROW * rows.len() as u32 + 6;
        column_y[column] = y + height + GAP;
        let is_cell = matches!(obj.kind, Kind::Cell { .. });
        let kind = if is_cell { "cell" } else { "object" };
        let changed = step.heap.contains_key(&id);
        let state = match &obj.kind {
            Kind::Generator { state, .. } => format!(r#" data-state="{}""#, escape(state)),
            _ => String::new(),
        };
        let _ = write!(
            svg.out,
            r#"<g data-kind="{kind}" data-type="{}" data-id="{id}"{state}{}><rect x="{x}" y="{y}" width="{BOX_W}" height="{height}" rx="{}" class="vis-box{}"/><text x="{}" y="{}" class="vis-head"><title>{}</title>{}</text>"#,
            escape(&obj.type_name),
            if changed { r#" data-changed="true""# } else { "" },
            if is_cell { 10 } else { 3 },
            if changed { " vis-changed" } else { "" },
            x + 8,
            y + 14,
            escape(&head),
            escape(&cut(&head, 28))
        );
        let mut ry = y + HEADER + ROW - 4;
        for (i, r) in rows.iter().enumerate() {
            let _ = write!(svg.out, r#"<text x="{}" y="{ry}" class="vis-label">{}</text>"#, x + 8, escape(&cut(&r.label, 20)));
            if let Some(v) = &r.value {
                let attrs = format!(r#" data-kind="item" data-index="{i}""#);
                let arrow = format!(r#"data-kind="ref" data-from="{id}""#);
                svg.value(&attrs, v, x + BOX_W - 8, ry, arrow);
            }
            ry += ROW;
        }
        svg.out.push_str("</g>");
        placed.insert(id, Placed { x, y, height });
    }

    // Arrows last, over the boxes.
    let arrows = std::mem::take(&mut svg.arrows);
    for (attrs, x1, y1, to) in arrows {
        let Some(p) = placed.get(&to) else { continue };
        let (x2, y2) = (p.x, p.y + 10);
        let bend = ((x2 as i64 - x1 as i64).abs() / 2).max(30);
        let _ = write!(
            svg.out,
            r#"<path {attrs} data-to="{to}" d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" class="vis-arrow" marker-end="url(#vis-arrow)"/>"#,
            x1 as i64 + bend,
            x2 as i64 - bend
        );
        let _ = p.height;
    }

    let width = HEAP_X + columns_used.max(1) as u32 * COLUMN_W;
    let height = frames_bottom.max(column_y.iter().copied().max().unwrap_or(0)) + 8;
    format!(
        r#"<svg data-role="visual-drawing" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}" font-family="ui-monospace, monospace" font-size="12"><defs><marker id="vis-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>{}</svg>"#,
        escape(words.title),
        svg.out
    )
}

/// A primitive in a box of its own to the right of its name (the "box primitives" option).
fn draw_boxed(svg: &mut Svg, attrs: &str, v: &Value, y: u32) {
    let Value::Inline(text) = v else { return };
    let x = FRAME_X + FRAME_W - 96;
    let _ = write!(
        svg.out,
        r#"<rect x="{x}" y="{}" width="88" height="16" rx="2" class="vis-box vis-primitive"/><text{attrs} x="{}" y="{y}" text-anchor="end" class="vis-value">{}</text>"#,
        y - 12,
        x + 84,
        escape(&cut(text, 11))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::visualise::Trace;

    const WORDS: Words = Words {
        title: "t",
        returned: "return",
        elided: "{n} frames",
        more: "{n} more",
        instance: "instance",
        state: "state",
        resumes: "resumes at line {n}",
    };

    #[test]
    fn two_names_for_one_list_draw_one_box_and_two_arrows() {
        let json = r#"{"steps":[{"e":"line","l":3,"s":[{"i":1,"n":"<module>","l":3,"v":[["a",1],["b",1],["n","5"]]}],
            "h":{"1":{"t":"list","k":"seq","items":["1",2]},"2":{"t":"str","k":"other","repr":"<x>"}}}],"limit":10000}"#;
        let replay = Replay::new(serde_json::from_str::<Trace>(json).unwrap());
        let svg = render(&replay, 0, &WORDS, false);
        assert_eq!(svg.matches(r#"data-kind="object" data-type="list" data-id="1""#).count(), 1, "{svg}");
        assert_eq!(svg.matches(r#"data-kind="name-ref""#).count(), 2);
        assert!(svg.contains(r#"data-kind="ref" data-from="1" data-to="2""#));
        assert!(svg.contains(r#"data-kind="var" data-name="n" data-changed="true" x="#));
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"), "text is escaped");
    }
}
