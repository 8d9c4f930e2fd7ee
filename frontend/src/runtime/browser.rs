//! The browser runtime: Pyodide in a module Web Worker (frontend/worker/worker.js).
//! Owns the worker, how it is woken (a shared control buffer, or the server's relay) and the engine status.

use super::{Event, Handler};
use js_sys::{Int32Array, Object, Reflect, Uint8Array};
use leptos::prelude::*;
use shared::wire::{ExitInfo, ServerMsg};
use shared::worker::{WorkerEvent, WorkerRequest};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

/// How the engine is doing, for the progress bar and the cells.
#[derive(Clone, Debug, PartialEq)]
pub enum Engine {
    Loading { fraction: f32, message: String },
    Ready { ms: f64 },
    Failed(String),
}

const STDIN_CAPACITY: u32 = 65536;
/// The shared buffer's control cells before the stdin line (see worker.js for their meaning).
const CONTROL_CELLS: u32 = 8;

/// How the page reaches a worker that is blocked in `input()`, `time.sleep` or a busy loop.
enum Wake {
    /// Cross-origin isolated (localhost, https): memory shared with the worker, which Pyodide
    /// checks for Stop as it runs, so Stop interrupts even a busy loop.
    Shared { control: Int32Array, stdin: Uint8Array },
    /// Plain http from the LAN, where browsers give no shared memory: the worker waits in a
    /// request to the class server's relay (`/api/relay/<channel>`), which this page answers by
    /// posting there. A busy loop cannot be reached: Stop replaces the worker.
    Relay { url: String },
}

