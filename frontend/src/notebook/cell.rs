//! Code cells: a lone cell (browser or server) and a server group of files that start
//! together (each started file gets its own output, input box and Stop).

use super::edits::{Edit, LessonEdits};
use super::exercise::ExerciseCheck;
use super::program::{Phase, Program, ProgramView};
use super::visualiser::Visualiser;
use crate::editor::{is_stop_key, is_visualise_key, Editor};
use crate::i18n::{tr, tr_now};
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

/// A code cell; with `switch` (the scratch page) the student picks where it runs.
#[component]
pub fn CodeCell(
    cell: Cell,
    namespace: String,
    /// The scratch page: the student picks where it runs.
    #[prop(optional)]
    switch: bool,
    /// Step through at once, and show this step (1-based): a step link opened the page.
    #[prop(default = None)]
    open_step: Option<usize>,
) -> impl IntoView {
    let edit = LessonEdits::cell(&cell.id, &cell.code);
    let code = edit.code;
    let lesson = use_context::<LessonEdits>().map(|c| c.lesson.get_value()).unwrap_or_else(|| namespace.clone());
    let program = Program::new(cell.runtime);
    LessonEdits::keep_output(&cell.id, program);
    if let Some(kept) = use_context::<LessonEdits>() {
        // Each run's output goes to the class server too, for the teacher's view.
        crate::class::keep_output(kept.lesson.get_value(), cell.id.clone(), program.phase, program.output);
    }
    let file = cell.file.clone().unwrap_or_else(|| format!("{}.py", cell.id));
    let browser_name = format!("<{}>", cell.id);
    let visualise_ns = namespace.clone();
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
    let visualise_name = format!("<{}>", cell.id);
    let visualise = Callback::new(move |_| {
        if program.phase.get_untracked().active() || program.runtime.get_untracked() != Runtime::Browser {
            return;
        }
        let source = code.get_untracked();
        let id = program.begin_visual(&source);
        browser::visualise(id, source, visualise_ns.clone(), visualise_name.clone(), program.handler(None));
    });
    // The step a step link asked for, shown by the first step-through only (then taken).
    let first_step = StoredValue::new(open_step.map(|n| n - 1).unwrap_or(0));
    if open_step.is_some() && cell.runtime == Runtime::Browser {
        Effect::new(move |started: Option<bool>| {
            let ready = matches!(browser::status().get(), browser::Engine::Ready { .. });
            if started != Some(true) && ready {
                visualise.run(());
            }
            started == Some(true) || ready
        });
    }
    let to_server = move |_| {
        program.runtime.set(Runtime::Server);
        run.run(());
    };
    let exercise = cell.exercise.clone();
    let is_exercise = exercise.is_some();
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if is_stop_key(&ev) {
            ev.prevent_default();
            program.stop();
        } else if is_visualise_key(&ev) {
            ev.prevent_default();
            visualise.run(());
        }
    };
    let progress_lesson = lesson.clone();
    let progress_cell = cell.id.clone();
    view! {
        <div class="cell" class:exercise=is_exercise data-cell-id=cell.id.clone() on:keydown=on_key
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
                <Show when=move || program.runtime.get() == Runtime::Browser>
                    <button class="visualise" data-action="visualise" aria-label=move || tr("visualise") title="Ctrl+Shift+Enter"
                        disabled=move || program.phase.get().active() on:click=move |_| visualise.run(())>
                        "⏯ " {move || tr("visualise")}
                    </button>
                </Show>
                {if switch {
                    view! { <RuntimeSwitch runtime=program.runtime disabled=Signal::derive(move || program.phase.get().active())/> }.into_any()
                } else {
                    view! { <span class="where muted">{move || runtime_note(program.runtime.get())}</span> }.into_any()
                }}
                <Status phase=program.phase/>
                {is_exercise.then(|| view! { <ProgressBadge lesson=progress_lesson.clone() cell=progress_cell.clone()/> })}
                <ResetButton edit=edit/>
                <ShareButton runtime=program.runtime code=code/>
            </div>
            <EditNotice edit=edit/>
            <Editor code=code label=format!("{} {}", tr_now("code-of"), cell.id) on_run=Callback::new(move |_| run.run(()))/>
            <ProgramView program=program/>
            {move || program.visual.get().map(|(replay, code)| view! {
                <Visualiser replay=replay code=code start=first_step.try_update_value(std::mem::take).unwrap_or(0) on_close=Callback::new(move |_| program.visual.set(None))/>
            })}
            {move || program.needs_server.get().map(|_| view! {
                <div class="needs-server" role="note">
                    <button data-action="run-on-server" on:click=to_server>{move || tr("run-on-server")}</button>
                </div>
            })}
            {exercise.map(|ex| view! {
                <ExerciseCheck exercise=ex.clone() code=code runtime=cell.runtime cell_id=cell.id.clone() lesson=lesson.clone()/>
                {ex.solution.map(|s| {
                    let (lesson, cell) = (lesson.clone(), cell.id.clone());
                    // The teacher sees who opened a solution (the server keeps the first time).
                    let opened = move |ev: leptos::ev::Event| {
                        let open = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlDetailsElement>(t).ok()).is_some_and(|d| d.open());
                        if open {
                            server::send(&ClientMsg::SolutionOpened { lesson: lesson.clone(), cell: cell.clone() }, None);
                        }
                    };
                    view! { <details class="solution" on:toggle=opened><summary>{move || tr("solution")}</summary><pre>{s}</pre></details> }
                })}
            })}
        </div>
    }
}

