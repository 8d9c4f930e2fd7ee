//! The settings panel: the colour theme (the system's by default, or light/dark chosen and
//! remembered) and "erase all my data" (after a confirmation).

use crate::i18n::tr;
use crate::storage;
use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

fn stored_theme() -> Theme {
    match storage::get("theme").as_deref() {
        Some("light") => Theme::Light,
        Some("dark") => Theme::Dark,
        _ => Theme::System,
    }
}

/// Puts the theme on `<html data-theme>` (style.css reads it; absent: the system's).
pub fn apply_theme(theme: Theme) {
    let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) else { return };
    match theme {
        Theme::System => {
            let _ = root.remove_attribute("data-theme");
        }
        t => {
            let _ = root.set_attribute("data-theme", t.as_str());
        }
    }
}

/// Applies the remembered theme; called before the page renders.
pub fn init() {
    apply_theme(stored_theme());
}

#[component]
pub fn SettingsButton() -> impl IntoView {
    let open = RwSignal::new(false);
    let theme = RwSignal::new(stored_theme());
    let erasing = RwSignal::new(false);
    let choose = move |t: Theme| {
        theme.set(t);
        if t == Theme::System {
            storage::remove("theme");
        } else {
            storage::set("theme", t.as_str());
        }
        apply_theme(t);
    };
    let erase = move |_| {
        storage::erase_all();
        // Everything on screen came from what was just erased: start again from nothing.
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    };
    let radio = move |t: Theme, key: &'static str| {
        view! {
            <label>
                <input type="radio" name="theme" value=t.as_str() data-theme-choice=t.as_str()
                    prop:checked=move || theme.get() == t on:change=move |_| choose(t)/>
                {move || tr(key)}
            </label>
        }
    };
    view! {
        <button data-action="settings" aria-label=move || tr("settings") aria-expanded=move || open.get().to_string()
            aria-controls="settings-panel" on:click=move |_| open.update(|o| *o = !*o)>
            "⚙"<span class="label">" "{move || tr("settings")}</span>
        </button>
        <Show when=move || open.get()>
            <div id="settings-panel" class="panel" role="dialog" aria-labelledby="settings-title"
                on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Escape" { open.set(false) }>
                <h2 id="settings-title">{move || tr("settings")}</h2>
                <fieldset>
                    <legend>{move || tr("theme")}</legend>
                    {radio(Theme::System, "theme-system")}
                    {radio(Theme::Light, "theme-light")}
                    {radio(Theme::Dark, "theme-dark")}
                </fieldset>
                <Show when=move || !erasing.get()>
                    <button class="danger" data-action="erase" on:click=move |_| erasing.set(true)>{move || tr("erase")}</button>
                </Show>
                <Show when=move || erasing.get()>
                    <p role="alert">{move || tr("erase-confirm")}</p>
                    <button class="danger" data-action="erase-yes" on:click=erase>{move || tr("erase-yes")}</button>
                    " "
                    <button data-action="cancel" on:click=move |_| erasing.set(false)>{move || tr("cancel")}</button>
                </Show>
                <p><button data-action="close" on:click=move |_| open.set(false)>{move || tr("close")}</button></p>
            </div>
        </Show>
    }
}
