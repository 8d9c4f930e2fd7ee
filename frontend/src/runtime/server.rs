//! The server runtime: one WebSocket to `/api/session`, reconnected when it drops.
//! Sends `ClientMsg`s, routes `ServerMsg`s to the run that they belong to.

use super::{Event, Handler};
use leptos::prelude::*;
use shared::wire::{ClientMsg, ExitInfo, Refusal, ServerMsg};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    Connecting,
    Open,
    Closed,
}

struct Server {
    ws: WebSocket,
    /// Messages sent before the socket opened.
    backlog: Vec<String>,
    handlers: HashMap<u32, Handler>,
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

thread_local! {
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
    static LINK: RwSignal<Link> = RwSignal::new(Link::Connecting);
    /// Why the server last refused this page (cleared when a session opens).
    static REFUSED: RwSignal<Option<Refusal>> = RwSignal::new(None);
    static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn link() -> RwSignal<Link> {
    LINK.with(|l| *l)
}

pub fn refused() -> RwSignal<Option<Refusal>> {
    REFUSED.with(|r| *r)
}

/// What the student is told about a refusal, in the page's language.
pub fn refusal_text(r: &Refusal) -> String {
    use crate::i18n::tr;
    match r {
        Refusal::JoinFirst => tr("refused-join").to_string(),
        Refusal::ClassFull { students } => format!("{} ({students})", tr("refused-full")),
        Refusal::TooManyNew => tr("refused-new").to_string(),
        Refusal::TooManyPages { max } => format!("{} ({max})", tr("refused-pages")),
        Refusal::Stopping => tr("refused-stopping").to_string(),
        Refusal::Failed { message } => format!("{}: {message}", tr("refused-failed")),
        Refusal::Removed => tr("refused-removed").to_string(),
    }
}

/// Connects again now (after joining, the server admits this page).
pub fn reconnect() {
    let open = SERVER.with(|s| s.borrow().as_ref().is_some_and(|s| s.ws.ready_state() == WebSocket::OPEN));
    if !open && STARTED.with(|s| s.get()) {
        if let Some(s) = SERVER.with(|s| s.borrow_mut().take()) {
            let _ = s.ws.close();
        }
        connect();
    }
}

/// The student's token, kept in the browser, so a reload or a dropped connection finds the
/// same sandbox (and files) on the server.
pub fn token() -> String {
    if let Some(t) = crate::storage::get("token") {
        return t;
    }
    let t = super::random_hex();
    crate::storage::set("token", &t);
    t
}

fn url() -> String {
    let loc = web_sys::window().expect("window").location();
    let scheme = if loc.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{}/api/session?token={}", loc.host().unwrap_or_default(), token())
}

/// Opens the WebSocket the first time it is called; after that it reconnects by itself.
pub fn start() {
    if !STARTED.with(|s| s.replace(true)) {
        connect();
    }
}

fn connect() {
    let Ok(ws) = WebSocket::new(&url()) else {
        link().set(Link::Closed);
        return;
    };
    link().set(Link::Connecting);
    let on_open = Closure::<dyn FnMut(JsValue)>::new(|_| {
        link().set(Link::Open);
        SERVER.with(|s| {
            if let Some(s) = s.borrow_mut().as_mut() {
                for text in s.backlog.drain(..) {
                    let _ = s.ws.send_with_str(&text);
                }
            }
        });
        crate::class::connected();
    });
    let on_message = Closure::<dyn FnMut(JsValue)>::new(|ev: JsValue| {
        let ev: MessageEvent = ev.unchecked_into();
        if let Some(text) = ev.data().as_string() {
            match serde_json::from_str::<ServerMsg>(&text) {
                Ok(msg) => on_message(msg),
                Err(e) => web_sys::console::error_1(&format!("bad server message: {e}").into()),
            }
        }
    });
    let on_close = Closure::<dyn FnMut(JsValue)>::new(|_| {
        link().set(Link::Closed);
        let handlers = SERVER.with(|s| s.borrow_mut().take().map(|s| s.handlers)).unwrap_or_default();
        for (run_id, h) in handlers {
            let reason = Some("the connection to the class server was lost".to_string());
            h(Event::Msg(ServerMsg::Exit(ExitInfo { run_id, reason, ..Default::default() })));
        }
        // Try again shortly; a restarted server or a Wi-Fi blip should not need a reload. A
        // refused page asks again less often (joining reconnects it at once).
        let wait = if refused().get_untracked().is_some() { 10_000 } else { 1500 };
        gloo_timeout(wait, || {
            let idle = SERVER.with(|s| s.borrow().is_none());
            if idle {
                connect();
            }
        });
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    SERVER.with(|s| {
        *s.borrow_mut() =
            Some(Server { ws, backlog: Vec::new(), handlers: HashMap::new(), _callbacks: vec![on_open, on_message, on_close] })
    });
}

fn gloo_timeout(ms: i32, f: fn()) {
    let cb = Closure::once_into_js(f);
    let _ = web_sys::window()
        .expect("window")
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), ms);
}

fn on_message(msg: ServerMsg) {
    let (id, last) = match &msg {
        ServerMsg::Exit(e) => (e.run_id, true),
        ServerMsg::Error { run_id: Some(id), .. } => (*id, true),
        ServerMsg::Output { run_id, .. }
        | ServerMsg::Started { run_id, .. }
        | ServerMsg::Queued { run_id, .. }
        | ServerMsg::Listening { run_id }
        | ServerMsg::TftpCheck { run_id, .. }
        | ServerMsg::Checked { run_id, .. }
        | ServerMsg::Packet { run_id, .. }
        | ServerMsg::Activity { run_id, .. }
        | ServerMsg::RecordingCut { run_id, .. } => (*run_id, false),
        ServerMsg::Hello { hand, .. } => {
            crate::class::hand_known(*hand);
            return refused().set(None);
        }
        ServerMsg::Refused { reason } => {
            match reason {
                Refusal::JoinFirst => crate::class::ask_to_join(),
                Refusal::Removed => crate::class::removed(),
                _ => {}
            }
            return refused().set(Some(reason.clone()));
        }
        // Class-wide messages: a banner, navigation, a lesson reload, a refused session.
        ServerMsg::Notice { .. }
        | ServerMsg::Goto { .. }
        | ServerMsg::CourseChanged { .. }
        | ServerMsg::Error { run_id: None, .. }
        | ServerMsg::WorkRefused { .. }
        | ServerMsg::HandAnswered
        | ServerMsg::ResetCell { .. }
        | ServerMsg::Renamed { .. } => return crate::class::on_message(msg),
    };
    let handler = SERVER.with(|s| {
        let mut s = s.borrow_mut();
        let s = s.as_mut()?;
        if last {
            s.handlers.remove(&id)
        } else {
            s.handlers.get(&id).cloned()
        }
    });
    if let Some(h) = handler {
        h(Event::Msg(msg));
    }
}

/// Sends a message; `handler` (for a `Run`) receives that run's events.
pub fn send(msg: &ClientMsg, handler: Option<(u32, Handler)>) {
    let text = serde_json::to_string(msg).expect("client messages serialize");
    if text.len() > shared::wire::MAX_CLIENT_MESSAGE {
        if let Some((run_id, h)) = handler {
            let message = format!(
                "{} ({} KiB > {} KiB)",
                crate::i18n::tr_now("run-too-large"),
                text.len() >> 10,
                shared::wire::MAX_CLIENT_MESSAGE >> 10
            );
            h(Event::Msg(ServerMsg::Error { run_id: Some(run_id), message }));
        }
        return;
    }
    let delivered = SERVER.with(|s| {
        let mut s = s.borrow_mut();
        let Some(s) = s.as_mut() else { return false };
        if let Some((id, h)) = handler.clone() {
            s.handlers.insert(id, h);
        }
        if s.ws.ready_state() == WebSocket::OPEN {
            let _ = s.ws.send_with_str(&text);
        } else {
            s.backlog.push(text.clone());
        }
        true
    });
    if !delivered {
        if let Some((run_id, h)) = handler {
            let message = match refused().get_untracked() {
                Some(r) => refusal_text(&r),
                None => crate::i18n::tr_now("server-closed").to_string(),
            };
            h(Event::Msg(ServerMsg::Error { run_id: Some(run_id), message }));
        }
    }
}
