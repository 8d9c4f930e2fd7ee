//! A run's TFTP packets drawn live as an SVG sequence diagram (client and server lifelines, one
//! arrow per packet; retransmissions, losses and ERRORs highlighted; long runs of DATA/ACK folded).

use crate::i18n::tr;
use leptos::prelude::*;
use shared::trace::PacketTrace;
use std::collections::HashSet;
use std::fmt::Write;

/// Ordinary DATA/ACK packets shown at the start and at the end of each transfer; the rest fold.
const HEAD: usize = 6;
const TAIL: usize = 4;
const WIDTH: u32 = 600;
const ROW: u32 = 24;
const CLIENT_X: u32 = 140;
const SERVER_X: u32 = 520;

/// One line of the diagram.
#[derive(Debug, PartialEq)]
enum Row {
    /// A new transfer begins (its own client and server ports).
    Transfer(u64),
    /// A packet; `again` when the same packet was sent before (a retransmission).
    Packet { index: usize, again: bool },
    /// This many ordinary DATA/ACK packets are not drawn.
    Folded(usize),
}

/// What to draw for `events`: every packet that is not ordinary DATA/ACK, and the first and
/// last few ordinary ones of each transfer.
fn layout(events: &[PacketTrace]) -> Vec<Row> {
    let mut seen = HashSet::new();
    let again: Vec<bool> = events
        .iter()
        .map(|e| {
            let key = (e.transfer, e.from.clone(), e.opcode.clone(), e.block);
            let counted = matches!(e.opcode.as_str(), "DATA" | "ACK" | "RRQ" | "WRQ" | "OACK");
            e.retransmit || (counted && !seen.insert(key))
        })
        .collect();
    let plain = |i: usize| {
        let e = &events[i];
        matches!(e.opcode.as_str(), "DATA" | "ACK") && !again[i] && e.note.is_none() && e.error.is_none()
    };
    // Transfers in the order they began, each with its own packets in order (the packets of
    // two transfers running at once arrive interleaved).
    let mut transfers: Vec<(u64, Vec<usize>)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match transfers.iter_mut().find(|(t, _)| *t == e.transfer) {
            Some((_, list)) => list.push(i),
            None => transfers.push((e.transfer, vec![i])),
        }
    }
    let mut rows = Vec::new();
    for (transfer, list) in transfers {
        rows.push(Row::Transfer(transfer));
        let plain_total = list.iter().filter(|&&i| plain(i)).count();
        let mut nth_plain = 0;
        let mut folded = 0;
        for i in list {
            let keep = if plain(i) {
                nth_plain += 1;
                nth_plain <= HEAD || nth_plain > plain_total.saturating_sub(TAIL)
            } else {
                true
            };
            if keep {
                if folded > 0 {
                    rows.push(Row::Folded(folded));
                    folded = 0;
                }
                rows.push(Row::Packet { index: i, again: again[i] });
            } else {
                folded += 1;
            }
        }
        if folded > 0 {
            rows.push(Row::Folded(folded));
        }
    }
    rows
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The arrow's label: "DATA 3 (512 B)", "RRQ hello.txt blksize=1024", "ERROR 1 File not found".
fn label(e: &PacketTrace) -> String {
    let mut s = e.opcode.clone();
    match e.opcode.as_str() {
        "DATA" => {
            let _ = write!(s, " {} ({} B)", e.block.unwrap_or(0), e.size.saturating_sub(4));
        }
        "ACK" => {
            let _ = write!(s, " {}", e.block.unwrap_or(0));
        }
        _ => {}
    }
    if let Some(name) = &e.filename {
        let _ = write!(s, " {name}");
    }
    for (k, v) in &e.options {
        let _ = write!(s, " {k}={v}");
    }
    if let Some((code, message)) = &e.error {
        let _ = write!(s, " {code} {message}");
    }
    shorten(&s, 60)
}

/// `text`, cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max - 1).collect::<String>() + "…"
}

