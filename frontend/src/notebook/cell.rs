//! Code cells: a lone cell (browser or server) and a server group of files that start
//! together (each started file gets its own output, input box and Stop).

use super::exercise::ExerciseCheck;
use super::program::{Phase, Program, ProgramView};
use crate::editor::Editor;
use crate::i18n::tr;
use crate::runtime::{browser, server};
use leptos::prelude::*;
use shared::course::{Cell, Group, Runtime};
use shared::wire::{ClientMsg, FileSpec, RunRequest};
use std::rc::Rc;

fn runtime_note(r: Runtime) -> &'static str {
    match r {
        Runtime::Browser => tr("runs-browser"),
        Runtime::Server => tr("runs-server"),
    }
}

#[component]
pub fn CodeCell(cell: Cell, namespace: String) -> impl IntoView {
    let code = RwSignal::new(cell.code.clone());
    let program = Program::new(cell.runtime);
    let file = cell.file.clone().unwrap_or_else(|| format!("{}.py", cell.id));
    let check_file = file.clone();
    let browser_name = format!("<{}>", cell.id);
    let run = Callback::new(move |_| {
        if program.phase.get_untracked().active() {
            return;
        }
        let id = program.begin();
        match program.runtime.get_untracked() {
            Runtime::Browser => {
                browser::run(id, code.get_untracked(), namespace.clone(), browser_name.clone(), program.handler(None))
            }
            Runtime::Server => {
                let req = RunRequest {
                    run_id: id,
                    files: vec![FileSpec { name: file.clone(), text: code.get_untracked() }],
                    entry: file.clone(),
                    args: vec![],
                    watch_listen: false,
                };
                server::send(&ClientMsg::Run(req), Some((id, program.handler(None))));
            }
        }
    });
    let to_server = move |_| {
        program.runtime.set(Runtime::Server);
        run.run(());
    };
    let exercise = cell.exercise.clone();
    let is_exercise = exercise.is_some();
    view! {
        <div class="cell" class:exercise=is_exercise data-cell-id=cell.id.clone()
            data-runtime=move || program.runtime.get().as_str() data-state=move || program.phase.get().as_str()>
            <div class="cell-bar">
                <button class="run" data-action="run" aria-label=move || tr("run") title="Shift+Enter"
                    disabled=move || program.phase.get().active() on:click=move |_| run.run(())>
                    "▶ " {move || tr("run")}
                </button>
                <button class="stop" data-action="stop" aria-label=move || tr("stop")
                    disabled=move || !program.phase.get().active() on:click=move |_| program.stop()>
                    "■ " {move || tr("stop")}
                </button>
                <span class="where muted">{move || runtime_note(program.runtime.get())}</span>
                <Status phase=program.phase/>
                <ShareButton runtime=program.runtime code=code/>
            </div>
            <Editor code=code label=format!("{} {}", tr("run"), cell.id) on_run=run/>
            <ProgramView program=program/>
            {move || program.needs_server.get().map(|_| view! {
                <div class="needs-server" role="note">
                    <button data-action="run-on-server" on:click=to_server>{move || tr("run-on-server")}</button>
                </div>
            })}
            {exercise.map(|ex| view! {
                <ExerciseCheck exercise=ex.clone() code=code runtime=cell.runtime cell_id=cell.id.clone() file=check_file.clone()/>
                {ex.hint.map(|h| view! { <details class="hint"><summary>{move || tr("hint")}</summary><p>{h}</p></details> })}
                {ex.solution.map(|s| view! { <details class="solution"><summary>{move || tr("solution")}</summary><pre>{s}</pre></details> })}
            })}
        </div>
    }
}

/// Copies a scratch link holding the cell's current code.
#[component]
fn ShareButton(runtime: RwSignal<Runtime>, code: RwSignal<String>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let share = move |_| {
        let link = crate::route::scratch_link(runtime.get_untracked(), &code.get_untracked());
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&link);
        }
        copied.set(true);
    };
    view! {
        <button class="small" data-action="share" aria-label=move || tr("share") title=move || tr("share") on:click=share>
            {move || if copied.get() { tr("copied") } else { tr("share") }}
        </button>
    }
}

#[component]
fn Status(phase: RwSignal<Phase>) -> impl IntoView {
    move || match phase.get() {
        Phase::Loading => view! { <span class="status">{move || tr("engine-loading")}"…"</span> }.into_any(),
        Phase::Queued(ahead) => view! {
            <span class="status" role="status">{move || tr("queued")}" · "{ahead}" "{move || tr("ahead")}</span>
        }.into_any(),
        Phase::Running => view! { <span class="status running" aria-hidden="true">"●"</span> }.into_any(),
        _ => ().into_any(),
    }
}

