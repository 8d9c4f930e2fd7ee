//! Lesson prose made safe for the page (a teacher may serve a course written by someone else):
//! rendered Markdown through ammonia, keeping what Markdown makes and nothing that runs.

use std::borrow::Cow;
use std::sync::LazyLock;

/// What a lesson's HTML may hold: ammonia's default tags (text, headings, lists, code, tables,
/// images, `<details>`…) without scripts, styles, frames, forms or event handlers; links to
/// http, https, mailto, same-page and relative addresses; images also from `data:`; `class`
/// only as Markdown writes it on code (`language-…`); table alignment as pulldown-cmark writes
/// it (`text-align`). Comments go.
static POLICY: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.url_schemes(["http", "https", "mailto", "data"].into())
        .link_rel(None)
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("th", ["style"])
        .add_tag_attributes("td", ["style"])
        .filter_style_properties(["text-align"].into())
        .attribute_filter(keep);
    b
});

fn keep<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let data_url = value.trim_start().get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:"));
    match (element, attribute) {
        ("img", "src") => Some(value.into()),
        (_, "href" | "src" | "cite") if data_url => None,
        ("code", "class") => {
            let ok = value.strip_prefix("language-").is_some_and(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-_.#".contains(&b))
            });
            ok.then(|| value.into())
        }
        _ => Some(value.into()),
    }
}

/// `html` with everything outside the policy removed.
pub fn html(html: &str) -> String {
    POLICY.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pulldown-cmark's output as html5ever writes the same tree: void elements without ` /`,
    /// quotes in text unescaped. (The page parses both alike; only the bytes differ.)
    fn serialized_as_html5ever(html: &str) -> String {
        html.replace(" />", ">").replace("&quot;", "\"")
    }

    /// Every bundled lesson file, rendered whole (prose and code blocks alike), comes out of the
    /// sanitizer as it went in: the policy keeps everything the course uses.
    #[test]
    fn the_bundled_course_is_unchanged_by_the_sanitizer() {
        let mut checked = 0;
        for name in super::super::Bundled::iter() {
            let file = super::super::Bundled::get(&name).expect("listed file");
            let rendered = serialized_as_html5ever(&super::super::parse::render(&String::from_utf8_lossy(&file.data)));
            let clean = html(&rendered);
            if clean != rendered {
                let at = clean.bytes().zip(rendered.bytes()).take_while(|(a, b)| a == b).count();
                let context = |s: &str| s.get(at.saturating_sub(80)..(at + 80).min(s.len())).unwrap_or("").to_string();
                panic!("{name}: the sanitizer changed\n{}\ninto\n{}", context(&rendered), context(&clean));
            }
            checked += 1;
        }
        assert!(checked >= 10, "{checked} lesson files");
    }

    #[test]
    fn scripts_handlers_frames_and_javascript_links_are_removed() {
        let dirty = concat!(
            "<p>ok<script>alert(1)</script></p>",
            "<img src=x onerror=\"alert(2)\">",
            "<a href=\"javascript:alert(3)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(4)\">y</a>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<form action=\"/api/join\"><input name=token></form>",
            "<style>body{display:none}</style>",
            "<p style=\"position:fixed\" onclick=\"alert(5)\" class=\"teacher\">z</p>",
            "<a href=\"data:text/html,<script>alert(6)</script>\">d</a>",
            "<object data=\"x.swf\"></object><embed src=\"x\"><svg onload=\"alert(7)\"></svg>",
        );
        let clean = html(dirty);
        for bad in ["script", "onerror", "javascript", "JaVaScRiPt", "iframe", "form", "input", "style", "onclick", "class", "data:", "object", "embed", "svg", "alert"] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
        assert!(clean.contains("<p>ok</p>") && clean.contains("<p>z</p>"), "{clean}");
    }

    #[test]
    fn a_lesson_with_a_script_an_onerror_a_javascript_link_and_an_iframe_renders_without_them() {
        let text = concat!(
            "---\ntitle: Hostile\norder: 1\n---\n",
            "Hello <script>alert(1)</script> world.\n\n",
            "<img src=\"x.png\" onerror=\"alert(2)\">\n\n",
            "A [link](javascript:alert(3)) and [docs](https://docs.python.org/3/).\n\n",
            "<iframe src=\"https://evil.example/\"></iframe>\n\n",
            "```python {id=c1}\nprint('<script>')\n```\n",
        );
        let (_, lesson) = super::super::parse_lesson("hostile", text).expect("a valid lesson");
        let prose: String = lesson
            .blocks
            .iter()
            .filter_map(|b| match b {
                shared::course::Block::Text { html, .. } => Some(html.as_str()),
                _ => None,
            })
            .collect();
        for bad in ["<script", "onerror", "javascript:", "<iframe", "alert"] {
            assert!(!prose.contains(bad), "{bad} survived: {prose}");
        }
        for good in ["Hello", "world.", "<img src=\"x.png\">", "<a>link</a>", "href=\"https://docs.python.org/3/\""] {
            assert!(prose.contains(good), "{good} lost: {prose}");
        }
        let code = lesson.cells().next().expect("the cell").code.clone();
        assert_eq!(code, "print('<script>')", "code cells are text, not HTML: untouched");
    }

    #[test]
    fn what_markdown_makes_is_kept() {
        let fine = concat!(
            "<h2>T</h2><p><a href=\"https://docs.python.org/3/\">docs</a> <a href=\"#part\">here</a> ",
            "<a href=\"other.html\">rel</a> <a href=\"mailto:t@school.example\">mail</a></p>",
            "<pre><code class=\"language-python\">print(1)\n</code></pre>",
            "<table><thead><tr><th style=\"text-align: center\">a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>",
            "<details><summary>hint</summary><p>x</p></details>",
            "<p><img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"dot\"> <img src=\"pic.png\" alt=\"p\"></p>",
        );
        let clean = html(fine);
        for good in [
            "href=\"https://docs.python.org/3/\"", "href=\"#part\"", "href=\"other.html\"", "href=\"mailto:t@school.example\"",
            "<code class=\"language-python\">", "<th style=\"text-align:center\">", "<details><summary>hint</summary>",
            "src=\"data:image/png;base64,iVBORw0KGgo=\"", "src=\"pic.png\"",
        ] {
            assert!(clean.contains(good), "{good} lost: {clean}");
        }
        assert!(!html("<code class=\"language-x onclick\">c</code>").contains("class"));
    }
}
