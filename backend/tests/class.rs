//! The class over real HTTP and WebSockets, with a real SQLite file in a temp dir and real
//! sandboxes: joining, identity across reconnects and restarts, the teacher's view and
//! Stop, progress, access control, course reloading, and start-up refusals.

mod support;

use classbook::app::App;
use classbook::class::db::Db;
use classbook::course::Course;
use classbook::sandbox;
use shared::wire::{ClientMsg, ServerMsg};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support::Client;

const TEACHER: &str = "teacher-secret-0123";

struct ClassServer {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ClassServer {
    /// Stops the server as SIGTERM does: tells students, closes sandboxes, flushes the file.
    async fn shut_down(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        self.app.shut_down().await;
    }
}

impl Drop for ClassServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Default)]
struct Setup {
    data: Option<PathBuf>,
    course: Option<PathBuf>,
    code: Option<&'static str>,
    max: Option<usize>,
    runs_per_student: Option<usize>,
    run_rate: Option<classbook::class::rate::Rate>,
    wrong_code_rate: Option<classbook::class::rate::Rate>,
}

async fn start(setup: Setup) -> ClassServer {
    let cfg = sandbox::Config::detect();
    classbook::probe_sandbox(&cfg).await.expect("sandboxes must work on the test machine");
    let course = Course::load(setup.course.as_deref()).expect("course");
    let mut app = App::new(course, Ok(cfg));
    if let Some(path) = &setup.data {
        let path = path.clone();
        app.class.db = tokio::task::spawn_blocking(move || Db::open(&path)).await.unwrap().expect("the class database opens");
    }
    app.class.teacher_token = TEACHER.into();
    app.class.access_code = setup.code.map(str::to_string);
    if let Some(max) = setup.max {
        app.class.max_students = max;
    }
    if let Some(n) = setup.runs_per_student {
        app.runs_per_student = n;
    }
    if let Some(rate) = setup.run_rate {
        app.class.run_rate = rate;
    }
    if let Some(rate) = setup.wrong_code_rate {
        app.class.wrong_codes = classbook::class::rate::PerAddress::new(rate);
    }
    let app = Arc::new(app);
    if let Some(dir) = setup.course {
        classbook::class::watch::spawn(app.clone(), dir);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(classbook::serve(listener, app.clone(), async move {
        let _ = stopped.await;
    }));
    ClassServer { addr, app, stop: Some(stop) }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("classbook-class-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn token(n: u8) -> String {
    format!("{:032x}", 0x000c_1a55_0000_u64 + n as u64)
}

/// One HTTP/1.1 request; the status and the body.
async fn http(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>, body: Option<serde_json::Value>) -> (u16, String) {
    let bearer = auth.map(|a| format!("Bearer {a}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    let reply = support::http(addr, method, path, &headers, body.map(|b| b.to_string()).as_deref()).await;
    (reply.status, reply.body)
}

async fn teacher_get(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, Some(TEACHER), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

async fn join(addr: SocketAddr, token: &str, name: &str, code: Option<&str>) -> (u16, serde_json::Value) {
    let (status, body) =
        http(addr, "POST", "/api/join", None, Some(serde_json::json!({"token": token, "name": name, "code": code}))).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

/// Polls `f` until it returns `Some`, up to 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 20 s")
}

/// The next message that `pick` accepts, skipping others.
async fn next_matching<T>(c: &mut Client, mut pick: impl FnMut(ServerMsg) -> Option<T>) -> T {
    loop {
        if let Some(v) = pick(c.recv().await) {
            return v;
        }
    }
}

fn first_exercise() -> (String, String) {
    let course = Course::load(None).unwrap();
    course
        .lessons()
        .iter()
        .find_map(|l| l.cells().find(|c| c.exercise.is_some()).map(|c| (l.id.clone(), c.id.clone())))
        .expect("the course has an exercise")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_keeps_the_students_identity_and_sandbox() {
    let server = start(Setup::default()).await;
    let t = token(1);
    let (status, first) = join(server.addr, &t, "Li Lei", None).await;
    assert_eq!(status, 200, "{first}");
    let mut c = Client::connect_to(server.addr, &t).await;
    let out = c.run(1, "open('mark.txt', 'w').write('kept')\nprint('written')").await;
    assert_eq!(out.stdout, "written\n");
    c.close().await;

    let (_, again) = join(server.addr, &t, "Li Lei (laptop)", None).await;
    assert_eq!(again["id"], first["id"], "joining again keeps the id");
    let mut c = Client::connect_to(server.addr, &t).await;
    let out = c.run(2, "print(open('mark.txt').read())").await;
    assert_eq!(out.stdout, "kept\n", "the same sandbox and /work after reconnecting");

    let students = teacher_get(server.addr, "/api/teacher/students").await;
    let list = students.as_array().unwrap();
    assert_eq!(list.len(), 1, "{students}");
    assert_eq!(list[0]["id"], first["id"]);
    assert_eq!(list[0]["name"], "Li Lei (laptop)");
    assert_eq!(list[0]["online"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_teacher_sees_a_running_program_and_stops_it() {
    let server = start(Setup { runs_per_student: Some(1), ..Default::default() }).await;
    let t = token(2);
    let (_, joined) = join(server.addr, &t, "Han Meimei", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    c.send(&ClientMsg::Viewing { lesson: Some("tcp-echo".into()) }).await;
    let busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint('up', flush=True)\ntime.sleep(120)\n";
    c.start(5, &[("server.py", busy)], "server.py", false).await;
    next_matching(&mut c, |m| matches!(m, ServerMsg::Output { run_id: 5, .. }).then_some(())).await;

    let me = eventually("the running program in the teacher's list", || async {
        let students = teacher_get(server.addr, "/api/teacher/students").await;
        let me = students.as_array().unwrap().iter().find(|s| s["id"] == joined["id"]).cloned()?;
        (me["runs"].as_array()?.len() == 1 && me["lesson"] == "tcp-echo").then_some(me)
    })
    .await;
    let run = &me["runs"][0];
    assert_eq!((run["run_id"].as_u64(), run["entry"].as_str(), run["state"].as_str()), (Some(5), Some("server.py"), Some("running")));
    assert!(run["elapsed_ms"].as_u64().unwrap() < 60_000);
    let cpu = run["cpu_ms"].as_u64().expect("the CPU time of a running program is known");
    assert!((250..60_000).contains(&cpu), "{cpu} ms of CPU after a 0.3 s busy loop");
    let rss = run["memory_bytes"].as_u64().expect("the memory of a running program is known");
    assert!((1 << 20..1 << 30).contains(&rss), "a running python has a few MiB resident: {rss}");
    if let Some(mem) = me["memory_bytes"].as_u64() {
        assert!(mem > 1 << 20, "a sandbox with python in it uses more than 1 MiB: {mem}");
    }
    assert!(me["last_active_ms"].as_i64().unwrap() > 1_600_000_000_000);

    // A second program waits in the student's queue (one run at a time here); the teacher
    // stops it there, and the page is told who stopped it.
    c.start(6, &[("again.py", "print('never')\n")], "again.py", false).await;
    next_matching(&mut c, |m| matches!(m, ServerMsg::Queued { run_id: 6, .. }).then_some(())).await;
    let stop = serde_json::json!({"student": joined["id"], "run_id": 6});
    let (status, body) = http(server.addr, "POST", "/api/teacher/stop", Some(TEACHER), Some(stop)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"stopped":1}"#));
    let error = next_matching(&mut c, |m| match m {
        ServerMsg::Error { run_id: Some(6), message } => Some(message),
        _ => None,
    })
    .await;
    assert_eq!(error, "stopped by the teacher while it waited in the queue");

    let stop = serde_json::json!({"student": joined["id"], "run_id": 5});
    let (status, body) = http(server.addr, "POST", "/api/teacher/stop", Some(TEACHER), Some(stop)).await;
    assert_eq!((status, body.as_str()), (200, r#"{"stopped":1}"#));
    let exit = next_matching(&mut c, |m| match m {
        ServerMsg::Exit(e) if e.run_id == 5 => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(exit.reason.as_deref(), Some("stopped by the teacher"), "{exit:?}");
    eventually("the stopped program gone from the list", || async {
        let students = teacher_get(server.addr, "/api/teacher/students").await;
        students[0]["runs"].as_array()?.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passed_exercise_shows_in_progress_and_survives_a_restart() {
    let dir = temp_dir("restart");
    let data = dir.join("class.sqlite3");
    let (lesson, cell) = first_exercise();
    let key = format!("{lesson}/{cell}");
    let server = start(Setup { data: Some(data.clone()), ..Default::default() }).await;
    let t = token(3);
    join(server.addr, &t, "Wang", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    c.send(&ClientMsg::ExerciseResult { lesson: lesson.clone(), cell: cell.clone(), passed: false }).await;
    c.send(&ClientMsg::ExerciseResult { lesson: lesson.clone(), cell: cell.clone(), passed: true }).await;
    c.send(&ClientMsg::ExerciseResult { lesson: "no-such-lesson".into(), cell: "x".into(), passed: true }).await;
    let err = next_matching(&mut c, |m| match m {
        ServerMsg::Error { message, .. } => Some(message),
        _ => None,
    })
    .await;
    assert!(err.contains("no-such-lesson"), "{err}");

    let progress = eventually("the passed exercise in the grid", || async {
        let p = teacher_get(server.addr, "/api/teacher/progress").await;
        (p["students"][0]["results"][&key] == "passed").then_some(p)
    })
    .await;
    assert!(progress["exercises"].as_array().unwrap().iter().any(|e| e["lesson"] == lesson && e["cell"] == cell));
    assert_eq!(progress["students"][0]["name"], "Wang");
    let (status, csv) = http(server.addr, "GET", "/api/teacher/progress.csv?lang=en", Some(TEACHER), None).await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == key).unwrap_or_else(|| panic!("{key} in {header:?}"));
    assert_eq!((header[0], row[0], row[col]), ("name", "Wang", "passed"));
    c.close().await;
    server.shut_down().await;

    // A new server on the same file.
    let server = start(Setup { data: Some(data), ..Default::default() }).await;
    let p = teacher_get(server.addr, "/api/teacher/progress").await;
    assert_eq!(p["students"][0]["results"][&key], "passed", "{p}");
    let (_, again) = join(server.addr, &t, "Wang", None).await;
    assert_eq!(again["id"], p["students"][0]["id"], "the student keeps their id across the restart");
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn teacher_endpoints_refuse_a_student_token_and_no_token() {
    let server = start(Setup::default()).await;
    let t = token(4);
    join(server.addr, &t, "Zhao", None).await;
    let endpoints = [
        ("GET", "/api/teacher/students", None),
        ("GET", "/api/teacher/progress", None),
        ("GET", "/api/teacher/progress.csv", None),
        ("GET", "/api/teacher/course", None),
        ("GET", "/api/teacher/backup", None),
        ("POST", "/api/teacher/stop", Some(serde_json::json!({"student": 1}))),
        ("POST", "/api/teacher/message", Some(serde_json::json!({"message": "hi"}))),
        ("POST", "/api/teacher/goto", Some(serde_json::json!({"lesson": "closures"}))),
    ];
    for (method, path, body) in &endpoints {
        for auth in [None, Some(t.as_str()), Some("teacher-secret-0124"), Some("")] {
            let (status, reply) = http(server.addr, method, path, auth, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {reply}");
            assert!(reply.contains("\"error\""), "{reply}");
        }
        let (status, reply) = http(server.addr, method, path, Some(TEACHER), body.clone()).await;
        assert_eq!(status, 200, "{method} {path} as the teacher: {reply}");
    }
    let (status, _) = http(server.addr, "POST", "/api/teacher/goto", Some(TEACHER), Some(serde_json::json!({"lesson": "nope"}))).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_and_goto_reach_every_connected_student() {
    let server = start(Setup::default()).await;
    let (mut a, mut b) = (Client::connect_to(server.addr, &token(5)).await, Client::connect_to(server.addr, &token(6)).await);
    let (status, _) = http(server.addr, "POST", "/api/teacher/message", Some(TEACHER), Some(serde_json::json!({"message": "5 minutes left"}))).await;
    assert_eq!(status, 200);
    http(server.addr, "POST", "/api/teacher/goto", Some(TEACHER), Some(serde_json::json!({"lesson": "closures"}))).await;
    for c in [&mut a, &mut b] {
        let notice = next_matching(c, |m| match m {
            ServerMsg::Notice { message } => Some(message),
            _ => None,
        })
        .await;
        assert_eq!(notice, "5 minutes left");
        let lesson = next_matching(c, |m| match m {
            ServerMsg::Goto { lesson } => Some(lesson),
            _ => None,
        })
        .await;
        assert_eq!(lesson, "closures");
    }
    let students = teacher_get(server.addr, "/api/teacher/students").await;
    assert!(students.as_array().unwrap().iter().all(|s| s["name"] == "anonymous"), "{students}");
}

const LESSON: &str = "---\ntitle: First version\norder: 1\n---\n\nSome text.\n\n```python {id=hello}\nprint('hi')\n```\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_lesson_edit_reaches_a_connected_student_and_a_broken_one_keeps_the_old() {
    let dir = temp_dir("watch");
    let file = dir.join("intro.md");
    std::fs::write(&file, LESSON).unwrap();
    let server = start(Setup { course: Some(dir.clone()), ..Default::default() }).await;
    let mut c = Client::connect_to(server.addr, &token(7)).await;

    std::fs::write(&file, LESSON.replace("First version", "Second version")).unwrap();
    let changed = tokio::time::timeout(
        Duration::from_secs(20),
        next_matching(&mut c, |m| match m {
            ServerMsg::CourseChanged { lessons } => Some(lessons),
            _ => None,
        }),
    )
    .await
    .expect("CourseChanged within 20 s");
    assert_eq!(changed, ["intro"]);
    let (status, lesson) = http(server.addr, "GET", "/api/lessons/intro", None, None).await;
    assert_eq!(status, 200);
    assert!(lesson.contains("Second version"), "{lesson}");

    // Line 8 holds an unknown runtime.
    std::fs::write(&file, LESSON.replace("Second", "Third").replace("{id=hello}", "{id=hello runtime=moon}")).unwrap();
    let course = eventually("the error on the teacher's course view", || async {
        let v = teacher_get(server.addr, "/api/teacher/course").await;
        (!v["errors"].as_array()?.is_empty()).then_some(v)
    })
    .await;
    let e = &course["errors"][0];
    assert!(e["file"].as_str().unwrap().ends_with("intro.md"), "{course}");
    assert_eq!(e["line"], 8, "{course}");
    // Worded in the teacher page's language (`?lang=`, as its `Accept-Language` also says).
    assert_eq!(e["message"], "runtime 必须是 'browser' 或 'server'，不能是 'moon'", "{course}");
    let en = teacher_get(server.addr, "/api/teacher/course?lang=en").await;
    assert_eq!((&en["errors"][0]["message"], &en["errors"][0]["line"]), (&"runtime must be 'browser' or 'server', not 'moon'".into(), &8.into()), "{en}");
    assert_eq!(course["lessons"], 1);
    let (_, lesson) = http(server.addr, "GET", "/api/lessons/intro", None, None).await;
    assert!(lesson.contains("Second version"), "the last valid version is still served: {lesson}");

    std::fs::write(&file, LESSON.replace("First", "Fixed")).unwrap();
    eventually("the errors cleared once the file is valid", || async {
        let v = teacher_get(server.addr, "/api/teacher/course").await;
        v["errors"].as_array()?.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn joining_needs_the_right_code_and_room_in_the_class() {
    let guessing = classbook::class::rate::Rate { burst: 10.0, per_sec: 0.01 };
    let server = start(Setup { code: Some("4711"), max: Some(1), wrong_code_rate: Some(guessing), ..Default::default() }).await;
    let (status, info) = http(server.addr, "GET", "/api/class", None, None).await;
    assert_eq!(status, 200);
    assert!(info.contains(r#""needs_code":true"#), "{info}");

    let (status, body) = join(server.addr, &token(8), "Sun", Some("4712")).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("访问码不对")), "the class's language without a request's");
    let wrong = serde_json::json!({"token": token(8), "name": "Sun", "code": "4713"}).to_string();
    let reply = support::http(server.addr, "POST", "/api/join", &[("Accept-Language", "en-GB,en;q=0.9,zh;q=0.5")], Some(&wrong)).await;
    assert_eq!((reply.status, reply.body.as_str()), (403, r#"{"error":"wrong access code"}"#));
    let reply = support::http(server.addr, "POST", "/api/join?lang=zh", &[("Accept-Language", "en")], Some(&wrong)).await;
    assert_eq!((reply.status, reply.body.as_str()), (403, r#"{"error":"访问码不对"}"#), "?lang= wins over Accept-Language");
    let (status, _) = join(server.addr, &token(8), "", Some("4711")).await;
    assert_eq!(status, 400);

    // Not joined yet: the session is refused with a reason.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/session?token={}", server.addr, token(8))).await.unwrap();
    use futures_util::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    let msg: ServerMsg = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(msg, ServerMsg::Refused { reason: shared::wire::Refusal::JoinFirst });

    let (status, _) = join(server.addr, &token(8), "Sun", Some("4711")).await;
    assert_eq!(status, 200);
    let mut c = Client::connect_to(server.addr, &token(8)).await;
    assert_eq!(c.run(1, "print(6*7)").await.stdout, "42\n");
    let (status, body) = join(server.addr, &token(9), "Zhou", Some("4711")).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("班级已满（1 名学生）")));

    // Guessing: after a burst of wrong codes, every code from that machine is refused for a
    // while, the right one too (other machines are not: see class::tests).
    let mut statuses = Vec::new();
    for guess in 0..12 {
        statuses.push(join(server.addr, &token(8), "Sun", Some(&format!("{guess:04}"))).await.0);
    }
    assert!(statuses.iter().all(|s| [403, 429].contains(s)) && statuses.contains(&429), "{statuses:?}");
    let (status, _) = join(server.addr, &token(8), "Sun", Some("4711")).await;
    assert_eq!(status, 429, "the right code learns nothing while guessing is refused");
}

fn serve_with_data(data: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_classbook"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove("CLASSBOOK_CONFIG")
        .output()
        .expect("classbook runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_or_locked_database_file_stops_the_start_with_a_clear_error() {
    let dir = temp_dir("corrupt");
    let corrupt = dir.join("class.sqlite3");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&corrupt, &junk).unwrap();
    let out = serve_with_data(&corrupt);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&corrupt.display().to_string()) && stderr.contains("not a SQLite database"), "{stderr}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), junk, "the file is left as it was");

    let locked = dir.join("held.sqlite3");
    let holder = Db::open(&locked).unwrap();
    let out = serve_with_data(&locked);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&locked.display().to_string()) && stderr.contains("in use by another process"), "{stderr}");
    holder.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_tells_the_students_and_flushes_the_database() {
    let dir = temp_dir("sigterm");
    let data = dir.join("class.sqlite3");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_classbook"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--teacher-token", TEACHER, "--data"])
        .arg(&data)
        .env_remove("CLASSBOOK_CONFIG")
        .stderr(std::process::Stdio::null());
    let (mut server, addr, rx) = support::serve_binary(cmd);
    let teacher_line = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(5)).ok()).find(|l| l.contains("teacher page"));
    assert!(teacher_line.is_some_and(|l| l.contains(&format!("/#/teacher?token={TEACHER}"))));

    let (lesson, cell) = first_exercise();
    let mut c = Client::connect_to(addr, &token(10)).await;
    c.send(&ClientMsg::ExerciseResult { lesson: lesson.clone(), cell: cell.clone(), passed: true }).await;
    c.start(1, &[("wait.py", "import time\nprint('waiting', flush=True)\ntime.sleep(120)\n")], "wait.py", false).await;
    next_matching(&mut c, |m| matches!(m, ServerMsg::Output { run_id: 1, .. }).then_some(())).await;

    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let notice = next_matching(&mut c, |m| match m {
        ServerMsg::Notice { message } => Some(message),
        _ => None,
    })
    .await;
    assert!(notice.contains("stopping"), "{notice}");
    let mut closed = false;
    for _ in 0..50 {
        if c.try_recv(Duration::from_secs(10)).await.is_none() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the server closes the connection");
    let status = tokio::task::spawn_blocking(move || server.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let wal = std::fs::metadata(dir.join("class.sqlite3-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0, "the WAL was checkpointed into the database file");
    let db = Db::open(&data).unwrap();
    let results = db.results().await.unwrap();
    assert!(results.iter().any(|r| r.lesson == lesson && r.cell == cell && r.passed), "{results:?}");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_beyond_the_rate_limit_get_a_clear_error() {
    let rate = classbook::class::rate::Rate { burst: 2.0, per_sec: 0.01 };
    let server = start(Setup { run_rate: Some(rate), ..Default::default() }).await;
    let mut c = Client::connect_to(server.addr, &token(11)).await;
    assert_eq!(c.run(1, "print(1)").await.stdout, "1\n");
    assert_eq!(c.run(2, "print(2)").await.stdout, "2\n");
    c.start(3, &[("main.py", "print(3)")], "main.py", false).await;
    let (id, message) = next_matching(&mut c, |m| match m {
        ServerMsg::Error { run_id, message } => Some((run_id, message)),
        ServerMsg::Started { run_id: 3, .. } => panic!("run 3 started beyond the limit"),
        _ => None,
    })
    .await;
    assert_eq!(id, Some(3));
    assert!(message.contains("too many programs started"), "{message}");
    // Other messages still work.
    c.send(&ClientMsg::Viewing { lesson: Some("closures".into()) }).await;
    let students = eventually("the lesson in the teacher's list", || async {
        let s = teacher_get(server.addr, "/api/teacher/students").await;
        (s[0]["lesson"] == "closures").then_some(s)
    })
    .await;
    assert_eq!(students[0]["online"], true);
}

/// A server exercise's check through the real WebSocket and sandbox: its `Checked` and exit.
async fn check_on_server(c: &mut Client, run_id: u32, lesson: &str, cell: &str, code: &str) -> (shared::check::CheckReport, String) {
    let msg = ClientMsg::Check { run_id, lesson: lesson.into(), cell: cell.into(), code: code.into() };
    c.send(&msg).await;
    let (mut report, mut output) = (None, String::new());
    loop {
        match c.recv().await {
            ServerMsg::Output { run_id: r, data, .. } if r == run_id => output.push_str(&data),
            ServerMsg::Checked { run_id: r, report: got } if r == run_id => report = Some(got),
            ServerMsg::Exit(e) if e.run_id == run_id => break,
            ServerMsg::Error { run_id: Some(r), message } if r == run_id => panic!("check failed to run: {message}"),
            _ => {}
        }
    }
    (report.expect("a Checked before the Exit"), output)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_exercise_is_judged_by_the_server_and_not_by_what_it_prints() {
    let server = start(Setup::default()).await;
    let t = token(9);
    join(server.addr, &t, "Zhao", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    let key = "udp-chat/udp-sum";
    let grid = || async { teacher_get(server.addr, "/api/teacher/progress").await["students"][0]["results"][key].clone() };

    // Printing the check marks passes nothing: the checks did not run (nothing to import).
    let (forged, output) = check_on_server(&mut c, 1, "udp-chat", "udp-sum", "print(\"\u{2714} 我写完了\")\n").await;
    assert!(output.contains("\u{2714} 我写完了"), "the program's own output still shows: {output}");
    assert!(!forged.passed, "{forged:?}");
    assert_eq!(forged.results.len(), 4, "every check is reported: {forged:?}");
    assert!(forged.results.iter().all(|r| r.status == shared::check::Status::NotRun), "{forged:?}");
    assert!(forged.error.as_deref().unwrap_or("").contains("ImportError"), "{forged:?}");
    // The page cannot claim a pass for a server exercise either.
    c.send(&ClientMsg::ExerciseResult { lesson: "udp-chat".into(), cell: "udp-sum".into(), passed: true }).await;
    let err = next_matching(&mut c, |m| match m {
        ServerMsg::Error { run_id: None, message } => Some(message),
        _ => None,
    })
    .await;
    assert!(err.contains("checked on the server"), "{err}");
    assert_eq!(grid().await, "tried", "the forged check is recorded as an attempt that did not pass");

    // A missing colon: the student's SyntaxError, not an error of the checks.
    let broken = "import socket\n\ndef serve(port, count)\n    pass\n";
    let (syntax, output) = check_on_server(&mut c, 2, "udp-chat", "udp-sum", broken).await;
    let error = syntax.error.clone().unwrap_or_default();
    assert!(!syntax.passed && error.contains("SyntaxError") && !error.contains("NameError"), "{syntax:?}");
    assert!(output.contains("SyntaxError"), "the student's error is shown as python3 shows it: {output}");

    // A real solution passes, and the server records it.
    let course = Course::load(None).unwrap();
    let cell = course.lesson("udp-chat").unwrap().cells().find(|c| c.id == "udp-sum").unwrap().clone();
    let solution = cell.exercise.unwrap().solution.unwrap();
    let (good, _) = check_on_server(&mut c, 3, "udp-chat", "udp-sum", &solution).await;
    assert!(good.passed && good.error.is_none(), "{good:?}");
    eventually("the server's pass in the grid", || async { (grid().await == "passed").then_some(()) }).await;
    c.close().await;
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_traffic_property_is_judged_by_the_server_from_the_packets_it_captured() {
    let server = start(Setup::default()).await;
    let t = token(12);
    join(server.addr, &t, "Sun", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    let key = "tcp-framing/one-send";
    let grid = || async { teacher_get(server.addr, "/api/teacher/progress").await["students"][0]["results"][key].clone() };
    let wrong = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/exercises/tcp-framing/one-send.wrong2.py")).unwrap();
    assert!(wrong.contains("time.sleep(0.05)"), "the header, a pause, then the body");
    let traffic = |r: &shared::check::CheckReport| r.results.last().map(|l| (l.status, l.description.clone())).unwrap();

    // Header and body in two sends, a pause between: every Python check passes (the stream is
    // right), but the capture saw each header cross alone, and the verdict says so, in Chinese.
    c.send(&ClientMsg::Language { lang: shared::lang::Lang::Zh }).await;
    let (zh, _) = check_on_server(&mut c, 1, "tcp-framing", "one-send", &wrong).await;
    assert!(!zh.passed && zh.error.is_none(), "{zh:?}");
    assert_eq!(zh.results.len(), 3, "two Python checks and the traffic's: {zh:?}");
    assert!(zh.results[..2].iter().all(|r| r.status == shared::check::Status::Passed), "{zh:?}");
    let (status, said) = traffic(&zh);
    assert_eq!(status, shared::check::Status::Failed);
    assert!(said.contains("第 1 个数据段只有 4 字节的长度头（它说后面有 4 字节）") && said.contains("一次 sendall"), "{said}");
    eventually("the failed attempt in the grid", || async { (grid().await == "tried").then_some(()) }).await;

    // The same in English for a page in English.
    c.send(&ClientMsg::Language { lang: shared::lang::Lang::En }).await;
    let (en, _) = check_on_server(&mut c, 2, "tcp-framing", "one-send", &wrong).await;
    let (status, said) = traffic(&en);
    assert!(!en.passed && status == shared::check::Status::Failed, "{en:?}");
    assert!(said.contains("data segment 1 carried only the 4-byte length header (it says 4 bytes follow)") && said.contains("one sendall"), "{said}");

    // The lesson's solution sends each message whole: it passes, and the server records it.
    let course = Course::load(None).unwrap();
    let lesson = course.lesson_in("tcp-framing", "en").unwrap();
    let solution = lesson.cells().find(|c| c.id == "one-send").and_then(|c| c.exercise.clone()).and_then(|e| e.solution).unwrap();
    let (good, _) = check_on_server(&mut c, 3, "tcp-framing", "one-send", &solution).await;
    assert!(good.passed, "{good:?}");
    assert!(traffic(&good).1.ends_with("4 data segments, each one whole message"), "{good:?}");
    eventually("the server's pass in the grid", || async { (grid().await == "passed").then_some(()) }).await;
    c.close().await;
    server.shut_down().await;
}

/// The hand as the teacher's list shows it (`hand_ms` set while raised).
async fn hand_in_list(addr: SocketAddr) -> bool {
    !teacher_get(addr, "/api/teacher/students").await[0]["hand_ms"].is_null()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raised_hand_is_told_to_every_page_that_connects_until_lowered_or_answered() {
    let server = start(Setup::default()).await;
    let t = token(10);
    join(server.addr, &t, "Qian", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    assert!(!c.hand, "a new student's hand is down");
    c.send(&ClientMsg::RaiseHand { raised: true }).await;
    eventually("the hand in the teacher's list", || async { hand_in_list(server.addr).await.then_some(()) }).await;
    // A reloaded page (a new connection with the same token) learns the hand is up.
    c.close().await;
    let mut c = Client::connect_to(server.addr, &t).await;
    assert!(c.hand, "the Hello of a reloaded page says the hand is up");
    // Lowered from that page: the next one hears it is down.
    c.send(&ClientMsg::RaiseHand { raised: false }).await;
    eventually("the hand down in the teacher's list", || async { (!hand_in_list(server.addr).await).then_some(()) }).await;
    c.close().await;
    let mut c = Client::connect_to(server.addr, &t).await;
    assert!(!c.hand, "lowered after a reload");
    // Answered by the teacher: down for the next page as well.
    c.send(&ClientMsg::RaiseHand { raised: true }).await;
    eventually("raised again", || async { hand_in_list(server.addr).await.then_some(()) }).await;
    let id = teacher_get(server.addr, "/api/teacher/students").await[0]["id"].clone();
    let (status, body) = http(server.addr, "POST", "/api/teacher/answer", Some(TEACHER), Some(serde_json::json!({"student": id}))).await;
    assert_eq!(status, 200, "{body}");
    next_matching(&mut c, |m| matches!(m, ServerMsg::HandAnswered).then_some(())).await;
    c.close().await;
    assert!(!Client::connect_to(server.addr, &t).await.hand, "answered: down after a reload");
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_output_of_each_file_of_a_server_group_is_kept_bounded_for_the_teacher_and_a_restore() {
    use classbook::class::work::MAX_CELL_OUTPUT;
    let server = start(Setup::default()).await;
    let t = token(11);
    let (_, joined) = join(server.addr, &t, "Sun", None).await;
    let mut c = Client::connect_to(server.addr, &t).await;
    // Each started file of the tcp-echo group ("echo") has its own output, as the page shows it.
    let save = |cell: &str, output: String| ClientMsg::SaveOutput { lesson: "tcp-echo".into(), cell: cell.into(), output };
    c.send(&save("echo-server", "服务器：在 127.0.0.1:5000 等待连接\n".into())).await;
    // More than a cell keeps: its last part is kept.
    c.send(&save("echo-client", format!("{}客户端收到： ECHO\n", "x".repeat(MAX_CELL_OUTPUT)))).await;
    // A file of no group of the lesson is refused, and answers that the saves before it were handled.
    c.send(&save("echo", "x".into())).await;
    let err = next_matching(&mut c, |m| match m {
        ServerMsg::Error { run_id: None, message } => Some(message),
        _ => None,
    })
    .await;
    assert!(err.contains("no cell 'echo'"), "{err}");
    let work = teacher_get(server.addr, &format!("/api/teacher/work?student={}", joined["id"])).await;
    let output = |w: &serde_json::Value, cell: &str| {
        w["cells"].as_array().unwrap().iter().find(|k| k["lesson"] == "tcp-echo" && k["cell"] == cell).map(|k| k["output"].as_str().unwrap().to_string())
    };
    assert_eq!(output(&work, "echo-server").as_deref(), Some("服务器：在 127.0.0.1:5000 等待连接\n"), "{work}");
    let client = output(&work, "echo-client").expect("the client's output kept");
    assert_eq!(client.len(), MAX_CELL_OUTPUT);
    assert!(client.ends_with("客户端收到： ECHO\n"), "the last part kept");
    // The student's own page gets it back too (a restore on a wiped machine).
    let (status, mine) = http(server.addr, "GET", "/api/work", Some(&t), None).await;
    assert_eq!(status, 200, "{mine}");
    let mine: serde_json::Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(output(&mine, "echo-client").as_deref(), Some(client.as_str()));
    c.close().await;
    server.shut_down().await;
}

/// `classbook check-course` with `args` (and no language from this test's environment).
fn check_course(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_classbook"))
        .arg("check-course")
        .args(args)
        .env_remove("CLASSBOOK_LANG")
        .env_remove("CLASSBOOK_CONFIG")
        .output()
        .expect("classbook runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_course_names_a_broken_lessons_file_and_line_in_the_class_language() {
    // A copy of the course with one lesson broken at a known line.
    let dir = temp_dir("check-course");
    let course = Path::new(env!("CARGO_MANIFEST_DIR")).join("../course");
    let mut originals = Vec::new();
    for entry in std::fs::read_dir(&course).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            std::fs::copy(&path, dir.join(&name)).unwrap();
            if name.matches('.').count() == 1 && name != "README.md" {
                originals.push(name);
            }
        }
    }
    originals.sort();
    let broken = dir.join(&originals[0]);
    let text = std::fs::read_to_string(&broken).unwrap();
    let text = text.trim_end();
    let line = text.lines().count() + 2;
    std::fs::write(&broken, format!("{text}\n\n```python {{runtime=moon}}\nprint(1)\n```\n")).unwrap();
    let at = format!("{}:{line}: ", broken.display());
    let dir_arg = dir.to_str().unwrap();

    let (ok, _, stderr) = check_course(&[dir_arg, "--lang", "en"]);
    assert!(!ok);
    assert!(stderr.contains(&format!("{at}runtime must be 'browser' or 'server', not 'moon'")), "{stderr}");
    assert!(stderr.contains("problem(s); nothing was served"), "{stderr}");
    let (ok, _, stderr) = check_course(&[dir_arg, "--lang", "zh"]);
    assert!(!ok);
    assert!(stderr.contains(&format!("{at}runtime 必须是 'browser' 或 'server'，不能是 'moon'")), "{stderr}");
    assert!(!stderr.contains("must be"), "{stderr}");
    // Without --lang: the class's language as `serve` takes it, from the settings file here...
    let settings = dir.join("settings.toml");
    std::fs::write(&settings, "lang = \"en\"\nmax-students = 30\n").unwrap();
    let (_, _, stderr) = check_course(&[dir_arg, "--config", settings.to_str().unwrap()]);
    assert!(stderr.contains(&format!("{at}runtime must be")), "{stderr}");
    // ...else the course's first (Chinese).
    let (_, _, stderr) = check_course(&[dir_arg]);
    assert!(stderr.contains(&format!("{at}runtime 必须是")), "{stderr}");

    // The course as shipped is valid, and says so in either language.
    let course_arg = course.to_str().unwrap();
    let (ok, stdout, stderr) = check_course(&[course_arg, "--lang", "en"]);
    assert!(ok && stdout.contains("lessons in zh, en, all valid"), "{stdout}{stderr}");
    let (ok, stdout, stderr) = check_course(&[course_arg, "--lang", "zh"]);
    assert!(ok && stdout.contains("全部有效"), "{stdout}{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
