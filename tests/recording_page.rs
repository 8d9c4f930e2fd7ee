//! A server run's recordings in headless Chromium (from the LAN origin): the echo demo's packets
//! drawn per conversation with its socket calls (each lane labelled with the program owning its
//! port), a pool's tasks on the lanes of the workers that ran them, an asyncio run's task turns
//! and its loop's sleep on its one thread, and a deadlock's timeline with the cycle of waits
//! shown while the program hangs and after Stop.

use classbook_e2e::{require_built_page, scratch_path, serve, state_of, Browser, Origin};

const ECHO: &str = "import socket, threading\n\
srv = socket.create_server(('127.0.0.1', 5000))\n\
def serve():\n    conn, _ = srv.accept()\n    with conn:\n        while data := conn.recv(1024):\n            conn.sendall(data)\n\
t = threading.Thread(target=serve, name='echo-server')\nt.start()\n\
with socket.create_connection(('127.0.0.1', 5000)) as c:\n    c.sendall(b'hello world')\n    print(c.recv(1024))\n\
t.join()\n";

const DEADLOCK: &str = "import threading, time\n\
a, b = threading.Lock(), threading.Lock()\n\
def one():\n    with a:\n        time.sleep(0.2)\n        with b:\n            pass\n\
def two():\n    with b:\n        time.sleep(0.2)\n        with a:\n            pass\n\
threading.Thread(target=one, name='one').start()\n\
threading.Thread(target=two, name='two').start()\n";

const POOLS: &str = "from concurrent.futures import ThreadPoolExecutor\n\
import multiprocessing\n\
def square(n):\n    return n * n\n\
with ThreadPoolExecutor(max_workers=2) as pool:\n    print(sum(pool.map(square, range(6))))\n\
with multiprocessing.Pool(2) as procs:\n    print(procs.apply(square, (7,)))\n";

const TURNS: &str = "import asyncio\n\
async def player(name):\n    for i in range(2):\n        await asyncio.sleep(0)\n\
async def main():\n    await asyncio.gather(asyncio.create_task(player('ping'), name='ping'), asyncio.create_task(player('pong'), name='pong'))\n    await asyncio.sleep(0.1)\n    print('done')\n\
asyncio.run(main())\n";

