//! The browser runtime behaves like python3 in a terminal, from localhost and over plain http
//! as the LAN sees it: input() blocks for the student, Stop interrupts sleeps and ends busy
//! loops, sleep streams what came before it and does not burn the CPU, restart gives a fresh
//! interpreter, and what a browser cannot do is offered to the server.

use classbook_e2e::{on_both_origins, output_of, require_built_page, scratch_path, serve, state_of, Browser, Origin};
use std::time::{Duration, Instant};

on_both_origins!(input_waits_for_the_student_and_close_input_raises_eoferror);
async fn input_waits_for_the_student_and_close_input_raises_eoferror(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    let code = "name = input('名字？')\nprint('你好,', name)\nn = int(input('数字？'))\nprint(n * 2)\n\
                try:\n    input()\nexcept EOFError:\n    print('EOF')\n";
    b.open(&server, &scratch_path("browser", code)).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for("document.querySelector('[data-cell-id=scratch] [data-role=stdin]')", 60, "the input box").await;
    // It takes the keyboard focus, so the student can type at once.
    b.wait_for("document.activeElement === document.querySelector('[data-cell-id=scratch] [data-role=stdin]')", 5, "the focus in the input box").await;
    // The prompt is on screen while Python waits, before any newline was printed.
    assert!(b.eval(&output_of("scratch")).await.as_str().unwrap().contains("名字？"));
    assert_eq!(b.eval(&state_of("scratch")).await, "running");
    b.client.find(fantoccini::Locator::Css("[data-role=stdin]")).await.unwrap().send_keys("小明\n").await.unwrap();
    b.wait_for(&format!("{}.includes('数字？')", output_of("scratch")), 10, "the second prompt").await;
    b.wait_for("document.querySelector('[data-role=stdin]')", 10, "the input box again").await;
    b.client.find(fantoccini::Locator::Css("[data-role=stdin]")).await.unwrap().send_keys("21\n").await.unwrap();
    b.wait_for("document.querySelector('[data-action=eof]')", 10, "the close-input control").await;
    b.click("[data-action=eof]").await;
    b.wait_for(&format!("{} === 'done'", state_of("scratch")), 10, "done").await;
    let out = b.eval(&output_of("scratch")).await;
    assert_eq!(out.as_str().unwrap(), "名字？小明\n你好, 小明\n数字？21\n42\nEOF\n");
}

on_both_origins!(stop_ends_a_busy_loop_and_interrupts_a_sleep_keeping_state);
/// From localhost Stop interrupts a busy loop (KeyboardInterrupt, variables kept); over plain
/// http nothing can reach a computing worker, so Stop replaces it and says the lesson's
/// variables were reset. In both, a sleep is interrupted and the variables survive it.
async fn stop_ends_a_busy_loop_and_interrupts_a_sleep_keeping_state(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("browser", "x = 41\nwhile True:\n    pass\n")).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{} === 'running'", state_of("scratch")), 60, "running").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pressed = Instant::now();
    b.click("[data-cell-id=scratch] [data-action=stop]").await;
    b.wait_for(&format!("{} === 'failed'", state_of("scratch")), 10, "stopped").await;
    let ended = pressed.elapsed();
    println!("e2e ({origin:?}): Stop → busy loop ended in {} ms", ended.as_millis());
    let out = b.eval(&output_of("scratch")).await.as_str().unwrap().to_string();
    let exit = b.eval("document.querySelector('[data-cell-id=scratch] [data-role=exit]').textContent").await;
    match origin {
        Origin::Localhost => {
            assert!(ended < Duration::from_secs(2), "Stop fell back to restarting the worker");
            assert!(out.contains("KeyboardInterrupt"), "{out}");
        }
        Origin::Lan => {
            // The page gives Python 0.5 s to answer before replacing it.
            assert!(ended < Duration::from_secs(2), "the worker was not replaced promptly");
            assert!(exit.as_str().unwrap().contains("重置"), "the student is told the variables were reset: {exit}");
            b.wait_for("document.querySelector('[data-engine=ready]')", 60, "the engine ready again").await;
            b.set_code("scratch", "print('x' in dir())\nx = 41").await;
            assert_eq!(b.run_cell("scratch", 60).await, "False\n", "a fresh interpreter");
        }
    }

    // A long sleep is cut short by Stop, with KeyboardInterrupt, and the variable survives.
    b.set_code("scratch", "print(x + 1)\nimport time\ntime.sleep(30)\n").await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('42')", output_of("scratch")), 10, "42").await;
    let pressed = Instant::now();
    b.click("[data-cell-id=scratch] [data-action=stop]").await;
    b.wait_for(&format!("{} === 'failed'", state_of("scratch")), 10, "sleep stopped").await;
    println!("e2e ({origin:?}): Stop → sleep(30) ended in {} ms", pressed.elapsed().as_millis());
    assert!(b.eval(&output_of("scratch")).await.as_str().unwrap().contains("KeyboardInterrupt"));
    b.set_code("scratch", "print(x)").await;
    assert_eq!(b.run_cell("scratch", 30).await, "41\n", "Stop during a sleep keeps the interpreter");
}

