//! One program's run as the page shows it: its phase, output (stdout/stderr kept apart),
//! stdin box and how it ended. A cell has one; a group has one per started file.

use super::packets::PacketsView;
use super::recorded::Recorded;
use super::timeline::TimelineView;
use crate::i18n::tr;
use crate::runtime::{browser, server, Event, Handler};
use leptos::prelude::*;
use shared::course::Runtime;
use shared::wire::{ClientMsg, EndReason, ExitInfo, ServerMsg, Signal, Stream};
use shared::visualise::Replay;
use std::rc::Rc;
use std::sync::Arc;

/// Where a run is; shown as the cell's `data-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Loading,
    Queued(u32),
    Running,
    Done,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Loading => "loading",
            Phase::Queued(_) => "queued",
            Phase::Running => "running",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }

    pub fn active(self) -> bool {
        matches!(self, Phase::Loading | Phase::Queued(_) | Phase::Running)
    }
}

/// Most text a cell keeps on the page; the rest is dropped with a note.
const MAX_OUTPUT: usize = 2 << 20;

#[derive(Clone, Copy)]
pub struct Program {
    /// Where the next run goes (a browser cell can be sent to the server).
    pub runtime: RwSignal<Runtime>,
    pub phase: RwSignal<Phase>,
    pub output: RwSignal<Vec<(Stream, String)>>,
    pub exit: RwSignal<Option<ExitInfo>>,
    pub run_id: RwSignal<Option<u32>>,
    /// The browser engine waits for a line (server programs always accept input).
    pub wants_input: RwSignal<bool>,
    /// The program has a listening socket (server groups start the next file then).
    pub listening: RwSignal<bool>,
    /// The browser could not run it, and why: the page offers the server instead.
    pub needs_server: RwSignal<Option<String>>,
    /// The last step-through of this program: its trace, and the code it ran.
    pub visual: RwSignal<Option<(Arc<Replay>, Arc<str>)>>,
    /// The code of the step-through in progress, till its trace arrives.
    stepping: StoredValue<Option<Arc<str>>, LocalStorage>,
    /// What a server run recorded: its loopback packets (the companion TFTP server's too) and
    /// its activity.
    pub recorded: Recorded,
    /// Output received but not drawn yet (drawn once per animation frame).
    pending: StoredValue<Vec<(Stream, String)>, LocalStorage>,
}

impl Program {
    pub fn new(runtime: Runtime) -> Program {
        Program {
            runtime: RwSignal::new(runtime),
            phase: RwSignal::new(Phase::Idle),
            output: RwSignal::new(Vec::new()),
            exit: RwSignal::new(None),
            run_id: RwSignal::new(None),
            wants_input: RwSignal::new(false),
            listening: RwSignal::new(false),
            needs_server: RwSignal::new(None),
            visual: RwSignal::new(None),
            stepping: StoredValue::new_local(None),
            recorded: Recorded::new(),
            pending: StoredValue::new_local(Vec::new()),
        }
    }

    /// Clears the last run and returns a fresh run id.
    pub fn begin(&self) -> u32 {
        let id = crate::runtime::next_run_id();
        self.pending.update_value(Vec::clear);
        self.output.set(Vec::new());
        self.exit.set(None);
        self.wants_input.set(false);
        self.listening.set(false);
        self.needs_server.set(None);
        self.visual.set(None);
        self.stepping.set_value(None);
        self.recorded.clear();
        self.run_id.set(Some(id));
        let ready = matches!(browser::status().get_untracked(), browser::Engine::Ready { .. });
        let browser = self.runtime.get_untracked() == Runtime::Browser;
        self.phase.set(if browser && !ready { Phase::Loading } else { Phase::Running });
        id
    }

    /// Like `begin`, for a run stepped through: its trace will be shown with `code`.
    pub fn begin_visual(&self, code: &str) -> u32 {
        let id = self.begin();
        self.stepping.set_value(Some(Arc::from(code)));
        id
    }