/// A group of files run together in the student's sandbox: started in order, each next
/// file once the previous one listens on a socket (or exits, or after 3 s).
#[component]
pub fn GroupCell(group: Group) -> impl IntoView {
    let files: Vec<(Cell, RwSignal<String>)> =
        group.files.iter().map(|c| (c.clone(), RwSignal::new(c.code.clone()))).collect();
    let programs: Vec<(String, Program)> = group
        .files
        .iter()
        .filter(|c| c.start)
        .map(|c| (c.file.clone().unwrap_or_default(), Program::new(Runtime::Server)))
        .collect();
    let state = {
        let progs: Vec<Program> = programs.iter().map(|(_, p)| *p).collect();
        move || {
            let phases: Vec<Phase> = progs.iter().map(|p| p.phase.get()).collect();
            if phases.iter().any(|p| *p == Phase::Loading) {
                "loading"
            } else if phases.iter().any(|p| *p == Phase::Running) {
                "running"
            } else if phases.iter().any(|p| matches!(p, Phase::Queued(_))) {
                "queued"
            } else if phases.iter().any(|p| *p == Phase::Failed) {
                "failed"
            } else if phases.iter().all(|p| *p == Phase::Done) {
                "done"
            } else {
                "idle"
            }
        }
    };
    let start_all = {
        let files = files.clone();
        let programs = programs.clone();
        move || {
            if programs.iter().any(|(_, p)| p.phase.get_untracked().active()) {
                return;
            }
            let specs: Vec<FileSpec> =
                files.iter().map(|(c, code)| FileSpec { name: c.file.clone().unwrap_or_default(), text: code.get_untracked() }).collect();
            start_from(Rc::new(programs.clone()), 0, Rc::new(specs));
        }
    };
    let run = Callback::new(move |_| start_all());
    let stop_progs: Vec<Program> = programs.iter().map(|(_, p)| *p).collect();
    let any_active = {
        let progs = stop_progs.clone();
        move || progs.iter().any(|p| p.phase.get().active())
    };
    let any_active2 = any_active.clone();
    view! {
        <div class="cell group" data-cell-id=group.id.clone() data-runtime="server" data-state=state>
            <div class="cell-bar">
                <button class="run" data-action="run" aria-label=move || tr("run") title="Shift+Enter"
                    disabled=any_active on:click=move |_| run.run(())>
                    "▶ " {move || tr("run")}
                </button>
                <button class="stop" data-action="stop" aria-label=move || tr("stop")
                    disabled=move || !any_active2()
                    on:click=move |_| stop_progs.iter().for_each(|p| p.stop())>
                    "■ " {move || tr("stop")}
                </button>
                <span class="where muted">{move || runtime_note(Runtime::Server)}</span>
            </div>
            {files.into_iter().map(|(cell, code)| {
                let name = cell.file.clone().unwrap_or_default();
                let program = programs.iter().find(|(f, _)| *f == name).map(|(_, p)| *p);
                view! {
                    <div class="file" data-file=name.clone()>
                        <div class="file-name">{name.clone()}
                            {program.map(|p| view! {
                                <button class="stop small" data-action="stop-file" aria-label=format!("{} {name}", tr("stop"))
                                    disabled=move || !p.phase.get().active() on:click=move |_| p.stop()>"■"</button>
                            })}
                        </div>
                        <Editor code=code label=name.clone() on_run=run/>
                        {program.map(|p| view! { <ProgramView program=p file=name.clone()/> })}
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

/// Starts program `i` of a group, and the next one when it is ready.
fn start_from(programs: Rc<Vec<(String, Program)>>, i: usize, files: Rc<Vec<FileSpec>>) {
    let Some((entry, program)) = programs.get(i).cloned() else { return };
    let is_last = i + 1 == programs.len();
    let advanced = Rc::new(std::cell::Cell::new(false));
    let next: Rc<dyn Fn()> = {
        let (programs, files, advanced) = (programs.clone(), files.clone(), advanced.clone());
        Rc::new(move || {
            if !advanced.replace(true) {
                start_from(programs.clone(), i + 1, files.clone());
            }
        })
    };
    let id = program.begin();
    let req = RunRequest {
        run_id: id,
        files: if i == 0 { files.to_vec() } else { Vec::new() },
        entry,
        args: vec![],
        watch_listen: !is_last,
    };
    server::send(&ClientMsg::Run(req), Some((id, program.handler(Some(next.clone())))));
    if !is_last {
        // A program that never listens (a plain script) must not hold the rest back.
        let fallback = wasm_bindgen::closure::Closure::once_into_js(move || next());
        let _ = web_sys::window().expect("window").set_timeout_with_callback_and_timeout_and_arguments_0(
            wasm_bindgen::JsCast::unchecked_ref(&fallback),
            3000,
        );
    }
}
