//! The page in headless Chromium against a real server: a browser cell runs in Pyodide, a
//! server group (TCP server + client) runs in the sandbox, both show their output.

use classbook_e2e::{exercise_of, on_both_origins, output_of, require_built_page, scratch_path, serve, state_of, Browser, Origin};
use std::time::Instant;

on_both_origins!(a_browser_cell_and_a_server_group_both_run_from_the_page);
async fn a_browser_cell_and_a_server_group_both_run_from_the_page(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let browser = Browser::start().await;
    let base = server.base();

    // The closures lesson: run the first browser cell as soon as the page shows it.
    let opened = Instant::now();
    browser.open(&server, "/#/lesson/closures").await;
    browser.wait_for("document.querySelector('[data-cell-id=greeter] [data-action=run]')", 30, "the greeter cell").await;
    // From localhost COOP/COEP isolate the page (`open` checked it); from the LAN nothing can.
    assert_eq!(browser.eval(&state_of("greeter")).await, "idle");
    browser.click("[data-cell-id=greeter] [data-action=run]").await;
    browser.wait_for(&format!("{}.includes('小红')", output_of("greeter")), 90, "the greeter output").await;
    let first_output = opened.elapsed();
    browser.wait_for(&format!("{} === 'done'", state_of("greeter")), 10, "greeter done").await;
    let out = browser.eval(&output_of("greeter")).await;
    assert_eq!(out.as_str().unwrap().trim_end(), "你好，小明！\n早上好，小红！\nFalse");
    assert_eq!(browser.eval("document.querySelector('[data-cell-id=greeter]').dataset.runtime").await, "browser");
    println!("e2e ({origin:?}): page open → first browser-cell output: {} ms", first_output.as_millis());

    // Cells share the lesson's namespace in order.
    browser.click("[data-cell-id=counter] [data-action=run]").await;
    browser.wait_for(&format!("{} === 'done'", state_of("counter")), 20, "counter done").await;
    assert!(browser.eval(&output_of("counter")).await.as_str().unwrap().contains("1 2 3"));

    // The TCP lesson: the server+client group talks over the sandbox's loopback.
    browser.goto(&format!("{base}/#/lesson/tcp-echo")).await;
    browser.wait_for("document.querySelector('[data-cell-id=echo] [data-action=run]')", 30, "the echo group").await;
    assert_eq!(browser.eval("document.querySelector('[data-cell-id=echo]').dataset.runtime").await, "server");
    browser.click("[data-cell-id=echo] [data-action=run]").await;
    browser.wait_for(&format!("{} === 'done'", state_of("echo")), 30, "the echo group done").await;
    let out = browser.eval(&output_of("echo")).await;
    let out = out.as_str().unwrap();
    for want in ["客户端收到： HELLO", "客户端收到： TCP", "客户端收到： ECHO", "服务器：客户端已断开，结束"] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    browser.close().await;
}

on_both_origins!(an_exercise_check_says_which_checks_pass_in_the_browser_and_on_the_server);
async fn an_exercise_check_says_which_checks_pass_in_the_browser_and_on_the_server(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    for (lesson, runtime) in [("closures", shared::course::Runtime::Browser), ("tcp-echo", shared::course::Runtime::Server)] {
        let (id, solution) = exercise_of(lesson, runtime);
        b.open(&server, &format!("/#/lesson/{lesson}")).await;
        let verdict = format!("document.querySelector('[data-cell-id=\"{id}\"] [data-role=checks]')");
        // The starter code does not pass.
        b.click(&format!("[data-cell-id=\"{id}\"] [data-action=check]")).await;
        b.wait_for(&verdict, 60, "the first verdict").await;
        assert_eq!(b.eval(&format!("{verdict}.dataset.passed")).await, "false", "{lesson}: the starter code passed");
        // The lesson's solution does.
        b.set_code(&id, &solution).await;
        b.click(&format!("[data-cell-id=\"{id}\"] [data-action=check]")).await;
        b.wait_for(&format!("{verdict} && {verdict}.dataset.passed === 'true'"), 60, "a passing verdict").await;
        let listed = b.eval(&format!("{verdict}.querySelectorAll('li[data-passed=true]').length")).await;
        assert!(listed.as_u64().unwrap() >= 1, "{lesson}: no check listed");
    }
    b.close().await;
}

/// What a Check shows for `cell`: the verdict, counts by status and the error shown first.
async fn verdict_of(b: &Browser, cell: &str) -> serde_json::Value {
    let v = format!("document.querySelector('[data-cell-id=\"{cell}\"] [data-role=checks]')");
    b.eval(&format!(
        "({{passed: {v}.dataset.passed, pass: {v}.querySelectorAll('li[data-status=pass]').length, \
          fail: {v}.querySelectorAll('li[data-status=fail]').length, notRun: {v}.querySelectorAll('li[data-status=not-run]').length, \
          error: {v}.querySelector('[data-role=check-error]')?.textContent ?? '', errorFirst: {v}.firstElementChild?.dataset.role === 'check-error', \
          hints: document.querySelectorAll('[data-cell-id=\"{cell}\"] .hint').length, \
          hintCode: document.querySelector('[data-cell-id=\"{cell}\"] [data-role=hint] code')?.textContent ?? '', \
          hintText: document.querySelector('[data-cell-id=\"{cell}\"] [data-role=hint]')?.textContent ?? ''}})"
    ))
    .await
}

/// Sets `code` in exercise `cell`, presses Check and waits for the new verdict.
async fn check_code(b: &Browser, cell: &str, code: &str) -> serde_json::Value {
    b.set_code(cell, code).await;
    let v = format!("document.querySelector('[data-cell-id=\"{cell}\"] [data-role=checks]')");
    // The last verdict is marked, so the wait is for a new one.
    b.eval(&format!("{v} && ({v}.dataset.seen = '1')")).await;
    b.click(&format!("[data-cell-id=\"{cell}\"] [data-action=check]")).await;
    b.wait_for(&format!("{v} && !{v}.dataset.seen"), 90, "the verdict").await;
    verdict_of(b, cell).await
}