on_both_origins!(a_sleeping_cell_does_not_burn_the_cpu);
async fn a_sleeping_cell_does_not_burn_the_cpu(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("browser", "import time\nprint('asleep')\ntime.sleep(3)\nprint('awake')")).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('asleep')", output_of("scratch")), 60, "the sleep").await;
    let before = b.cpu_time();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = b.cpu_time() - before;
    println!("e2e ({origin:?}): Chromium used {} ms of CPU during 2 s of time.sleep", used.as_millis());
    // A spinning sleep costs a whole core: 2 s of CPU. Waiting costs next to nothing.
    assert!(used < Duration::from_millis(700), "time.sleep spun: {used:?} of CPU in 2 s");
    b.wait_for(&format!("{} === 'done'", state_of("scratch")), 10, "done").await;
    assert_eq!(b.eval(&output_of("scratch")).await, "asleep\nawake\n");
}

on_both_origins!(output_before_a_sleep_shows_while_it_sleeps);
async fn output_before_a_sleep_shows_while_it_sleeps(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    let code = "import time\nprint('before')\nstart = time.monotonic()\ntime.sleep(2)\n\
                print('after', round(time.monotonic() - start))\n";
    b.open(&server, &scratch_path("browser", code)).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('before')", output_of("scratch")), 60, "before").await;
    assert_eq!(b.eval(&state_of("scratch")).await, "running", "'before' must show while the cell sleeps");
    assert!(!b.eval(&output_of("scratch")).await.as_str().unwrap().contains("after"));
    b.wait_for(&format!("{} === 'done'", state_of("scratch")), 10, "done").await;
    assert_eq!(b.eval(&output_of("scratch")).await, "before\nafter 2\n");
}

on_both_origins!(restart_gives_a_fresh_interpreter);
async fn restart_gives_a_fresh_interpreter(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("browser", "y = 5\nprint(y)")).await;
    assert_eq!(b.run_cell("scratch", 60).await, "5\n");
    b.click("[data-action=restart]").await;
    b.wait_for("document.querySelector('[data-engine=ready]')", 60, "the engine ready again").await;
    b.set_code("scratch", "print(y)").await;
    let out = b.run_cell("scratch", 30).await;
    assert!(out.contains("NameError: name 'y' is not defined"), "{out}");
}

on_both_origins!(code_a_browser_cannot_run_is_offered_to_the_server);
async fn code_a_browser_cannot_run_is_offered_to_the_server(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("browser", "import socket\nprint(socket.gethostname())")).await;
    let out = b.run_cell("scratch", 60).await;
    assert!(out.contains("socket"), "{out}");
    assert_eq!(b.eval(&state_of("scratch")).await, "failed");
    b.click("[data-action=run-on-server]").await;
    b.wait_for(&format!("{} === 'done'", state_of("scratch")), 30, "the server run").await;
    assert_eq!(b.eval("document.querySelector('[data-cell-id=scratch]').dataset.runtime").await, "server");
    assert_eq!(b.eval(&output_of("scratch")).await, "sandbox\n");

    // Threads are found when they start.
    b.set_code("scratch", "import threading\nthreading.Thread(target=print).start()").await;
    b.eval("(document.querySelector('[data-cell-id=scratch]').dataset.runtime)").await;
}

on_both_origins!(tracebacks_show_the_cells_lines_without_engine_frames);
async fn tracebacks_show_the_cells_lines_without_engine_frames(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("browser", "def f(n):\n    return 10 / n\n\nf(0)\n")).await;
    let out = b.run_cell("scratch", 60).await;
    assert!(out.starts_with("Traceback (most recent call last):\n  File \"<scratch>\", line 4"), "{out}");
    assert!(out.contains("    return 10 / n\n"), "{out}");
    assert!(out.ends_with("ZeroDivisionError: division by zero\n"), "{out}");
    assert!(!out.contains("_pyodide") && !out.contains("runner.py"), "{out}");
    let stderr = b.eval("document.querySelector('[data-cell-id=scratch] .stderr') !== null").await;
    assert_eq!(stderr, true, "stderr is shown apart from stdout");
    b.set_code("scratch", "print('a'\n").await;
    let out = b.run_cell("scratch", 30).await;
    assert!(out.contains("^") && out.contains("SyntaxError"), "{out}");
}

