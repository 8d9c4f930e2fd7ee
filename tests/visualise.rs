//! Step-through in headless Chromium against a real server, opened as the LAN sees it (plain
//! http, where Stop reaches a recording only through the relay): one browser for every case.

use classbook_e2e::{require_built_page, serve, state_of, Browser, Origin};
use fantoccini::key::Key;
use serde_json::Value;
use std::time::Instant;

const CELL: &str = "[data-cell-id=scratch]";

/// A JS expression: the first element matching `css` inside the player's drawing.
fn svg(css: &str) -> String {
    format!("document.querySelector('{CELL} [data-role=visualiser] [data-role=visual-drawing] {css}')")
}

/// Puts `code` in the scratch cell, clicks Step through and waits for the player; returns M of "1 / M".
async fn step_through(b: &Browser, code: &str) -> u64 {
    b.set_code("scratch", code).await;
    scroll_to(b, ".cell-bar").await;
    b.click(&format!("{CELL} [data-action=visualise]")).await;
    player(b).await
}

async fn player(b: &Browser) -> u64 {
    let text = b
        .wait_for(&format!("document.querySelector('{CELL} [data-role=visualiser] [data-role=step]')?.textContent"), 60, "the player")
        .await;
    let text = text.as_str().unwrap().to_string();
    assert!(text.starts_with("1 / "), "the player opens at the first step: {text}");
    text[4..].parse().unwrap()
}

/// Scrolls `css` of the cell to the middle of the window, as a student would scroll back up to
/// it (the last player may fill the screen, leaving it under the page's sticky header).
async fn scroll_to(b: &Browser, css: &str) {
    b.eval(&format!("document.querySelector('{CELL} {css}').scrollIntoView({{block: 'center'}})")).await;
}

/// Waits until the player reads `want` ("N / M").
async fn wait_step(b: &Browser, want: &str) {
    b.wait_for(&format!("document.querySelector('{CELL} [data-role=step]').textContent === '{want}'"), 5, want).await;
}

async fn step_text(b: &Browser) -> String {
    b.eval(&format!("document.querySelector('{CELL} [data-role=step]').textContent")).await.as_str().unwrap().to_string()
}

async fn current_line(b: &Browser) -> u64 {
    let v = b.eval(&format!("document.querySelector('{CELL} [data-role=current-line]').textContent")).await;
    v.as_str().unwrap().parse().unwrap()
}

/// "Run to line N" from the current step.
async fn run_to_line(b: &Browser, line: u32) {
    let input = format!("document.querySelector('{CELL} [data-role=run-to-line-input]')");
    b.eval(&format!("(() => {{ const i = {input}; i.value = '{line}'; i.dispatchEvent(new Event('input', {{bubbles: true}})); return true }})()"))
        .await;
    b.click(&format!("{CELL} [data-action=run-to-line]")).await;
    b.wait_for(&format!("document.querySelector('{CELL} [data-role=current-line]').textContent === '{line}'"), 5, "run to line").await;
}

async fn attr(b: &Browser, css: &str, name: &str) -> Value {
    b.eval(&format!("{}?.getAttribute('{name}')", svg(css))).await
}

/// The id a frame's variable refers to.
async fn ref_of(b: &Browser, frame: &str, var: &str) -> String {
    let v = attr(b, &format!("[data-kind=frame][data-name=\"{frame}\"] [data-kind=var][data-name={var}]"), "data-ref").await;
    v.as_str().unwrap_or_else(|| panic!("{frame}.{var} names no object: {v}")).to_string()
}

