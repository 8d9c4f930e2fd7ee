//! Exercise checking on the page: the student's code, then the lesson's hidden checks
//! (browser: in a fresh namespace; server: `_check.py` beside the student's file), and a
//! list of which checks passed. `check()` itself is frontend/worker/check.py. A "tftp-server"
//! exercise is checked by the backend's TFTP client instead, with its packets drawn below.

use super::trace::TraceView;
use crate::i18n::tr;
use crate::runtime::{browser, next_run_id, server, Event};
use leptos::prelude::*;
use shared::course::{Exercise, Runtime};
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg};
use std::rc::Rc;

const CHECK_PRELUDE: &str = include_str!("../../worker/check.py");

/// One check's result: passed, and its description.
type Results = Vec<(bool, String)>;

#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Checking,
    Done { results: Results, crashed: Option<String> },
}

/// Lines `✔ …` / `✘ …` of a check run's output.
fn parse(output: &str) -> Results {
    output
        .lines()
        .filter_map(|l| {
            l.strip_prefix("\u{2714} ")
                .map(|d| (true, d.to_string()))
                .or_else(|| l.strip_prefix("\u{2718} ").map(|d| (false, d.to_string())))
        })
        .collect()
}

#[component]
pub fn ExerciseCheck(
    exercise: Exercise,
    code: RwSignal<String>,
    runtime: Runtime,
    cell_id: String,
    file: String,
    /// The lesson, for the progress kept in the browser.
    lesson: String,
) -> impl IntoView {
    let verdict: RwSignal<Option<Verdict>> = RwSignal::new(None);
    let trace = RwSignal::new(Vec::new());
    let tftp_server = exercise.tftp_server.is_some();
    let check_code = format!("{CHECK_PRELUDE}\n{}", exercise.check);
    let hint = exercise.hint.clone();
    let start = move |_| {
        if verdict.get_untracked() == Some(Verdict::Checking) {
            return;
        }
        verdict.set(Some(Verdict::Checking));
        if tftp_server {
            return check_tftp(cell_id.clone(), code.get_untracked(), verdict, trace);
        }
        let output = Rc::new(std::cell::RefCell::new(String::new()));
        let crashed = Rc::new(std::cell::RefCell::new(None::<String>));
        let finish = {
            let (output, crashed) = (output.clone(), crashed.clone());
            let (lesson, cell_id) = (lesson.clone(), cell_id.clone());
            move || {
                let results = parse(&output.borrow());
                let crashed = crashed.borrow().clone().or_else(|| {
                    results.is_empty().then(|| output.borrow().lines().last().unwrap_or("").to_string())
                });
                let passed = !results.is_empty() && results.iter().all(|(ok, _)| *ok) && crashed.is_none();
                super::progress::record(&lesson, &cell_id, passed);
                crate::class::exercise_checked(&cell_id, passed);
                verdict.set(Some(Verdict::Done { results, crashed }));
            }
        };
        let collect = move |finish: Option<Rc<dyn Fn()>>| {
            let (output, crashed) = (output.clone(), crashed.clone());
            Rc::new(move |ev: Event| match ev {
                Event::Msg(ServerMsg::Output { data, .. }) => output.borrow_mut().push_str(&data),
                Event::Msg(ServerMsg::Error { message, .. }) => {
                    *crashed.borrow_mut() = Some(message);
                    if let Some(f) = &finish {
                        f();
                    }
                }
                Event::Msg(ServerMsg::Exit(_)) => {
                    if let Some(f) = &finish {
                        f();
                    }
                }
                // A check must not wait for typing: end of input.
                Event::InputWanted => browser::send_input(None),
                _ => {}
            }) as crate::runtime::Handler
        };
        let finish: Rc<dyn Fn()> = Rc::new(finish);
        match runtime {
            Runtime::Browser => {
                // A namespace of its own, so leftovers of earlier runs cannot make a check pass.
                let ns = format!("check:{cell_id}:{}", next_run_id());
                browser::run(next_run_id(), code.get_untracked(), ns.clone(), format!("<{cell_id}>"), collect(None));
                browser::run(next_run_id(), check_code.clone(), ns, "<check>".into(), collect(Some(finish)));
            }
            Runtime::Server => {
                let id = next_run_id();
                let files = vec![
                    FileSpec { name: file.clone(), text: code.get_untracked() },
                    FileSpec { name: "_check.py".into(), text: check_code.clone() },
                ];
                let req = RunRequest { run_id: id, files, entry: "_check.py".into(), args: vec![], watch_listen: false };
                server::send(&ClientMsg::Run(req), Some((id, collect(Some(finish)))));
                server::send(&ClientMsg::CloseStdin { run_id: id }, None);
            }
        }
    };
    view! {
        <div class="checks-bar">
            <button class="check" data-action="check" on:click=start
                disabled=move || verdict.get() == Some(Verdict::Checking)>
                "✓ " {move || tr("check")}
            </button>
            {move || match verdict.get() {
                None => ().into_any(),
                Some(Verdict::Checking) => view! { <span class="muted" role="status">{move || tr("checking")}</span> }.into_any(),
                Some(Verdict::Done { results, crashed }) => {
                    let passed = !results.is_empty() && results.iter().all(|(ok, _)| *ok) && crashed.is_none();
                    let failed = results.iter().filter(|(ok, _)| !ok).count();
                    let hint = hint.clone();
                    view! {
                        <div class="verdict" data-role="checks" data-passed=passed.to_string() role="status">
                            <strong>{move || if passed { tr("all-passed").to_string() } else { format!("{} {failed} {}", tr("not-yet"), tr("checks-failed")) }}</strong>
                            <ul>
                                {results.into_iter().map(|(ok, d)| view! {
                                    <li class=if ok { "pass" } else { "fail" } data-passed=ok.to_string()>{if ok { "✔ " } else { "✘ " }}{d}</li>
                                }).collect_view()}
                            </ul>
                            {crashed.map(|c| view! { <p class="fail">{move || tr("check-crashed")}" "<code>{c.clone()}</code></p> })}
                            {(!passed).then(|| hint.map(|h| view! { <p class="muted">{move || tr("hint")}": "{h}</p> }))}
                        </div>
                    }.into_any()
                }
            }}
            <TraceView events=trace/>
        </div>
    }
}

