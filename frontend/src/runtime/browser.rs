//! The browser runtime: Pyodide in a module Web Worker (frontend/worker/worker.js).
//! Owns the worker, its shared control buffer (interrupt, stdin, wake) and the engine status.

use super::{Event, Handler};
use js_sys::{Int32Array, Object, Reflect, SharedArrayBuffer, Uint8Array};
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

struct Browser {
    worker: Worker,
    control: Int32Array,
    stdin: Uint8Array,
    handlers: HashMap<u32, Handler>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

thread_local! {
    static BROWSER: RefCell<Option<Browser>> = const { RefCell::new(None) };
    static STATUS: RwSignal<Engine> = RwSignal::new(Engine::Loading { fraction: 0.0, message: "engine".into() });
}

/// The engine's status signal.
pub fn status() -> RwSignal<Engine> {
    STATUS.with(|s| *s)
}

/// Starts (or restarts) the worker. Idempotent apart from a restart after `terminate`.
pub fn start() {
    let worker = match adopt_early_worker().map(Ok).unwrap_or_else(|| {
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        Worker::new_with_options("./worker.js", &options)
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
    let buffer = SharedArrayBuffer::new(16 + STDIN_CAPACITY);
    let init = Object::new();
    let _ = Reflect::set(&init, &"type".into(), &"init".into());
    let _ = Reflect::set(&init, &"control".into(), &buffer);
    if let Err(e) = worker.post_message(&init) {
        status().set(Engine::Failed(format!(
            "the page is not cross-origin isolated, so Python cannot share memory with it: {e:?}"
        )));
        return;
    }
    let control = Int32Array::new_with_byte_offset_and_length(&buffer, 0, 4);
    let stdin = Uint8Array::new_with_byte_offset_and_length(&buffer, 16, STDIN_CAPACITY);
    status().set(Engine::Loading { fraction: 0.02, message: "engine".into() });
    BROWSER.with(|b| {
        *b.borrow_mut() = Some(Browser {
            worker,
            control,
            stdin,
            handlers: HashMap::new(),
            _on_message: on_message,
            _on_error: on_error,
        })
    });
}

/// The worker index.html started before the app loaded (taken once; restarts make their own).
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
        WorkerEvent::Ready { ms, .. } => status().set(Engine::Ready { ms }),
        WorkerEvent::LoadFailed { message } => status().set(Engine::Failed(message)),
        WorkerEvent::InputWanted { run_id } => dispatch(run_id, Event::InputWanted, false),
        WorkerEvent::NeedsServer { run_id, reason } => dispatch(run_id, Event::NeedsServer(reason), false),
        WorkerEvent::Run(msg) => {
            let (id, last) = match &msg {
                ServerMsg::Exit(e) => (e.run_id, true),
                ServerMsg::Output { run_id, .. } | ServerMsg::Started { run_id, .. } => (*run_id, false),
                _ => return,
            };
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
    BROWSER.with(|b| {
        if let Some(b) = b.borrow_mut().as_mut() {
            b.handlers.insert(run_id, handler);
        }
    });
    post(&WorkerRequest::Run { run_id, code, namespace, filename });
}

/// Asks the running cell to stop (KeyboardInterrupt), waking input() and sleep().
pub fn interrupt() {
    BROWSER.with(|b| {
        if let Some(b) = b.borrow().as_ref() {
            let _ = js_sys::Atomics::store(&b.control, 0, 2);
            let _ = js_sys::Atomics::add(&b.control, 3, 1);
            let _ = js_sys::Atomics::notify(&b.control, 3);
            let _ = js_sys::Atomics::notify(&b.control, 1);
        }
    });
}

/// Answers a waiting input(): `Some(line)` or `None` for end of input (EOFError).
pub fn send_input(line: Option<String>) {
    BROWSER.with(|b| {
        if let Some(b) = b.borrow().as_ref() {
            match line {
                Some(text) => {
                    let bytes = text.as_bytes();
                    let n = bytes.len().min(STDIN_CAPACITY as usize);
                    b.stdin.subarray(0, n as u32).copy_from(&bytes[..n]);
                    let _ = js_sys::Atomics::store(&b.control, 2, n as i32);
                    let _ = js_sys::Atomics::store(&b.control, 1, 1);
                }
                None => {
                    let _ = js_sys::Atomics::store(&b.control, 1, 2);
                }
            }
            let _ = js_sys::Atomics::notify(&b.control, 1);
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
