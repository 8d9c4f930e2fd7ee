//! The page in headless Chromium under its Content-Security-Policy: a hostile lesson reaches
//! it sanitized, and script slipped into the page anyway (as an unsanitized lesson would) does
//! not run; the browser reports each refusal.

use classbook_e2e::{on_both_origins, require_built_page, serve, Browser, CourseCopy, Origin};

const HOSTILE: &str = "---\ntitle: Hostile\norder: 999\n---\nBefore.\n\n\
<img src=\"data:,x\" onerror=\"window.pwned = 'img'\">\n\n<script>window.pwned = 'script'</script>\n\n\
A [link](javascript:window.pwned='link') and <iframe src=\"/\"></iframe> after.\n";

on_both_origins!(script_in_a_lesson_or_slipped_into_the_page_does_not_run);
async fn script_in_a_lesson_or_slipped_into_the_page_does_not_run(origin: Origin) {
    require_built_page();
    let course = CourseCopy::new(&format!("hostile-{origin:?}"));
    std::fs::write(course.0.join("hostile.md"), HOSTILE).unwrap();
    let server = serve(Some(&course.0)).await.seen_from(origin);
    let browser = Browser::start().await;
    browser.open(&server, "/#/lesson/hostile").await;
    let prose = browser.wait_for("document.querySelector('section.prose')?.innerHTML", 30, "the lesson's prose").await;
    let prose = prose.as_str().unwrap();
    assert!(prose.contains("Before.") && prose.contains("after."), "{prose}");
    for bad in ["onerror", "<script", "javascript:", "<iframe"] {
        assert!(!prose.contains(bad), "{bad} reached the page: {prose}");
    }

    // Past the sanitizer (as if it had a hole): an inline handler and an inline script.
    browser
        .eval(
            "(() => { window.refused = []; \
               document.addEventListener('securitypolicyviolation', e => window.refused.push(e.effectiveDirective)); \
               document.body.insertAdjacentHTML('beforeend', '<img src=\"data:,y\" onerror=\"window.pwned = 1\">'); \
               const s = document.createElement('script'); s.textContent = 'window.pwned = 2'; document.head.append(s); \
               return true })()",
        )
        .await;
    let refused = browser.wait_for("window.refused.length >= 2 && window.refused", 10, "two refusals reported").await;
    assert!(refused.to_string().contains("script-src"), "{refused}");
    assert_eq!(browser.eval("window.pwned === undefined").await, true, "script ran in the page");
    // The app itself still works under the policy: its wasm runs, the lesson list renders.
    browser.goto(&format!("{}/#/", server.base())).await;
    browser.wait_for("document.querySelectorAll('a[href^=\"#/lesson/\"]').length > 3", 30, "the lesson list").await;
    browser.close().await;
}
