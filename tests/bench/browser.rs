//! Benchmark (not a test): a bare Pyodide page against classbook, in one headless Chromium run.
//! Prints time to first browser output (fresh profile, then a warm revisit) and the cost of
//! running a small cell, each as a ratio to bare Pyodide, then where classbook's start spends
//! its time (the page's "classbook: …" performance marks, median per step). Run: `cargo run --release -p
//! classbook-e2e --bin bench-browser [samples]` after `./run test` or `./run serve` built dist/.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use classbook_e2e::{median, require_built_page, serve_with, Browser};
use serde_json::Value;
use std::time::{Duration, Instant};

const BARE_HTML: &str = r#"<!doctype html><meta charset="utf-8"><title>bare pyodide</title>
<script type="module">
const w = window.bareWorker = new Worker("/bench/bare-worker.js", { type: "module" });
w.onmessage = (e) => { const p = document.createElement("pre"); p.id = e.data.id; p.textContent = e.data.text; document.body.append(p); };
</script>"#;

/// The plainest Pyodide start: a module worker, loadPyodide, runPython; a run is a message
/// round trip from the page, as in classbook.
const BARE_WORKER: &str = r#"import { loadPyodide } from "/pyodide/pyodide.mjs";
const py = await loadPyodide({ indexURL: "/pyodide/" });
py.setStdout({ batched: (s) => self.postMessage({ id: "out", text: s }) });
py.runPython("print(1)");
self.onmessage = (e) => py.runPython(e.data);
"#;

/// 30 round trips page → bare worker → page.
const BARE_RUNS: &str = r#"
    const done = arguments[arguments.length - 1];
    const w = window.bareWorker;
    const times = [];
    const once = () => {
        const t0 = performance.now();
        w.onmessage = () => { times.push(performance.now() - t0); if (times.length < 30) setTimeout(once, 20); else done(times); };
        w.postMessage("print(1)");
    };
    once();"#;

fn isolated(ctype: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
            (header::HeaderName::from_static("cross-origin-embedder-policy"), "require-corp"),
        ],
        body,
    )
}

/// The steps of the page's start, in ms since navigation began: the HTML and the app's files
/// arriving, the "classbook: …" marks (worker.js and runtime/browser.rs), the output seen now.
const START_STEPS: &str = r#"
    const steps = [];
    const nav = performance.getEntriesByType("navigation")[0];
    if (nav) steps.push(["HTML received", nav.responseEnd]);
    for (const r of performance.getEntriesByType("resource")) {
        const file = r.name.split("/").pop().split("?")[0];
        if (/\.(wasm|js)$/.test(file) && !file.startsWith("worker")) {
            const cached = r.transferSize === 0 && r.decodedBodySize > 0 ? " (cache)" : "";
            steps.push([`page fetched ${file.replace(/-[0-9a-f]{16}/, "")}${cached}`, r.responseEnd]);
        }
    }
    for (const m of performance.getEntriesByType("mark")) {
        if (m.name.startsWith("classbook: ")) steps.push([m.name.slice(11), m.startTime]);
    }
    steps.push(["first output seen by the bench", performance.now()]);
    steps.sort((a, b) => a[1] - b[1]);
    return steps;"#;

async fn start_steps(b: &Browser) -> Vec<(String, f64)> {
    let v = b.client.execute(START_STEPS, vec![]).await.expect("start steps");
    serde_json::from_value(v).expect("steps")
}

/// Prints the median time of each start step over the samples, in the order they happen.
fn print_steps(title: &str, samples: &[Vec<(String, f64)>]) {
    let mut names: Vec<(String, f64)> = vec![];
    for s in samples {
        for (name, _) in s {
            if !names.iter().any(|(n, _)| n == name) {
                let at: Vec<f64> = samples.iter().filter_map(|s| s.iter().find(|(n, _)| n == name).map(|(_, t)| *t)).collect();
                names.push((name.clone(), median(&at)));
            }
        }
    }
    names.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
    println!("\n{title} (median ms since navigation began; Δ from the step before)");
    let mut before = 0.0;
    for (name, at) in names {
        println!("  {at:>8.1} ms  (+{:>6.1})  {name}", at - before);
        before = at;
    }
}

