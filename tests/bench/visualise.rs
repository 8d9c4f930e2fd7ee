//! Benchmark (not a test): the step-through player in headless Chromium. Prints the time from
//! clicking Step through on a ~1,000-step program to its first step drawn, and the time one step
//! move takes to reach the page at 10,000 steps (the DOM updated and laid out).
//! Run: `cargo run --release -p classbook-e2e --bin bench-visualise [samples]` after `./run test` built dist/.

use classbook_e2e::{max, median, require_built_page, scratch_url, serve, Browser};
use std::time::Duration;

/// About 1,000 steps: a closure counter called in a loop.
const THOUSAND: &str = "def make_counter():\n    count = 0\n    def up():\n        nonlocal count\n        count += 1\n        return count\n    return up\n\nup = make_counter()\nsquares = []\nfor i in range(165):\n    squares.append(up() ** 2)\nprint(len(squares))\n";
/// Past the 10,000-step limit.
const LONG: &str = "total = 0\nfor i in range(6000):\n    total += i\n";

/// Clicks Step through and times, in the page, until the player shows step 1 with its drawing.
const FIRST_STEP: &str = r#"
    const done = arguments[arguments.length - 1];
    const cell = document.querySelector('[data-cell-id=scratch]');
    const drawn = () => {
        const v = cell.querySelector('[data-role=visualiser]');
        return v && v.querySelector('[data-role=step]')?.textContent.startsWith('1 / ')
            && v.querySelector('[data-role=visual-drawing] [data-kind=frame]');
    };
    const t0 = performance.now();
    const obs = new MutationObserver(() => {
        if (drawn()) {
            obs.disconnect();
            cell.querySelector('[data-role=visualiser]').getBoundingClientRect();
            const steps = cell.querySelector('[data-role=visualiser] [data-role=step]').textContent;
            done([performance.now() - t0, steps]);
        }
    });
    obs.observe(cell, { subtree: true, childList: true, characterData: true, attributes: true });
    cell.querySelector('[data-action=visualise]').click();"#;

/// From the last step, `moves` clicks on Back, each timed until the step counter and the
/// drawing changed and the page was laid out again.
const MOVES: &str = r#"
    const [moves, done] = [arguments[0], arguments[arguments.length - 1]];
    const v = document.querySelector('[data-cell-id=scratch] [data-role=visualiser]');
    v.querySelector('[data-action=step-last]').click();
    const times = [];
    const once = () => {
        const before = v.querySelector('[data-role=step]').textContent;
        const t0 = performance.now();
        const obs = new MutationObserver(() => {
            if (v.querySelector('[data-role=step]').textContent !== before) {
                obs.disconnect();
                v.getBoundingClientRect();
                times.push(performance.now() - t0);
                if (times.length < moves) setTimeout(once, 5); else done(times);
            }
        });
        obs.observe(v, { subtree: true, childList: true, characterData: true });
        v.querySelector('[data-action=step-prev]').click();
    };
    setTimeout(once, 50);"#;



#[tokio::main]
async fn main() {
    require_built_page();
    let samples: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let server = serve(None).await;
    let b = Browser::start().await;
    b.goto(&scratch_url(&server, "browser", THOUSAND)).await;
    b.wait_for("document.querySelector('.engine.ready')", 120, "the engine").await;
    let mut first = Vec::new();
    let mut steps = String::new();
    // One run first: it imports the tracer's module.
    for i in 0..=samples {
        let v = b.client.execute_async(FIRST_STEP, vec![]).await.expect("first step timing");
        let ms = v[0].as_f64().unwrap();
        steps = v[1].as_str().unwrap().trim_start_matches("1 / ").to_string();
        if i > 0 {
            first.push(ms);
        }
        b.wait_for("document.querySelector('[data-cell-id=scratch]').dataset.state === 'done'", 30, "the run's end").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    b.set_code("scratch", LONG).await;
    let v = b.client.execute_async(FIRST_STEP, vec![]).await.expect("the long trace");
    let long_steps = v[1].as_str().unwrap().trim_start_matches("1 / ").to_string();
    let long_first = v[0].as_f64().unwrap();
    let moves = b.client.execute_async(MOVES, vec![serde_json::json!(100)]).await.expect("move timings");
    let moves: Vec<f64> = serde_json::from_value(moves).unwrap();
    b.close().await;

    println!("\nstep-through in headless Chromium (localhost), median of {samples} (max):");
    println!(
        "  click Step through → first step drawn, {steps} steps:   {:>7.1} ms ({:.1})   goal ≤ 500 ms",
        median(&first),
        max(&first)
    );
    println!("  click Step through → first step drawn, {long_steps} steps:   {long_first:>7.1} ms");
    println!(
        "  one step move at {long_steps} steps (100 moves):        {:>7.1} ms ({:.1})   goal ≤ 16 ms",
        median(&moves),
        max(&moves)
    );
    let slow = moves.iter().filter(|&&ms| ms > 16.0).count();
    println!("  moves over 16 ms: {slow} of {}", moves.len());
}
