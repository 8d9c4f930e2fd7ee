//! Exercise checking on the page: the Check button and its verdict. The student's code runs,
//! then the lesson's checks by the check harness (shared/src/check.py: in the browser worker,
//! or the backend runs them in the sandbox); the verdict arrives as `Checked`, read from the
//! harness's records, never from the output. A "tftp-server" exercise is checked by the
//! backend's TFTP client instead, with its packets drawn below.

use super::packets::PacketsView;
use super::recorded::Recorded;
use crate::i18n::tr;
use crate::runtime::{browser, next_run_id, server, Event};
use leptos::prelude::*;
use shared::check::{CheckLine, CheckReport, Status};
use shared::course::{Exercise, Runtime};
use shared::wire::{ClientMsg, ServerMsg};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Checking,
    Done(CheckReport),
}

/// A report for a check that ended before its verdict came (the run failed to start, the
/// connection dropped): nothing passed.
fn unfinished(why: String) -> CheckReport {
    CheckReport { results: Vec::new(), error: Some(why), passed: false }
}

#[component]
pub fn ExerciseCheck(
    exercise: Exercise,
    code: RwSignal<String>,
    runtime: Runtime,
    cell_id: String,
    /// The lesson, for the progress kept in the browser.
    lesson: String,
) -> impl IntoView {
    let verdict: RwSignal<Option<Verdict>> = RwSignal::new(None);
    let recorded = Recorded::new();
    // What the student's TFTP server prints while it is checked.
    let server_output = RwSignal::new(String::new());
    let tftp_server = exercise.tftp_server.is_some();
    let checks = exercise.check.clone();
    let hint_html = exercise.hint_html.clone();
    let start = move |_| {
        if verdict.get_untracked() == Some(Verdict::Checking) {
            return;
        }
        verdict.set(Some(Verdict::Checking));
        if tftp_server {
            return check_tftp(cell_id.clone(), lesson.clone(), code.get_untracked(), verdict, recorded, server_output);
        }
        // A server check's run is drawn like any run: its packets (what a traffic property
        // was judged from) and what it recorded.
        recorded.clear();
        let report = Rc::new(RefCell::new(None::<CheckReport>));
        let (lesson_done, cell) = (lesson.clone(), cell_id.clone());
        let finish = move |report: CheckReport| {
            super::progress::record(&lesson_done, &cell, report.passed);
            // A server exercise's verdict is recorded by the server itself.
            if runtime == Runtime::Browser {
                crate::class::exercise_checked(&cell, report.passed);
            }
            verdict.set(Some(Verdict::Done(report)));
        };
        let handler = Rc::new(move |ev: Event| match ev {
            Event::Msg(ServerMsg::Checked { report: r, .. }) => *report.borrow_mut() = Some(r),
            Event::Msg(msg @ (ServerMsg::Packet { .. } | ServerMsg::Activity { .. } | ServerMsg::RecordingCut { .. })) => recorded.take(msg),
            Event::Msg(ServerMsg::Exit(exit)) => {
                recorded.flush();
                let why = crate::notebook::program::exit_words(&exit);
                finish(report.borrow_mut().take().unwrap_or_else(|| unfinished(why)))
            }
            Event::Msg(ServerMsg::Error { message, .. }) => finish(report.borrow_mut().take().unwrap_or_else(|| unfinished(message))),
            // A check must not wait for typing: end of input.
            Event::InputWanted => browser::send_input(None),
            _ => {}
        }) as crate::runtime::Handler;
        let id = next_run_id();
        match runtime {
            Runtime::Browser => {
                // A namespace of its own, so leftovers of earlier runs cannot make a check pass.
                let ns = format!("check:{cell_id}:{id}");
                browser::run_checked(id, code.get_untracked(), ns, format!("<{cell_id}>"), checks.clone(), handler);
            }
            Runtime::Server => {
                let msg = ClientMsg::Check { run_id: id, lesson: lesson.clone(), cell: cell_id.clone(), code: code.get_untracked() };
                server::send(&msg, Some((id, handler)));
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
                Some(Verdict::Done(report)) => view! { <ReportView report=report hint_html=hint_html.clone()/> }.into_any(),
            }}
            <Show when=move || server_output.with(|o| !o.is_empty())>
                <pre class="output" data-role="check-output">{move || server_output.get()}</pre>
            </Show>
            <PacketsView recorded=recorded/>
        </div>
    }
}

/// Most of a checked server's output the page keeps.
const MAX_CHECK_OUTPUT: usize = 64 << 10;

