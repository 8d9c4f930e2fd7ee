//! Benchmark (not a test): a server run with 10,000 recorded events (5,000 loopback datagrams
//! and their 5,000 `sendto` calls) in headless Chromium, against the same page and program
//! without them. Prints time from Run to everything drawn, long tasks while the events stream,
//! the latency of typing into the cell's editor and of scrolling with the diagrams shown, and
//! the elements each diagram holds. Run: `cargo run --release -p classbook-e2e --bin
//! bench-packets [samples]` after `scripts/setup.sh --for-tests` built dist/.

use classbook_e2e::{max, median, require_built_page, scratch_path, serve, state_of, Browser, Server};
use serde_json::Value;

/// Datagrams of the loaded run (each is a packet and a recorded `sendto`).
const DATAGRAMS: usize = 5000;

/// The program: `DATAGRAMS` steps paced so the kernel's capture buffer keeps up, each sending a
/// datagram to its own port when `send`; the same time and code path without, for reference.
fn program(send: bool) -> String {
    let send = if send { "True" } else { "False" };
    format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('127.0.0.1', 5005))\n\
         for i in range({DATAGRAMS}):\n    if {send}:\n        s.sendto(b'x', ('127.0.0.1', 5005))\n    if i % 100 == 99:\n        time.sleep(0.01)\n\
         print('done')\n"
    )
}

/// Clicks Run and resolves, timed in the page, once the run is done and the packet diagram
/// accounts for `packets` packets and calls (drawn or counted as not drawn); records the long
/// tasks meanwhile.
const RUN: &str = r#"
    const [expected, done] = [arguments[0], arguments[arguments.length - 1]];
    const cell = document.querySelector('[data-cell-id=scratch]');
    const long = [];
    const obs = new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)));
    obs.observe({ type: 'longtask' });
    const accounted = () => {
        const box = cell.querySelector('[data-role=packets]');
        if (!box) return 0;
        const more = cell.querySelector('[data-action=more-packets]');
        const drawn = box.querySelectorAll('[data-kind=segment], [data-kind=call]').length;
        return drawn + (more ? Number(more.dataset.hidden) : 0);
    };
    const t0 = performance.now();
    cell.querySelector('[data-action=run]').click();
    const check = () => {
        const cut = cell.querySelector('[data-role=packets] ~ [data-kind=cut]') !== null;
        if (cell.dataset.state === 'done' && (accounted() >= expected || cut)) {
            obs.disconnect();
            done({ ms: performance.now() - t0, long_ms: long.reduce((a, b) => a + b, 0), longest_ms: Math.max(0, ...long), accounted: accounted(), cut });
        } else if (performance.now() - t0 > 120000) {
            done({ error: 'not drawn within 120 s: ' + cell.dataset.state + ' ' + accounted() });
        } else {
            requestAnimationFrame(check);
        }
    };
    requestAnimationFrame(check);"#;

/// 40 characters typed into the cell's editor one at a time, then 20 scrolls: for each, the
/// time until the page has drawn the next frame after it. Returns the samples.
const INTERACT: &str = r#"
    const done = arguments[arguments.length - 1];
    const editor = document.querySelector('[data-cell-id=scratch] .cm-content');
    const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    (async () => {
        editor.focus();
        const end = editor.lastChild; // type at the end of the code, in a comment
        const sel = window.getSelection(); sel.selectAllChildren(end); sel.collapseToEnd();
        document.execCommand('insertText', false, '\n# ');
        await frame();
        const typing = [], scrolling = [];
        for (let i = 0; i < 40; i++) {
            const t = performance.now();
            document.execCommand('insertText', false, 'x');
            await frame();
            typing.push(performance.now() - t);
        }
        for (let i = 0; i < 20; i++) {
            const t = performance.now();
            window.scrollBy(0, i % 2 ? -400 : 400);
            await frame();
            scrolling.push(performance.now() - t);
        }
        const count = (css) => { const e = document.querySelector('[data-cell-id=scratch] ' + css); return e ? e.querySelectorAll('*').length : 0; };
        done({ typing, scrolling, packets_elements: count('[data-role=packets]'), timeline_elements: count('[data-role=timeline]') });
    })();"#;

