//! Where cells run. Both runtimes deliver the same `Event`s to a per-run handler, so a cell
//! does not care whether its code runs in the browser (`browser`) or the sandbox (`server`).

pub mod browser;
pub mod server;

use shared::visualise::Trace;
use shared::wire::ServerMsg;
use std::cell::Cell;
use std::rc::Rc;

/// What a cell hears about one of its runs.
#[derive(Clone, Debug)]
pub enum Event {
    Msg(ServerMsg),
    /// The browser engine waits for a line of input.
    InputWanted,
    /// The code needs what a browser cannot do (the reason, in words).
    NeedsServer(String),
    /// The trace of a run stepped through (just before its exit); none if the tracer gave none.
    Visual(Option<Trace>),
}

pub type Handler = Rc<dyn Fn(Event)>;

thread_local! {
    static NEXT_RUN: Cell<u32> = const { Cell::new(1) };
}

/// 128 random bits from the browser's CSPRNG, as hex (the student's token, a relay channel).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A run id unique within this page.
pub fn next_run_id() -> u32 {
    NEXT_RUN.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}