on_both_origins!(files_json_pickle_and_asyncio_work_in_the_browser);
async fn files_json_pickle_and_asyncio_work_in_the_browser(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    let code = "import json, pickle, os, asyncio\n\
                with open('data.json', 'w', encoding='utf-8') as f:\n    json.dump({'名字': '小明'}, f, ensure_ascii=False)\n\
                with open('data.json', encoding='utf-8') as f:\n    print(json.load(f))\n\
                pickle.dump([1, 2], open('p.bin', 'wb'))\nprint(pickle.load(open('p.bin', 'rb')))\n\
                print(os.getcwd())\n\
                async def twice(x):\n    await asyncio.sleep(0.05)\n    return 2 * x\n\
                async def main():\n    return await asyncio.gather(twice(1), twice(2))\n\
                print(asyncio.run(main()))\n";
    b.open(&server, &scratch_path("browser", code)).await;
    let out = b.run_cell("scratch", 60).await;
    assert_eq!(out, "{'名字': '小明'}\n[1, 2]\n/home/student/scratch\n[2, 4]\n");
}

on_both_origins!(stop_replaces_an_engine_stuck_in_c_code_and_says_state_was_lost);
async fn stop_replaces_an_engine_stuck_in_c_code_and_says_state_was_lost(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    // sum() over a huge range loops in C and never looks at the interrupt buffer.
    b.open(&server, &scratch_path("browser", "kept = 1\nprint('start')\nsum(range(10**13))\n")).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('start')", output_of("scratch")), 60, "start").await;
    b.click("[data-cell-id=scratch] [data-action=stop]").await;
    b.wait_for(&format!("{} === 'failed'", state_of("scratch")), 15, "the engine replaced").await;
    let exit = b.eval("document.querySelector('[data-cell-id=scratch] [data-role=exit]').textContent").await;
    assert!(exit.as_str().unwrap().contains("重启"), "the student is told Python was restarted: {exit}");
    // A fresh interpreter answers, and the old variable is gone.
    b.wait_for("document.querySelector('[data-engine=ready]')", 60, "the new engine").await;
    b.set_code("scratch", "print('alive')\nprint('kept' in dir())").await;
    assert_eq!(b.run_cell("scratch", 60).await, "alive\nFalse\n");
}

on_both_origins!(stop_for_a_run_waiting_its_turn_ends_only_that_run);
/// Browser runs take turns in the one worker, and the page shows a run as running once sent.
/// Stop for a run still waiting behind another (or pressed the instant a run was sent) must end
/// that run, not the one before it, and must not replace the engine the other is using.
async fn stop_for_a_run_waiting_its_turn_ends_only_that_run(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/closures").await;
    b.wait_for("document.querySelector('[data-engine=ready]')", 90, "the engine ready").await;
    // The first computes for 3 s without a sleep; the second would loop for ever.
    b.set_code("greeter", "import time\nkept = 7\nend = time.time() + 3\nwhile time.time() < end:\n    pass\nprint('first done')\n").await;
    b.set_code("inspect", "print('second started')\nwhile True:\n    pass\n").await;
    b.click("[data-cell-id=greeter] [data-action=run]").await;
    b.wait_for(&format!("{} === 'running'", state_of("greeter")), 30, "the first running").await;
    b.click("[data-cell-id=inspect] [data-action=run]").await;
    b.wait_for("document.querySelector('[data-cell-id=inspect] [data-action=stop]')", 10, "the second's Stop").await;
    b.click("[data-cell-id=inspect] [data-action=stop]").await;
    b.wait_for(&format!("{} === 'done'", state_of("greeter")), 30, "the first run's end").await;
    assert_eq!(b.eval(&output_of("greeter")).await, "first done\n", "the first run was not interrupted");
    b.wait_for(&format!("{} === 'failed'", state_of("inspect")), 30, "the second stopped").await;
    let out = b.eval(&output_of("inspect")).await;
    let exit = b.eval("document.querySelector('[data-cell-id=inspect] [data-role=exit]').textContent").await;
    match origin {
        // Shared memory: the waiting run meets its Stop as it starts, before its first line.
        Origin::Localhost => {
            let out = out.as_str().unwrap();
            assert!(out.contains("KeyboardInterrupt") && !out.contains("second started"), "output {out}, exit {exit}");
            b.set_code("inspect", "print(kept)").await;
            assert_eq!(b.run_cell("inspect", 30).await, "7\n", "the engine was kept");
        }
        // Plain http: nothing reaches a computing worker, so the engine is replaced, but only
        // once the waiting run has its turn (the first run ended intact, above).
        Origin::Lan => assert!(exit.as_str().unwrap().contains("重置"), "output {out}, exit {exit}"),
    }
}
