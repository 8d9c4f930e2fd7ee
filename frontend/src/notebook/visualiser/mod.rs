//! The step-through player of a browser cell: the code with the line just run and the next one
//! marked, the controls (first, back, forward, last, slider, run to line), output and exception at the step, and the drawing.

mod draw;

use crate::i18n::tr;
use leptos::prelude::*;
use shared::visualise::{Cut, Replay};
use std::sync::Arc;

fn words() -> draw::Words {
    draw::Words {
        title: tr("vis-title"),
        returned: tr("vis-return"),
        elided: tr("vis-elided"),
        more: tr("vis-more"),
        instance: tr("vis-instance"),
        state: tr("vis-state"),
        resumes: tr("vis-resumes"),
    }
}

/// The player of one trace; `code` is the cell's code as it was stepped through.
#[component]
pub fn Visualiser(
    replay: Arc<Replay>,
    code: Arc<str>,
    /// The step shown first (0-based; a step link's).
    #[prop(optional)]
    start: usize,
    on_close: Callback<()>,
) -> impl IntoView {
    let len = replay.len();
    let last = len.saturating_sub(1);
    let step = RwSignal::new(start.min(last));
    // None: not clicked; Some(Ok): copied; Some(Err(link)): the link to copy by hand.
    let shared: RwSignal<Option<Result<(), String>>> = RwSignal::new(None);
    let share_code = code.clone();
    let share = move |_| {
        let link = crate::route::step_link(&share_code, step.get_untracked() + 1);
        shared.set(Some(if super::cell::copy_text(&link) { Ok(()) } else { Err(link) }));
    };
    let boxed = RwSignal::new(false);
    let target_line = RwSignal::new(String::new());
    let root = NodeRef::<leptos::html::Section>::new();
    // The keyboard drives the player as soon as it shows.
    Effect::new(move |_| {
        if let Some(el) = root.get() {
            let _ = el.focus();
        }
    });
    let go = move |n: usize| step.set(n.min(last));
    // A closure, not written in the view: `view!` would read the `>` of `>=` as the tag's end.
    let at_end = move || step.get() >= last;
    let run_to_line = {
        let replay = replay.clone();
        move || {
            if let Ok(line) = target_line.get_untracked().trim().parse::<u32>() {
                if let Some(n) = replay.next_at_line(step.get_untracked(), line) {
                    step.set(n);
                }
            }
        }
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let in_field = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok())
            .is_some_and(|i| i.type_() != "range" && i.type_() != "checkbox");
        if in_field || ev.ctrl_key() || ev.alt_key() || ev.meta_key() {
            return;
        }
        let now = step.get_untracked();
        let to = match ev.key().as_str() {
            "ArrowRight" | "ArrowDown" => now + 1,
            "ArrowLeft" | "ArrowUp" => now.saturating_sub(1),
            "Home" => 0,
            "End" => last,
            "Escape" => {
                on_close.run(());
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        go(to);
    };
    let r = replay.clone();
    let svg = Memo::new(move |_| {
        let n = step.get();
        let boxed = boxed.get();
        crate::i18n::lang().track();
        if r.is_empty() {
            String::new()
        } else {
            draw::render(&r, n, &words(), boxed)
        }
    });
    let r = replay.clone();
    let line_of = move |n: usize| if r.is_empty() { 0 } else { r.step(n).line };
    let line_of2 = line_of.clone();
    let current_line = Memo::new(move |_| line_of2(step.get()));
    let ran_line = Memo::new(move |_| step.get().checked_sub(1).map(&line_of).unwrap_or(0));
    let r = replay.clone();
    let output = move || if r.is_empty() { String::new() } else { r.output(step.get()).to_string() };
    let r = replay.clone();
    let exception = move || r.trace.steps.get(step.get()).and_then(|s| s.exception.clone());
    let notice = match replay.trace.cut {
        Some(Cut::Limit) => Some(("limit", replay.trace.limit)),
        Some(Cut::Stopped) => Some(("stopped", len as u32)),
        None => None,
    };
    let lines: Vec<(u32, String)> = code.lines().enumerate().map(|(i, l)| (i as u32 + 1, l.to_string())).collect();
    view! {
        <section class="visualiser" data-role="visualiser" tabindex="0" node_ref=root on:keydown=on_key
            aria-label=move || tr("vis-title")>
            <div class="visualiser-bar">
                <button class="small" data-action="step-first" aria-label=move || tr("vis-first") title=move || tr("vis-first")
                    disabled=move || step.get() == 0 on:click=move |_| go(0)>"⏮"</button>
                <button class="small" data-action="step-prev" aria-label=move || tr("vis-prev") title=move || tr("vis-prev")
                    disabled=move || step.get() == 0 on:click=move |_| go(step.get_untracked().saturating_sub(1))>"◀"</button>
                <button class="small" data-action="step-next" aria-label=move || tr("vis-next") title=move || tr("vis-next")
                    disabled=at_end on:click=move |_| go(step.get_untracked() + 1)>"▶"</button>
                <button class="small" data-action="step-last" aria-label=move || tr("vis-last") title=move || tr("vis-last")
                    disabled=at_end on:click=move |_| go(last)>"⏭"</button>
                <input type="range" data-role="step-slider" min="0" max=last.to_string() aria-label=move || tr("vis-slider")
                    prop:value=move || step.get().to_string()
                    on:input=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<usize>() { go(n) } }/>
                <span data-role="step">{move || format!("{} / {len}", step.get() + 1)}</span>
                <span class="muted">{move || tr("vis-line")}" "<span data-role="current-line">{move || current_line.get()}</span></span>
                <form class="run-to-line" on:submit=move |ev| { ev.prevent_default(); run_to_line() }>
                    <input type="number" min="1" data-role="run-to-line-input" aria-label=move || tr("vis-run-to-line")
                        placeholder=move || tr("vis-line") prop:value=move || target_line.get()
                        on:input=move |ev| target_line.set(event_target_value(&ev))/>
                    <button class="small" type="submit" data-action="run-to-line">{move || tr("vis-run-to-line")}</button>
                </form>
                <label class="muted"><input type="checkbox" data-action="box-primitives"
                    prop:checked=move || boxed.get() on:change=move |_| boxed.update(|b| *b = !*b)/>" "{move || tr("vis-box")}</label>
                <button class="small" data-action="share-step" title=move || tr("vis-share") on:click=share>
                    {move || if shared.get() == Some(Ok(())) { tr("copied") } else { tr("vis-share") }}
                </button>
                <button class="small" data-action="close-visualiser" on:click=move |_| on_close.run(())>{move || tr("close")}</button>
            </div>
            {move || shared.get().and_then(|r| r.err()).map(|link| view! {
                <label class="share-link">{move || tr("copy-failed")}" "
                    <input readonly data-role="step-link" aria-label=move || tr("share-link") prop:value=link/>
                </label>
            })}
            {notice.map(|(why, n)| view! {
                <p class="vis-notice" role="status" data-role="visual-notice" data-cut=why>
                    {move || tr(if why == "limit" { "vis-limit" } else { "vis-stopped" }).replace("{n}", &n.to_string())}
                </p>
            })}
            {(len == 0).then(|| view! { <p class="vis-notice" data-role="visual-notice" data-cut="empty">{move || tr("vis-empty")}</p> })}
            <div class="visualiser-body">
                <ol class="vis-code" data-role="visual-code">
                    {lines.into_iter().map(|(n, text)| view! {
                        <li data-line=n class:vis-next=move || current_line.get() == n class:vis-ran=move || ran_line.get() == n && current_line.get() != n>
                            <span class="vis-mark" aria-hidden="true">{move || if current_line.get() == n { "➜" } else if ran_line.get() == n { "→" } else { "" }}</span>
                            <span class="vis-lineno">{n}</span>" "{text}
                        </li>
                    }).collect_view()}
                </ol>
                <div class="vis-drawing" inner_html=move || svg.get()></div>
            </div>
            {move || exception().map(|x| view! { <p class="error" role="alert" data-role="visual-exception">{x}</p> })}
            <pre class="output vis-output" data-role="visual-output">{output}</pre>
        </section>
    }
}
