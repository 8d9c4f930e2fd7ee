//! A server run's loopback packets drawn as one SVG sequence diagram per conversation (its two
//! ends as lanes, each labelled with the program that owns its port when its calls tell it), with
//! the program's socket calls beside them on the same time axis; a TFTP datagram is labelled with
//! what it says (`shared::capture::tftp`). Each diagram draws a bounded number of rows.

use super::recorded::Recorded;
use crate::i18n::tr;
use leptos::prelude::*;
use shared::capture::{conversation, Segment};
use shared::timeline::Activity;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

const WIDTH: u32 = 640;
const ROW: u32 = 22;
const LEFT_X: u32 = 190;
const RIGHT_X: u32 = 560;
/// Rows a conversation draws at first: its first `HEAD` and its last `TAIL`, the rest folded
/// into one row; "show more" multiplies both (and `CONVERSATIONS`) by four each time, so the
/// page never draws more than a few hundred rows unless asked.
const HEAD: usize = 60;
const TAIL: usize = 20;
/// Conversations drawn at first; the rest are counted.
const CONVERSATIONS: usize = 24;

/// One line of a conversation's diagram.
enum Row<'a> {
    /// A packet; `again` when it repeats a TFTP packet of the same sender (a retransmission).
    Packet { seg: &'a Segment, again: bool },
    /// A socket call of the program on the lane of its own port.
    Call { op: &'static str, len: u32, line: u32, us: u64, port: u16 },
}

impl Row<'_> {
    fn us(&self) -> u64 {
        match self {
            Row::Packet { seg, .. } => seg.us,
            Row::Call { us, .. } => *us,
        }
    }
}

/// A conversation: its two ends, the first sender on the left.
struct Conversation<'a> {
    left: (String, u16),
    right: (String, u16),
    proto: &'static str,
    rows: Vec<Row<'a>>,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The conversations of `packets` in the order they began, each with its packets and the calls
/// made on one of its ends; the calls that fit none come back apart. Linear in the events, so
/// it can run on every frame while thousands stream in.
fn group<'a>(packets: &'a [Segment], activity: &'a [Activity]) -> (Vec<Conversation<'a>>, Vec<Row<'a>>) {
    let mut index: HashMap<(String, (String, u16), (String, u16)), usize> = HashMap::new();
    let mut convs: Vec<Conversation> = Vec::new();
    // TFTP packets already seen per conversation: (sender port, opcode, block).
    let mut sent: HashSet<(usize, u16, &str, Option<u16>)> = HashSet::new();
    for seg in packets {
        let key = conversation(seg);
        let i = *index.entry(key).or_insert_with(|| {
            let proto = match (seg.proto.as_str(), &seg.tftp) {
                ("tcp", _) => "TCP",
                (_, Some(_)) => "UDP · TFTP",
                _ => "UDP",
            };
            let (left, right) = if seg.proto == "icmp" {
                ((seg.dst.clone(), seg.dport), (seg.src.clone(), seg.sport))
            } else {
                ((seg.src.clone(), seg.sport), (seg.dst.clone(), seg.dport))
            };
            convs.push(Conversation { left, right, proto, rows: Vec::new() });
            convs.len() - 1
        });
        let again = seg.tftp.as_ref().is_some_and(|t| t.op != "ERROR" && !sent.insert((i, seg.sport, t.op.as_str(), t.block)));
        convs[i].rows.push(Row::Packet { seg, again });
    }
    // Where a call on `port` (talking to `peer`, or 0 when not known) goes: the first
    // conversation with both ends, else (peer unknown) the first with that port.
    let mut by_ends: HashMap<(u16, u16), usize> = HashMap::new();
    let mut by_port: HashMap<u16, usize> = HashMap::new();
    for (i, c) in convs.iter().enumerate() {
        let (a, b) = (c.left.1, c.right.1);
        by_ends.entry((a, b)).or_insert(i);
        by_ends.entry((b, a)).or_insert(i);
        by_port.entry(a).or_insert(i);
        by_port.entry(b).or_insert(i);
    }
    let mut other = Vec::new();
    for a in activity {
        let Activity::Call { op, len, line, us, port, peer, .. } = a else { continue };
        let row = Row::Call { op: op.as_str(), len: *len, line: *line, us: *us, port: *port };
        let home = match (*port, *peer) {
            (0, _) => None,
            (port, 0) => by_port.get(&port),
            (port, peer) => by_ends.get(&(port, peer)),
        };
        match home {
            Some(&i) => convs[i].rows.push(row),
            None => other.push(row),
        }
    }
    for c in &mut convs {
        c.rows.sort_by_key(|r| r.us());
    }
    (convs, other)
}