struct Sample {
    run_ms: f64,
    long_ms: f64,
    longest_ms: f64,
    typing: Vec<f64>,
    scrolling: Vec<f64>,
    packets_elements: u64,
    timeline_elements: u64,
}

async fn sample(server: &Server, send: bool) -> Sample {
    let b = Browser::start().await;
    b.open(server, &scratch_path("server", &program(send))).await;
    b.wait_for("document.querySelector('[data-cell-id=scratch] .cm-content')", 30, "the editor").await;
    // A first run warms the sandbox up; the measured run is the second.
    b.run_cell("scratch", 120).await;
    let expected = if send { 2 * DATAGRAMS } else { 0 };
    let run = b.client.execute_async(RUN, vec![Value::from(expected)]).await.expect("run timing");
    assert!(run.get("error").is_none(), "{run}");
    if run["cut"] == Value::Bool(true) {
        eprintln!("the recording was cut (the kernel dropped packets): {run}");
    }
    assert_eq!(b.eval(&state_of("scratch")).await, "done");
    let i = b.client.execute_async(INTERACT, vec![]).await.expect("interaction timings");
    let nums = |v: &Value| serde_json::from_value::<Vec<f64>>(v.clone()).unwrap();
    let s = Sample {
        run_ms: run["ms"].as_f64().unwrap(),
        long_ms: run["long_ms"].as_f64().unwrap(),
        longest_ms: run["longest_ms"].as_f64().unwrap(),
        typing: nums(&i["typing"]),
        scrolling: nums(&i["scrolling"]),
        packets_elements: i["packets_elements"].as_u64().unwrap(),
        timeline_elements: i["timeline_elements"].as_u64().unwrap(),
    };
    b.close().await;
    s
}



#[tokio::main]
async fn main() {
    require_built_page();
    let samples: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let server = serve(None).await;
    let (mut plain, mut loaded) = (Vec::new(), Vec::new());
    for i in 0..samples {
        eprintln!("sample {}/{samples}", i + 1);
        plain.push(sample(&server, false).await);
        loaded.push(sample(&server, true).await);
    }
    let pick = |set: &[Sample], f: &dyn Fn(&Sample) -> f64| median(&set.iter().map(f).collect::<Vec<_>>());
    let all = |set: &[Sample], f: &dyn Fn(&Sample) -> &Vec<f64>| set.iter().flat_map(|s| f(s).clone()).collect::<Vec<f64>>();
    let row = |name: &str, reference: f64, ours: f64, goal: &str| {
        println!("{name:<44} {reference:>10.1} ms {ours:>10.1} ms {:>8.2}×   goal {goal}", ours / reference.max(0.1));
    };
    println!("\n{:<44} {:>13} {:>13} {:>9}", "median of samples", "no events", "10,000 events", "ratio");
    row("Run → all drawn (both runs paced ~0.5 s)", pick(&plain, &|s| s.run_ms), pick(&loaded, &|s| s.run_ms), "≤ 2×");
    row("long tasks during the run, total", pick(&plain, &|s| s.long_ms), pick(&loaded, &|s| s.long_ms), "(informative)");
    row("longest task during the run", pick(&plain, &|s| s.longest_ms), pick(&loaded, &|s| s.longest_ms), "≤ 100 ms");
    let (tp, tl) = (all(&plain, &|s| &s.typing), all(&loaded, &|s| &s.typing));
    row("typing a key → next frame, median", median(&tp), median(&tl), "≤ 1.5×");
    row("typing a key → next frame, worst", max(&tp), max(&tl), "≤ 100 ms");
    let (sp, sl) = (all(&plain, &|s| &s.scrolling), all(&loaded, &|s| &s.scrolling));
    row("scrolling 400 px → next frame, median", median(&sp), median(&sl), "≤ 1.5×");
    let last = loaded.last().unwrap();
    println!(
        "elements drawn with 10,000 events: packet diagram {}, timeline {}",
        last.packets_elements, last.timeline_elements
    );
}