/// Asks the backend to check the student's TFTP server: one result per case as it comes
/// (`TftpCheck`), the client's packets into `trace`, done at the server's `Exit`.
fn check_tftp(cell_id: String, code: String, verdict: RwSignal<Option<Verdict>>, trace: RwSignal<Vec<shared::trace::PacketTrace>>) {
    let crate::route::Route::Lesson(lesson) = crate::route::current() else {
        let why = "a TFTP server exercise is checked from its lesson page".to_string();
        return verdict.set(Some(Verdict::Done { results: Vec::new(), crashed: Some(why) }));
    };
    trace.set(Vec::new());
    let results = Rc::new(std::cell::RefCell::new(Results::new()));
    let crashed = Rc::new(std::cell::RefCell::new(None::<String>));
    let (lesson_done, cell_done) = (lesson.clone(), cell_id.clone());
    let handler = Rc::new(move |ev: Event| match ev {
        Event::Msg(ServerMsg::TftpCheck { case, passed, message, .. }) => {
            let hint = tr(&format!("tftp-hint-{case}"));
            let label = tr(&format!("tftp-case-{case}"));
            let label = if label == "?" { case } else { label.to_string() };
            let line = match (passed, hint) {
                (true, _) => label,
                (false, "?") => format!("{label}: {message}"),
                (false, hint) => format!("{label}: {message} — {hint}"),
            };
            results.borrow_mut().push((passed, line));
        }
        Event::Msg(ServerMsg::Trace { event, .. }) => trace.update(|t| t.push(event)),
        Event::Msg(ServerMsg::Output { data, .. }) => {
            // The last line the server printed, in case it crashed.
            if let Some(line) = data.lines().rev().find(|l| !l.trim().is_empty()) {
                *crashed.borrow_mut() = Some(line.to_string());
            }
        }
        Event::Msg(ServerMsg::Error { message, .. }) => {
            let results = results.borrow().clone();
            verdict.set(Some(Verdict::Done { results, crashed: Some(message) }));
        }
        Event::Msg(ServerMsg::Exit(_)) => {
            let results = results.borrow().clone();
            let crashed = if results.is_empty() { crashed.borrow().clone().or(Some(String::new())) } else { None };
            // Passed only when all four cases (download, upload, missing file, lost ACK) passed.
            let passed = crashed.is_none() && results.len() == 4 && results.iter().all(|(ok, _)| *ok);
            super::progress::record(&lesson_done, &cell_done, passed);
            crate::class::exercise_checked(&cell_done, passed);
            verdict.set(Some(Verdict::Done { results, crashed }));
        }
        _ => {}
    }) as crate::runtime::Handler;
    let id = next_run_id();
    server::send(&ClientMsg::CheckTftp { run_id: id, lesson, cell: cell_id, code }, Some((id, handler)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_lines_are_parsed_and_other_output_ignored() {
        let out = "hello\n\u{2714} adds one\n\u{2718} handles empty lists\n";
        assert_eq!(parse(out), vec![(true, "adds one".into()), (false, "handles empty lists".into())]);
    }
}