struct Browser {
    worker: Worker,
    wake: Wake,
    /// The run whose `input()` waits for a line.
    wants_input: Option<u32>,
    /// The run the worker is running (runs wait their turn there, one at a time).
    running: Option<u32>,
    handlers: HashMap<u32, Handler>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

thread_local! {
    static BROWSER: RefCell<Option<Browser>> = const { RefCell::new(None) };
    /// Whether the page's first run event was seen (its first output is a start-up mark).
    static FIRST_OUTPUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static STATUS: RwSignal<Engine> = RwSignal::new(Engine::Loading { fraction: 0.0, message: "engine".into() });
}

/// The engine's status signal.
pub fn status() -> RwSignal<Engine> {
    STATUS.with(|s| *s)
}

/// Starts the worker unless it was started already (the teacher's page never starts it; a
/// student page reached from there does).
pub fn start_once() {
    if BROWSER.with(|b| b.borrow().is_none()) {
        start();
    }
}

/// Starts (or restarts) the worker. Idempotent apart from a restart after `terminate`.
pub fn start() {
    let worker = match adopt_early_worker().map(Ok).unwrap_or_else(|| {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        Worker::new_with_options(&worker_url(), &options)
    }) {
        Ok(w) => w,
        Err(e) => {
            status().set(Engine::Failed(format!("cannot start the Python worker: {e:?}")));
            return;
        }
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|ev: MessageEvent| {
        if let Some(text) = ev.data().as_string() {
            let events = if text.starts_with('[') {
                serde_json::from_str::<Vec<WorkerEvent>>(&text)
            } else {
                serde_json::from_str::<WorkerEvent>(&text).map(|e| vec![e])
            };
            match events {
                Ok(events) => events.into_iter().for_each(on_event),
                Err(e) => web_sys::console::error_1(&format!("bad worker message {text}: {e}").into()),
            }
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(|ev: web_sys::ErrorEvent| {
        status().set(Engine::Failed(format!("the Python worker failed: {}", ev.message())));
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let init = Object::new();
    let _ = Reflect::set(&init, &"type".into(), &"init".into());
    let wake = match shared_buffer() {
        Some(buffer) => {
            let _ = Reflect::set(&init, &"control".into(), &buffer);
            Wake::Shared {
                control: Int32Array::new_with_byte_offset_and_length(&buffer, 0, CONTROL_CELLS),
                stdin: Uint8Array::new_with_byte_offset_and_length(&buffer, CONTROL_CELLS * 4, STDIN_CAPACITY),
            }
        }
        None => {
            let url = format!("./api/relay/{}", super::random_hex());
            // The worker's own URL is under /v/<version>/: it is told the relay's full address.
            let _ = Reflect::set(&init, &"relay".into(), &page_relative(&url).into());
            Wake::Relay { url }
        }
    };
    if let Err(e) = worker.post_message(&init) {
        status().set(Engine::Failed(format!("the Python worker cannot be reached: {e:?}")));
        return;
    }
    status().set(Engine::Loading { fraction: 0.02, message: "engine".into() });
    BROWSER.with(|b| {
        *b.borrow_mut() = Some(Browser {
            worker,
            wake,
            wants_input: None,
            running: None,
            handlers: HashMap::new(),
            _on_message: on_message,
            _on_error: on_error,
        })
    });
}

/// Whether Stop can interrupt a busy loop (shared memory), or must restart Python (plain http).
pub fn stop_interrupts_busy_loops() -> bool {
    BROWSER.with(|b| b.borrow().as_ref().is_none_or(|b| matches!(b.wake, Wake::Shared { .. })))
}

/// A buffer shared with the worker, where the page is cross-origin isolated (never on plain
/// http from another machine: there `SharedArrayBuffer` does not even exist).
fn shared_buffer() -> Option<js_sys::SharedArrayBuffer> {
    let global = js_sys::global();
    let isolated = Reflect::get(&global, &"crossOriginIsolated".into()).ok()?.as_bool()?;
    let exists = Reflect::get(&global, &"SharedArrayBuffer".into()).ok().is_some_and(|v| v.is_function());
    (isolated && exists).then(|| js_sys::SharedArrayBuffer::new(CONTROL_CELLS * 4 + STDIN_CAPACITY))
}

/// Where start-worker.js found worker.js (its versioned, immutable address), else beside the page.
fn worker_url() -> String {
    let url = web_sys::window().and_then(|w| Reflect::get(&w, &"classbookWorkerURL".into()).ok());
    url.and_then(|u| u.as_string()).unwrap_or_else(|| "./worker.js".into())
}

/// `path` resolved against the page's address.
fn page_relative(path: &str) -> String {
    let base = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    web_sys::Url::new_with_base(path, &base).map(|u| u.href()).unwrap_or_else(|_| path.into())
}

/// The worker worker/start-worker.js started before the app loaded (taken once; restarts make their own).
fn adopt_early_worker() -> Option<Worker> {
    let window = web_sys::window()?;
    let key = JsValue::from_str("classbookWorker");
    let worker = Reflect::get(&window, &key).ok()?.dyn_into::<Worker>().ok()?;
    let _ = Reflect::delete_property(&window, &key);
    Some(worker)
}

fn on_event(event: WorkerEvent) {
    match event {
        WorkerEvent::Progress { fraction, message } => status().set(Engine::Loading { fraction, message }),
        WorkerEvent::Ready { ms, marks, .. } => {
            mark_start(&marks);
            status().set(Engine::Ready { ms })
        }
        WorkerEvent::LoadFailed { message } => status().set(Engine::Failed(message)),
        WorkerEvent::InputWanted { run_id } => {
            BROWSER.with(|b| b.borrow_mut().as_mut().map(|b| b.wants_input = Some(run_id)));
            dispatch(run_id, Event::InputWanted, false)
        }
        WorkerEvent::NeedsServer { run_id, reason } => dispatch(run_id, Event::NeedsServer(reason), false),
        WorkerEvent::Visual { run_id, trace } => dispatch(run_id, Event::Visual(trace), false),
        WorkerEvent::Checked { run_id, records } => {
            // The harness's records, posted by the worker apart from the run's output.
            let report = shared::check::decide(&records, None);
            dispatch(run_id, Event::Msg(ServerMsg::Checked { run_id, report }), false)
        }
        WorkerEvent::Run(msg) => {
            if matches!(msg, ServerMsg::Output { .. }) && !FIRST_OUTPUT.with(|seen| seen.replace(true)) {
                let now = web_sys::window().and_then(|w| w.performance()).map(|p| p.time_origin() + p.now());
                mark_start(&[("first output arrived".into(), now.unwrap_or_default())]);
            }
            let (id, last) = match &msg {
                ServerMsg::Exit(e) => (e.run_id, true),
                ServerMsg::Output { run_id, .. } | ServerMsg::Started { run_id, .. } => (*run_id, false),
                _ => return,
            };
            let running = match &msg {
                ServerMsg::Started { run_id, .. } => Some(Some(*run_id)),
                ServerMsg::Exit(_) => Some(None),
                _ => None,
            };
            if let Some(running) = running {
                BROWSER.with(|b| b.borrow_mut().as_mut().map(|b| b.running = running));
            }
            dispatch(id, Event::Msg(msg), last);
        }
    }
}

fn dispatch(run_id: u32, event: Event, last: bool) {
    let handler = BROWSER.with(|b| {
        let mut b = b.borrow_mut();
        let b = b.as_mut()?;
        if last {
            b.handlers.remove(&run_id)
        } else {
            b.handlers.get(&run_id).cloned()
        }
    });
    if let Some(h) = handler {
        h(event);
    }
}

fn post(req: &WorkerRequest) {
    let text = serde_json::to_string(req).expect("worker requests serialize");
    BROWSER.with(|b| {
        if let Some(b) = b.borrow().as_ref() {
            let _ = b.worker.post_message(&text.into());
        }
    });
}

/// Runs `code` in `namespace`; events go to `handler`. The worker queues runs until ready.
pub fn run(run_id: u32, code: String, namespace: String, filename: String, handler: Handler) {
    post_run(WorkerRequest::Run { run_id, code, namespace, filename, check: None }, run_id, handler);
}

/// Runs `code` in a fresh `namespace`, then the exercise's `checks` (shared/src/check.py);
/// the verdict comes to `handler` as `ServerMsg::Checked` before the `Exit`.
pub fn run_checked(run_id: u32, code: String, namespace: String, filename: String, checks: String, handler: Handler) {
    post_run(WorkerRequest::Run { run_id, code, namespace, filename, check: Some(checks) }, run_id, handler);
}

fn post_run(req: WorkerRequest, run_id: u32, handler: Handler) {
    BROWSER.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.handlers.insert(run_id, handler);
        }
    });
    post(&req);
}

/// Runs `code` under the step-through tracer (at most `STEP_LIMIT` steps); the trace comes to
/// `handler` as `Event::Visual` before the run's exit.
pub fn visualise(run_id: u32, code: String, namespace: String, filename: String, handler: Handler) {
    BROWSER.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.handlers.insert(run_id, handler);
        }
    });
    let limit = shared::visualise::STEP_LIMIT;
    post(&WorkerRequest::Visualise { run_id, code, namespace, filename, limit });
}

