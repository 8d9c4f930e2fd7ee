//! Joining the class: the name dialog (and access code, when the class has one), the silent
//! rejoin under the remembered name at page load, and the header button to change the name.

use crate::api::{self, HttpError};
use crate::i18n::tr;
use crate::storage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;

/// The longest display name the server accepts (in characters).
const MAX_NAME: usize = 40;

#[derive(Deserialize)]
struct ClassInfo {
    needs_code: bool,
    /// The class's language, if the teacher set one (`--lang`).
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Deserialize)]
struct Joined {
    name: String,
}

/// Why joining failed, kept as a kind so the text follows the language switch.
#[derive(Clone, Debug, PartialEq)]
enum JoinError {
    NameEmpty,
    NameTooLong,
    WrongCode,
    /// The teacher's restore code is unknown, used or too old.
    WrongRestore,
    /// Too many wrong codes in the class just now: every join waits a few seconds.
    TooMany,
    Full(String),
    Unreachable,
    Refused(String),
}

impl JoinError {
    fn from_http(e: HttpError) -> JoinError {
        match e.status {
            None => JoinError::Unreachable,
            Some(403) => JoinError::WrongCode,
            Some(410) => JoinError::WrongRestore,
            Some(429) => JoinError::TooMany,
            Some(503) => JoinError::Full(e.message),
            Some(_) => JoinError::Refused(e.message),
        }
    }

    fn text(&self) -> String {
        match self {
            JoinError::NameEmpty => tr("join-name-empty").to_string(),
            JoinError::NameTooLong => tr("join-name-long").to_string(),
            JoinError::WrongCode => tr("join-wrong-code").to_string(),
            JoinError::WrongRestore => tr("join-wrong-restore").to_string(),
            JoinError::TooMany => tr("join-too-many").to_string(),
            JoinError::Full(m) => format!("{} ({m})", tr("join-full")),
            JoinError::Unreachable => tr("join-unreachable").to_string(),
            JoinError::Refused(m) => format!("{}: {m}", tr("join-refused")),
        }
    }
}

#[derive(Clone, Copy)]
struct State {
    /// The name this browser joined under.
    name: RwSignal<Option<String>>,
    open: RwSignal<bool>,
    needs_code: RwSignal<bool>,
    error: RwSignal<Option<JoinError>>,
}

thread_local! {
    static STATE: State = State {
        name: RwSignal::new(storage::get("name")),
        open: RwSignal::new(false),
        needs_code: RwSignal::new(false),
        error: RwSignal::new(None),
    };
}

fn state() -> State {
    STATE.with(|s| *s)
}

async fn post_join(name: &str, code: Option<String>, restore: Option<String>) -> Result<Joined, HttpError> {
    let body = serde_json::json!({ "token": crate::runtime::server::token(), "name": name, "code": code, "restore": restore });
    api::fetch_json("POST", "/api/join", Some(body.to_string()), None).await
}

/// Page load: asks for a name if this browser never joined, else rejoins silently (the same
/// token keeps the same session, sandbox and results on the server).
pub fn resume() {
    let s = state();
    let stored = s.name.get_untracked();
    if stored.is_none() {
        s.open.set(true);
    }
    // Runs before the app mounts (and so before leptos' executor exists): spawn directly.
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = api::fetch_json::<ClassInfo>("GET", "/api/class", None, None).await {
            s.needs_code.set(info.needs_code);
            crate::i18n::follow_class(info.lang.as_deref());
        }
        let Some(name) = stored else { return };
        match post_join(&name, storage::get("code"), None).await {
            Ok(j) => {
                s.name.set(Some(j.name));
                crate::runtime::server::reconnect();
            }
            // Unreachable: the WebSocket keeps retrying; the name is still ours.
            Err(HttpError { status: None, .. }) => {}
            Err(e) => {
                s.error.set(Some(JoinError::from_http(e)));
                s.open.set(true);
            }
        }
    });
}

/// The name the teacher gave this student.
pub fn set_name(name: String) {
    state().name.set(Some(name));
}

/// The server refused the session because this browser has not joined (or the class forgot
/// it): ask again, with the remembered name filled in.
pub fn ask() {
    let s = state();
    if !s.open.get_untracked() {
        s.needs_code.set(true);
        s.name.set(None);
        s.open.set(true);
    }
}