    /// Adds output; what arrives within one animation frame is shown in one update, so a
    /// flood of small messages costs one redraw per frame, not one per message.
    pub fn append(&self, stream: Stream, text: &str) {
        let first = self.pending.try_update_value(|p| {
            p.push((stream, text.to_string()));
            p.len() == 1
        });
        if first != Some(true) {
            return;
        }
        let me = *self;
        let flush = wasm_bindgen::closure::Closure::once_into_js(move || me.flush_pending());
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(wasm_bindgen::JsCast::unchecked_ref(&flush));
        }
    }

    /// Shows what `append` gathered (also called before a run's end is shown).
    fn flush_pending(&self) {
        let chunks = self.pending.try_update_value(std::mem::take).unwrap_or_default();
        for (stream, text) in chunks {
            self.show(stream, &text);
        }
    }

    fn show(&self, stream: Stream, text: &str) {
        self.output.update(|out| {
            let used: usize = out.iter().map(|(_, t)| t.len()).sum();
            if used >= MAX_OUTPUT {
                return;
            }
            let mut text = text.to_string();
            if used + text.len() > MAX_OUTPUT {
                let mut end = MAX_OUTPUT - used;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push_str("\n[…]\n");
            }
            match out.last_mut() {
                Some((s, t)) if *s == stream => t.push_str(&text),
                _ => out.push((stream, text)),
            }
        });
    }

    /// The handler that turns runtime events into this program's state; `then` is told
    /// when the program exits or starts listening.
    pub fn handler(self, then: Option<Rc<dyn Fn()>>) -> Handler {
        Rc::new(move |event| match event {
            Event::InputWanted => {
                self.flush_pending(); // the prompt shows with the box, not a frame later
                self.wants_input.set(true);
            }
            Event::NeedsServer(reason) => self.needs_server.set(Some(reason)),
            Event::Visual(trace) => {
                let code = self.stepping.try_update_value(Option::take).flatten();
                if let (Some(trace), Some(code)) = (trace, code) {
                    self.visual.set(Some((Arc::new(Replay::new(trace)), code)));
                }
            }
            Event::Msg(msg) => match msg {
                ServerMsg::Started { .. } => self.phase.set(Phase::Running),
                ServerMsg::Queued { ahead, .. } => self.phase.set(Phase::Queued(ahead)),
                ServerMsg::Listening { .. } => {
                    self.listening.set(true);
                    if let Some(f) = &then {
                        f();
                    }
                }
                ServerMsg::Output { stream, data, .. } => {
                    self.wants_input.set(false);
                    self.append(stream, &data);
                }
                ServerMsg::Exit(exit) => {
                    self.flush_pending();
                    self.recorded.flush();
                    let ok = exit.code == Some(0);
                    self.exit.set(Some(exit));
                    self.wants_input.set(false);
                    self.run_id.set(None);
                    self.phase.set(if ok { Phase::Done } else { Phase::Failed });
                    if let Some(f) = &then {
                        f();
                    }
                }
                ServerMsg::Error { message, .. } => {
                    self.flush_pending();
                    self.show(Stream::Stderr, &format!("{message}\n"));
                    self.run_id.set(None);
                    self.phase.set(Phase::Failed);
                    if let Some(f) = &then {
                        f();
                    }
                }
                msg @ (ServerMsg::Packet { .. } | ServerMsg::Activity { .. } | ServerMsg::RecordingCut { .. }) => self.recorded.take(msg),
                // Exercise checks and class-wide messages never reach a program's view.
                ServerMsg::TftpCheck { .. }
                | ServerMsg::Checked { .. }
                | ServerMsg::Hello { .. }
                | ServerMsg::Refused { .. }
                | ServerMsg::Notice { .. }
                | ServerMsg::Goto { .. }
                | ServerMsg::CourseChanged { .. }
                | ServerMsg::WorkRefused { .. }
                | ServerMsg::HandAnswered
                | ServerMsg::ResetCell { .. }
                | ServerMsg::Renamed { .. } => {}
            },
        })
    }

    /// Stop: KeyboardInterrupt first. A browser engine that does not answer is replaced: after
    /// 2 s where Stop can interrupt a busy loop (shared memory), after 0.5 s where only a
    /// waiting input() or sleep can hear it (plain http). A server program gets SIGKILL on a
    /// second press.
    pub fn stop(&self) {
        let Some(run_id) = self.run_id.get_untracked() else { return };
        match self.runtime.get_untracked() {
            Runtime::Browser => {
                browser::interrupt(run_id);
                self.restart_unless_stopped(run_id);
            }
            Runtime::Server => {
                let signal = if self.exit.get_untracked().is_none() && self.phase.get_untracked() == Phase::Running {
                    Signal::Interrupt
                } else {
                    Signal::Kill
                };
                server::send(&ClientMsg::Signal { run_id, signal }, None);
            }
        }
    }

    /// Replaces the browser engine if run `run_id` has not ended a while after Stop. The wait
    /// counts from when the worker runs it: a run still waiting its turn there ends as it
    /// starts, and replacing the engine then would end the run before it too.
    fn restart_unless_stopped(&self, run_id: u32) {
        let (wait_ms, why) = if browser::stop_interrupts_busy_loops() {
            (2000, "stop-restarted-slow")
        } else {
            (500, "stop-restarted")
        };
        let still = *self;
        let check = wasm_bindgen::closure::Closure::once_into_js(move || {
            if still.run_id.get_untracked() != Some(run_id) {
                return;
            }
            if browser::waiting_its_turn(run_id) {
                still.restart_unless_stopped(run_id);
            } else {
                browser::terminate_and_restart(crate::i18n::tr_now(why));
            }
        });
        let _ = web_sys::window().expect("window").set_timeout_with_callback_and_timeout_and_arguments_0(
            wasm_bindgen::JsCast::unchecked_ref(&check),
            wait_ms,
        );
    }

    pub fn send_line(&self, line: String) {
        self.append(Stream::Stdout, &line);
        match self.runtime.get_untracked() {
            Runtime::Browser => {
                self.wants_input.set(false);
                browser::send_input(Some(line));
            }
            Runtime::Server => {
                if let Some(run_id) = self.run_id.get_untracked() {
                    server::send(&ClientMsg::Stdin { run_id, data: line }, None);
                }
            }
        }
    }

    pub fn close_input(&self) {
        match self.runtime.get_untracked() {
            Runtime::Browser => {
                self.wants_input.set(false);
                browser::send_input(None);
            }
            Runtime::Server => {
                if let Some(run_id) = self.run_id.get_untracked() {
                    server::send(&ClientMsg::CloseStdin { run_id }, None);
                }
            }
        }
    }
}

