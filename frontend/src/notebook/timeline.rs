//! A server run's timeline: one lane per process and per thread (from start to end), on each
//! thread's lane when it slept (on what, at which line) and waited (on what, held by whom), the
//! pool tasks it ran and the turns of its asyncio tasks or greenlets, and a deadlock when the
//! open waits form a cycle (`shared::timeline::Waits`).

use super::packets::escape;
use crate::i18n::tr;
use leptos::prelude::*;
use shared::capture::Segment;
use shared::timeline::{Activity, Waits};
use std::collections::HashMap;
use std::fmt::Write;

const WIDTH: u32 = 640;
const LABEL_W: u32 = 180;
const ROW: u32 = 20;

/// The earliest moment of the run's recordings, in µs (the diagrams' zero).
pub fn start_us(packets: &[Segment], activity: &[Activity]) -> u64 {
    packets.iter().map(|p| p.us).chain(activity.iter().map(Activity::us)).min().unwrap_or(0)
}

/// One lane: a process (`tid` none) or one of its threads.
#[derive(Debug)]
struct Lane {
    pid: u32,
    tid: Option<u32>,
    name: String,
    start: u64,
    end: Option<u64>,
}

#[derive(Debug)]
struct Wait {
    tid: u32,
    on: &'static str,
    line: u32,
    holder: Option<u32>,
    start: u64,
    end: Option<u64>,
}

/// A call a pool's worker thread `tid` ran (`of` "pool"), or a turn of an asyncio task or a
/// greenlet on thread `tid` (`of` its scheduler, `args` empty).
#[derive(Debug)]
struct Task {
    tid: u32,
    of: &'static str,
    name: String,
    args: String,
    start: u64,
    end: Option<u64>,
}

/// A time thread `tid` slept (off the CPU, waiting for time or the network).
#[derive(Debug)]
struct Sleep {
    tid: u32,
    on: &'static str,
    line: u32,
    start: u64,
    end: Option<u64>,
}

/// What the timeline draws: lanes in the order they began (each process followed by its
/// threads), every wait, task and turn, and sleep.
#[derive(Debug, Default)]
struct Drawn {
    lanes: Vec<Lane>,
    waits: Vec<Wait>,
    tasks: Vec<Task>,
    sleeps: Vec<Sleep>,
}

fn lanes(activity: &[Activity]) -> Drawn {
    let mut lanes: Vec<Lane> = Vec::new();
    let mut waits: Vec<Wait> = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    let mut sleeps: Vec<Sleep> = Vec::new();
    let mut open_wait: HashMap<u32, usize> = HashMap::new();
    let mut open_task: HashMap<u32, usize> = HashMap::new();
    let mut open_sleep: HashMap<u32, usize> = HashMap::new();
    for a in activity {
        match a {
            Activity::Process { us, pid, name, .. } => match lanes.iter_mut().find(|l| l.pid == *pid && l.tid.is_none()) {
                Some(l) => l.name = name.clone(), // named again once the program named it
                None => lanes.push(Lane { pid: *pid, tid: None, name: name.clone(), start: *us, end: None }),
            },
            Activity::Thread { us, pid, tid, name } => match lanes.iter_mut().find(|l| l.tid == Some(*tid)) {
                Some(l) => l.name = name.clone(),
                None => {
                    // After its process's other lanes.
                    let at = lanes.iter().rposition(|l| l.pid == *pid).map(|i| i + 1).unwrap_or(lanes.len());
                    lanes.insert(at, Lane { pid: *pid, tid: Some(*tid), name: name.clone(), start: *us, end: None });
                }
            },
            Activity::ProcessEnd { us, pid } => {
                for l in lanes.iter_mut().filter(|l| l.pid == *pid && l.end.is_none()) {
                    l.end = Some(*us);
                }
            }
            Activity::ThreadEnd { us, tid, .. } => {
                if let Some(l) = lanes.iter_mut().find(|l| l.tid == Some(*tid)) {
                    l.end = Some(*us);
                }
            }
            Activity::Wait { us, tid, on, line, holder, .. } => {
                open_wait.insert(*tid, waits.len());
                waits.push(Wait { tid: *tid, on: on.as_str(), line: *line, holder: *holder, start: *us, end: None });
            }
            Activity::WaitEnd { us, tid, .. } => {
                if let Some(i) = open_wait.remove(tid) {
                    waits[i].end = Some(*us);
                }
            }
            Activity::Task { us, tid, name, args, .. } => {
                open_task.insert(*tid, tasks.len());
                tasks.push(Task { tid: *tid, of: "pool", name: name.clone(), args: args.clone(), start: *us, end: None });
            }
            Activity::Step { us, tid, of, name, .. } => {
                // A new turn ends the one before it on that thread.
                if let Some(i) = open_task.insert(*tid, tasks.len()) {
                    tasks[i].end = tasks[i].end.or(Some(*us));
                }
                tasks.push(Task { tid: *tid, of: of.as_str(), name: name.clone(), args: String::new(), start: *us, end: None });
            }
            Activity::TaskEnd { us, tid, .. } | Activity::StepEnd { us, tid, .. } => {
                if let Some(i) = open_task.remove(tid) {
                    tasks[i].end = Some(*us);
                }
            }
            Activity::Sleep { us, tid, on, line, .. } => {
                open_sleep.insert(*tid, sleeps.len());
                sleeps.push(Sleep { tid: *tid, on: on.as_str(), line: *line, start: *us, end: None });
            }
            Activity::SleepEnd { us, tid, .. } => {
                if let Some(i) = open_sleep.remove(tid) {
                    sleeps[i].end = Some(*us);
                }
            }
            Activity::Call { .. } => {}
        }
    }
    Drawn { lanes, waits, tasks, sleeps }
}