/// `[attr]` of every element `css` matches under the scratch cell, joined by spaces.
fn attrs(css: &str, attr: &str) -> String {
    format!("Array.from(document.querySelectorAll(`[data-cell-id=scratch] {css}`)).map(e => e.getAttribute('{attr}')).join(' ')")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_echo_demo_a_pool_and_a_deadlock_are_drawn_under_their_runs() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("server", ECHO)).await;
    let out = b.run_cell("scratch", 60).await;
    assert_eq!(out, "b'hello world'\n");
    let packets = "[data-role=packets] [data-kind=segment]";
    b.wait_for(&format!("document.querySelectorAll('[data-cell-id=scratch] {packets}').length >= 8"), 10, "the packets").await;
    let flags = b.eval(&attrs(packets, "data-flags")).await;
    assert!(flags.as_str().unwrap().starts_with("SYN SYN,ACK ACK PSH,ACK"), "{flags}");
    let lens = b.eval(&attrs(&format!("{packets}[data-flags='PSH,ACK']"), "data-len")).await;
    assert_eq!(lens, "11 11", "the message there and back");
    let to_server = b.eval(&attrs(&format!("{packets}[data-dst='5000'][data-flags='SYN']"), "data-proto")).await;
    assert_eq!(to_server, "tcp");
    let calls = b.eval(&attrs("[data-role=packets] [data-kind=call]", "data-op")).await;
    let calls = calls.as_str().unwrap();
    for op in ["connect", "accept", "sendall", "recv"] {
        assert!(calls.split(' ').any(|c| c == op), "{op} in {calls}");
    }
    let sent = b.eval(&attrs("[data-role=packets] [data-kind=call][data-op=sendall]", "data-len")).await;
    assert_eq!(sent, "11 11");
    // Each lane of the diagram is labelled with the program owning its port: the server's with
    // the thread that accepted, the client's with the main process.
    let owners = b.eval(&attrs("[data-role=packets] [data-kind=conversation] [data-kind=end]", "data-owner")).await;
    let server_end = b.eval(&attrs("[data-role=packets] [data-kind=end][data-port='5000']", "data-owner")).await;
    assert!(server_end.as_str().unwrap().starts_with("MainProcess (pid ") && server_end.as_str().unwrap().ends_with(" · echo-server"), "{owners}");
    let client_end = b.eval("document.querySelector(`[data-cell-id=scratch] [data-role=packets] [data-kind=end]:not([data-port='5000'])`).dataset.owner").await;
    assert!(client_end.as_str().unwrap().starts_with("MainProcess (pid ") && !client_end.as_str().unwrap().contains('·'), "{owners}");
    let lanes = b.eval(&attrs("[data-role=timeline] [data-kind=lane]", "data-name")).await;
    assert!(lanes.as_str().unwrap().contains("echo-server"), "{lanes}");

    // A pool: each task on the lane of the worker (thread or process) that ran it.
    b.open(&server, &scratch_path("server", POOLS)).await;
    assert_eq!(b.run_cell("scratch", 60).await, "55\n49\n");
    let tasks = "[data-role=timeline] [data-kind=task]";
    b.wait_for(&format!("document.querySelectorAll('[data-cell-id=scratch] {tasks}').length >= 7"), 10, "the tasks").await;
    // Each as "process/thread:function(arguments)", the lanes it sits on.
    let on_lanes = b
        .eval(&format!(
            "Array.from(document.querySelectorAll('[data-cell-id=scratch] {tasks}')).map(t => {{ \
               const lane = t.closest('[data-kind=lane]'); \
               const proc = document.querySelector(`[data-cell-id=scratch] [data-role=timeline] [data-kind=lane][data-pid='${{lane.dataset.pid}}']:not([data-tid])`); \
               return proc.dataset.name + '/' + lane.dataset.name + ':' + t.dataset.name + '(' + t.dataset.args + ')'; }}).join('|')"
        ))
        .await;
    let on_lanes: Vec<&str> = on_lanes.as_str().unwrap().split('|').collect();
    for n in 0..6 {
        let drawn = |t: &&str| t.starts_with("MainProcess/ThreadPoolExecutor-") && t.ends_with(&format!(":square({n})"));
        assert!(on_lanes.iter().any(drawn), "{on_lanes:?}");
    }
    let drawn = |t: &&str| t.starts_with("ForkPoolWorker-") && t.ends_with("/MainThread:square(7)");
    assert!(on_lanes.iter().any(drawn), "the pool process ran it: {on_lanes:?}");

    // asyncio: the tasks' turns in order on the main thread's lane, and the loop asleep in its
    // selector (at the line of `asyncio.run`) while the tasks wait for the timer.
    b.open(&server, &scratch_path("server", TURNS)).await;
    assert_eq!(b.run_cell("scratch", 60).await, "done\n");
    let turns = "[data-role=timeline] [data-kind=lane][data-name=MainThread] [data-kind=task][data-of=asyncio]";
    let sleep = "[data-role=timeline] [data-kind=lane][data-name=MainThread] [data-kind=sleep][data-on=select]";
    b.wait_for(&format!("document.querySelector('[data-cell-id=scratch] {sleep}')"), 10, "the loop's sleep").await;
    assert_eq!(b.eval(&attrs(sleep, "data-line")).await, "9");
    let names = b.eval(&attrs(turns, "data-name")).await;
    let players: Vec<&str> = names.as_str().unwrap().split(' ').filter(|n| *n == "ping" || *n == "pong").collect();
    assert_eq!(players, ["ping", "pong", "ping", "pong", "ping", "pong"], "{names}");
    let legend = b.eval("document.querySelector('[data-cell-id=scratch] .timeline-legend').textContent").await;
    assert!(!legend.as_str().unwrap().is_empty(), "the legend names running, sleeping, waiting");

    // The deadlock: the cycle shows while the program hangs, with both lines, and stays after Stop.
    b.open(&server, &scratch_path("server", DEADLOCK)).await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    let cycle = "document.querySelector('[data-cell-id=scratch] [data-role=timeline] [data-kind=deadlock]')";
    b.wait_for(cycle, 30, "the deadlock").await;
    assert_eq!(b.eval(&state_of("scratch")).await, "running");
    let lines = b.eval(&attrs("[data-role=timeline] [data-kind=wait][data-on=lock]", "data-line")).await;
    let mut lines: Vec<&str> = lines.as_str().unwrap().split(' ').collect();
    lines.sort();
    assert_eq!(lines, ["11", "6"], "the two lines that wait (`with b:` in one, `with a:` in two)");
    let text = b.eval(&format!("{cycle}.textContent")).await;
    assert!(text.as_str().unwrap().contains("one") && text.as_str().unwrap().contains("two"), "{text}");
    b.click("[data-cell-id=scratch] [data-action=stop]").await;
    b.wait_for(&format!("{} !== 'running'", state_of("scratch")), 20, "the stop").await;
    assert!(b.eval(&format!("{cycle} !== null")).await.as_bool().unwrap(), "the cycle is still shown after Stop");
    b.close().await;
}
