//! Load command (not a test): a class of simulated students against the real `classbook serve`
//! binary over real WebSockets. Each student joins, then once a minute (at a random moment in
//! the minute's first 10 s, as when the teacher says "now run it") submits a browser
//! exercise's result and runs the tcp-echo lesson's echo group (server.py, then client.py
//! once the server listens) in their sandbox. Prints completed/failed demos, p50/p95 latency,
//! the server process's peak memory (VmHWM), and checks after SIGTERM that every result was
//! flushed to the class database.
//! `--lan`: every student speaks as a page opened over plain http from the LAN (Host and Origin
//! `classroom.test:PORT`, the connection still to loopback) and, each minute, also does what its
//! Python worker does there without shared memory: an `input()` answered through the relay, and
//! a `time.sleep(0.1)` waited in it; prints their latencies.
//! `--chaos` (needs 2 minutes or more): the class has an access code; the first minute is quiet,
//! and from the second on hostile students and strangers (tests/support/chaos.rs) do everything
//! at once while the class works; prints the demos' p95 in the quiet minute and during the
//! chaos, and whether it stayed within 2x.
//! Each student speaks from a loopback address of its own (127.0.1.x), as machines on a LAN.
//! Run: `cargo build --release -p classbook && cargo run --release -p classbook-e2e --bin bench-load -- --students 40 --minutes 5 [--lan] [--chaos]`.

use classbook::class::db::Db;
use classbook::course::Course;
use classbook_e2e::chaos::{self, percentile};
use classbook_e2e::LAN_NAME;
use std::net::IpAddr;
use futures_util::{SinkExt, StreamExt};
use shared::course::Block;
use shared::wire::{ClientMsg, FileSpec, RunRequest, ServerMsg};
use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TEACHER: &str = "bench-load-teacher-token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    completed: u64,
    failed: Vec<String>,
    latencies_ms: Vec<f64>,
    /// `--chaos`: the demos' latencies in the quiet first minute, and after it.
    quiet_ms: Vec<f64>,
    chaos_ms: Vec<f64>,
    /// `--lan`: the page's post to the worker's answer, for input(); and sleep(0.1)'s length.
    input_ms: Vec<f64>,
    sleep_ms: Vec<f64>,
}

/// `Host` as the students' pages send it: the server's address, or a LAN name (`--lan`).
static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn host() -> &'static str {
    HOST.get().expect("the host is set once the server is up")
}