/// Where the scratch cell runs: the browser or the class server.
#[component]
fn RuntimeSwitch(runtime: RwSignal<Runtime>, disabled: Signal<bool>) -> impl IntoView {
    let change = move |ev| {
        let value = event_target_value(&ev);
        runtime.set(Runtime::parse(&value).unwrap_or(Runtime::Browser));
    };
    view! {
        <label class="where">
            <span class="sr-only">{move || tr("scratch-runtime")}</span>
            <select data-role="runtime-switch" aria-label=move || tr("scratch-runtime") disabled=disabled on:change=change
                prop:value=move || runtime.get().as_str()>
                <option value="browser">{move || tr("runs-browser")}</option>
                <option value="server">{move || tr("runs-server")}</option>
            </select>
        </label>
    }
}

/// Copies a scratch link holding the cell's current code, and says whether it could: where
/// the page is not a secure context (plain http on the class network) the link is shown to copy.
#[component]
fn ShareButton(runtime: RwSignal<Runtime>, code: RwSignal<String>) -> impl IntoView {
    // None: not clicked; Some(Ok): copied; Some(Err(link)): copy by hand.
    let result: RwSignal<Option<Result<(), String>>> = RwSignal::new(None);
    let share = move |_| {
        let link = crate::route::scratch_link(runtime.get_untracked(), &code.get_untracked());
        if copy_text(&link) {
            result.set(Some(Ok(())));
        } else {
            result.set(Some(Err(link)));
        }
    };
    view! {
        <button class="small" data-action="share" aria-label=move || tr("share") title=move || tr("share") on:click=share>
            {move || if result.get() == Some(Ok(())) { tr("copied") } else { tr("share") }}
        </button>
        <span class="sr-only" role="status">{move || (result.get() == Some(Ok(()))).then(|| tr("copied"))}</span>
        {move || result.get().and_then(|r| r.err()).map(|link| view! {
            <label class="share-link">{move || tr("copy-failed")}" "
                <input readonly data-role="share-link" aria-label=move || tr("share-link") prop:value=link
                    on:focus=|ev| { if let Some(i) = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok()) { i.select() } }/>
            </label>
        })}
    }
}

/// Puts `text` on the clipboard the synchronous way every browser allows in a click handler
/// (a selected, off-screen textarea and the copy command); false when the browser refused.
pub fn copy_text(text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return false };
    let Some(body) = doc.body() else { return false };
    let Ok(area) = doc.create_element("textarea") else { return false };
    let area: web_sys::HtmlTextAreaElement = area.unchecked_into();
    area.set_value(text);
    let _ = area.set_attribute("style", "position:fixed;top:-100px;opacity:0");
    let _ = body.append_child(&area);
    let active = doc.active_element();
    area.select();
    let copied = doc.unchecked_ref::<web_sys::HtmlDocument>().exec_command("copy").unwrap_or(false);
    area.remove();
    if let Some(el) = active.and_then(|a| a.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
    }
    copied
}

/// "Reset to original", shown while the code differs from it.
#[component]
fn ResetButton(edit: Edit) -> impl IntoView {
    view! {
        <Show when=move || edit.edited()>
            <span class="edited muted" title=move || tr("edited")>"✎"</span>
            <button class="small" data-action="reset" aria-label=move || tr("reset-cell") title=move || tr("reset-cell")
                on:click=move |_| edit.reset()>
                "↺ " {move || tr("reset-cell")}
            </button>
        </Show>
    }
}