/// Who owns each port: the process (name and pid) and, past its main thread, the thread that
/// made the first recorded socket call on it (`connect`, `accept`, a send or a receive).
fn owners(activity: &[Activity]) -> HashMap<u16, String> {
    let mut processes: HashMap<u32, &str> = HashMap::new();
    let mut threads: HashMap<u32, &str> = HashMap::new();
    let mut first: HashMap<u16, (u32, u32)> = HashMap::new();
    for a in activity {
        match a {
            Activity::Process { pid, name, .. } => {
                processes.insert(*pid, name);
            }
            Activity::Thread { tid, name, .. } => {
                threads.insert(*tid, name);
            }
            Activity::Call { port, pid, tid, .. } if *port != 0 => {
                first.entry(*port).or_insert((*pid, *tid));
            }
            _ => {}
        }
    }
    first
        .into_iter()
        .map(|(port, (pid, tid))| {
            let mut who = format!("{} (pid {pid})", processes.get(&pid).copied().unwrap_or("?"));
            if tid != pid {
                let _ = write!(who, " · {}", threads.get(&tid).copied().unwrap_or("?"));
            }
            (port, who)
        })
        .collect()
}

/// Milliseconds since `t0` (µs), for the time column.
fn ms(us: u64, t0: u64) -> f64 {
    us.saturating_sub(t0) as f64 / 1000.0
}

fn segment_label(s: &Segment) -> String {
    if let Some(tftp) = &s.tftp {
        return tftp.label.clone();
    }
    let mut text = if s.flags.is_empty() { s.proto.to_uppercase() } else { s.flags.clone() };
    if s.len > 0 || s.proto == "udp" {
        let _ = write!(text, " {} B", s.len);
    }
    if !s.preview.is_empty() {
        let preview: String = s.preview.chars().take(24).collect();
        let _ = write!(text, " “{preview}”");
    }
    text
}

/// Interface words of the diagram, in the page's language.
struct Words {
    /// "{n} rows not drawn".
    folded: &'static str,
    retransmit: &'static str,
}

impl Words {
    fn current() -> Words {
        Words { folded: tr("packets-folded"), retransmit: tr("packets-retransmit") }
    }
}

/// Which rows of `total` are drawn when each end may show `head` and `tail`: the drawn ranges.
fn window(total: usize, head: usize, tail: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    if total <= head + tail {
        (0..total, total..total)
    } else {
        (0..head, total - tail..total)
    }
}

fn render_conversation(c: &Conversation, t0: u64, owners: &HashMap<u16, String>, scale: usize, words: &Words) -> String {
    let (first, last) = window(c.rows.len(), HEAD * scale, TAIL * scale);
    let folded = c.rows.len() - first.len() - last.len();
    let lines = first.len() + last.len() + usize::from(folded > 0);
    let height = 40 + ROW * lines as u32 + 6;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="max-width: {WIDTH}px" font-family="ui-monospace, monospace" font-size="12" data-kind="conversation">"#
    );
    svg.push_str(r#"<defs><marker id="pk-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"#);
    let _ = write!(svg, r##"<text x="4" y="14" font-weight="bold" fill="currentColor">{}</text>"##, c.proto);
    for (x, (addr, port)) in [(LEFT_X, &c.left), (RIGHT_X, &c.right)] {
        let owner = owners.get(port).map(|who| escape(who)).unwrap_or_default();
        let _ = write!(
            svg,
            r##"<g data-kind="end" data-port="{port}" data-owner="{owner}"><text x="{x}" y="14" text-anchor="middle" font-size="11" fill="#2a7ae2">{owner}</text><text x="{x}" y="30" text-anchor="middle" font-weight="bold" fill="currentColor">{}:{port}</text></g><line x1="{x}" y1="36" x2="{x}" y2="{}" stroke="#888" stroke-dasharray="3 3"/>"##,
            escape(addr),
            height - 2
        );
    }
    let y_of = |n: usize| 40 + ROW * n as u32 + ROW / 2;
    for (n, row) in first.clone().map(|i| &c.rows[i]).enumerate() {
        draw_row(&mut svg, c, row, y_of(n), t0, words);
    }
    if folded > 0 {
        let text = words.folded.replace("{n}", &folded.to_string());
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#888" data-kind="folded" data-rows="{folded}">… {} …</text>"##,
            (LEFT_X + RIGHT_X) / 2,
            y_of(first.len()) + 4,
            escape(&text)
        );
    }
    let skip = first.len() + usize::from(folded > 0);
    for (n, row) in last.map(|i| &c.rows[i]).enumerate() {
        draw_row(&mut svg, c, row, y_of(skip + n), t0, words);
    }
    svg.push_str("</svg>");
    svg
}