#[tokio::test(flavor = "multi_thread")]
/// The forgeries of issue 15 fail on the page, as the LAN sees it: printing check marks
/// (browser and server), a function that raises before the last check, a missing colon after a
/// pass (the SyntaxError shown, the badge back to not passed); the hint shows once, rendered.
async fn printed_check_marks_a_crash_or_a_syntax_error_never_pass_an_exercise() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    let forged = "print(\"\u{2714} 我写完了\")\n";

    b.open(&server, "/#/lesson/basics2").await;
    b.wait_for("document.querySelector('[data-cell-id=summary] [data-action=check]')", 60, "the summary exercise").await;
    let v = check_code(&b, "summary", forged).await;
    assert_eq!(v["passed"], "false", "{v}");
    assert_eq!((v["pass"].as_u64(), v["notRun"].as_u64()), (Some(0), Some(5)), "every check listed, none ran: {v}");
    assert!(v["error"].as_str().unwrap().contains("NameError"), "{v}");
    // The hint, once, as rendered Markdown (its `*numbers` is code, not backticks).
    assert_eq!(v["hints"], 1, "{v}");
    assert_eq!(v["hintCode"], "*numbers", "{v}");
    assert!(!v["hintText"].as_str().unwrap().contains('`'), "{v}");

    // A pass, then a missing colon: the student's SyntaxError first, and the badge follows.
    let (_, solution) = exercise_of("basics2", shared::course::Runtime::Browser);
    let badge = "document.querySelector('[data-cell-id=summary] [data-role=progress]').dataset.passed";
    let v = check_code(&b, "summary", &solution).await;
    assert_eq!((v["passed"].as_str(), v["pass"].as_u64()), (Some("true"), Some(5)), "{v}");
    assert_eq!(b.eval(badge).await, "true");
    let broken = solution.replacen("precision=2):", "precision=2)", 1);
    assert_ne!(broken, solution);
    let v = check_code(&b, "summary", &broken).await;
    assert_eq!(v["passed"], "false", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("SyntaxError") && !error.contains("NameError"), "{v}");
    assert_eq!(v["errorFirst"], true, "the error comes before the list: {v}");
    assert_eq!(v["notRun"], 5, "{v}");
    assert_eq!(b.eval(badge).await, "false", "the badge shows the latest check");

    // report() that raises on an empty list: three pass, the fourth did not run, no pass.
    b.open(&server, "/#/lesson/basics").await;
    b.wait_for("document.querySelector('[data-cell-id=report] [data-action=check]')", 60, "the report exercise").await;
    let raising = "def report(name, scores):\n    return f\"{name}: {sum(scores) / len(scores):.1f} {max(scores)}\"\n";
    let v = check_code(&b, "report", raising).await;
    assert_eq!((v["passed"].as_str(), v["pass"].as_u64(), v["notRun"].as_u64()), (Some("false"), Some(3), Some(1)), "{v}");
    assert!(v["error"].as_str().unwrap().contains("ZeroDivisionError"), "{v}");

    // The server exercise: printed marks pass nothing there either.
    b.open(&server, "/#/lesson/udp-chat").await;
    b.wait_for("document.querySelector('[data-cell-id=udp-sum] [data-action=check]')", 60, "the udp-sum exercise").await;
    let v = check_code(&b, "udp-sum", forged).await;
    assert_eq!((v["passed"].as_str(), v["pass"].as_u64()), (Some("false"), Some(0)), "{v}");
    assert_eq!(v["notRun"], 4, "{v}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
/// A server program that never reads shows no input box (only an optional "input" button); one
/// that prompts gets the box, focused; a killed program's exit is said in words, not a number.
async fn the_input_box_comes_when_a_program_asks_and_exits_are_said_in_words() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    let quiet = "import time\nprint('working', flush=True)\ntime.sleep(3)\n";
    b.open(&server, &scratch_path("server", quiet)).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('working')", output_of("scratch")), 60, "the program running").await;
    assert_eq!(b.eval("document.querySelector('[data-cell-id=scratch] [data-role=stdin]') === null").await, true, "no input box");
    b.wait_for("document.querySelector('[data-cell-id=scratch] [data-action=open-stdin]')", 5, "the optional input button").await;

    let asks = "name = input('名字？')\nprint('你好', name)\n";
    b.open(&server, &scratch_path("server", asks)).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    let input = "document.querySelector('[data-cell-id=scratch] [data-role=stdin]')";
    b.wait_for(&format!("{input} && document.activeElement === {input}"), 60, "the input box, focused").await;
    b.client.find(fantoccini::Locator::Css("[data-role=stdin]")).await.unwrap().send_keys("小明\n").await.unwrap();
    b.wait_for(&format!("{} === 'done'", state_of("scratch")), 30, "done").await;
    assert!(b.eval(&output_of("scratch")).await.as_str().unwrap().contains("你好 小明"));

    b.open(&server, &scratch_path("server", "import os\nos.kill(os.getpid(), 9)\n")).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    let exit = "document.querySelector('[data-cell-id=scratch] [data-role=exit]')?.textContent";
    let words = b.wait_for(exit, 60, "the exit").await;
    let words = words.as_str().unwrap();
    // The reason, before the CPU and wall times (which may well contain a 9).
    let reason = words.split(" · ").next().unwrap_or_default();
    assert!(reason.contains("程序被强制结束") && !words.contains("信号") && !reason.contains('9'), "{words}");
    b.close().await;
}
