//! Every server cell of the course runs in a real sandbox through the WebSocket, in lesson
//! order (one student session per lesson), and prints what its lesson says it prints.
//! Every server exercise: the solution passes its checks, each wrong solution fails them.

mod support;

use classbook::class::rate::{PerAddress, Rate};
use classbook::course::{Course, FIRST_LANGUAGE};
use shared::course::{output_matches, Block, Cell, Runtime};
use shared::check::CheckReport;
use shared::lang::Lang;
use shared::wire::{ClientMsg, ServerMsg};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{Client, Outcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn file_of(cell: &Cell) -> String {
    cell.file.clone().unwrap_or_else(|| format!("{}.py", cell.id))
}

struct Report {
    passed: usize,
    failures: Vec<String>,
    /// The lesson file being checked (`course/ID.md`, or `course/ID.LANG.md` for a translation).
    file: String,
}

impl Report {
    fn check(&mut self, ok: bool, cell: &Cell, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("{}:{}: {}: {}", self.file, cell.line, cell.id, what()));
        }
    }
}

fn compare(report: &mut Report, cell: &Cell, out: &Outcome) {
    match &cell.expected {
        Some(exp) => report.check(output_matches(exp, &out.combined), cell, || {
            format!("output differs\n--- expected\n{}\n--- got\n{}", exp.text, out.combined)
        }),
        None => report.check(false, cell, || "no ```output block".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_server_cell_prints_what_its_lesson_expects() {
    let course = Course::load(Some(&root().join("course"))).unwrap_or_else(|e| panic!("{}", e.iter().map(|p| p.said(Lang::En)).collect::<Vec<_>>().join("\n")));
    // One new (anonymous) student per lesson from this one address: more lessons than the
    // per-address allowance for new students, so this test raises it.
    let server = support::start_with_app(|app| {
        app.class.new_students = PerAddress::new(Rate { burst: 1000.0, per_sec: 1.0 });
    })
    .await;
    let mut report = Report { passed: 0, failures: Vec::new(), file: String::new() };
    let mut run_id = 0;
    // CLASSBOOK_LESSONS=a,b runs only those lessons (for authors; CI runs every lesson).
    let only: Option<Vec<String>> =
        std::env::var("CLASSBOOK_LESSONS").ok().map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    // Every language's lessons: a translation's cells must print what it expects too.
    for lesson in course.all_lessons() {
        if !lesson.cells().any(|c| c.runtime == Runtime::Server) {
            continue;
        }
        if only.as_ref().is_some_and(|o| !o.contains(&lesson.id)) {
            continue;
        }
        report.file = match lesson.lang.as_str() {
            FIRST_LANGUAGE => format!("course/{}.md", lesson.id),
            lang => format!("course/{}.{lang}.md", lesson.id),
        };
        let mut client = Client::connect(&server).await;
        // A page in the lesson's language: the server checks exercises with that lesson's checks.
        client.send(&ClientMsg::Language { lang: Lang::from_code(&lesson.lang) }).await;
        for block in &lesson.blocks {
            match block {
                // TFTP server exercises are checked by the built-in client: tests/tftp_sandbox.rs.
                Block::Cell(cell) if cell.exercise.as_ref().is_some_and(|e| e.tftp_server.is_some()) => {}
                Block::Cell(cell) if cell.runtime == Runtime::Server && cell.exercise.is_some() => {
                    check_exercise(&mut client, &mut run_id, &mut report, &lesson.id, Lang::from_code(&lesson.lang), cell).await;
                }
                Block::Cell(cell) if cell.runtime == Runtime::Server => {
                    run_id += 1;
                    let file = file_of(cell);
                    client.start_with_input(run_id, &[(&file, &cell.code)], &file, false, cell.stdin.as_deref()).await;
                    let out = client.collect(run_id).await;
                    compare(&mut report, cell, &out);
                }
                Block::Group(group) => {
                    let outs = run_group(&mut client, &mut run_id, &group.files).await;
                    for (cell, out) in outs {
                        compare(&mut report, cell, &out);
                    }
                }
                _ => {}
            }
        }
    }
    for f in &report.failures {
        println!("{f}\n");
    }
    println!("server cells: {} passed, {} failed", report.passed, report.failures.len());
    assert!(report.failures.is_empty(), "{} server cell check(s) failed (listed above)", report.failures.len());
}

/// Starts a group's files in order, each next one once the previous listens (or exits, or 3 s).
async fn run_group<'a>(client: &mut Client, run_id: &mut u32, files: &'a [Cell]) -> Vec<(&'a Cell, Outcome)> {
    let specs: Vec<(String, &str)> = files.iter().map(|c| (file_of(c), c.code.as_str())).collect();
    let spec_refs: Vec<(&str, &str)> = specs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let started: Vec<&Cell> = files.iter().filter(|c| c.start).collect();
    let mut ids = Vec::new();
    let mut early: Vec<ServerMsg> = Vec::new();
    for (i, cell) in started.iter().enumerate() {
        *run_id += 1;
        ids.push(*run_id);
        let last = i + 1 == started.len();
        let files = if i == 0 { spec_refs.as_slice() } else { &[] };
        client.start_with_input(*run_id, files, &file_of(cell), !last, cell.stdin.as_deref()).await;
        if !last {
            // Wait for Listening or Exit of this program, keeping every message for later.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let Some(msg) = client.try_recv(left).await else { break };
                let ready = matches!(&msg, ServerMsg::Listening { run_id: r } if r == run_id)
                    || matches!(&msg, ServerMsg::Exit(e) if e.run_id == *run_id);
                early.push(msg);
                if ready {
                    break;
                }
            }
        }
    }
    let mut outs = client.collect_all_after(&ids, early).await;
    started.into_iter().zip(ids).map(|(c, id)| (c, outs.remove(&id).expect("collected"))).collect()
}

/// Checks `code` as the page's Check does: the course's checks, run and judged by the server.
async fn attempt(client: &mut Client, run_id: &mut u32, lesson: &str, cell: &Cell, code: &str) -> (CheckReport, Outcome) {
    *run_id += 1;
    let msg = ClientMsg::Check { run_id: *run_id, lesson: lesson.into(), cell: cell.id.clone(), code: code.into() };
    client.send(&msg).await;
    client.send(&ClientMsg::CloseStdin { run_id: *run_id }).await;
    let out = client.collect(*run_id).await;
    let report = out.events.iter().find_map(|m| match m {
        ServerMsg::Checked { report, .. } => Some(report.clone()),
        _ => None,
    });
    (report.unwrap_or_else(|| panic!("no verdict for {}: {}", cell.id, out.combined)), out)
}

async fn check_exercise(client: &mut Client, run_id: &mut u32, report: &mut Report, lesson: &str, lang: Lang, cell: &Cell) {
    let exercise = cell.exercise.as_ref().expect("exercise");
    let Some(solution) = &exercise.solution else {
        return report.check(false, cell, || "no ```solution block".into());
    };
    let (verdict, out) = attempt(client, run_id, lesson, cell, solution).await;
    report.check(verdict.passed, cell, || format!("the solution does not pass its checks: {verdict:?}\n{}", out.combined));
    // The server checked with this language's checks (their descriptions are in its source),
    // and worded its traffic verdict, the last line, in the page's language.
    let mut lines: Vec<&str> = verdict.results.iter().map(|l| l.description.as_str()).collect();
    if let Some(traffic) = exercise.traffic {
        let rule = shared::capture::traffic::Judge::new(traffic).rule(lang);
        let last = lines.pop().unwrap_or_default();
        report.check(last.starts_with(&rule), cell, || format!("the traffic verdict is not in the page's language: {last}"));
    }
    let foreign: Vec<&str> = lines.into_iter().filter(|d| !exercise.check.contains(d)).collect();
    report.check(foreign.is_empty(), cell, || format!("checks not of this lesson's language ran: {foreign:?}"));
    let dir = root().join("tests/exercises").join(lesson);
    let prefix = format!("{}.wrong", cell.id);
    let mut wrongs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    wrongs.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with(&prefix) && name.ends_with(".py")
    });
    report.check(!wrongs.is_empty(), cell, || format!("no wrong solution in {}", dir.display()));
    for wrong in wrongs {
        let code = std::fs::read_to_string(&wrong).expect("wrong solution readable");
        let (verdict, _) = attempt(client, run_id, lesson, cell, &code).await;
        report.check(!verdict.passed, cell, || format!("{} passes the checks but is wrong", wrong.display()));
    }
}