#[tokio::main]
async fn main() {
    let students = arg("--students", 40) as usize;
    let minutes = arg("--minutes", 5);
    let lan = std::env::args().any(|a| a == "--lan");
    let chaos_mode = std::env::args().any(|a| a == "--chaos");
    assert!(!chaos_mode || minutes >= 2, "--chaos needs --minutes 2 or more: the first minute is the quiet reference");
    let code = chaos_mode.then_some(CODE);
    let exe = std::env::current_exe().unwrap().with_file_name("classbook");
    assert!(exe.exists(), "{} is missing: run `cargo build --release -p classbook` first", exe.display());
    let course = Course::load(None).expect("bundled course");
    let echo = course
        .lesson("tcp-echo")
        .and_then(|l| l.blocks.iter().find_map(|b| match b {
            Block::Group(g) if g.id == "echo" => Some(g.files.clone()),
            _ => None,
        }))
        .expect("the tcp-echo lesson has an echo group");
    let files: Vec<FileSpec> =
        echo.iter().map(|c| FileSpec { name: c.file.clone().expect("group files are named"), text: c.code.clone() }).collect();
    let exercise = course
        .lessons()
        .iter()
        .find_map(|l| {
            l.cells()
                .find(|c| c.exercise.is_some() && c.runtime == shared::course::Runtime::Browser)
                .map(|c| (l.id.clone(), c.id.clone()))
        })
        .expect("a browser exercise");

    let dir = std::env::temp_dir().join(format!("classbook-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("class.sqlite3");
    let mut server = std::process::Command::new(&exe)
        .args(["serve", "--bind", "127.0.0.1:0", "--teacher-token", TEACHER, "--max-students"])
        .arg((students + 10).to_string())
        .arg("--data")
        .arg(&data)
        .args(code.map(|c| ["--access-code", c]).into_iter().flatten())
        .env_remove("CLASSBOOK_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("classbook serve starts");
    // Read the banner for the address, and keep draining the server's output after it.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("serving") {
                let _ = tx.send(line);
            }
        }
    });
    let banner = rx.recv_timeout(Duration::from_secs(60)).expect("the server prints its banner");
    let addr: SocketAddr = banner
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner: {banner}"));
    HOST.set(if lan { format!("{LAN_NAME}:{}", addr.port()) } else { addr.to_string() }).unwrap();
    let mode = match (lan, chaos_mode) {
        (true, true) => "pages over plain http from the LAN, chaos from minute 2",
        (true, false) => "pages over plain http from the LAN",
        (false, true) => "pages on localhost, chaos from minute 2",
        (false, false) => "pages on localhost",
    };
    println!("server {} on {addr} (pid {}); {students} students × {minutes} minute(s); {mode}", exe.display(), server.id());

    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..students {
        let (tally, files, exercise) = (tally.clone(), files.clone(), exercise.clone());
        tasks.push(tokio::spawn(async move {
            let token = format!("{:032x}", 0xbe4c_0000u64 + s as u64);
            let body = serde_json::json!({"token": token, "name": format!("student {s}"), "code": code});
            let (status, reply) = http(student_ip(s), addr, "POST", "/api/join", Some(body)).await;
            assert_eq!(status, 200, "join: {reply}");
            let mut ws = connect(student_ip(s), addr, &token).await;
            let _hello = ws.next().await;
            send(&mut ws, &ClientMsg::Viewing { lesson: Some("tcp-echo".into()) }).await;
            let mut rng = 0x9e3779b97f4a7c15u64.wrapping_mul(s as u64 + 1);
            for m in 0..minutes {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let at = start + Duration::from_secs(60 * m) + Duration::from_millis(rng % 10_000);
                tokio::time::sleep_until(at.into()).await;
                let (lesson, cell) = exercise.clone();
                send(&mut ws, &ClientMsg::ExerciseResult { lesson, cell, passed: m % 2 == 1 }).await;
                let t = Instant::now();
                let result = echo_demo(&mut ws, (m as u32) * 10, &files).await;
                {
                    let mut tally = tally.lock().unwrap();
                    match result {
                        Ok(()) => {
                            let ms = t.elapsed().as_secs_f64() * 1e3;
                            tally.completed += 1;
                            tally.latencies_ms.push(ms);
                            if m == 0 { tally.quiet_ms.push(ms) } else { tally.chaos_ms.push(ms) }
                        }
                        Err(why) => tally.failed.push(format!("student {s}, minute {m}: {why}")),
                    }
                }
                if lan {
                    let channel = format!("{:032x}", 0x1a4_0000u64 + s as u64);
                    match relay_round(student_ip(s), addr, &channel, m as u32 + 1).await {
                        Ok((input, slept)) => {
                            let mut tally = tally.lock().unwrap();
                            tally.input_ms.push(input);
                            tally.sleep_ms.push(slept);
                        }
                        Err(why) => tally.lock().unwrap().failed.push(format!("student {s}, minute {m}, relay: {why}")),
                    }
                }
            }
            ws
        }));
    }
    // From the second minute, everything hostile at once, from machines of their own.
    let hostile = chaos_mode.then(|| {
        tokio::spawn(async move {
            tokio::time::sleep_until((start + Duration::from_secs(60)).into()).await;
            let (burn, leave) = (chaos::tag("burn", 2), chaos::tag("leave", 2));
            let tokens: Vec<String> = (0..5u64).map(|n| format!("{:032x}", 0xbad0_0000u64 + n)).collect();
            let (m, c) = (chaos::machine, Some(CODE));
            let (_, burned, _, bad, throttled, anonymous, idle) = tokio::join!(
                chaos::flood_without_reading(addr, m(66), &tokens[1], c, Duration::from_secs(45)),
                chaos::stop_helper_and_burn(addr, m(67), &tokens[2], c, &burn),
                chaos::queue_and_leave(addr, m(68), &tokens[3], c, &leave, 12),
                chaos::bad_input(addr, m(69), &tokens[4], c, 3000),
                chaos::guess_codes(addr, m(70), 60),
                chaos::anonymous_sessions(addr, m(71), 60),
                chaos::idle_connections(addr, m(72), 1100, Duration::from_secs(40)),
            );
            let left = chaos::alive_named(&burn) + chaos::alive_named(&leave);
            format!(
                "chaos: Stop with the helper stopped: {burned:?}; made-up results accepted: {bad:?}; wrong codes throttled: \
                 {throttled}/60; sessions that never joined admitted: {anonymous}/60; idle connections (half a request head) the server still kept after 40 s: {idle}/1100; \
                 hostile processes still alive after: {left}"
            )
        })
    });
    let mut sockets = Vec::new();
    for t in tasks {
        sockets.push(t.await.expect("a student task"));
    }
    // The class stays connected to the end of the last minute.
    tokio::time::sleep_until((start + Duration::from_secs(60 * minutes)).into()).await;
    let elapsed = start.elapsed();

    let (_, progress) = http_teacher(addr, "/api/teacher/progress").await;
    let progress: serde_json::Value = serde_json::from_str(&progress).unwrap();
    let key = format!("{}/{}", exercise.0, exercise.1);
    let recorded = progress["students"].as_array().unwrap().iter().filter(|s| !s["results"][&key].is_null()).count();
    let (_, list) = http_teacher(addr, "/api/teacher/students").await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let sandbox_mem: u64 = list.as_array().unwrap().iter().filter_map(|s| s["memory_bytes"].as_u64()).sum();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_string()).unwrap_or_default();
    let (hwm, rss) = (field("VmHWM:"), field("VmRSS:"));

    // SIGTERM: the server tells students, stops sandboxes, flushes the database.
    let stop = Instant::now();
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let mut notices = 0;
    for ws in &mut sockets {
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            if matches!(serde_json::from_str(t.as_str()), Ok(ServerMsg::Notice { .. })) {
                notices += 1;
                break;
            }
        }
    }
    let exit = tokio::task::spawn_blocking(move || server.wait()).await.unwrap().unwrap();
    let stopped_in = stop.elapsed();
    let db = tokio::task::spawn_blocking(move || Db::open(&data)).await.unwrap().expect("the database reopens after SIGTERM");
    let attempts: i64 = db.call(|c| c.query_row("SELECT COUNT(*) FROM attempts", [], |r| r.get(0))).await.unwrap();
    db.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let chaos_report = match hostile {
        Some(h) => Some(h.await.unwrap_or_else(|e| format!("chaos: the hostile task failed: {e}"))),
        None => None,
    };
    let t = tally.lock().unwrap();
    let mut lat = t.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&lat, p);
    let total = students as u64 * minutes;
    println!("ran for {:.1} s", elapsed.as_secs_f64());
    println!("echo demos: {} completed, {} failed of {total} ({:.1} % completed)", t.completed, t.failed.len(), 100.0 * t.completed as f64 / total as f64);
    for f in t.failed.iter().take(10) {
        println!("  failed: {f}");
    }
    println!("echo demo latency (Run to both exits): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms", pct(0.5), pct(0.95), lat.last().copied().unwrap_or(f64::NAN));
    if let Some(chaos_report) = chaos_report {
        println!("{chaos_report}");
        let (mut quiet, mut busy) = (t.quiet_ms.clone(), t.chaos_ms.clone());
        quiet.sort_by(f64::total_cmp);
        busy.sort_by(f64::total_cmp);
        let (q95, b95) = (percentile(&quiet, 0.95), percentile(&busy, 0.95));
        println!(
            "chaos: demo p95 quiet {q95:.0} ms, during the chaos {b95:.0} ms: {:.2}x ({})",
            b95 / q95,
            if b95 <= 2.0 * q95 { "within the 2x goal" } else { "OVER the 2x goal" }
        );
    }
    if lan {
        let (mut input, mut slept) = (t.input_ms.clone(), t.sleep_ms.clone());
        input.sort_by(f64::total_cmp);
        slept.sort_by(f64::total_cmp);
        println!(
            "relay, input(): {} answered, post → worker p50 {:.1} ms, p95 {:.1} ms; sleep(0.1) lasted p50 {:.1} ms, p95 {:.1} ms",
            input.len(),
            percentile(&input, 0.5),
            percentile(&input, 0.95),
            percentile(&slept, 0.5),
            percentile(&slept, 0.95)
        );
    }
    println!("exercise results: {recorded}/{students} students in the teacher's grid; {attempts}/{total} attempts in the database after SIGTERM");
    println!("server process memory: peak (VmHWM) {hwm}, at the end (VmRSS) {rss}; sandboxes (cgroups) {:.1} MiB", sandbox_mem as f64 / 1048576.0);
    println!("SIGTERM: {notices}/{students} pages got the stopping notice; the server exited ({exit}) in {:.2} s", stopped_in.as_secs_f64());
}

