//! The class from both sides, in two headless Chromium sessions against a real server: a
//! student joins by name and the teacher's page lists them, sees and stops their running
//! program, sees their exercise results in the grid, and speaks to the class; an access code
//! is checked; a student's token opens no teacher endpoint; a lesson saved on disk reaches the
//! student's page, and a broken one shows on the teacher's.

use classbook_e2e::{exercise_of, http, on_both_origins, output_of, require_built_page, scratch_url, serve_class, state_of, Browser, CourseCopy, Origin};
use fantoccini::Locator;
use shared::course::Runtime;

const TEACHER: &str = "e2e-teacher-token-7d1c";

/// The students-table row of the student named `name` (a JS expression).
fn row_of(name: &str) -> String {
    format!(
        "[...document.querySelectorAll('[data-role=students] [data-student-id]')]\
         .find(r => r.querySelector('[data-role=name]').textContent === '{name}')"
    )
}

/// The grid cell of student `id` for exercise `key` (a JS expression).
fn grid_cell(id: &str, key: &str) -> String {
    format!("document.querySelector('[data-role=grid] tr[data-student-id=\"{id}\"] [data-exercise=\"{key}\"]')")
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let el = b.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

on_both_origins!(the_teacher_sees_a_joined_student_stops_their_program_sees_results_and_speaks_to_the_class);
async fn the_teacher_sees_a_joined_student_stops_their_program_sees_results_and_speaks_to_the_class(origin: Origin) {
    require_built_page();
    let server = serve_class(None, |app| app.class.teacher_token = TEACHER.into()).await.seen_from(origin);
    let student = Browser::start().await;
    let teacher = Browser::start().await;

    // The student opens a lesson, is asked for a name, and joins.
    student.open(&server, "/#/lesson/closures").await;
    type_into(&student, "[data-role=join] [data-role=join-name]", "小明").await;
    student.click("[data-action=join]").await;
    student.wait_for("document.querySelector('[data-role=student-name]')?.textContent === '小明'", 15, "the joined name").await;
    assert_eq!(student.eval("document.querySelector('[data-role=join]') === null").await, true, "the dialog closes");

    // The teacher's page takes its token from the address, then hides it.
    teacher.open(&server, &format!("/#/teacher?token={TEACHER}")).await;
    teacher.wait_for("location.hash === '#/teacher'", 10, "the token taken out of the address").await;
    assert_eq!(teacher.eval("sessionStorage.getItem('classbook.teacher-token')").await, TEACHER);
    let row = row_of("小明");
    teacher
        .wait_for(&format!("{row}?.dataset.online === 'true' && {row}.querySelector('[data-role=lesson]').dataset.lesson === 'closures'"), 15, "小明 online in closures")
        .await;
    let id = teacher.eval(&format!("{row}.dataset.studentId")).await.as_str().unwrap().to_string();

    // Checking an exercise turns its grid cell from "not yet" to "tried", then to "passed".
    let (cell, solution) = exercise_of("closures", Runtime::Browser);
    let key = format!("closures/{cell}");
    let result = format!("{}?.dataset.result", grid_cell(&id, &key));
    teacher.wait_for(&format!("{result} === 'none'"), 10, "the exercise not yet tried").await;
    let verdict = format!("document.querySelector('[data-cell-id=\"{cell}\"] [data-role=checks]')");
    student.click(&format!("[data-cell-id=\"{cell}\"] [data-action=check]")).await;
    student.wait_for(&format!("{verdict}?.dataset.passed === 'false'"), 90, "the starter code's verdict").await;
    teacher.wait_for(&format!("{result} === 'tried'"), 15, "the grid showing tried").await;
    assert_eq!(teacher.eval(&format!("{}.textContent.trim()", grid_cell(&id, &key))).await, "…");
    student.set_code(&cell, &solution).await;
    student.click(&format!("[data-cell-id=\"{cell}\"] [data-action=check]")).await;
    student.wait_for(&format!("{verdict}?.dataset.passed === 'true'"), 60, "a passing verdict").await;
    teacher.wait_for(&format!("{result} === 'passed'"), 15, "the grid showing passed").await;
    assert_eq!(teacher.eval(&format!("{}.textContent.trim()", grid_cell(&id, &key))).await, "✓");

    // The exported CSV (fetched with the token, saved as a file) says the same, in the page's language.
    teacher.click("[data-action=export-csv]").await;
    let csv_path = teacher.downloads.join("classbook-progress.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !csv_path.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let csv = std::fs::read_to_string(&csv_path).expect("the CSV was downloaded");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == key).unwrap_or_else(|| panic!("{key} not in {header:?}"));
    let line = csv.lines().find(|l| l.starts_with("小明,")).unwrap_or_else(|| panic!("小明 not in {csv}"));
    // In the teacher page's language (these browsers read Chinese).
    assert!(csv.starts_with("姓名,"), "{csv}");
    assert_eq!(line.split(',').nth(column), Some("通过"), "{csv}");

    // A long program on the server shows on the teacher's page; Stop ends it on the student's.
    let code = "import time\nprint('working', flush=True)\ntime.sleep(300)\n";
    student.goto(&scratch_url(&server, "server", code)).await;
    student.click("[data-cell-id=scratch] [data-action=run]").await;
    student.wait_for(&format!("{}.includes('working')", output_of("scratch")), 30, "the program running").await;
    let stop = format!("[data-role=students] tr[data-student-id=\"{id}\"] [data-action=stop-run]");
    teacher.wait_for(&format!("document.querySelector('{stop}')"), 15, "the program on the teacher's page").await;
    let listed = teacher.eval(&format!("document.querySelector('{stop}').closest('li').textContent")).await;
    assert!(listed.as_str().unwrap().contains("scratch.py"), "{listed}");
    teacher.click(&stop).await;
    student.wait_for(&format!("{} === 'failed'", state_of("scratch")), 15, "the program stopped").await;
    let exit = student.eval("document.querySelector('[data-cell-id=scratch] [data-role=exit]').textContent").await;
    assert!(exit.as_str().unwrap().contains("老师停止了它"), "said in the page's language: {exit}");
    teacher.wait_for(&format!("!document.querySelector('{stop}')"), 15, "the program gone from the list").await;
    // Run again; "Stop all" of that student ends it too.
    student.click("[data-cell-id=scratch] [data-action=run]").await;
    student.wait_for(&format!("{} === 'running'", state_of("scratch")), 30, "the program running again").await;
    let stop_all = format!("[data-role=students] tr[data-student-id=\"{id}\"] [data-action=stop-student]");
    teacher.wait_for(&format!("document.querySelector('{stop_all}')"), 15, "Stop all on the teacher's page").await;
    teacher.click(&stop_all).await;
    student.wait_for(&format!("{} === 'failed'", state_of("scratch")), 15, "the program stopped again").await;
    teacher.wait_for(&format!("!document.querySelector('{stop_all}')"), 15, "no program left").await;

    // A message reaches the student's page as a banner they can dismiss.
    type_into(&teacher, "[data-role=message-text]", "请先保存代码").await;
    teacher.click("[data-action=send-message]").await;
    student
        .wait_for("[...document.querySelectorAll('[data-role=notice]')].some(n => n.textContent.includes('请先保存代码'))", 15, "the notice")
        .await;
    student.click("[data-action=dismiss-notice]").await;
    student.wait_for("document.querySelector('[data-role=notice]') === null", 5, "the notice dismissed").await;

    // The teacher takes the class to a lesson; the teacher's page sees the student there.
    teacher
        .eval("(() => { const s = document.querySelector('[data-role=goto-lesson]'); s.value = 'tcp-echo'; s.dispatchEvent(new Event('change')); return true; })()")
        .await;
    teacher.click("[data-action=goto]").await;
    student.wait_for("location.hash === '#/lesson/tcp-echo'", 15, "the student taken to tcp-echo").await;
    teacher
        .wait_for(&format!("{row}.querySelector('[data-role=lesson]').dataset.lesson === 'tcp-echo'"), 15, "the teacher seeing tcp-echo")
        .await;
    student.close().await;
    teacher.close().await;
}

on_both_origins!(an_access_code_is_checked_a_reload_rejoins_a_rename_keeps_the_student_and_a_student_token_is_refused_by_the_teacher_page);
async fn an_access_code_is_checked_a_reload_rejoins_a_rename_keeps_the_student_and_a_student_token_is_refused_by_the_teacher_page(origin: Origin) {
    require_built_page();
    let server = serve_class(None, |app| {
        app.class.teacher_token = TEACHER.into();
        app.class.access_code = Some("py2026".into());
    })
    .await
    .seen_from(origin);
    let base = server.base();
    let b = Browser::start().await;
    b.open(&server, "/#/").await;
    // The class has a code, so the dialog asks for it; a wrong one is refused with a reason.
    type_into(&b, "[data-role=join-name]", "小红").await;
    type_into(&b, "[data-role=join-code]", "wrong").await;
    b.click("[data-action=join]").await;
    let error = b.wait_for("document.querySelector('[data-role=join-error]')?.textContent", 15, "the join error").await;
    assert!(error.as_str().unwrap().contains("口令不对"), "{error}");
    assert_eq!(b.eval("document.querySelector('.link.open') === null").await, true, "no session before joining");
    type_into(&b, "[data-role=join-code]", "py2026").await;
    b.click("[data-action=join]").await;
    b.wait_for("document.querySelector('[data-role=student-name]')?.textContent === '小红'", 15, "joined").await;
    b.wait_for("document.querySelector('.link.open')", 15, "the session open once joined").await;

    // A reload rejoins silently with the same token: no dialog, the session opens again.
    let token = b.eval("localStorage.getItem('classbook.token')").await.as_str().unwrap().to_string();
    b.client.refresh().await.expect("reload");
    b.wait_for("document.querySelector('.link.open')", 20, "the session open after a reload").await;
    assert_eq!(b.eval("document.querySelector('[data-role=join]') === null").await, true, "no dialog after a reload");
    assert_eq!(b.eval("localStorage.getItem('classbook.token')").await, token.as_str());
    let (status, body) = http(&server, "GET", "/api/teacher/students", Some(TEACHER), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("小红").count(), 1, "one student, not two: {body}");

    // The name can be changed from the header; the server keeps the same student.
    b.click("[data-action=change-name]").await;
    type_into(&b, "[data-role=join-name]", "红红").await;
    b.click("[data-action=join]").await;
    b.wait_for("document.querySelector('[data-role=student-name]')?.textContent === '红红'", 15, "renamed").await;
    let (_, renamed) = http(&server, "GET", "/api/teacher/students", Some(TEACHER), None).await;
    assert!(renamed.contains("红红") && !renamed.contains("小红"), "{renamed}");
    let id = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap()[0]["id"].clone();
    assert_eq!(id(&renamed), id(&body), "the same student: {body} / {renamed}");

    // The student's token is not the teacher's: the endpoint says 401 and so does the page.
    let (status, _) = http(&server, "GET", "/api/teacher/students", Some(&token), None).await;
    assert_eq!(status, 401);
    b.goto(&format!("{base}/#/teacher?token={token}")).await;
    b.wait_for("document.querySelector('[data-role=unauthorized]')", 15, "the 401 message").await;
    assert_eq!(b.eval("document.querySelector('[data-role=students]') === null").await, true);
    assert_eq!(b.eval("sessionStorage.getItem('classbook.teacher-token')").await, serde_json::Value::Null);
    b.close().await;
}

on_both_origins!(a_saved_lesson_reaches_the_students_page_and_a_broken_one_shows_on_the_teachers);
async fn a_saved_lesson_reaches_the_students_page_and_a_broken_one_shows_on_the_teachers(origin: Origin) {
    require_built_page();
    let course = CourseCopy::new("teacher");
    let dir = course.0.clone();
    let server = serve_class(Some(&dir), |app| app.class.teacher_token = TEACHER.into()).await.seen_from(origin);
    let student = Browser::start().await;
    let teacher = Browser::start().await;
    student.open(&server, "/#/lesson/closures").await;
    student.wait_for("document.querySelector('.link.open') && document.querySelector('[data-cell-id]')", 30, "the lesson, connected").await;
    teacher.open(&server, &format!("/#/teacher?token={TEACHER}")).await;
    teacher.wait_for("document.querySelector('[data-role=students] [data-student-id]')", 15, "the student listed").await;
    assert_eq!(teacher.eval("document.querySelector('[data-role=course-errors]') === null").await, true);

    // The teacher saves a new paragraph: the open lesson shows it without a reload, and the
    // student stays where they were reading.
    let y = student.eval("(window.scrollTo(0, 900), window.scrollY)").await.as_f64().unwrap();
    assert!(y > 500.0, "the lesson is long enough to scroll: {y}");
    let file = dir.join("closures.md");
    let original = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{original}\n课堂上刚加的一段：闭包记住的是变量本身。\n")).unwrap();
    student
        .wait_for("document.querySelector('.lesson')?.textContent.includes('课堂上刚加的一段')", 20, "the new paragraph")
        .await;
    student.wait_for(&format!("Math.abs(window.scrollY - {y}) < 50"), 5, "the reading position kept").await;

    // A broken save keeps the previous version for the students; the teacher sees file:line.
    let broken = format!("{original}\n```python {{id=extra colour=red}}\nprint(1)\n```\n");
    std::fs::write(&file, &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("colour=red")).unwrap() + 1;
    let shown = teacher
        .wait_for("document.querySelector('[data-role=course-errors]')?.textContent", 20, "the course error")
        .await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains(&format!("closures.md:{line}")) && shown.contains("未知的单元格属性 'colour'"), "{shown}");
    // In the teacher page's language: switched, the next refresh words it in English.
    teacher.eval("document.querySelector('[data-action=language]').click()").await;
    let in_english = "(t => t && t.includes(\"unknown cell attribute 'colour'\") && t)(document.querySelector('[data-role=course-errors]')?.textContent)";
    let shown = teacher.wait_for(in_english, 20, "the course error in English").await;
    assert!(shown.as_str().unwrap().contains(&format!("closures.md:{line}")), "{shown}");
    assert_eq!(student.eval("document.querySelector('.lesson')?.textContent.includes('课堂上刚加的一段')").await, true);

    // Fixed again: the error goes away.
    std::fs::write(&file, &original).unwrap();
    teacher.wait_for("document.querySelector('[data-role=course-errors]') === null", 20, "the error cleared").await;
    student.close().await;
    teacher.close().await;
}