/// The fill of a task's or turn's name: one of a few colours, the same for the same name.
fn task_color(of: &str, name: &str) -> &'static str {
    const TURNS: [&str; 6] = ["#7b4fd6", "#d64f8e", "#2e9db0", "#b07a2e", "#4f7bd6", "#6aa84f"];
    if of == "pool" {
        return "#2e9d57";
    }
    let hash = name.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    TURNS[hash as usize % TURNS.len()]
}

fn thread_name(lanes: &[Lane], tid: u32) -> String {
    lanes.iter().find(|l| l.tid == Some(tid)).map(|l| l.name.clone()).unwrap_or_else(|| format!("#{tid}"))
}

/// The timeline as SVG, and the deadlock's description when the open waits form a cycle.
pub fn render(activity: &[Activity], t0: u64, t1: u64) -> (String, Option<Vec<String>>) {
    let Drawn { lanes, waits, tasks, sleeps } = lanes(activity);
    let span = t1.saturating_sub(t0).max(1) as f64;
    let x = |us: u64| LABEL_W as f64 + (us.saturating_sub(t0) as f64 / span) * (WIDTH - LABEL_W - 8) as f64;
    let height = 8 + ROW * lanes.len() as u32;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="max-width: {WIDTH}px" font-family="ui-monospace, monospace" font-size="12">"#
    );
    for (n, lane) in lanes.iter().enumerate() {
        let y = 4 + ROW * n as u32;
        let (x1, x2) = (x(lane.start), x(lane.end.unwrap_or(t1)));
        let (indent, thick, color) = if lane.tid.is_some() { (14, 6, "#2a7ae2") } else { (0, 10, "#555") };
        let tid = lane.tid.map(|t| format!(r#" data-tid="{t}""#)).unwrap_or_default();
        let _ = write!(
            svg,
            r##"<g data-kind="lane" data-name="{}" data-pid="{}"{tid}><text x="{}" y="{}" fill="currentColor">{}</text><rect x="{x1:.1}" y="{}" width="{:.1}" height="{thick}" fill="{color}" opacity="0.8"><title>{} · pid {}</title></rect>"##,
            escape(&lane.name),
            lane.pid,
            4 + indent,
            y + 12,
            escape(&lane.name),
            y + (ROW - thick) / 2 - 2,
            (x2 - x1).max(1.5),
            escape(&lane.name),
            lane.pid
        );
        if let Some(t) = lane.tid {
            for s in sleeps.iter().filter(|s| s.tid == t) {
                let (s1, s2) = (x(s.start), x(s.end.unwrap_or(t1)));
                let _ = write!(
                    svg,
                    r##"<rect data-kind="sleep" data-on="{}" data-line="{}" x="{s1:.1}" y="{}" width="{:.1}" height="8" fill="#b8c4d0"><title>{} {} · L{}</title></rect>"##,
                    s.on,
                    s.line,
                    y + 4,
                    (s2 - s1).max(1.5),
                    tr("timeline-sleeps-in"),
                    s.on,
                    s.line
                );
            }
            for task in tasks.iter().filter(|task| task.tid == t) {
                let (t1x, t2x) = (x(task.start), x(task.end.unwrap_or(t1)));
                let title = if task.of == "pool" {
                    format!("{} {}({})", tr("timeline-task"), task.name, task.args)
                } else {
                    format!("{} {} · {}", tr("timeline-turn"), task.name, task.of)
                };
                let _ = write!(
                    svg,
                    r##"<rect data-kind="task" data-of="{}" data-name="{}" data-args="{}" data-tid="{t}" x="{t1x:.1}" y="{}" width="{:.1}" height="12" fill="{}" stroke="#fff" stroke-width="0.5"><title>{}</title></rect>"##,
                    task.of,
                    escape(&task.name),
                    escape(&task.args),
                    y + 2,
                    (t2x - t1x).max(2.0),
                    task_color(task.of, &task.name),
                    escape(&title)
                );
            }
            for w in waits.iter().filter(|w| w.tid == t) {
                let (w1, w2) = (x(w.start), x(w.end.unwrap_or(t1)));
                let held = w.holder.map(|h| format!(" · {} {}", tr("timeline-held-by"), thread_name(&lanes, h))).unwrap_or_default();
                let _ = write!(
                    svg,
                    r##"<rect data-kind="wait" data-on="{}" data-line="{}" x="{w1:.1}" y="{}" width="{:.1}" height="12" fill="#e08a00"><title>{} {} · L{}{}</title></rect>"##,
                    w.on,
                    w.line,
                    y + 2,
                    (w2 - w1).max(2.0),
                    tr("timeline-waits-on"),
                    w.on,
                    w.line,
                    escape(&held)
                );
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    let mut open = Waits::default();
    activity.iter().for_each(|a| open.apply(a));
    let deadlock = open.deadlock().map(|cycle| {
        cycle
            .iter()
            .map(|w| {
                tr("deadlock-step")
                    .replace("{who}", &thread_name(&lanes, w.tid))
                    .replace("{line}", &w.line.to_string())
                    .replace("{on}", w.on.as_str())
                    .replace("{holder}", &w.holder.map(|h| thread_name(&lanes, h)).unwrap_or_default())
            })
            .collect()
    });
    (svg, deadlock)
}

/// The run's timeline, redrawn as its events arrive; nothing while there are none.
#[component]
pub fn TimelineView(
    packets: RwSignal<Vec<Segment>>,
    activity: RwSignal<Vec<Activity>>,
    cut: RwSignal<Option<(u32, u64)>>,
) -> impl IntoView {
    move || {
        if activity.with(|a| !a.iter().any(|e| matches!(e, Activity::Thread { .. } | Activity::Process { .. }))) {
            return None;
        }
        let (svg, deadlock) = packets.with(|p| {
            activity.with(|a| {
                let t0 = start_us(p, a);
                let t1 = p.iter().map(|s| s.us).chain(a.iter().map(Activity::us)).max().unwrap_or(t0);
                render(a, t0, t1)
            })
        });
        let note = cut.get().map(|(shown, not_shown)| {
            tr("timeline-cut").replace("{shown}", &shown.to_string()).replace("{n}", &not_shown.to_string())
        });
        Some(view! {
            <details class="timeline" open>
                <summary>{move || tr("timeline-title")}</summary>
                <div data-role="timeline">
                    <div inner_html=svg></div>
                    <p class="timeline-legend">
                        <span style="background: #2a7ae2"></span>{tr("timeline-running")}
                        <span style="background: #b8c4d0"></span>{tr("timeline-sleeping")}
                        <span style="background: #e08a00"></span>{tr("timeline-waiting")}
                        <span style="background: #2e9d57"></span>{tr("timeline-tasks")}
                    </p>
                    {deadlock.map(|steps| view! {
                        <div class="deadlock" data-kind="deadlock" role="alert">
                            <strong>{tr("deadlock")}</strong>
                            <ul>{steps.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ul>
                        </div>
                    })}
                </div>
                {note.map(|n| view! { <p class="cut" data-kind="cut">"✂ " {n}</p> })}
            </details>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::timeline::{Scheduler, SleepOn, WaitOn};

    #[test]
    fn threads_sit_under_their_process_and_waits_on_their_thread() {
        let events = [
            Activity::Process { us: 0, pid: 3, ppid: 2, name: "MainProcess".into() },
            Activity::Thread { us: 0, pid: 3, tid: 3, name: "MainThread".into() },
            Activity::Process { us: 5, pid: 9, ppid: 3, name: "fork".into() },
            Activity::Thread { us: 6, pid: 3, tid: 4, name: "one".into() },
            Activity::Process { us: 7, pid: 9, ppid: 3, name: "ForkPoolWorker-1".into() },
            Activity::Wait { us: 8, pid: 3, tid: 4, on: WaitOn::Lock, obj: 1, line: 7, holder: Some(3) },
            Activity::ThreadEnd { us: 9, pid: 3, tid: 4 },
        ];
        let Drawn { lanes, waits, .. } = lanes(&events);
        let order: Vec<(&str, Option<u32>)> = lanes.iter().map(|l| (l.name.as_str(), l.tid)).collect();
        assert_eq!(order, [("MainProcess", None), ("MainThread", Some(3)), ("one", Some(4)), ("ForkPoolWorker-1", None)]);
        assert_eq!(lanes[2].end, Some(9));
        assert_eq!((waits[0].tid, waits[0].on, waits[0].line, waits[0].end), (4, "lock", 7, None));
    }

    #[test]
    fn a_pool_task_belongs_to_the_thread_that_ran_it_until_it_ends() {
        let events = [
            Activity::Process { us: 0, pid: 3, ppid: 2, name: "MainProcess".into() },
            Activity::Thread { us: 0, pid: 3, tid: 3, name: "MainThread".into() },
            Activity::Thread { us: 1, pid: 3, tid: 4, name: "ThreadPoolExecutor-0_0".into() },
            Activity::Thread { us: 1, pid: 3, tid: 5, name: "ThreadPoolExecutor-0_1".into() },
            Activity::Task { us: 2, pid: 3, tid: 5, name: "square".into(), args: "<b>".into() },
            Activity::Task { us: 3, pid: 3, tid: 4, name: "square".into(), args: "4".into() },
            Activity::TaskEnd { us: 6, pid: 3, tid: 5 },
        ];
        let Drawn { tasks, .. } = lanes(&events);
        let shape: Vec<(u32, &str, Option<u64>)> = tasks.iter().map(|t| (t.tid, t.args.as_str(), t.end)).collect();
        assert_eq!(shape, [(5, "<b>", Some(6)), (4, "4", None)], "drawn on lane 5 to its end, on lane 4 to now");
    }

    #[test]
    fn turns_end_at_the_next_turn_and_sleeps_sit_on_their_thread() {
        let step = |us, name: &str| Activity::Step { us, pid: 3, tid: 3, of: Scheduler::Greenlet, name: name.into() };
        let events = [
            Activity::Process { us: 0, pid: 3, ppid: 2, name: "MainProcess".into() },
            Activity::Thread { us: 0, pid: 3, tid: 3, name: "MainThread".into() },
            step(1, "ping"),
            step(2, "pong"),
            Activity::StepEnd { us: 3, pid: 3, tid: 3 },
            Activity::Sleep { us: 4, pid: 3, tid: 3, on: SleepOn::Recv, line: 9 },
            Activity::SleepEnd { us: 7, pid: 3, tid: 3 },
        ];
        let Drawn { tasks, sleeps, .. } = lanes(&events);
        let turns: Vec<(&str, &str, u64, Option<u64>)> = tasks.iter().map(|t| (t.of, t.name.as_str(), t.start, t.end)).collect();
        assert_eq!(turns, [("greenlet", "ping", 1, Some(2)), ("greenlet", "pong", 2, Some(3))]);
        assert_eq!(sleeps.iter().map(|s| (s.tid, s.on, s.line, s.start, s.end)).collect::<Vec<_>>(), [(3, "recv", 9, 4, Some(7))]);
    }
}