/// Student `s`'s machine: a loopback address of its own, 127.0.1.1 upwards.
fn student_ip(s: usize) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1 + (s / 250) as u8, 1 + (s % 250) as u8))
}

/// The access code of a `--chaos` class.
const CODE: &str = "load-chaos";

/// The student's WebSocket from `from`, opened as their page would open it (`Host`, `Origin`).
async fn connect(from: IpAddr, addr: SocketAddr, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/api/session?token={token}", host()).into_client_request().unwrap();
    req.headers_mut().insert("origin", format!("http://{}", host()).parse().unwrap());
    let tcp = chaos::tcp_from(from, addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await.expect("WebSocket");
    ws
}

/// What a plain-http page's Python worker does: waits for input() in the relay while the page
/// posts the line 50 ms later (returns post → answer), then sleeps 0.1 s there (returns its length).
async fn relay_round(from: IpAddr, addr: SocketAddr, channel: &str, run: u32) -> Result<(f64, f64), String> {
    let path = format!("/api/relay/{channel}");
    let wait_path = format!("{path}?run={run}&want=input&ms=20000");
    let waiting = tokio::spawn(async move { chaos::request(from, addr, host(), "GET", &wait_path, None, None).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let posted = Instant::now();
    let line = serde_json::json!({"kind": "line", "run": run, "data": format!("answer {run}")});
    let (status, reply) = chaos::request(from, addr, host(), "POST", &path, None, Some(&line.to_string())).await;
    if status != 204 {
        return Err(format!("post answered {status}: {reply}"));
    }
    let (status, answer) = waiting.await.map_err(|e| e.to_string())?;
    let input_ms = posted.elapsed().as_secs_f64() * 1e3;
    if status != 200 || !answer.contains(&format!("answer {run}")) {
        return Err(format!("the wait answered {status}: {answer}"));
    }
    let t = Instant::now();
    let (status, answer) = chaos::request(from, addr, host(), "GET", &format!("{path}?run={run}&want=sleep&ms=100"), None, None).await;
    if status != 200 || !answer.contains("timeout") {
        return Err(format!("the sleep answered {status}: {answer}"));
    }
    Ok((input_ms, t.elapsed().as_secs_f64() * 1e3))
}

async fn send(ws: &mut Ws, msg: &ClientMsg) {
    ws.send(Message::Text(serde_json::to_string(msg).unwrap().into())).await.expect("send");
}

/// Runs the group like the page: server.py (watching for its listening socket), then
/// client.py; both must exit 0 and the client must print the echoed words.
async fn echo_demo(ws: &mut Ws, base: u32, files: &[FileSpec]) -> Result<(), String> {
    let run = |id: u32, entry: &str, watch| ClientMsg::Run(RunRequest {
        run_id: id,
        files: files.to_vec(),
        entry: entry.into(),
        args: vec![],
        watch_listen: watch,
    });
    let (srv, cli) = (base + 1, base + 2);
    send(ws, &run(srv, &files[0].name, true)).await;
    let mut client_out = String::new();
    let mut exits = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while exits < 2 {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<ServerMsg>(t.as_str()).map_err(|e| e.to_string())?,
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return Err("the connection closed".into()),
            Err(_) => return Err("no result within 60 s".into()),
        };
        match msg {
            ServerMsg::Listening { run_id } if run_id == srv => send(ws, &run(cli, &files[1].name, false)).await,
            ServerMsg::Output { run_id, data, .. } if run_id == cli => client_out.push_str(&data),
            ServerMsg::Exit(e) if e.run_id == srv || e.run_id == cli => {
                if e.code != Some(0) {
                    return Err(format!("{} ended with {e:?}", if e.run_id == srv { "server.py" } else { "client.py" }));
                }
                exits += 1;
            }
            ServerMsg::Error { run_id: Some(r), message } if r == srv || r == cli => return Err(message),
            ServerMsg::Error { run_id: None, message } => return Err(message),
            _ => {}
        }
    }
    if !client_out.contains("HELLO") {
        return Err(format!("unexpected client output: {client_out:?}"));
    }
    Ok(())
}

async fn http_teacher(addr: SocketAddr, path: &str) -> (u16, String) {
    chaos::request(chaos::machine(1), addr, host(), "GET", path, Some(TEACHER), None).await
}

async fn http(from: IpAddr, addr: SocketAddr, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
    chaos::request(from, addr, host(), method, path, None, body.map(|b| b.to_string()).as_deref()).await
}
