//! The page's Content-Security-Policy: scripts only from this server (and the inline scripts of
//! the built index.html, by hash), WebAssembly allowed, nothing embedded, no other site reached.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// `'sha256-…'` of every inline script in the embedded index.html, found once. Trunk writes
/// the wasm loader inline; our own scripts are files (frontend/index.html).
static SCRIPT_HASHES: LazyLock<String> = LazyLock::new(|| {
    let page = crate::assets::index_html().unwrap_or_default();
    inline_scripts(&String::from_utf8_lossy(&page)).iter().map(|s| format!(" 'sha256-{}'", sha256_base64(s))).collect()
});

/// The policy for an HTML answer to a request addressed to `host` (its `Host` header).
///
/// - `script-src`: this server's files, the page's inline scripts by hash, and
///   `'wasm-unsafe-eval'` (compiling WebAssembly: the app, and Pyodide in its worker). No
///   `'unsafe-inline'`, no `eval`: lesson HTML that slipped past the sanitizer cannot run.
/// - `style-src` allows inline styles: CodeMirror injects its themes at run time (a `<style>`
///   where constructable stylesheets are missing), pulldown-cmark aligns table cells with
///   `style`. Styles cannot run script, and lessons may carry only `text-align`.
/// - `connect-src`: this server only; `ws://`/`wss://` of `host` are named as well, for
///   browsers whose `'self'` does not yet cover WebSockets.
/// - `worker-src 'self'`, `img-src 'self' data:`, no plugins, no `<base>`, never framed.
pub fn policy(host: Option<&str>) -> String {
    let sockets = host.filter(|h| valid_host(h)).map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{sockets}; worker-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        *SCRIPT_HASHES
    )
}

/// A `Host` value that can go into the policy as it is: `name[:port]` or `[v6][:port]`.
fn valid_host(host: &str) -> bool {
    !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// The text of each `<script>` without `src` in `html`, exactly as written (what a CSP hash covers).
fn inline_scripts(html: &str) -> Vec<&str> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = lower[at..].find("<script").map(|i| at + i) {
        let Some(body) = lower[open..].find('>').map(|i| open + i + 1) else { break };
        let Some(close) = lower[body..].find("</script").map(|i| body + i) else { break };
        if !lower[open..body].contains(" src=") {
            found.push(&html[body..close]);
        }
        at = close;
    }
    found
}

fn sha256_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_scripts_from_files_are_not() {
        let page = "<head>\n<script type=\"module\">\nimport init from '/app.js';\nawait init();\n</script>\
                    <script type=\"module\" src=\"./start-worker.js\"></script><SCRIPT>x()</SCRIPT></head>";
        assert_eq!(inline_scripts(page), ["\nimport init from '/app.js';\nawait init();\n", "x()"]);
        assert!(inline_scripts("<p>no scripts</p><script>unclosed").is_empty());
    }

    #[test]
    fn a_script_hash_is_the_base64_sha256_of_its_text() {
        assert_eq!(sha256_base64(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn the_policy_allows_wasm_but_no_inline_script_and_names_the_hosts_sockets() {
        let p = policy(Some("classroom.test:8080"));
        let script = p.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
        assert!(script.contains("'wasm-unsafe-eval'") && !script.contains("unsafe-inline") && !script.contains("'unsafe-eval'"), "{p}");
        assert!(p.contains("connect-src 'self' ws://classroom.test:8080 wss://classroom.test:8080;"), "{p}");
        assert!(p.contains("frame-ancestors 'none'") && p.contains("object-src 'none'"), "{p}");
        // A Host that would add sources is left out.
        assert!(policy(Some("x; script-src *")).contains("connect-src 'self';"));
        assert!(policy(None).contains("connect-src 'self';"));
    }
}