/// "The original changed": the student's edit stays; they can compare, take the new one, or keep theirs.
#[component]
fn EditNotice(edit: Edit) -> impl IntoView {
    let comparing = RwSignal::new(false);
    view! {
        <Show when=move || edit.save_failed.get()>
            <p class="error save-failed" role="alert" data-role="save-failed">{move || tr("save-failed")}</p>
        </Show>
        <Show when=move || edit.original_changed.get()>
            <div class="original-changed" role="alert" data-role="original-changed">
                <p>{move || tr("original-changed")}</p>
                <button data-action="show-original" aria-expanded=move || comparing.get().to_string()
                    on:click=move |_| comparing.update(|c| *c = !*c)>
                    {move || if comparing.get() { tr("hide-original") } else { tr("show-original") }}
                </button>
                <button data-action="take-original" on:click=move |_| { comparing.set(false); edit.reset() }>{move || tr("take-original")}</button>
                <button data-action="keep-mine" on:click=move |_| { comparing.set(false); edit.keep_mine() }>{move || tr("keep-mine")}</button>
                <Show when=move || comparing.get()>
                    <div class="compare">
                        <figure class="diff-figure"><figcaption>{move || tr("diff-caption")}</figcaption>
                            <pre data-role="diff">{move || edit.code.with(|mine| edit.original.with_value(|new| diff_lines(mine, new)))}</pre></figure>
                        <figure><figcaption>{move || tr("new-original")}</figcaption>
                            <pre data-role="new-original">{edit.original.get_value()}</pre></figure>
                        <figure><figcaption>{move || tr("your-code")}</figcaption>
                            <pre>{move || edit.code.get()}</pre></figure>
                    </div>
                </Show>
            </div>
        </Show>
    }
}

/// The student's code against the new original, a line each: kept, only theirs (-), only the
/// original's (+); marked by a sign as well as a colour.
fn diff_lines(mine: &str, new: &str) -> impl IntoView {
    use shared::diff::Change;
    shared::diff::lines(mine, new)
        .into_iter()
        .map(|(change, line)| {
            let (class, sign) = match change {
                Change::Same => ("same", "  "),
                Change::Removed => ("del", "- "),
                Change::Added => ("add", "+ "),
            };
            view! { <span class=class>{format!("{sign}{line}\n")}</span> }
        })
        .collect_view()
}

/// Passed / not yet, for an exercise, from the browser's record.
#[component]
fn ProgressBadge(lesson: String, cell: String) -> impl IntoView {
    let (lesson, cell) = (StoredValue::new(lesson), StoredValue::new(cell));
    let status = move || lesson.with_value(|l| cell.with_value(|c| super::progress::status(l, c)));
    view! {
        <span class="progress-badge" data-role="progress" data-passed=move || status().unwrap_or(false).to_string()
            class:passed=move || status() == Some(true)>
            {move || if status() == Some(true) { format!("✔ {}", tr("passed")) } else { tr("not-passed").to_string() }}
        </span>
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
    let edits: Vec<(Cell, Edit)> = group.files.iter().map(|c| (c.clone(), LessonEdits::cell(&c.id, &c.code))).collect();
    let files: Vec<(Cell, RwSignal<String>)> = edits.iter().map(|(c, e)| (c.clone(), e.code)).collect();
    let programs: Vec<(String, Program)> = group
        .files
        .iter()
        .filter(|c| c.start)
        .map(|c| (c.file.clone().unwrap_or_default(), Program::new(Runtime::Server)))
        .collect();
    for c in &group.files {
        if let Some((_, program)) = programs.iter().find(|(f, _)| Some(f) == c.file.as_ref()) {
            LessonEdits::keep_output(&c.id, *program);
            if let Some(kept) = use_context::<LessonEdits>() {
                // Each started file's output goes to the class server under its own cell.
                crate::class::keep_output(kept.lesson.get_value(), c.id.clone(), program.phase, program.output);
            }
        }
    }
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
    let key_progs = stop_progs.clone();
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if is_stop_key(&ev) {
            ev.prevent_default();
            key_progs.iter().for_each(|p| p.stop());
        }
    };
    view! {
        <div class="cell group" data-cell-id=group.id.clone() data-runtime="server" data-state=state on:keydown=on_key>
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
            {edits.into_iter().map(|(cell, edit)| {
                let code = edit.code;
                let name = cell.file.clone().unwrap_or_default();
                let program = programs.iter().find(|(f, _)| *f == name).map(|(_, p)| *p);
                view! {
                    <div class="file" data-file=name.clone()>
                        <div class="file-name">{name.clone()}
                            {program.map(|p| view! {
                                <button class="stop small" data-action="stop-file" aria-label=format!("{} {name}", tr_now("stop"))
                                    disabled=move || !p.phase.get().active() on:click=move |_| p.stop()>"■"</button>
                            })}
                            <ResetButton edit=edit/>
                        </div>
                        <EditNotice edit=edit/>
                        <Editor code=code label=format!("{} {name}", tr_now("code-of")) on_run=Callback::new(move |_| run.run(()))/>
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