/// The name dialog. Without an access code it sits above the page and can wait ("later");
/// with one it covers the page until this browser has joined, since the class server refuses
/// it until then (a student who joined can close it: renaming asks for the code again).
#[component]
pub fn JoinDialog() -> impl IntoView {
    let s = state();
    move || s.open.get().then(|| {
        let name = RwSignal::new(s.name.get_untracked().or_else(|| storage::get("name")).unwrap_or_default());
        let code = RwSignal::new(storage::get("code").unwrap_or_default());
        let restore = RwSignal::new(String::new());
        let busy = RwSignal::new(false);
        let input = NodeRef::<leptos::html::Input>::new();
        Effect::new(move || {
            if let Some(el) = input.get() {
                let _ = el.focus();
            }
        });
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let n = name.get_untracked().trim().to_string();
            if n.is_empty() {
                return s.error.set(Some(JoinError::NameEmpty));
            }
            if n.chars().count() > MAX_NAME {
                return s.error.set(Some(JoinError::NameTooLong));
            }
            let c = s.needs_code.get_untracked().then(|| code.get_untracked().trim().to_string());
            let r = Some(restore.get_untracked().trim().to_string()).filter(|r| !r.is_empty());
            busy.set(true);
            spawn_local(async move {
                match post_join(&n, c.clone(), r.clone()).await {
                    Ok(j) => {
                        if r.is_some() {
                            // This page is now the student the teacher's code was made for:
                            // their kept code comes back into this browser.
                            if let Err(e) = super::work::restore().await {
                                super::notice::push(format!("{}: {e}", tr("restore-failed")));
                            }
                        }
                        storage::set("name", &j.name);
                        if let Some(c) = c {
                            storage::set("code", &c);
                        }
                        s.name.set(Some(j.name));
                        s.error.set(None);
                        s.open.set(false);
                        // A page the server refused before it joined is admitted now.
                        crate::runtime::server::reconnect();
                    }
                    Err(e) => s.error.set(Some(JoinError::from_http(e))),
                }
                busy.set(false);
            });
        };
        let show_code = move || s.needs_code.get();
        let modal = move || s.needs_code.get() && s.name.get().is_none();
        view! {
            <div class="join-backdrop" class:modal=modal>
                <form class="join" role="dialog" aria-modal=move || modal().to_string()
                    aria-labelledby="join-title" data-role="join" on:submit=submit>
                    <h2 id="join-title">{move || tr("join-title")}</h2>
                    <label>
                        <span>{move || tr("join-name")}</span>
                        <input type="text" node_ref=input data-role="join-name" maxlength="40" autocomplete="nickname"
                            prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                    </label>
                    <Show when=show_code>
                        <label>
                            <span>{move || tr("join-code")}</span>
                            <input type="text" data-role="join-code" autocomplete="off"
                                prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev))/>
                        </label>
                    </Show>
                    <details class="restore" data-role="join-restore">
                        <summary>{move || tr("join-restore")}</summary>
                        <p class="muted">{move || tr("join-restore-help")}</p>
                        <label>
                            <span>{move || tr("join-restore-code")}</span>
                            <input type="text" data-role="join-restore-code" autocomplete="off" inputmode="numeric" maxlength="8"
                                prop:value=move || restore.get() on:input=move |ev| restore.set(event_target_value(&ev))/>
                        </label>
                    </details>
                    {move || s.error.get().map(|e| view! { <p class="error" role="alert" data-role="join-error">{move || e.text()}</p> })}
                    <div class="join-actions">
                        <button type="submit" class="run" data-action="join" disabled=move || busy.get()>
                            {move || tr("join")}
                        </button>
                        <Show when=move || !modal()>
                            <button type="button" data-action="join-later" on:click=move |_| s.open.set(false)>
                                {move || tr("join-later")}
                            </button>
                        </Show>
                    </div>
                </form>
            </div>
        }
    })
}

/// The header's "who am I" button: the joined name, or an invitation to join; opens the dialog.
#[component]
pub fn NameButton() -> impl IntoView {
    let s = state();
    view! {
        <button class="name" data-action="change-name" aria-label=move || tr("join-change")
            title=move || tr("join-change") on:click=move |_| { s.error.set(None); s.open.set(true) }>
            {move || match s.name.get() {
                Some(n) => view! { <span data-role="student-name">{n}</span> }.into_any(),
                None => view! { <span>{move || tr("join")}</span> }.into_any(),
            }}
        </button>
    }
}