/// How a run ended, in words a student understands, in the page's language.
pub fn exit_words(exit: &ExitInfo) -> String {
    let mut s = match (exit.code, exit.signal) {
        (Some(0), _) => tr("exit-ok").to_string(),
        (Some(c), _) => format!("{} {c}", tr("exit-code")),
        (None, Some(2)) => tr("interrupted").to_string(),
        (None, Some(9)) => tr("exit-killed").to_string(),
        (None, Some(15)) => tr("exit-terminated").to_string(),
        (None, Some(11)) => tr("exit-crashed").to_string(),
        (None, Some(24)) => tr("exit-cpu").to_string(),
        (None, Some(sig)) => format!("{} {sig}", tr("exit-signal")),
        (None, None) => String::new(),
    };
    match (&exit.why, &exit.reason) {
        (Some(why), _) => s.push_str(&format!(" · {}", end_words(why))),
        (None, Some(reason)) => s.push_str(&format!(" · {reason}")),
        (None, None) => {}
    }
    s
}

/// Why a run was ended, in the page's language.
fn end_words(why: &EndReason) -> String {
    match why {
        EndReason::WallClock { secs } => format!("{} {secs} {}", tr("end-wall"), tr("seconds")),
        EndReason::CpuTime { secs } => format!("{} {secs} {}", tr("end-cpu"), tr("seconds")),
        EndReason::Memory { mib } => format!("{} {mib} MiB", tr("end-memory")),
        EndReason::Processes { max } => format!("{} {max}", tr("end-processes")),
        EndReason::Teacher => tr("end-teacher").to_string(),
        EndReason::PageClosed => tr("end-page-closed").to_string(),
        EndReason::SandboxRestarted => tr("end-restarted").to_string(),
    }
}

