//! The teacher helps a student (issue 15), against a real server: a raised hand tops the
//! teacher's list until answered; the teacher reads the student's code and last output, resets
//! an exercise, renames, hides and releases solutions and sees who opened one, gives a restore
//! code that brings the work to a wiped machine, and removes the student. The server keeps a
//! bounded amount of code per student and never sends a hidden solution to a student.

use classbook::class::work::{MAX_CELL_CODE, MAX_STUDENT_WORK};
use classbook_e2e::chaos::{connect_from, join_from, next, send};
use classbook_e2e::{code_of, exercise_of, http, output_of, require_built_page, serve_class, Browser, Origin};
use fantoccini::Locator;
use shared::course::Runtime;
use shared::wire::{ClientMsg, ServerMsg};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const TEACHER: &str = "e2e-teacher-token-help";
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn type_into(b: &Browser, css: &str, text: &str) {
    let el = b.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

/// The names in the teacher's students table, top to bottom (a JS expression).
const ROWS: &str = "[...document.querySelectorAll('[data-role=students] tbody tr')].map(r => r.querySelector('[data-role=name]').textContent + ':' + r.dataset.hand).join(',')";

#[tokio::test(flavor = "multi_thread")]
async fn the_teacher_answers_a_hand_reads_resets_renames_restores_and_removes_a_student_and_controls_solutions() {
    require_built_page();
    let server = serve_class(None, |app| app.class.teacher_token = TEACHER.into()).await.seen_from(Origin::Lan);
    // A classmate, online through their page's WebSocket; by name they come first.
    assert_eq!(join_from(LOCAL, server.addr, "a0a0a0a0a0a0a0a0", "Amy", None).await, 200);
    let _amy = connect_from(LOCAL, server.addr, "a0a0a0a0a0a0a0a0").await.expect("Amy connects");
    let student = Browser::start().await;
    let teacher = Browser::start().await;
    student.open(&server, "/#/lesson/closures").await;
    type_into(&student, "[data-role=join] [data-role=join-name]", "Zed").await;
    student.click("[data-action=join]").await;
    student.wait_for("document.querySelector('[data-role=student-name]')?.textContent === 'Zed'", 15, "joined").await;
    teacher.open(&server, &format!("/#/teacher?token={TEACHER}")).await;
    teacher.wait_for(&format!("{ROWS} === 'Amy:false,Zed:false'"), 15, "Amy then Zed").await;
    // Lesson titles, not ids, in the students table.
    let lesson = teacher.eval("[...document.querySelectorAll('[data-role=students] [data-role=lesson]')].map(l => l.textContent).join('|')").await;
    assert!(lesson.as_str().unwrap().contains("闭包"), "the lesson's title: {lesson}");

    // Zed raises a hand: first in the list until the teacher answers.
    student.click("[data-action=raise-hand]").await;
    teacher.wait_for(&format!("{ROWS} === 'Zed:true,Amy:false'"), 15, "Zed's hand on top").await;

    // The teacher reads Zed's code and the output of their last run.
    let (cell, solution) = exercise_of("closures", Runtime::Browser);
    let original = student.code(&cell).await;
    student.set_code(&cell, "print('zed-output-' + str(6 * 7))\n").await;
    let out = student.run_cell(&cell, 90).await;
    assert!(out.contains("zed-output-42"), "{out}");
    teacher.click("[data-role=students] tr[data-hand=true] [data-action=view-work]").await;
    let work = format!("document.querySelector('[data-role=student-work] [data-cell-id=\"{cell}\"]')");
    teacher
        .wait_for(
            &format!("{work}?.querySelector('[data-role=work-code]').textContent.includes(\"print('zed-output-'\") && {work}.querySelector('[data-role=work-output]')?.textContent.includes('zed-output-42')"),
            15,
            "Zed's code and output on the teacher's page",
        )
        .await;
    assert_eq!(teacher.eval(&format!("{work}.dataset.changed")).await, "true");

    // Answered: the hand goes down on both pages.
    teacher.click("[data-role=students] tr[data-hand=true] [data-action=answer-hand]").await;
    student.wait_for("document.querySelector('[data-action=raise-hand]').dataset.raised === 'false'", 15, "the hand down").await;
    teacher.wait_for(&format!("{ROWS} === 'Amy:false,Zed:false'"), 15, "back in name order").await;

    // Reset the exercise: the student's cell is the lesson's code again.
    teacher.click(&format!("[data-role=student-work] [data-cell-id=\"{cell}\"] [data-action=reset-exercise]")).await;
    student.wait_for(&format!("{} === {}", code_of(&cell), serde_json::json!(original)), 15, "the cell reset").await;

    // Rename: the student's header follows.
    type_into(&teacher, "[data-role=student-work] [data-role=rename]", "Zed Li").await;
    teacher.click("[data-role=student-work] [data-action=rename]").await;
    student.wait_for("document.querySelector('[data-role=student-name]')?.textContent === 'Zed Li'", 15, "renamed").await;

    // Solutions: hidden ones never reach the student's page (nor its HTTP); released ones do,
    // and the teacher sees who opened one.
    let solution_row = "document.querySelector('[data-role=solutions] tr[data-lesson=closures]')";
    teacher.click("[data-role=solutions] tr[data-lesson=closures] [data-action=toggle-solutions]").await;
    teacher.wait_for(&format!("{solution_row}.dataset.hidden === 'true'"), 15, "hidden").await;
    // The open page fetches the lesson again, at once.
    student.wait_for("document.querySelector('[data-cell-id] .cell-bar') && !document.querySelector('details.solution')", 15, "no solution on the page").await;
    let (_, body) = http(&server, "GET", "/api/lessons/closures", None, None).await;
    assert!(!body.contains("\"solution\""), "a hidden solution was sent: {body}");
    teacher.click("[data-role=solutions] tr[data-lesson=closures] [data-action=toggle-solutions]").await;
    teacher.wait_for(&format!("{solution_row}.dataset.hidden === 'false'"), 15, "released").await;
    let details = format!("[data-cell-id=\"{cell}\"] details.solution");
    student.wait_for(&format!("document.querySelector('{details}') && document.querySelector('.link.open')"), 30, "the solution back").await;
    student.click(&format!("{details} summary")).await;
    teacher.wait_for(&format!("{solution_row}.querySelector('[data-role=opened-by]').textContent.includes('Zed Li')"), 15, "who opened it").await;
    let (_, body) = http(&server, "GET", "/api/lessons/closures", None, None).await;
    let sent: shared::course::Lesson = serde_json::from_str(&body).unwrap();
    let sent = sent.cells().find(|c| c.id == cell).and_then(|c| c.exercise.clone()).and_then(|e| e.solution);
    assert_eq!(sent.as_deref(), Some(solution.as_str()), "a released solution is sent");

    // Zed writes more; their machine is wiped. The teacher's restore code brings it back on a
    // fresh browser (once); the class still has two students.
    student.set_code(&cell, "# restored-work 7\n").await;
    teacher.wait_for(&format!("{work}?.querySelector('[data-role=work-code]').textContent.includes('restored-work 7')"), 15, "the new code kept").await;
    student.close().await;
    // (Clicked from script: the sticky header may cover the button after the page scrolled.)
    teacher.eval("(document.querySelector('[data-role=student-work] [data-action=restore-code]').click(), true)").await;
    let code = teacher.wait_for("document.querySelector('[data-role=restore-code]')?.dataset.code", 15, "a restore code").await;
    let code = code.as_str().unwrap().to_string();
    let fresh = Browser::start().await;
    fresh.open(&server, "/#/lesson/closures").await;
    type_into(&fresh, "[data-role=join] [data-role=join-name]", "whoever").await;
    fresh.click("[data-role=join-restore] summary").await;
    type_into(&fresh, "[data-role=join-restore-code]", &code).await;
    fresh.click("[data-action=join]").await;
    fresh.wait_for("document.querySelector('[data-role=student-name]')?.textContent === 'Zed Li'", 15, "this machine is Zed now").await;
    fresh.wait_for(&format!("({} || '').includes('restored-work 7')", code_of(&cell)), 20, "Zed's code back").await;
    let body = serde_json::json!({"token": "b1b1b1b1b1b1b1b1", "name": "Eve", "restore": code}).to_string();
    let (status, answer) = http(&server, "POST", "/api/join", None, Some(&body)).await;
    assert_eq!(status, 410, "a restore code works once: {answer}");
    let (_, list) = http(&server, "GET", "/api/teacher/students", Some(TEACHER), None).await;
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&list).unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["Amy", "Zed Li"], "no new student made by the restore: {list}");

    // Removed: the page is told and asked to join again; the list has Amy alone.
    teacher.eval("(window.confirm = () => true, true)").await;
    teacher.eval("(document.querySelector('[data-role=student-work] [data-action=remove-student]').click(), true)").await;
    fresh.wait_for("document.querySelector('[data-role=join]')", 15, "asked to join again").await;
    teacher.wait_for(&format!("{ROWS} === 'Amy:false'"), 15, "Zed gone").await;
    assert!(fresh.eval(&output_of(&cell)).await.is_string());
    fresh.close().await;
    teacher.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_keeps_64_kib_a_cell_and_2_mib_a_student_and_says_so_beyond() {
    let server = serve_class(None, |app| app.class.teacher_token = TEACHER.into()).await;
    assert_eq!(join_from(LOCAL, server.addr, "c0c0c0c0c0c0c0c0", "Cai", None).await, 200);
    let mut ws = connect_from(LOCAL, server.addr, "c0c0c0c0c0c0c0c0").await.expect("connects");
    let save = |cell: &str, code: String| ClientMsg::SaveCode { lesson: "closures".into(), cell: cell.into(), code };
    let refused = |m: Option<ServerMsg>| match m {
        Some(ServerMsg::WorkRefused { message, .. }) => message,
        other => panic!("expected WorkRefused, got {other:?}"),
    };
    // One cell over 64 KiB: refused with the limit named; nothing else is answered.
    assert!(send(&mut ws, &save("accumulator", "#".repeat(MAX_CELL_CODE + 1))).await);
    let why = refused(next(&mut ws, Duration::from_secs(10)).await);
    assert!(why.contains("64 KiB"), "{why}");
    // A made-up cell is an error, never a row.
    assert!(send(&mut ws, &save("no-such-cell", "x".into())).await);
    assert!(matches!(next(&mut ws, Duration::from_secs(10)).await, Some(ServerMsg::Error { .. })));
    // Every cell of every lesson at 64 KiB: the student's 2 MiB fill, then saves are refused.
    let course = classbook::course::Course::load(None).unwrap();
    let cells: Vec<(String, String)> = course.lessons().iter().flat_map(|l| l.cells().map(|c| (l.id.clone(), c.id.clone())).collect::<Vec<_>>()).collect();
    assert!(cells.len() * MAX_CELL_CODE > MAX_STUDENT_WORK, "the course has enough cells to fill the bound");
    let full = "#".repeat(MAX_CELL_CODE);
    let mut kept = 0;
    let why = loop {
        let (lesson, cell) = &cells[kept];
        let msg = ClientMsg::SaveCode { lesson: lesson.clone(), cell: cell.clone(), code: full.clone() };
        assert!(send(&mut ws, &msg).await);
        // A kept save is not answered: ask for something that is, to know it was handled.
        assert!(send(&mut ws, &save("no-such-cell", "x".into())).await);
        match next(&mut ws, Duration::from_secs(10)).await {
            Some(ServerMsg::Error { .. }) => kept += 1,
            other => break refused(other),
        }
    };
    // The made-up cell sent after the refused save is answered too.
    assert!(matches!(next(&mut ws, Duration::from_secs(10)).await, Some(ServerMsg::Error { .. })));
    assert_eq!(kept, MAX_STUDENT_WORK / MAX_CELL_CODE, "{why}");
    assert!(why.contains("2 MiB"), "{why}");
    let (_, work) = http(&server, "GET", "/api/teacher/work?student=1", Some(TEACHER), None).await;
    assert!(work.len() >= MAX_STUDENT_WORK && work.len() < MAX_STUDENT_WORK + 64 * 1024, "{}", work.len());

    // A hidden lesson's solutions are in no answer a student can get.
    let hide = r#"{"lesson": "closures", "hidden": true}"#;
    assert_eq!(http(&server, "POST", "/api/teacher/solutions", Some(TEACHER), Some(hide)).await.0, 200);
    // Pages of the lesson are told to fetch it again.
    match next(&mut ws, Duration::from_secs(10)).await {
        Some(ServerMsg::CourseChanged { lessons }) => assert_eq!(lessons, ["closures"]),
        other => panic!("expected CourseChanged, got {other:?}"),
    }
    assert_eq!(http(&server, "POST", "/api/teacher/solutions", Some("c0c0c0c0c0c0c0c0"), Some(r#"{"lesson": "closures", "hidden": false}"#)).await.0, 401);
    let (_, lesson) = http(&server, "GET", "/api/lessons/closures", None, None).await;
    assert!(lesson.contains("accumulator") && !lesson.contains("\"solution\""), "{lesson}");
    let (_, mine) = http(&server, "GET", "/api/work", Some("c0c0c0c0c0c0c0c0"), None).await;
    assert!(!mine.contains("\"solution\""));
    let (_, other) = http(&server, "GET", "/api/lessons/tcp-echo", None, None).await;
    assert!(other.contains("\"solution\""), "other lessons keep theirs");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grid_counts_passes_attempts_and_first_passes_per_exercise_and_the_projector_shows_no_names() {
    require_built_page();
    let server = serve_class(None, |app| {
        app.class.teacher_token = TEACHER.into();
        app.class.title = "Python 二班".into();
    })
    .await
    .seen_from(Origin::Lan);
    // Two students check the TFTP packets exercise (a browser one: its page reports the result;
    // a server exercise's result is the server's own) through their pages' WebSocket: Amy fails
    // once, then passes; Bob fails.
    let result = |passed| ClientMsg::ExerciseResult { lesson: "tftp".into(), cell: "tftp-packets".into(), passed };
    for (token, name, results) in [("d0d0d0d0d0d0d0d0", "Amy", vec![false, true]), ("e0e0e0e0e0e0e0e0", "Bob", vec![false])] {
        assert_eq!(join_from(LOCAL, server.addr, token, name, None).await, 200);
        let mut ws = connect_from(LOCAL, server.addr, token).await.expect("connects");
        for passed in results {
            assert!(send(&mut ws, &result(passed)).await);
        }
        // Answered in order: an unknown exercise's error says the results before it were handled.
        assert!(send(&mut ws, &ClientMsg::ExerciseResult { lesson: "tftp".into(), cell: "nope".into(), passed: true }).await);
        assert!(matches!(next(&mut ws, Duration::from_secs(10)).await, Some(ServerMsg::Error { .. })));
    }
    let teacher = Browser::start().await;
    teacher.open(&server, &format!("/#/teacher?token={TEACHER}")).await;
    teacher.wait_for("document.querySelector('[data-role=grid]')", 15, "the grid").await;
    let h1 = teacher.eval("document.querySelector('.teacher h1')?.textContent + ' / ' + document.title").await;
    assert!(h1.as_str().unwrap().contains("Python 二班"), "the class's title: {h1}");
    let sum = |row: &str, key: &str| format!("document.querySelector('[data-role=grid] tfoot tr[data-role={row}] [data-exercise=\"{key}\"]')?.textContent");
    teacher.wait_for(&format!("{} === '1/2'", sum("teacher-passed-count", "tftp/tftp-packets")), 15, "1 of 2 passed").await;
    assert_eq!(teacher.eval(&sum("teacher-attempts-count", "tftp/tftp-packets")).await, "3");
    let first = teacher.eval(&sum("teacher-first-pass", "tftp/tftp-packets")).await;
    assert!(first.as_str().unwrap().len() == 5 && first.as_str().unwrap().contains(':'), "a time of day: {first}");
    assert_eq!(teacher.eval(&sum("teacher-passed-count", "tftp/tftp-serve")).await, "0/2");
    // The two TFTP exercises are told apart by their own titles; the full title on hover.
    let heads = teacher
        .eval("['tftp/tftp-packets', 'tftp/tftp-serve'].map(k => document.querySelector(`[data-role=grid] th[data-exercise=\"${k}\"]`)).map(th => [th.querySelector('.ex-title').textContent, th.title])")
        .await;
    let heads = heads.as_array().unwrap();
    assert_ne!(heads[0][0], heads[1][0], "{heads:?}");
    assert!(heads.iter().all(|h| h[1].as_str().unwrap().contains("TFTP") && h[1].as_str().unwrap().contains(h[0].as_str().unwrap())), "{heads:?}");
    let amy = teacher.eval("document.querySelector('[data-role=grid] tbody tr [data-exercise=\"tftp/tftp-packets\"][data-result=passed]')?.dataset.attempts").await;
    assert_eq!(amy, "2", "Amy's attempts");
    // The projector: large type, the counts, and no student's name anywhere on the page.
    teacher.click("[data-action=projector]").await;
    teacher.wait_for("document.querySelector('[data-role=projector] li[data-exercise=\"tftp/tftp-packets\"]')?.dataset.passed === '1'", 10, "the projector").await;
    let text = teacher.eval("document.body.innerText").await;
    assert!(!text.as_str().unwrap().contains("Amy") && !text.as_str().unwrap().contains("Bob"), "names on the projector: {text}");
    let size = teacher.eval("parseFloat(getComputedStyle(document.querySelector('[data-role=projector] li')).fontSize)").await;
    assert!(size.as_f64().unwrap() >= 28.0, "projector type is {size} px");
    teacher.click("[data-action=leave-projector]").await;
    teacher.wait_for("document.querySelector('[data-role=grid]')", 10, "the grid again").await;
    teacher.close().await;
}