async fn first_output(b: &Browser, url: &str, click: bool, done_js: &str) -> Duration {
    let start = Instant::now();
    b.goto(url).await;
    if click {
        b.click("[data-cell-id=scratch] [data-action=run]").await;
    }
    loop {
        if b.eval(done_js).await == Value::Bool(true) {
            return start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(120) {
            panic!("no output from {url} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}


#[tokio::main]
async fn main() {
    require_built_page();
    let samples: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let extra = axum::Router::new()
        .route("/bench/bare.html", get(|| async { isolated("text/html; charset=utf-8", BARE_HTML) }))
        .route("/bench/bare-worker.js", get(|| async { isolated("text/javascript", BARE_WORKER) }));
    let server = serve_with(None, extra).await;
    let base = format!("http://{}", server.addr);
    let bare_url = format!("{base}/bench/bare.html");
    let app_url = format!("{base}/#/scratch?runtime=browser&code={}", shared::link::encode(b"print(1)"));
    let bare_done = "document.getElementById('out') !== null";
    let app_done = "(document.querySelector('[data-cell-id=scratch] [data-role=output]')||{}).textContent === '1\\n'";

    let (mut bare_cold, mut bare_warm, mut app_cold, mut app_warm) = (vec![], vec![], vec![], vec![]);
    let (mut bare_runs, mut app_runs) = (vec![], vec![]);
    let (mut cold_steps, mut warm_steps) = (vec![], vec![]);
    for i in 0..samples {
        eprintln!("sample {}/{samples}", i + 1);
        let b = Browser::start().await;
        bare_cold.push(first_output(&b, &bare_url, false, bare_done).await.as_secs_f64() * 1e3);
        b.goto("about:blank").await;
        bare_warm.push(first_output(&b, &bare_url, false, bare_done).await.as_secs_f64() * 1e3);
        let runs = b.client.execute_async(BARE_RUNS, vec![]).await.expect("bare run timings");
        bare_runs.extend(serde_json::from_value::<Vec<f64>>(runs).unwrap());
        b.close().await;

        let b = Browser::start().await;
        app_cold.push(first_output(&b, &app_url, true, app_done).await.as_secs_f64() * 1e3);
        cold_steps.push(start_steps(&b).await);
        b.goto("about:blank").await;
        app_warm.push(first_output(&b, &app_url, true, app_done).await.as_secs_f64() * 1e3);
        warm_steps.push(start_steps(&b).await);
        app_runs.extend(app_run_times(&b).await);
        b.close().await;
    }
    let row = |name: &str, bare: f64, ours: f64, goal: &str| {
        println!("{name:<34} {bare:>10.1} ms {ours:>10.1} ms {:>8.2}×   goal {goal}", ours / bare);
    };
    println!("\n{:<34} {:>13} {:>13} {:>9}", "median of samples", "bare Pyodide", "classbook", "ratio");
    row("page open → first output, cold", median(&bare_cold), median(&app_cold), "≤ 0.2×");
    row("page open → first output, warm", median(&bare_warm), median(&app_warm), "≤ 0.25× (revisit vs revisit)");
    row("warm classbook vs cold bare", median(&bare_cold), median(&app_warm), "");
    row("small cell run (print(1))", median(&bare_runs), median(&app_runs), "≤ 2×");
    println!("(bare run = page → worker runPython → page; classbook run = Run click → cell done, through the page)");
    print_steps("classbook's cold start", &cold_steps);
    print_steps("classbook's warm start (second visit)", &warm_steps);
}

/// 30 runs of the scratch cell: click Run → the cell reports done, timed in the page.
async fn app_run_times(b: &Browser) -> Vec<f64> {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const cell = document.querySelector('[data-cell-id=scratch]');
        const times = [];
        const once = () => {
            const t0 = performance.now();
            const obs = new MutationObserver(() => {
                if (cell.dataset.state === 'done') {
                    obs.disconnect();
                    times.push(performance.now() - t0);
                    if (times.length < 30) setTimeout(once, 20); else done(times);
                }
            });
            obs.observe(cell, { attributes: true });
            cell.querySelector('[data-action=run]').click();
        };
        once();"#;
    let v = b.client.execute_async(script, vec![]).await.expect("run timings");
    serde_json::from_value(v).expect("numbers")
}
