//! A server run's loopback packets drawn as one SVG sequence diagram per conversation (its two
//! ends as lanes, each labelled with the program that owns its port when its calls tell it), with
//! the program's socket calls beside them on the same time axis.

use crate::i18n::tr;
use leptos::prelude::*;
use shared::capture::{conversation, Segment};
use shared::timeline::Activity;
use std::collections::HashMap;
use std::fmt::Write;

const WIDTH: u32 = 640;
const ROW: u32 = 22;
const LEFT_X: u32 = 190;
const RIGHT_X: u32 = 560;

/// One line of a conversation's diagram.
enum Row<'a> {
    Packet(&'a Segment),
    /// A socket call of the program on the lane of its own port.
    Call { op: &'static str, len: u32, line: u32, us: u64, port: u16 },
}

impl Row<'_> {
    fn us(&self) -> u64 {
        match self {
            Row::Packet(s) => s.us,
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
/// made on one of its ends; the calls that fit none come back apart.
fn group<'a>(packets: &'a [Segment], activity: &'a [Activity]) -> (Vec<Conversation<'a>>, Vec<Row<'a>>) {
    let mut keys = Vec::new();
    let mut convs: Vec<Conversation> = Vec::new();
    for seg in packets {
        let key = conversation(seg);
        match keys.iter().position(|k| *k == key) {
            Some(i) => convs[i].rows.push(Row::Packet(seg)),
            None => {
                keys.push(key);
                let proto = if seg.proto == "tcp" { "TCP" } else { "UDP" };
                let (left, right) = if seg.proto == "icmp" {
                    ((seg.dst.clone(), seg.dport), (seg.src.clone(), seg.sport))
                } else {
                    ((seg.src.clone(), seg.sport), (seg.dst.clone(), seg.dport))
                };
                convs.push(Conversation { left, right, proto, rows: vec![Row::Packet(seg)] });
            }
        }
    }
    let mut other = Vec::new();
    for a in activity {
        let Activity::Call { op, len, line, us, port, peer, .. } = a else { continue };
        let row = Row::Call { op: op.as_str(), len: *len, line: *line, us: *us, port: *port };
        let home = convs.iter_mut().find(|c| {
            let ends = [c.left.1, c.right.1];
            ends.contains(port) && *port != 0 && (*peer == 0 || ends.contains(peer))
        });
        match home {
            Some(c) => c.rows.push(row),
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
    let mut first: Vec<(u16, u32, u32)> = Vec::new();
    for a in activity {
        match a {
            Activity::Process { pid, name, .. } => {
                processes.insert(*pid, name);
            }
            Activity::Thread { tid, name, .. } => {
                threads.insert(*tid, name);
            }
            Activity::Call { port, pid, tid, .. } if *port != 0 && !first.iter().any(|f| f.0 == *port) => first.push((*port, *pid, *tid)),
            _ => {}
        }
    }
    first
        .into_iter()
        .map(|(port, pid, tid)| {
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

fn render_conversation(c: &Conversation, t0: u64, owners: &HashMap<u16, String>) -> String {
    let height = 40 + ROW * c.rows.len() as u32 + 6;
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
    for (n, row) in c.rows.iter().enumerate() {
        let y = 40 + ROW * n as u32 + ROW / 2;
        let _ = write!(svg, r##"<text x="4" y="{}" fill="#888">{:.2} ms</text>"##, y + 4, ms(row.us(), t0));
        match row {
            Row::Packet(s) => {
                let rightward = (s.src.as_str(), s.sport) == (c.left.0.as_str(), c.left.1)
                    || (s.proto == "icmp" && (s.dst.as_str(), s.dport) == (c.right.0.as_str(), c.right.1));
                let (x1, x2) = if rightward { (LEFT_X, RIGHT_X) } else { (RIGHT_X, LEFT_X) };
                let color = if s.flags.contains("RST") || s.proto == "icmp" {
                    "#d33"
                } else if s.flags.contains("SYN") || s.flags.contains("FIN") {
                    "#7a4fd6"
                } else {
                    "#2a7ae2"
                };
                let _ = write!(
                    svg,
                    r##"<g data-kind="segment" data-proto="{}" data-flags="{}" data-len="{}" data-src="{}" data-dst="{}"><title>{} → {} seq={} ack={}</title><line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="1.5" marker-end="url(#pk-arrow)"/><text x="{}" y="{}" text-anchor="middle" fill="{color}">{}</text></g>"##,
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
                    escape(&segment_label(s))
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
    svg.push_str("</svg>");
    svg
}

/// Calls that belong to no drawn conversation, as a list.
fn render_other(rows: &[Row], t0: u64) -> String {
    let mut html = String::new();
    for row in rows {
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

/// Everything under a run: the conversations and the other calls (all text escaped).
pub fn render(packets: &[Segment], activity: &[Activity], t0: u64) -> String {
    let (convs, other) = group(packets, activity);
    let owners = owners(activity);
    let mut html: String = convs.iter().map(|c| render_conversation(c, t0, &owners)).collect();
    if !other.is_empty() {
        let _ = write!(html, r#"<ul class="calls">{}</ul>"#, render_other(&other, t0));
    }
    html
}

/// The run's packets and calls, redrawn as they arrive; nothing while there are none.
#[component]
pub fn PacketsView(packets: RwSignal<Vec<Segment>>, activity: RwSignal<Vec<Activity>>, cut: RwSignal<Option<(u32, u64)>>) -> impl IntoView {
    move || {
        let has_calls = activity.with(|a| a.iter().any(|e| matches!(e, Activity::Call { .. })));
        if packets.with(Vec::is_empty) && !has_calls {
            return None;
        }
        let html = packets.with(|p| activity.with(|a| render(p, a, super::timeline::start_us(p, a))));
        let note = cut.get().map(|(shown, not_shown)| {
            tr("packets-cut").replace("{shown}", &shown.to_string()).replace("{n}", &not_shown.to_string())
        });
        Some(view! {
            <details class="packets" open>
                <summary>{move || tr("packets-title")}</summary>
                <div data-role="packets" inner_html=html></div>
                {note.map(|n| view! { <p class="cut" data-kind="cut">"✂ " {n}</p> })}
            </details>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::timeline::CallOp;

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
        let html = render(&packets, &activity, 0);
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
        let html = render(&packets, &activity, 0);
        assert!(html.contains(r#"data-port="40000" data-owner="MainProcess (pid 2)""#), "{html}");
        assert!(html.contains(r#"data-port="5000" data-owner="MainProcess (pid 2) · &lt;server&gt;""#), "the first to use it, escaped: {html}");
        assert!(render(&packets, &[], 0).contains(r#"data-port="5000" data-owner="""#), "unknown: no label");
    }

    #[test]
    fn payload_previews_are_escaped() {
        let mut s = seg(1, 1, 2, "PSH,ACK", 9);
        s.preview = "<b>\"x\"</b>".into();
        let html = render(&[s], &[], 0);
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"), "{html}");
    }
}
