//! The page's language in headless Chromium: a browser set to English gets English, the class's
//! `--lang` wins over the browser, a student's own pick wins over both and is remembered, and a
//! lesson without a translation is shown in its original language with a note.

use classbook_e2e::{http, require_built_page, serve, serve_class, Browser, CourseCopy};

const A_ZH: &str = "---\ntitle: 甲课\norder: 1\n---\n一段文字。\n\n```python {id=hello}\nprint('你好')\n```\n```output\n你好\n```\n";
const A_EN: &str = "---\ntitle: Lesson A\n---\nSome text.\n\n```python {id=hello}\nprint('hello')\n```\n```output\nhello\n```\n";
const B_ZH: &str = "---\ntitle: 乙课\norder: 2\n---\n只有中文。\n";

/// A course of two lessons: `a` in Chinese and English, `b` in Chinese only.
fn two_lessons(label: &str) -> CourseCopy {
    let course = CourseCopy::new(label);
    for entry in std::fs::read_dir(&course.0).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (name, text) in [("a.md", A_ZH), ("a.en.md", A_EN), ("b.md", B_ZH)] {
        std::fs::write(course.0.join(name), text).unwrap();
    }
    course
}

fn browser_language(tag: &str) -> Vec<String> {
    vec![format!("--lang={tag}"), format!("--accept-lang={tag}")]
}

/// The lesson page's language as the page shows it: (lesson's `data-lang`, title text of the
/// "lessons" link, the fallback note is there).
const SHOWN: &str = "(() => { const a = document.querySelector('article.lesson'); \
    return a && [a.dataset.lang, document.querySelector('nav.pager a[href=\"#/\"]').textContent, \
    !!document.querySelector('[data-role=lang-fallback]'), document.querySelector('section.prose').textContent.trim()] })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_page_reads_the_course_in_its_language_and_says_when_a_lesson_is_not_translated() {
    require_built_page();
    let course = two_lessons("languages");
    let server = serve(Some(&course.0)).await;

    // The API: a translation where there is one, the original (marked) where there is none.
    let (status, body) = http(&server, "GET", "/api/lessons?lang=en", None, None).await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let titles: Vec<(&str, &str)> = list.as_array().unwrap().iter().map(|l| (l["title"].as_str().unwrap(), l["lang"].as_str().unwrap())).collect();
    assert_eq!(titles, [("Lesson A", "en"), ("乙课", "zh")]);

    // A browser set to English: English interface, the English lesson, and a note on `b`.
    let browser = Browser::start_with(&browser_language("en-US")).await;
    browser.goto(&format!("{}/#/lesson/a", server.base())).await;
    let shown = browser.wait_for(SHOWN, 30, "lesson a").await;
    assert_eq!(shown, serde_json::json!(["en", "Lessons", false, "Some text."]));
    browser.goto(&format!("{}/#/lesson/b", server.base())).await;
    let shown = browser.wait_for(&format!("{SHOWN}?.[0] === 'zh' && {SHOWN}"), 30, "lesson b").await;
    assert_eq!(shown, serde_json::json!(["zh", "Lessons", true, "只有中文。"]));
    // The student switches to Chinese: the lesson follows at once, and the pick is remembered.
    browser.goto(&format!("{}/#/lesson/a", server.base())).await;
    browser.wait_for(&format!("{SHOWN}?.[0] === 'en'"), 30, "lesson a in English").await;
    browser.click("[data-action=language]").await;
    let shown = browser.wait_for(&format!("{SHOWN}?.[0] === 'zh' && {SHOWN}"), 30, "lesson a in Chinese").await;
    assert_eq!(shown, serde_json::json!(["zh", "课程目录", false, "一段文字。"]));
    browser.goto(&format!("{}/#/", server.base())).await;
    browser.goto(&format!("{}/#/lesson/a", server.base())).await;
    browser.eval("location.reload()").await;
    let shown = browser.wait_for(SHOWN, 30, "lesson a after a reload").await;
    assert_eq!(shown[0], "zh", "the student's pick was not remembered: {shown}");
    browser.close().await;

    // A browser set to Chinese gets Chinese.
    let browser = Browser::start_with(&browser_language("zh-CN")).await;
    browser.goto(&format!("{}/#/lesson/a", server.base())).await;
    let shown = browser.wait_for(SHOWN, 30, "lesson a").await;
    assert_eq!(shown[0], "zh", "{shown}");
    browser.close().await;

    // The class's language (`--lang en`) wins over a Chinese browser.
    let class = serve_class(Some(&course.0), |app| app.class.lang = Some("en".into())).await;
    let (_, info) = http(&class, "GET", "/api/class", None, None).await;
    assert!(info.contains("\"lang\":\"en\""), "{info}");
    let browser = Browser::start_with(&browser_language("zh-CN")).await;
    browser.goto(&format!("{}/#/lesson/a", class.base())).await;
    let shown = browser.wait_for(&format!("{SHOWN}?.[0] === 'en' && {SHOWN}"), 30, "lesson a in the class's English").await;
    assert_eq!(shown[1], "Lessons");
    browser.close().await;
}
