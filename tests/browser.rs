//! The page in headless Chromium against a real server: a browser cell runs in Pyodide, a
//! server group (TCP server + client) runs in the sandbox, both show their output.

use classbook_e2e::{exercise_of, on_both_origins, output_of, require_built_page, serve, state_of, Browser, Origin};
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