/// Interface words of the diagram, in the page's language.
struct Words {
    title: &'static str,
    client: &'static str,
    server: &'static str,
    transfer: &'static str,
    /// "{n} more DATA/ACK".
    folded: &'static str,
    retransmit: &'static str,
}

impl Words {
    fn current() -> Words {
        Words {
            title: tr("trace-title"),
            client: tr("trace-client"),
            server: tr("trace-server"),
            transfer: tr("trace-transfer"),
            folded: tr("trace-folded"),
            retransmit: tr("trace-retransmit"),
        }
    }
}

/// The whole diagram as SVG markup (all text escaped).
fn render(events: &[PacketTrace], words: &Words) -> String {
    let rows = layout(events);
    let height = 34 + ROW * rows.len() as u32 + 8;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg data-role="trace" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="max-width: {WIDTH}px" role="img" aria-label="{}" font-family="ui-monospace, monospace" font-size="12">"#,
        escape(words.title)
    );
    svg.push_str(r#"<defs><marker id="tftp-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>"#);
    let _ = write!(
        svg,
        r##"<text x="{CLIENT_X}" y="16" text-anchor="middle" font-weight="bold" fill="currentColor">{}</text><text x="{SERVER_X}" y="16" text-anchor="middle" font-weight="bold" fill="currentColor">{}</text>"##,
        escape(words.client),
        escape(words.server)
    );
    for x in [CLIENT_X, SERVER_X] {
        let _ = write!(svg, r##"<line x1="{x}" y1="24" x2="{x}" y2="{}" stroke="#888" stroke-dasharray="3 3"/>"##, height - 4);
    }
    for (n, row) in rows.iter().enumerate() {
        let y = 34 + ROW * n as u32 + ROW / 2;
        match row {
            Row::Transfer(t) => {
                let _ = write!(
                    svg,
                    r##"<text x="4" y="{}" fill="#888" data-kind="transfer">{} #{t}</text>"##,
                    y + 4,
                    escape(words.transfer)
                );
            }
            Row::Folded(count) => {
                let text = words.folded.replace("{n}", &count.to_string());
                let _ = write!(
                    svg,
                    r##"<text x="{}" y="{}" text-anchor="middle" fill="#888" data-kind="folded">… {} …</text>"##,
                    (CLIENT_X + SERVER_X) / 2,
                    y + 4,
                    escape(&text)
                );
            }
            Row::Packet { index, again } => draw_packet(&mut svg, &events[*index], *again, y, words),
        }
    }
    svg.push_str("</svg>");
    svg
}

fn draw_packet(svg: &mut String, e: &PacketTrace, again: bool, y: u32, words: &Words) {
    let to_server = e.from != "server";
    let (x1, x2) = if to_server { (CLIENT_X, SERVER_X) } else { (SERVER_X, CLIENT_X) };
    let error = e.error.is_some() || e.opcode == "ERROR";
    let lost = e.opcode == "?" || e.opcode == "CUT";
    let (color, kind) = if error {
        ("#d33", "error")
    } else if again {
        ("#e08a00", "retransmit")
    } else if lost {
        ("#888", "note")
    } else {
        ("#2a7ae2", "packet")
    };
    let _ = write!(svg, r##"<text x="4" y="{}" fill="#888">{:.1} ms</text>"##, y + 4, e.ms);
    let mid = (CLIENT_X + SERVER_X) / 2;
    if lost {
        // Not a packet on the wire: a note (a deliberately dropped ACK, a cut, a malformed datagram).
        let text = e.note.clone().unwrap_or_else(|| e.opcode.clone());
        let end = if to_server { mid - 20 } else { mid + 20 };
        let _ = write!(
            svg,
            r##"<line x1="{x1}" y1="{y}" x2="{end}" y2="{y}" stroke="{color}" stroke-dasharray="4 3"/><text x="{}" y="{}" fill="{color}" data-kind="{kind}"><title>{}</title>✕ {}</text>"##,
            mid - 16,
            y + 4,
            escape(&text),
            escape(&shorten(&text, 34))
        );
        return;
    }
    let dash = if again { r#" stroke-dasharray="6 3""# } else { "" };
    let _ = write!(
        svg,
        r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="1.5"{dash} marker-end="url(#tftp-arrow)"/>"##
    );
    let full = format!("{} {}", label(e), e.note.as_deref().unwrap_or(""));
    let mut text = label(e);
    if again {
        text = format!("↻ {text} · {}", words.retransmit);
    }
    if let Some(note) = &e.note {
        text = shorten(&format!("{text} ({note})"), 60);
    }
    let _ = write!(
        svg,
        r##"<text x="{mid}" y="{}" text-anchor="middle" fill="{color}" data-kind="{kind}" data-opcode="{}"><title>{}</title>{}</text>"##,
        y - 4,
        escape(&e.opcode),
        escape(full.trim_end()),
        escape(&text)
    );
}

/// The diagram of `events`, redrawn as they arrive; nothing while there are none.
#[component]
pub fn TraceView(events: RwSignal<Vec<PacketTrace>>) -> impl IntoView {
    move || {
        events.with(|list| {
            (!list.is_empty()).then(|| {
                let svg = render(list, &Words::current());
                view! { <div class="trace" inner_html=svg></div> }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(transfer: u64, from: &str, opcode: &str, block: Option<u16>) -> PacketTrace {
        PacketTrace { transfer, from: from.into(), opcode: opcode.into(), block, ..PacketTrace::default() }
    }

    #[test]
    fn long_transfers_fold_their_middle_and_keep_retransmissions() {
        let mut events = vec![packet(1, "client", "RRQ", None)];
        for b in 1..=100u16 {
            events.push(packet(1, "server", "DATA", Some(b)));
            if b == 50 {
                events.push(packet(1, "server", "DATA", Some(50)));
            }
            events.push(packet(1, "client", "ACK", Some(b)));
        }
        let rows = layout(&events);
        let folded: usize = rows.iter().map(|r| if let Row::Folded(n) = r { *n } else { 0 }).sum();
        let drawn = rows.iter().filter(|r| matches!(r, Row::Packet { .. })).count();
        assert_eq!(drawn + folded, events.len());
        assert_eq!(drawn, 1 + HEAD + TAIL + 1, "{rows:?}");
        assert!(rows.contains(&Row::Packet { index: 100, again: true }), "the second DATA 50 is drawn as a retransmission");
        assert_eq!(rows[0], Row::Transfer(1));
    }

    #[test]
    fn interleaved_transfers_are_drawn_one_after_the_other() {
        let events = [
            packet(1, "client", "RRQ", None),
            packet(1, "server", "DATA", Some(1)),
            packet(2, "client", "RRQ", None),
            packet(1, "client", "ACK", Some(1)),
            packet(2, "server", "ERROR", None),
        ];
        let order: Vec<String> = layout(&events)
            .iter()
            .map(|r| match r {
                Row::Transfer(t) => format!("#{t}"),
                Row::Packet { index, .. } => events[*index].opcode.clone(),
                Row::Folded(n) => format!("+{n}"),
            })
            .collect();
        assert_eq!(order, ["#1", "RRQ", "DATA", "ACK", "#2", "RRQ", "ERROR"]);
    }

    #[test]
    fn text_is_escaped_and_errors_are_marked() {
        let mut e = packet(2, "server", "ERROR", None);
        e.error = Some((1, "<File> not found".into()));
        let words = Words { title: "t", client: "c", server: "s", transfer: "x", folded: "{n} more", retransmit: "again" };
        let svg = render(&[packet(2, "client", "RRQ", None), e], &words);
        assert!(svg.contains("&lt;File&gt; not found") && !svg.contains("<File>"), "{svg}");
        assert!(svg.contains(r#"data-kind="error""#));
        assert!(svg.starts_with(r#"<svg data-role="trace""#));
    }
}
