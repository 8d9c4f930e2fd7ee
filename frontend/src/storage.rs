//! The browser's localStorage, under keys that start with `classbook.`: the one place the
//! page keeps a student's data (language, theme, edits, progress, imported notebook).

const PREFIX: &str = "classbook.";

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn get(key: &str) -> Option<String> {
    local()?.get_item(&format!("{PREFIX}{key}")).ok()?
}

/// Stores `value`; false when the browser refused (storage full or disabled).
pub fn set(key: &str, value: &str) -> bool {
    local().is_some_and(|s| s.set_item(&format!("{PREFIX}{key}"), value).is_ok())
}

pub fn remove(key: &str) {
    if let Some(s) = local() {
        let _ = s.remove_item(&format!("{PREFIX}{key}"));
    }
}

/// Every key (without the `classbook.` prefix) that starts with `prefix`.
pub fn keys(prefix: &str) -> Vec<String> {
    let Some(s) = local() else { return Vec::new() };
    let n = s.length().unwrap_or(0);
    (0..n)
        .filter_map(|i| s.key(i).ok().flatten())
        .filter_map(|k| k.strip_prefix(PREFIX).map(str::to_string))
        .filter(|k| k.starts_with(prefix))
        .collect()
}

pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    serde_json::from_str(&get(key)?).ok()
}

pub fn set_json<T: serde::Serialize>(key: &str, value: &T) -> bool {
    serde_json::to_string(value).is_ok_and(|v| set(key, &v))
}

/// Removes everything classbook stored in this browser.
pub fn erase_all() {
    for k in keys("") {
        remove(&k);
    }
}