fn describe(exit: &ExitInfo) -> String {
    let mut s = exit_words(exit);
    if exit.cpu_ms > 0 {
        s.push_str(&format!(" · {} {} ms", tr("cpu"), exit.cpu_ms));
    }
    s.push_str(&format!(" · {} {} ms", tr("wall"), exit.wall_ms));
    if exit.truncated {
        s.push_str(&format!(" · {}", tr("truncated")));
    }
    s
}

/// Output, input box and exit line of one program. A browser program's box appears when its
/// `input()` asks, and takes the keyboard focus. A server program's reads cannot be seen from
/// outside, so its box opens by itself only when the output ends in an unfinished line (a
/// prompt such as `input("name: ")`), and otherwise stays one optional "input" button away.
#[component]
pub fn ProgramView(program: Program, #[prop(optional)] file: Option<String>) -> impl IntoView {
    let line = RwSignal::new(String::new());
    let opened = RwSignal::new(false);
    let prompted = move || program.output.with(|o| o.last().is_some_and(|(_, t)| !t.is_empty() && !t.ends_with('\n')));
    let running = move || program.phase.get() == Phase::Running;
    let show_input = move || match program.runtime.get() {
        Runtime::Browser => program.wants_input.get(),
        Runtime::Server => running() && (opened.get() || prompted()),
    };
    let offer_input = move || program.runtime.get() == Runtime::Server && running() && !show_input();
    Effect::new(move |_| {
        if !running() {
            opened.set(false);
        }
    });
    let input_ref = NodeRef::<leptos::html::Input>::new();
    // The box takes the focus when it appears (after it is drawn).
    Effect::new(move |_| {
        if show_input() {
            request_animation_frame(move || {
                if let Some(el) = input_ref.get_untracked() {
                    let _ = el.focus();
                }
            });
        }
    });
    let submit = move || {
        let text = line.get_untracked();
        line.set(String::new());
        program.send_line(format!("{text}\n"));
    };
    let file = file.unwrap_or_default();
    let label = file.clone();
    view! {
        <div class="program" data-file=file>
            <pre class="output" data-role="output" aria-live="polite" aria-label=label
                class:empty=move || program.output.with(|o| o.is_empty())>
                {move || program.output.get().into_iter().map(|(stream, text)| {
                    view! { <span class=if stream == Stream::Stderr { "stderr" } else { "stdout" }>{text}</span> }
                }).collect_view()}
            </pre>
            <Show when=offer_input>
                <button type="button" class="open-stdin" data-action="open-stdin" on:click=move |_| opened.set(true)>
                    {move || tr("give-input")}
                </button>
            </Show>
            <Show when=show_input>
                <form class="stdin" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                    <input data-role="stdin" type="text" autocomplete="off" node_ref=input_ref
                        aria-label=move || if program.runtime.get() == Runtime::Browser { tr("input") } else { tr("input-optional") }
                        placeholder=move || if program.runtime.get() == Runtime::Browser { tr("input") } else { tr("input-optional") }
                        prop:value=move || line.get() on:input=move |ev| line.set(event_target_value(&ev))/>
                    <button type="submit">{move || tr("send")}</button>
                    <button type="button" data-action="eof" on:click=move |_| program.close_input()>{move || tr("eof")}</button>
                </form>
            </Show>
            <PacketsView recorded=program.recorded/>
            <TimelineView packets=program.recorded.packets activity=program.recorded.activity cut=program.recorded.activity_cut/>
            {move || program.exit.get().map(|e| view! {
                <div class="exit" class:ok=e.code == Some(0) data-role="exit">{describe(&e)}</div>
            })}
        </div>
    }
}
