//! Exercise checking on the page: the student's code, then the lesson's hidden checks
//! (browser: in a fresh namespace; server: `_check.py` beside the student's file), and a
//! list of which checks passed. `check()` itself is frontend/worker/check.py.

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
) -> impl IntoView {
    let verdict: RwSignal<Option<Verdict>> = RwSignal::new(None);
    let check_code = format!("{CHECK_PRELUDE}\n{}", exercise.check);
    let hint = exercise.hint.clone();
    let start = move |_| {
        if verdict.get_untracked() == Some(Verdict::Checking) {
            return;
        }
        verdict.set(Some(Verdict::Checking));
        let output = Rc::new(std::cell::RefCell::new(String::new()));
        let crashed = Rc::new(std::cell::RefCell::new(None::<String>));
        let finish = {
            let (output, crashed, cell_id_done) = (output.clone(), crashed.clone(), cell_id.clone());
            move || {
                let results = parse(&output.borrow());
                let crashed = crashed.borrow().clone().or_else(|| {
                    results.is_empty().then(|| output.borrow().lines().last().unwrap_or("").to_string())
                });
                let passed = !results.is_empty() && results.iter().all(|(ok, _)| *ok) && crashed.is_none();
                crate::class::exercise_checked(&cell_id_done, passed);
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
        </div>
    }
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