/// The ids object `from` has arrows to.
async fn arrows_from(b: &Browser, from: &str) -> Vec<String> {
    let v = b
        .eval(&format!(
            "Array.from(document.querySelectorAll('{CELL} [data-role=visual-drawing] [data-kind=ref][data-from=\"{from}\"]')).map(e => e.dataset.to)"
        ))
        .await;
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// The header of object `id`'s box.
async fn head(b: &Browser, id: &str) -> String {
    text_of(b, &format!("[data-kind=object][data-id=\"{id}\"] .vis-head")).await
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.eval(&format!("{}?.textContent ?? ''", svg(css))).await.as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn stepping_through_shows_cells_decorators_generators_aliases_limits_exceptions_and_stops() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;

    b.open(&server, "/#/scratch?runtime=browser&code=").await;
    counter_closure_shares_one_cell(&b).await;
    stacked_decorators_read_as_a_chain(&b).await;
    generator_between_next_calls(&b).await;
    a_step_link_opens_the_cell_at_that_step(&b, &server).await;
    aliased_list_then_mutated(&b).await;
    exception_inside_a_nested_call(&b).await;
    a_long_loop_stops_at_the_limit_and_stays_responsive(&b).await;
    stop_during_a_long_recording(&b).await;

    // Every browser cell of a lesson has the button, and the ? overlay lists the shortcut.
    b.open(&server, "/#/lesson/closures").await;
    b.wait_for("document.querySelector('[data-cell-id=greeter] [data-action=visualise]')", 30, "a lesson cell's Step through").await;
    b.click("[data-action=help]").await;
    b.wait_for("document.querySelector('[data-role=help]')?.textContent.includes('Ctrl+Shift+Enter')", 5, "the shortcut in the overlay").await;
    b.click("[data-action=close-help]").await;
    b.close().await;
}

async fn counter_closure_shares_one_cell(b: &Browser) {
    let code = "def make_counter():\n    count = 0\n    def up():\n        nonlocal count\n        count += 1\n        return count\n    def get():\n        return count\n    return up, get\n\nup, get = make_counter()\nup()\nup()\nprint(get())\n";
    let total = step_through(b, code).await;
    b.click(&format!("{CELL} [data-action=step-last]")).await;
    wait_step(b, &format!("{total} / {total}")).await;
    let (up, get) = (ref_of(b, "<module>", "up").await, ref_of(b, "<module>", "get").await);
    assert_ne!(up, get);
    let cells_up = arrows_from(b, &up).await;
    assert_eq!(cells_up.len(), 1, "up captures one cell");
    assert_eq!(arrows_from(b, &get).await, cells_up, "get captures the very same cell");
    let cell = &cells_up[0];
    assert!(b.eval(&svg(&format!("[data-kind=cell][data-id=\"{cell}\"]"))).await.is_object());
    assert_eq!(text_of(b, &format!("[data-kind=cell][data-id=\"{cell}\"] [data-kind=item]")).await, "2");
    let output = b.eval(&format!("document.querySelector('{CELL} [data-role=visual-output]').textContent")).await;
    assert_eq!(output, "2\n");

    // Before the first up() the cell holds 0; stepping forward, the step where nonlocal rebinds
    // it shows 1, highlighted as changed.
    b.click(&format!("{CELL} [data-action=step-first]")).await;
    run_to_line(b, 12).await;
    let cell_item = format!("[data-kind=cell][data-id=\"{cell}\"] [data-kind=item]");
    assert_eq!(text_of(b, &cell_item).await, "0");
    for _ in 0..10 {
        b.click(&format!("{CELL} [data-action=step-next]")).await;
        if text_of(b, &cell_item).await == "1" {
            break;
        }
    }
    assert_eq!(text_of(b, &cell_item).await, "1", "the rebinding shows in the cell");
    assert_eq!(attr(b, &format!("[data-kind=cell][data-id=\"{cell}\"]"), "data-changed").await, "true");
    // The same cell, seen from get as well: still one box.
    let boxes = b.eval(&format!("document.querySelectorAll('{CELL} [data-kind=cell][data-id=\"{cell}\"]').length")).await;
    assert_eq!(boxes, 1);
}

async fn stacked_decorators_read_as_a_chain(b: &Browser) {
    let code = "import functools\n\ndef shout(f):\n    @functools.wraps(f)\n    def loud(*args):\n        return f(*args).upper()\n    return loud\n\ndef exclaim(f):\n    def excited(*args):\n        return f(*args) + '!'\n    return excited\n\n@shout\n@exclaim\ndef greet(name):\n    return 'hi ' + name\n\nprint(greet('ann'))\n";
    step_through(b, code).await;
    b.click(&format!("{CELL} [data-action=step-last]")).await;
    let outer = ref_of(b, "<module>", "greet").await;
    assert!(head(b, &outer).await.contains("shout.<locals>.loud"), "{}", head(b, &outer).await);
    // loud → its cell f → excited → its cell f → greet; loud's __wrapped__ is excited too.
    let from_loud = arrows_from(b, &outer).await;
    let mut chain = vec![outer.clone()];
    let mut at = outer.clone();
    for _ in 0..2 {
        let cells: Vec<String> = {
            let mut found = Vec::new();
            for id in arrows_from(b, &at).await {
                if b.eval(&svg(&format!("[data-kind=cell][data-id=\"{id}\"]"))).await.is_object() {
                    found.push(id);
                }
            }
            found
        };
        assert_eq!(cells.len(), 1, "a wrapper captures the function it wraps in one cell");
        let inner = arrows_from(b, &cells[0]).await;
        assert_eq!(inner.len(), 1);
        at = inner[0].clone();
        chain.push(at.clone());
    }
    assert!(head(b, &chain[1]).await.contains("exclaim.<locals>.excited"));
    assert!(head(b, &chain[2]).await.contains("function greet"));
    assert!(from_loud.contains(&chain[1]), "functools.wraps' __wrapped__ points at the inner wrapper");
    assert!(b.eval(&format!("document.querySelector('{CELL} [data-role=visual-output]').textContent")).await == "HI ANN!\n");
}

async fn generator_between_next_calls(b: &Browser) {
    step_through(b, COUNTDOWN).await;
    run_to_line(b, 7).await;
    let g = ref_of(b, "<module>", "g").await;
    let gen = format!("[data-kind=object][data-type=generator][data-id=\"{g}\"]");
    assert_eq!(attr(b, &gen, "data-state").await, "created");
    run_to_line(b, 8).await;
    assert_eq!(attr(b, &gen, "data-state").await, "suspended");
    let text = text_of(b, &gen).await;
    assert!(text.contains("3"), "it resumes at line 3, its n is 3: {text}");
    // Into the second next(): the generator runs, its frame is on the stack.
    b.click(&format!("{CELL} [data-action=step-next]")).await;
    b.wait_for(&format!("{}?.getAttribute('data-state') === 'running'", svg(&gen)), 5, "the generator running").await;
    assert!(b.eval(&svg("[data-kind=frame][data-name=countdown]")).await.is_object());
    run_to_line(b, 9).await;
    assert_eq!(attr(b, &gen, "data-state").await, "suspended");
    assert_eq!(text_of(b, &format!("{gen} [data-kind=item]")).await, "2", "n is 2 after the second next()");
    assert_eq!(text_of(b, "[data-kind=frame][data-name=\"<module>\"] [data-kind=var][data-name=b]").await, "2");
}

const COUNTDOWN: &str = "def countdown(n):\n    while n > 0:\n        yield n\n        n -= 1\n\ng = countdown(3)\na = next(g)\nb = next(g)\nprint(a, b)\n";

async fn a_step_link_opens_the_cell_at_that_step(b: &Browser, server: &classbook_e2e::Server) {
    // The player's Share gives the link of the step shown (copied, or shown to copy by hand).
    b.click(&format!("{CELL} [data-action=share-step]")).await;
    let shown = step_text(b).await;
    let n: usize = shown.split(' ').next().unwrap().parse().unwrap();
    let link = b.eval(&format!("document.querySelector('{CELL} [data-role=step-link]')?.value ?? null")).await;
    if let Some(link) = link.as_str() {
        assert!(link.ends_with(&format!("&step={n}")), "{link}");
    }
    b.open(server, &format!("{}&step=4", classbook_e2e::scratch_path("browser", COUNTDOWN))).await;
    let text = b
        .wait_for(&format!("document.querySelector('{CELL} [data-role=visualiser] [data-role=step]')?.textContent"), 60, "the linked step")
        .await;
    assert!(text.as_str().unwrap().starts_with("4 / "), "{text}");
}

async fn aliased_list_then_mutated(b: &Browser) {
    // Started from the keyboard this time: Ctrl+Shift+Enter in the editor, arrows in the player.
    b.set_code("scratch", "xs = [1, 2]\nys = xs\nys.append(3)\nprint(xs)\n").await;
    scroll_to(b, "[data-role=editor]").await;
    b.click(&format!("{CELL} [data-role=editor] .cm-content")).await;
    b.press(&[Key::Control.into(), Key::Shift.into(), Key::Enter.into()]).await;
    let total = player(b).await;
    b.press(&[Key::Right.into()]).await;
    wait_step(b, &format!("2 / {total}")).await;
    b.press(&[Key::End.into()]).await;
    wait_step(b, &format!("{total} / {total}")).await;
    b.press(&[Key::Home.into()]).await;
    run_to_line(b, 3).await;
    let (xs, ys) = (ref_of(b, "<module>", "xs").await, ref_of(b, "<module>", "ys").await);
    assert_eq!(xs, ys, "two names, one object");
    let list = format!("[data-kind=object][data-type=list][data-id=\"{xs}\"]");
    assert_eq!(b.eval(&format!("document.querySelectorAll('{CELL} {list}').length")).await, 1, "one box");
    assert_eq!(b.eval(&format!("{}.querySelectorAll('[data-kind=item]').length", svg(&list))).await, 2);
    run_to_line(b, 4).await;
    assert_eq!(b.eval(&format!("{}.querySelectorAll('[data-kind=item]').length", svg(&list))).await, 3, "mutated through ys, seen from xs");
    assert_eq!(attr(b, &list, "data-changed").await, "true");
    let arrows = b.eval(&format!("document.querySelectorAll('{CELL} [data-kind=name-ref][data-to=\"{xs}\"]').length")).await;
    assert_eq!(arrows, 2, "an arrow from each name");
}

async fn exception_inside_a_nested_call(b: &Browser) {
    let code = "def inner(x):\n    return 10 / x\n\ndef outer(x):\n    return inner(x - 1)\n\nouter(1)\n";
    let total = step_through(b, code).await;
    let exception = format!("document.querySelector('{CELL} [data-role=visual-exception]')");
    for _ in 0..total {
        if b.eval(&exception).await.is_object() {
            break;
        }
        b.click(&format!("{CELL} [data-action=step-next]")).await;
    }
    assert_eq!(b.eval(&format!("{exception}?.textContent")).await, "ZeroDivisionError: division by zero");
    assert_eq!(current_line(b).await, 2);
    assert!(b.eval(&svg("[data-kind=frame][data-name=outer]")).await.is_object());
    assert_eq!(text_of(b, "[data-kind=frame][data-name=inner] [data-kind=var][data-name=x]").await, "0");
    // The run's own output shows the traceback as an ordinary run does.
    b.wait_for(&format!("{} === 'failed'", state_of("scratch")), 10, "the run failed").await;
}

async fn a_long_loop_stops_at_the_limit_and_stays_responsive(b: &Browser) {
    let total = step_through(b, "total = 0\nfor i in range(6000):\n    total += i\n").await;
    assert_eq!(total, 10_000);
    let notice = b.eval(&format!("document.querySelector('{CELL} [data-role=visual-notice]')?.dataset.cut")).await;
    assert_eq!(notice, "limit");
    b.click(&format!("{CELL} [data-action=step-last]")).await;
    wait_step(b, "10000 / 10000").await;
    let started = Instant::now();
    for _ in 0..20 {
        b.click(&format!("{CELL} [data-action=step-prev]")).await;
    }
    wait_step(b, "9980 / 10000").await;
    let per_move = started.elapsed() / 20;
    println!("e2e: one step back at 10,000 steps, with the WebDriver round trip: {} ms", per_move.as_millis());
    assert!(per_move.as_millis() < 500, "stepping stays responsive: {per_move:?}");
    assert_eq!(b.eval(&format!("{} === 'done'", state_of("scratch"))).await, true, "the run ended at the limit, without an error");
}

async fn stop_during_a_long_recording(b: &Browser) {
    b.set_code("scratch", "import time\nn = 0\nwhile True:\n    n += 1\n    time.sleep(0.05)\n").await;
    scroll_to(b, ".cell-bar").await;
    b.click(&format!("{CELL} [data-action=visualise]")).await;
    b.wait_for(&format!("{} === 'running'", state_of("scratch")), 30, "the recording running").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let stopped = Instant::now();
    b.click(&format!("{CELL} [data-action=stop]")).await;
    let total = player(b).await;
    println!("e2e: Stop → the recorded steps shown: {} ms", stopped.elapsed().as_millis());
    assert!(total > 10, "what was recorded before Stop is kept: {total} steps");
    let notice = b.eval(&format!("document.querySelector('{CELL} [data-role=visual-notice]')?.dataset.cut")).await;
    assert_eq!(notice, "stopped");
    b.wait_for(&format!("{} === 'failed'", state_of("scratch")), 5, "the run ended").await;
    let exit = b.eval(&format!("document.querySelector('{CELL} [data-role=exit]').textContent")).await;
    let exit = exit.as_str().unwrap();
    assert!(exit.starts_with("已中断"), "Python was interrupted (KeyboardInterrupt), not replaced: {exit}");

    // The other language of the interface: the button, the player and its notice follow the switch.
    let notice = format!("document.querySelector('{CELL} [data-role=visual-notice]').textContent");
    assert!(b.eval(&notice).await.as_str().unwrap().starts_with("记录被"), "the notice in Chinese first");
    b.click("[data-action=language]").await;
    b.wait_for(&format!("document.querySelector('{CELL} [data-action=visualise]').textContent.includes('Step through')"), 5, "English").await;
    let label = b.eval(&format!("document.querySelector('{CELL} [data-action=step-last]').getAttribute('aria-label')")).await;
    assert_eq!(label, "Last step");
    assert!(b.eval(&notice).await.as_str().unwrap().starts_with("Recording stopped: the first"), "the notice in English");
    b.click("[data-action=language]").await;
}