/// A verdict: the error that stopped the checks first, then every check (passed, failed or
/// not run), then the hint (rendered) when something did not pass.
#[component]
fn ReportView(report: CheckReport, hint_html: Option<String>) -> impl IntoView {
    let CheckReport { results, error, passed } = report;
    let left = results.iter().filter(|r| r.status != Status::Passed).count();
    view! {
        <div class="verdict" data-role="checks" data-passed=passed.to_string() role="status">
            {error.map(|e| view! {
                <div class="check-error" data-role="check-error">
                    <p class="fail">{move || tr("check-error")}</p>
                    <pre>{e}</pre>
                </div>
            })}
            <strong>{move || if passed { tr("all-passed").to_string() } else { format!("{} {} {}", tr("not-yet"), left.max(1), tr("checks-failed")) }}</strong>
            <ul>
                {results.into_iter().map(|CheckLine { description, status }| {
                    let (class, mark) = match status {
                        Status::Passed => ("pass", "✔ "),
                        Status::Failed => ("fail", "✘ "),
                        Status::NotRun => ("not-run", "– "),
                    };
                    view! {
                        <li class=class data-passed=(status == Status::Passed).to_string() data-status=class>
                            {mark}{description}{(status == Status::NotRun).then(|| view! { " "<span class="muted">{move || tr("not-run")}</span> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {(!passed).then(|| hint_html.map(|h| view! {
                <div class="hint" data-role="hint"><strong>{move || tr("hint")}": "</strong><div class="prose" inner_html=h></div></div>
            }))}
        </div>
    }
}

/// Asks the backend to check the student's TFTP server: one result per case as it comes
/// (`TftpCheck`), the loopback's packets (the checker's and the server's) into `recorded`, done
/// at the server's `Exit`. The server
/// records the verdict itself.
fn check_tftp(
    cell_id: String,
    lesson: String,
    code: String,
    verdict: RwSignal<Option<Verdict>>,
    recorded: Recorded,
    output: RwSignal<String>,
) {
    recorded.clear();
    output.set(String::new());
    let results = Rc::new(RefCell::new(Vec::<CheckLine>::new()));
    let crashed = Rc::new(RefCell::new(None::<String>));
    let (lesson_done, cell_done) = (lesson.clone(), cell_id.clone());
    let line = |passed: bool, description: String| CheckLine { description, status: if passed { Status::Passed } else { Status::Failed } };
    let handler = Rc::new(move |ev: Event| match ev {
        Event::Msg(ServerMsg::TftpCheck { case, passed, message, .. }) => {
            let hint = tr(&format!("tftp-hint-{case}"));
            let label = tr(&format!("tftp-case-{case}"));
            let label = if label == "?" { case } else { label.to_string() };
            let text = match (passed, hint) {
                (true, _) => label,
                (false, "?") => format!("{label}: {message}"),
                (false, hint) => format!("{label}: {message} — {hint}"),
            };
            results.borrow_mut().push(line(passed, text));
        }
        Event::Msg(msg @ (ServerMsg::Packet { .. } | ServerMsg::Activity { .. } | ServerMsg::RecordingCut { .. })) => recorded.take(msg),
        Event::Msg(ServerMsg::Output { data, .. }) => {
            // Shown as it comes; the last line also says why, in case it crashed.
            output.update(|o| {
                if o.len() < MAX_CHECK_OUTPUT {
                    o.push_str(&data);
                }
            });
            if let Some(line) = data.lines().rev().find(|l| !l.trim().is_empty()) {
                *crashed.borrow_mut() = Some(line.to_string());
            }
        }
        Event::Msg(ServerMsg::Error { message, .. }) => {
            let results = results.borrow().clone();
            verdict.set(Some(Verdict::Done(CheckReport { results, error: Some(message), passed: false })));
        }
        Event::Msg(ServerMsg::Exit(exit)) => {
            recorded.flush();
            let results = results.borrow().clone();
            let error = if results.is_empty() {
                Some(crashed.borrow().clone().unwrap_or_else(|| crate::notebook::program::exit_words(&exit)))
            } else {
                None
            };
            // Passed only when all four cases (download, upload, missing file, lost ACK) passed.
            let passed = error.is_none() && results.len() == 4 && results.iter().all(|r| r.status == Status::Passed);
            super::progress::record(&lesson_done, &cell_done, passed);
            verdict.set(Some(Verdict::Done(CheckReport { results, error, passed })));
        }
        _ => {}
    }) as crate::runtime::Handler;
    let id = next_run_id();
    server::send(&ClientMsg::CheckTftp { run_id: id, lesson, cell: cell_id, code }, Some((id, handler)));
}
