//! The page's shell as a class finds it in its first hour (issue 15): the class's title on the
//! student's and the teacher's page, no alarm before joining, the scratch page from the header
//! with a browser/server switch, a phone's header in one row with buttons that never wrap,
//! and no browser Python started by the teacher's page.

use classbook_e2e::{output_of, require_built_page, serve_class, serve_with, Browser, Origin};
use fantoccini::Locator;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const TEACHER: &str = "e2e-teacher-token-shell";

async fn type_into(b: &Browser, css: &str, text: &str) {
    let el = b.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

/// Lines the text of element `css` takes (a JS expression).
fn lines_of(css: &str) -> String {
    format!(
        "(() => {{ const r = document.createRange(); r.selectNodeContents(document.querySelector('{css}'));
           return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; }})()"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_title_shows_no_alarm_before_joining_scratch_has_a_runtime_switch_and_a_phone_header_is_one_row() {
    require_built_page();
    let server = serve_class(None, |app| {
        app.class.teacher_token = TEACHER.into();
        app.class.access_code = Some("py2026".into());
        app.class.title = "Python 二班".into();
    })
    .await
    .seen_from(Origin::Lan);
    let b = Browser::start().await;
    b.open(&server, "/#/").await;
    // The class's title, in the header and the tab.
    b.wait_for("document.querySelector('[data-role=class-title]')?.textContent === 'Python 二班'", 15, "the title").await;
    assert_eq!(b.eval("document.title").await, "Python 二班");
    // Before joining: the dialog asks, and the link's status is no red alarm.
    b.wait_for("document.querySelector('[data-role=join]')", 15, "the join dialog").await;
    for _ in 0..20 {
        let alarm = b.eval("document.querySelector('[data-role=server-link]')?.className").await;
        assert!(!alarm.as_str().unwrap_or("").contains("closed"), "an alarm before joining: {alarm}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    type_into(&b, "[data-role=join-name]", "小林").await;
    type_into(&b, "[data-role=join-code]", "py2026").await;
    b.click("[data-action=join]").await;
    b.wait_for("document.querySelector('.link.open')", 15, "connected once joined").await;

    // The scratch page from the header; the same code runs in the browser, then on the server.
    b.click("[data-action=open-scratch]").await;
    b.wait_for("location.hash.startsWith('#/scratch') && document.querySelector('[data-role=runtime-switch]')", 15, "the scratch page").await;
    b.set_code("scratch", "import sys\nprint('on', sys.platform)\n").await;
    let out = b.run_cell("scratch", 90).await;
    assert!(out.contains("on emscripten"), "{out}");
    b.eval("(s => (s.value = 'server', s.dispatchEvent(new Event('change')), true))(document.querySelector('[data-role=runtime-switch]'))").await;
    b.wait_for("document.querySelector('[data-cell-id=scratch]').dataset.runtime === 'server'", 5, "switched to the server").await;
    b.click("[data-cell-id=scratch] [data-action=run]").await;
    b.wait_for(&format!("{}.includes('on linux')", output_of("scratch")), 60, "the server's output").await;
    b.close().await;

    // A phone: the header is one row, and Run is one line.
    let phone = Browser::start_phone(390, 844).await;
    phone.open(&server, "/#/lesson/closures").await;
    phone.wait_for("document.querySelector('[data-cell-id] [data-action=run]')", 30, "the lesson").await;
    let width = phone.eval("window.innerWidth").await.as_f64().unwrap();
    assert!((360.0..=390.0).contains(&width), "a phone's width: {width}");
    let header = phone.eval("document.querySelector('header.top').getBoundingClientRect().height").await.as_f64().unwrap();
    assert!(header <= 48.0, "the header is {header} px high (one row is under 48)");
    eprintln!("phone: innerWidth {width} px, header {header} px high");
    let overflow = phone.eval("document.querySelector('header.top').scrollWidth - document.querySelector('header.top').clientWidth").await;
    assert!(overflow.as_f64().unwrap() <= 1.0, "the header is wider than the phone by {overflow} px");
    assert_eq!(phone.eval(&lines_of("[data-cell-id] [data-action=run]")).await, 1, "Run wraps");
    let buttons = phone.eval("[...document.querySelectorAll('header.top button, .cell-bar button')].filter(e => e.offsetParent).map(e => { const r = document.createRange(); r.selectNodeContents(e); return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; })").await;
    assert!(buttons.as_array().unwrap().iter().all(|n| n.as_u64() == Some(1)), "a button wraps: {buttons}");

    // The teacher's page shows the title too.
    phone.open(&server, &format!("/#/teacher?token={TEACHER}")).await;
    phone.wait_for("document.querySelector('.teacher h1')?.textContent.includes('Python 二班')", 15, "the title on the teacher's page").await;
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_teachers_page_starts_no_browser_python() {
    require_built_page();
    // Every request for the worker's script (at the page's versioned address) is counted, and
    // answered with an empty worker.
    let fetched = Arc::new(AtomicUsize::new(0));
    let count = fetched.clone();
    let extra = axum::Router::new().route(
        &format!("/v/{}/worker.js", classbook::assets::version()),
        axum::routing::get(move || {
            count.fetch_add(1, Ordering::SeqCst);
            async { ([(axum::http::header::CONTENT_TYPE, "text/javascript")], "self.onmessage = () => {};") }
        }),
    );
    let server = serve_with(None, extra).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    b.open(&server, "/#/teacher").await;
    b.wait_for("document.querySelector('[data-role=token-form]')", 15, "the teacher's page").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(fetched.load(Ordering::SeqCst), 0, "the teacher's page fetched the Python worker");
    assert_eq!(b.eval("window.classbookWorker === undefined && !document.querySelector('[data-engine]')").await, true);
    let pyodide = b.eval("performance.getEntriesByType('resource').filter(e => /pyodide|\\/worker\\.js/.test(e.name)).length").await;
    assert_eq!(pyodide, 0);
    // A student page in the same tab starts it: the count above could have seen one.
    b.eval("(location.hash = '#/', true)").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while fetched.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(fetched.load(Ordering::SeqCst) >= 1, "a student page starts the worker");
    b.close().await;
}