fn draw_row(svg: &mut String, c: &Conversation, row: &Row, y: u32, t0: u64, words: &Words) {
    let _ = write!(svg, r##"<text x="4" y="{}" fill="#888">{:.2} ms</text>"##, y + 4, ms(row.us(), t0));
    match row {
        Row::Packet { seg: s, again } => {
            let rightward = (s.src.as_str(), s.sport) == (c.left.0.as_str(), c.left.1)
                || (s.proto == "icmp" && (s.dst.as_str(), s.dport) == (c.right.0.as_str(), c.right.1));
            let (x1, x2) = if rightward { (LEFT_X, RIGHT_X) } else { (RIGHT_X, LEFT_X) };
            let opcode = s.tftp.as_ref().map(|t| t.op.as_str());
            let color = if s.flags.contains("RST") || s.proto == "icmp" || opcode == Some("ERROR") {
                "#d33"
            } else if *again {
                "#e08a00"
            } else if s.flags.contains("SYN") || s.flags.contains("FIN") {
                "#7a4fd6"
            } else {
                "#2a7ae2"
            };
            let mut label = segment_label(s);
            if *again {
                label = format!("↻ {label} · {}", words.retransmit);
            }
            let (dash, again_attr) = if *again { (r#" stroke-dasharray="6 3""#, r#" data-again="true""#) } else { ("", "") };
            let opcode_attr = opcode.map(|op| format!(r#" data-opcode="{op}""#)).unwrap_or_default();
            let _ = write!(
                svg,
                r##"<g data-kind="segment" data-proto="{}" data-flags="{}" data-len="{}" data-src="{}" data-dst="{}"{opcode_attr}{again_attr}><title>{} → {} seq={} ack={}</title><line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="1.5"{dash} marker-end="url(#pk-arrow)"/><text x="{}" y="{}" text-anchor="middle" fill="{color}">{}</text></g>"##,
                escape(&s.proto),
                escape(&s.flags),
                s.len,
                s.sport,
                s.dport,
                s.sport,
                s.dport,
                s.seq,
                s.ack,
                (LEFT_X + RIGHT_X) / 2,
                y - 3,
                escape(&label)
            );
        }
        Row::Call { op, len, line, port, .. } => {
            let on_left = *port == c.left.1;
            let (x, anchor, dx) = if on_left { (LEFT_X, "end", -6i32) } else { (RIGHT_X, "start", 6) };
            let _ = write!(
                svg,
                r##"<g data-kind="call" data-op="{op}" data-len="{len}" data-line="{line}"><circle cx="{x}" cy="{y}" r="4" fill="#e08a00"/><text x="{}" y="{}" text-anchor="{anchor}" fill="#e08a00">{op}() {len} B · L{line}</text></g>"##,
                x as i32 + dx,
                y + 4
            );
        }
    }
}

/// Calls that belong to no drawn conversation, as a list (at most `limit`).
fn render_other(rows: &[Row], t0: u64, limit: usize) -> String {
    let mut html = String::new();
    for row in rows.iter().take(limit) {
        if let Row::Call { op, len, line, us, .. } = row {
            let _ = write!(
                html,
                r#"<li data-kind="call" data-op="{op}" data-len="{len}" data-line="{line}">{:.2} ms · {op}() {len} B · L{line}</li>"#,
                ms(*us, t0)
            );
        }
    }
    html
}

/// What `render` drew, and what it left out (so the page can offer "show more").
struct Drawn {
    html: String,
    /// Rows (packets and calls) not drawn.
    hidden: usize,
}

/// Everything under a run: the conversations and the other calls (all text escaped), at most
/// `CONVERSATIONS × scale` conversations of at most `(HEAD + TAIL) × scale` rows each.
fn render(packets: &[Segment], activity: &[Activity], t0: u64, scale: usize, words: &Words) -> Drawn {
    let (convs, other) = group(packets, activity);
    let owners = owners(activity);
    let shown = convs.len().min(CONVERSATIONS * scale);
    let mut hidden = 0;
    let mut html = String::new();
    for c in &convs[..shown] {
        html.push_str(&render_conversation(c, t0, &owners, scale, words));
        hidden += c.rows.len().saturating_sub((HEAD + TAIL) * scale);
    }
    hidden += convs[shown..].iter().map(|c| c.rows.len()).sum::<usize>();
    if !other.is_empty() {
        let limit = (HEAD + TAIL) * scale;
        hidden += other.len().saturating_sub(limit);
        let _ = write!(html, r#"<ul class="calls">{}</ul>"#, render_other(&other, t0, limit));
    }
    Drawn { html, hidden }
}

/// The run's packets and calls, redrawn (a bounded number of rows) once per frame as they
/// arrive; nothing while there are none.
#[component]
pub fn PacketsView(recorded: Recorded) -> impl IntoView {
    let Recorded { packets, activity, packets_cut: cut, .. } = recorded;
    let scale = RwSignal::new(1usize);
    move || {
        let has_calls = activity.with(|a| a.iter().any(|e| matches!(e, Activity::Call { .. })));
        if packets.with(Vec::is_empty) && !has_calls {
            return None;
        }
        let words = Words::current();
        let drawn = packets.with(|p| activity.with(|a| render(p, a, super::timeline::start_us(p, a), scale.get(), &words)));
        let note = cut.get().map(|(shown, not_shown)| {
            tr("packets-cut").replace("{shown}", &shown.to_string()).replace("{n}", &not_shown.to_string())
        });
        let more = (drawn.hidden > 0).then(|| {
            let text = tr("packets-more").replace("{n}", &drawn.hidden.to_string());
            view! { <button type="button" data-action="more-packets" data-hidden=drawn.hidden on:click=move |_| scale.update(|s| *s *= 4)>{text}</button> }
        });
        Some(view! {
            <details class="packets" open>
                <summary>{move || tr("packets-title")}</summary>
                <div data-role="packets" inner_html=drawn.html></div>
                {more}
                {note.map(|n| view! { <p class="cut" data-kind="cut">"✂ " {n}</p> })}
            </details>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::timeline::CallOp;

    const WORDS: Words = Words { folded: "{n} rows not drawn", retransmit: "again" };

    fn draw(packets: &[Segment], activity: &[Activity]) -> String {
        render(packets, activity, 0, 1, &WORDS).html
    }

    fn seg(us: u64, sport: u16, dport: u16, flags: &str, len: u32) -> Segment {
        Segment { us, proto: "tcp".into(), ip: 4, src: "127.0.0.1".into(), dst: "127.0.0.1".into(), sport, dport, flags: flags.into(), len, ..Segment::default() }
    }

    #[test]
    fn each_conversation_gets_its_packets_and_the_calls_on_its_ends_in_time_order() {
        let packets = [seg(10, 40000, 5000, "SYN", 0), seg(30, 40001, 6000, "SYN", 0), seg(50, 40000, 5000, "PSH,ACK", 5)];
        let call = |us, op, port, peer| Activity::Call { us, pid: 1, tid: 1, op, len: 5, line: 3, port, peer };
        let activity = [call(40, CallOp::Sendall, 40000, 5000), call(60, CallOp::Recv, 5000, 40000), call(5, CallOp::Recv, 7, 8)];
        let (convs, other) = group(&packets, &activity);
        assert_eq!(convs.len(), 2);
        let order: Vec<u64> = convs[0].rows.iter().map(Row::us).collect();
        assert_eq!(order, [10, 40, 50, 60]);
        assert_eq!(other.len(), 1);
        let html = draw(&packets, &activity);
        assert_eq!(html.matches(r#"data-kind="segment""#).count(), 3);
        assert_eq!(html.matches(r#"data-kind="call""#).count(), 3);
        assert!(html.contains(r#"data-flags="PSH,ACK" data-len="5" data-src="40000" data-dst="5000""#), "{html}");
    }

    #[test]
    fn each_end_is_labelled_with_the_process_or_thread_that_owns_its_port() {
        let packets = [seg(10, 40000, 5000, "SYN", 0), seg(11, 5000, 40000, "SYN,ACK", 0)];
        let call = |us, pid, tid, op, port, peer| Activity::Call { us, pid, tid, op, len: 0, line: 3, port, peer };
        let activity = [
            Activity::Process { us: 0, pid: 2, ppid: 1, name: "MainProcess".into() },
            Activity::Thread { us: 0, pid: 2, tid: 2, name: "MainThread".into() },
            Activity::Thread { us: 1, pid: 2, tid: 3, name: "<server>".into() },
            call(12, 2, 2, CallOp::Connect, 40000, 5000),
            call(13, 2, 3, CallOp::Accept, 5000, 40000),
            call(14, 9, 9, CallOp::Recv, 5000, 40000),
        ];
        let html = draw(&packets, &activity);
        assert!(html.contains(r#"data-port="40000" data-owner="MainProcess (pid 2)""#), "{html}");
        assert!(html.contains(r#"data-port="5000" data-owner="MainProcess (pid 2) · &lt;server&gt;""#), "the first to use it, escaped: {html}");
        assert!(draw(&packets, &[]).contains(r#"data-port="5000" data-owner="""#), "unknown: no label");
    }

    #[test]
    fn payload_previews_are_escaped() {
        let mut s = seg(1, 1, 2, "PSH,ACK", 9);
        s.preview = "<b>\"x\"</b>".into();
        let html = draw(&[s], &[]);
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"), "{html}");
    }

    /// A UDP datagram of `payload` from `sport` to `dport`, decoded as the capture decodes it.
    fn udp(us: u64, sport: u16, dport: u16, payload: &[u8]) -> Segment {
        let len = payload.len() as u32;
        let tftp = shared::capture::tftp::decode(payload, len);
        Segment { us, proto: "udp".into(), ip: 4, src: "127.0.0.1".into(), dst: "127.0.0.1".into(), sport, dport, len, tftp, ..Segment::default() }
    }

    #[test]
    fn a_tftp_transfer_is_drawn_with_its_opcodes_and_a_retransmission_marked() {
        let data = [&[0u8, 3, 0, 1][..], &[b'x'; 512]].concat();
        let packets = [
            udp(1, 40000, 6969, b"\0\x01hello.txt\0octet\0"),
            udp(2, 50000, 40000, &data),
            udp(3, 50000, 40000, &data),
            udp(4, 40000, 50000, b"\0\x04\0\x01"),
            udp(5, 50000, 40000, b"\0\x05\0\x01File <not> found\0"),
            udp(6, 40001, 9, b"ping"),
        ];
        let html = draw(&packets, &[]);
        let opcodes: Vec<&str> = html.match_indices(r#"data-opcode=""#).map(|(i, m)| html[i + m.len()..].split('"').next().unwrap()).collect();
        assert_eq!(opcodes, ["RRQ", "DATA", "DATA", "ACK", "ERROR"]);
        assert!(html.contains(">RRQ hello.txt octet</text>"), "{html}");
        assert!(html.contains(">DATA 1 (512 B)</text>"), "{html}");
        assert_eq!(html.matches(r#"data-again="true""#).count(), 1, "only the second DATA 1: {html}");
        assert!(html.contains("↻ DATA 1 (512 B) · again"), "{html}");
        assert!(html.contains("ERROR 1 File &lt;not&gt; found"), "{html}");
        assert_eq!(html.matches("UDP · TFTP").count(), 2, "the request and the transfer, each on its own ports");
        assert!(html.contains(r#"data-proto="udp" data-flags="" data-len="4" data-src="40001" data-dst="9">"#), "plain UDP is no TFTP: {html}");
    }

    #[test]
    fn ten_thousand_events_draw_a_bounded_number_of_rows_and_count_the_rest() {
        let mut packets: Vec<Segment> = (0..9_000u64).map(|n| seg(n, 40000, 5000, "PSH,ACK", 1)).collect();
        packets.extend((0..1_000u64).map(|n| seg(10_000 + n, 41000 + n as u16, 5001, "SYN", 0)));
        let drawn = render(&packets, &[], 0, 1, &WORDS);
        let rows = drawn.html.matches(r#"data-kind="segment""#).count();
        assert_eq!(rows, HEAD + TAIL + (CONVERSATIONS - 1), "{rows}");
        assert_eq!(drawn.hidden, 10_000 - rows);
        assert!(drawn.html.contains(r#"data-rows="8920""#), "the long conversation's middle is folded");
        let more = render(&packets, &[], 0, 4, &WORDS);
        assert_eq!(more.html.matches(r#"data-kind="segment""#).count(), 4 * (HEAD + TAIL) + (4 * CONVERSATIONS - 1));
    }
}