/// Puts the worker's start steps on the page's performance timeline as "classbook: …" marks
/// (the worker's clock has another origin: they come as epoch milliseconds).
fn mark_start(marks: &[(String, f64)]) {
    let Some(perf) = web_sys::window().and_then(|w| w.performance()) else { return };
    let mark = Reflect::get(&perf, &"mark".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let Some(mark) = mark else { return };
    for (name, epoch) in marks {
        let options = Object::new();
        let _ = Reflect::set(&options, &"startTime".into(), &(epoch - perf.time_origin()).into());
        let _ = mark.call2(&perf, &format!("classbook: {name}").into(), &options);
    }
}

/// Whether run `run_id` was sent to the worker and waits there behind another run.
pub fn waiting_its_turn(run_id: u32) -> bool {
    BROWSER.with(|b| b.borrow().as_ref().is_some_and(|b| b.handlers.contains_key(&run_id) && b.running != Some(run_id)))
}

/// Asks run `run_id` to stop (KeyboardInterrupt), waking its input() and sleep().
pub fn interrupt(run_id: u32) {
    BROWSER.with(|b| {
        let b = b.borrow();
        match b.as_ref().map(|b| &b.wake) {
            Some(Wake::Shared { control, .. }) => {
                // Which run is stopped first; the signal only if the worker is running that
                // run (runs wait their turn in the worker, and Stop for one waiting must not
                // interrupt the one before it). A run not yet started finds its Stop as it
                // starts (worker.js): whichever side comes first, the other sees it.
                let _ = js_sys::Atomics::store(control, 4, run_id as i32);
                if js_sys::Atomics::load(control, 5) == Ok(run_id as i32) {
                    let _ = js_sys::Atomics::store(control, 0, 2);
                }
                let _ = js_sys::Atomics::add(control, 3, 1);
                let _ = js_sys::Atomics::notify(control, 3);
                let _ = js_sys::Atomics::notify(control, 1);
            }
            Some(Wake::Relay { url }) => relay_post(url, serde_json::json!({"kind": "interrupt", "run": run_id})),
            None => {}
        }
    });
}

/// Answers the waiting input(): `Some(line)` or `None` for end of input (EOFError).
pub fn send_input(line: Option<String>) {
    BROWSER.with(|b| {
        let mut b = b.borrow_mut();
        let Some(b) = b.as_mut() else { return };
        let run = b.wants_input.take().unwrap_or_default();
        match (&b.wake, line) {
            (Wake::Shared { control, stdin }, line) => {
                match line {
                    Some(text) => {
                        let bytes = text.as_bytes();
                        let n = bytes.len().min(STDIN_CAPACITY as usize);
                        stdin.subarray(0, n as u32).copy_from(&bytes[..n]);
                        let _ = js_sys::Atomics::store(control, 2, n as i32);
                        let _ = js_sys::Atomics::store(control, 1, 1);
                    }
                    None => {
                        let _ = js_sys::Atomics::store(control, 1, 2);
                    }
                }
                let _ = js_sys::Atomics::notify(control, 1);
            }
            (Wake::Relay { url }, Some(text)) => {
                relay_post(url, serde_json::json!({"kind": "line", "run": run, "data": text}))
            }
            (Wake::Relay { url }, None) => relay_post(url, serde_json::json!({"kind": "eof", "run": run})),
        }
    });
}

/// Posts to the relay; a refusal (a line too long, too many waiting) shows in the console, and
/// the worker's own wait reports an unreachable server to the cell.
fn relay_post(url: &str, body: serde_json::Value) {
    let url = url.to_string();
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = crate::api::fetch("POST", &url, Some(body.to_string()), None).await {
            web_sys::console::warn_1(&format!("classbook: the relay refused: {e}").into());
        }
    });
}

/// Kills the worker (when Python does not answer Stop) and starts a fresh one.
/// Every pending run ends with `reason`.
pub fn terminate_and_restart(reason: &str) {
    let handlers = BROWSER.with(|b| {
        let old = b.borrow_mut().take();
        old.map(|old| {
            old.worker.terminate();
            old.handlers
        })
    });
    for (run_id, h) in handlers.unwrap_or_default() {
        let exit = ExitInfo { run_id, signal: Some(9), reason: Some(reason.to_string()), ..Default::default() };
        h(Event::Msg(ServerMsg::Exit(exit)));
    }
    start();
}
