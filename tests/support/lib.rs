//! End-to-end harness: a classbook server on a loopback port (the real binary's code,
//! real sandboxes, the built page) and headless Debian Chromium driven through chromedriver,
//! opening it from localhost or as the LAN sees it (`Origin`).

pub mod chaos;

use classbook::{app::App, course::Course, sandbox};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub addr: SocketAddr,
    /// Where the browser opens the page from.
    pub origin: Origin,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The name every test browser resolves to 127.0.0.1 (Chromium's --host-resolver-rules), so a
/// page can be opened over plain http from a name that is not localhost without sending a
/// packet anywhere but loopback.
pub const LAN_NAME: &str = "classroom.test";

/// Where a page comes from, as browsers judge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `http://127.0.0.1:PORT`: a secure context, cross-origin isolated by our headers.
    Localhost,
    /// `http://classroom.test:PORT`: plain http from another machine's point of view, as a
    /// student on the class LAN opens it: no secure context, no SharedArrayBuffer, no
    /// Atomics.wait, no service workers.
    Lan,
}

impl Server {
    /// The same server, opened by the browser from `origin`.
    pub fn seen_from(mut self, origin: Origin) -> Server {
        self.origin = origin;
        self
    }

    /// `http://host:port` as the browser opens it.
    pub fn base(&self) -> String {
        match self.origin {
            Origin::Localhost => format!("http://{}", self.addr),
            Origin::Lan => format!("http://{LAN_NAME}:{}", self.addr.port()),
        }
    }
}

/// Defines a module `name` with two tests that run `async fn name(origin: Origin)`: from
/// localhost and over plain http as the LAN sees it.
#[macro_export]
macro_rules! on_both_origins {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_localhost() {
                super::$name($crate::Origin::Localhost).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn over_plain_http_from_the_lan() {
                super::$name($crate::Origin::Lan).await
            }
        }
    };
}

/// Serves the bundled course (or `course_dir`) with the built page.
pub async fn serve(course_dir: Option<&std::path::Path>) -> Server {
    serve_with(course_dir, axum::Router::new()).await
}

/// Like `serve`, with `extra` routes in front of classbook's own (benchmarks add pages).
pub async fn serve_with(course_dir: Option<&std::path::Path>, extra: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, course_dir, extra, |_| {}).await
}

/// Serves the bundled course (or `course_dir`, watched for edits as `classbook serve` does)
/// with the class set up by `configure` (teacher token, access code).
pub async fn serve_class(course_dir: Option<&std::path::Path>, configure: impl FnOnce(&mut App)) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, course_dir, axum::Router::new(), configure).await
}

/// A server again at `addr` (after the one there was dropped): the page's origin, and with it
/// the browser's storage, stays the same, as when a teacher restarts `classbook serve`.
pub async fn serve_again(addr: SocketAddr, course_dir: Option<&std::path::Path>) -> Server {
    let deadline = Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) if Instant::now() > deadline => panic!("{addr} stayed busy: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    serve_on(listener, course_dir, axum::Router::new(), |_| {}).await
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    course_dir: Option<&std::path::Path>,
    extra: axum::Router,
    configure: impl FnOnce(&mut App),
) -> Server {
    let cfg = sandbox::Config::detect();
    classbook::probe_sandbox(&cfg).await.expect("sandboxes work on the test machine");
    let mut app = App::new(Course::load(course_dir).expect("course"), Ok(cfg));
    configure(&mut app);
    let app = std::sync::Arc::new(app);
    if let Some(dir) = course_dir {
        classbook::class::watch::spawn(app.clone(), dir.to_path_buf());
    }
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = extra.merge(classbook::http::router(app));
    let options = classbook::http::listen::Options::default();
    tokio::spawn(classbook::http::listen::serve(listener, router, options, async move {
        let _ = stopped.await;
    }));
    Server { addr, origin: Origin::Localhost, _stop: stop }
}

/// Headless Chromium with a fresh profile, closed (with its driver) on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: std::path::PathBuf,
    /// Where the page's downloads land.
    pub downloads: std::path::PathBuf,
}

/// One HTTP/1.1 request to the test server; returns the status and the body.
pub async fn http(server: &Server, method: &str, path: &str, bearer: Option<&str>, body: Option<&str>) -> (u16, String) {
    http_at(server.addr, method, path, bearer, body).await
}

/// The same, to any classbook server (the load command's `classbook serve`).
pub async fn http_at(addr: SocketAddr, method: &str, path: &str, bearer: Option<&str>, body: Option<&str>) -> (u16, String) {
    http_as(addr, &addr.to_string(), method, path, bearer, body).await
}

/// The same, as a page opened at `http://{host}/` sends it (`Host` and `Origin`), to `addr`.
pub async fn http_as(addr: SocketAddr, host: &str, method: &str, path: &str, bearer: Option<&str>, body: Option<&str>) -> (u16, String) {
    let (status, body) = chaos::request(chaos::machine(1), addr, host, method, path, bearer, body).await;
    assert_ne!(status, 0, "no answer from the test server at {addr}");
    (status, body)
}

impl Browser {
    pub async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// With `extra` command-line switches for Chromium.
    pub async fn start_with(extra: &[String]) -> Browser {
        Browser::start_as(extra, None).await
    }

    /// A phone's screen, `width` × `height` CSS pixels (Chromium's mobile emulation: a
    /// headless window cannot be narrower than 500 px).
    pub async fn start_phone(width: u32, height: u32) -> Browser {
        let metrics = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 3, "mobile": true}});
        Browser::start_as(&[], Some(metrics)).await
    }

    async fn start_as(extra: &[String], mobile: Option<Value>) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver)");
        let profile = std::env::temp_dir().join(format!("classbook-chromium-{}-{port}", std::process::id()));
        let downloads = profile.join("downloads");
        let _ = std::fs::create_dir_all(&downloads);
        let mut args: Vec<String> = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1200,900",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"));
        args.push(format!("--user-data-dir={}", profile.display()));
        // The course's first language, as a class in China has it, unless the test sets one: a
        // page follows its browser's language, and most tests read the Chinese lessons.
        if !extra.iter().any(|a| a.starts_with("--lang=")) {
            args.extend(["--lang=zh-CN".to_string(), "--accept-lang=zh-CN".to_string()]);
        }
        args.extend_from_slice(extra);
        let mut caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
                "args": args,
            }
        });
        if let Some(m) = mobile {
            caps["goog:chromeOptions"]["mobileEmulation"] = m;
        }
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match builder {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not answer: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Browser { client, driver, profile, downloads }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Opens `path` (e.g. `/#/lesson/closures`) of `server` from its origin, and checks the
    /// browser judges the page as that origin should be judged (a LAN page is not a secure
    /// context and has no SharedArrayBuffer), so a test cannot silently run in the wrong mode.
    pub async fn open(&self, server: &Server, path: &str) {
        self.goto(&format!("{}{path}", server.base())).await;
        let seen = self.eval("[window.isSecureContext, window.crossOriginIsolated, typeof SharedArrayBuffer]").await;
        let expected = match server.origin {
            Origin::Localhost => json!([true, true, "function"]),
            Origin::Lan => json!([false, false, "undefined"]),
        };
        assert_eq!(seen, expected, "[isSecureContext, crossOriginIsolated, typeof SharedArrayBuffer] from {:?}", server.origin);
    }

    /// Evaluates `expr` (a JS expression) in the page.
    pub async fn eval(&self, expr: &str) -> Value {
        self.client.execute(&format!("return ({expr});"), vec![]).await.expect("script runs")
    }

    /// Polls `expr` until it is truthy; returns its value. Panics with `what` after `secs`.
    pub async fn wait_for(&self, expr: &str, secs: u64, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(expr).await;
            if !(v.is_null() || v == Value::Bool(false) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out after {secs} s waiting for {what} ({expr})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element `css` once it exists (the app renders after the page loads).
    pub async fn click(&self, css: &str) {
        let el = self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within 30 s: {e}"));
        el.click().await.expect("click");
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Browser {
    /// CPU time (user + system) used so far by the browser's processes that are alive.
    pub fn cpu_time(&self) -> Duration {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let total: u64 = descendants(self.driver.id())
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|stat| {
                // Fields after the command name (which may hold spaces) in parentheses.
                let rest = &stat[stat.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split(' ').collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .sum();
        Duration::from_millis(total * 1000 / ticks)
    }
}

/// Every process descended from `root` (not `root` itself).
pub fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

impl Drop for Browser {
    /// Ends chromedriver and every Chromium process of this browser's profile: killing the
    /// driver alone leaves Chromium's process tree running (a dozen processes, gigabytes).
    fn drop(&mut self) {
        let tree = descendants(self.driver.id());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        for pid in tree {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        kill_processes_mentioning(&format!("--user-data-dir={}", self.profile.display()));
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// SIGKILLs every process whose command line has `needle` as one argument, until none is left.
pub fn kill_processes_mentioning(needle: &str) {
    for _ in 0..20 {
        let mut found = false;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            if cmdline.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                found = true;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The text of a cell's output areas, joined.
pub fn output_of(cell_id: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('[data-cell-id=\"{cell_id}\"] [data-role=output]')).map(e => e.textContent).join('\\n')"
    )
}

/// A JS expression: the text of cell `cell_id`'s first editor (null before it is loaded).
pub fn code_of(cell_id: &str) -> String {
    format!(
        "(window.classbookEditor ? window.classbookEditor.getText(document.querySelector('[data-cell-id=\"{cell_id}\"] [data-role=editor]')) : null)"
    )
}

pub fn state_of(cell_id: &str) -> String {
    format!("(document.querySelector('[data-cell-id=\"{cell_id}\"]') || {{}}).dataset?.state")
}

/// Fails clearly when the page was not built (the server would embed an empty dist/).
pub fn require_built_page() {
    let index = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/index.html");
    assert!(index.exists(), "dist/ is not built: run ./run test (it builds the page with trunk first)");
}

/// The exercise of `lesson` that runs in `runtime`: its cell id and its solution.
pub fn exercise_of(lesson: &str, runtime: shared::course::Runtime) -> (String, String) {
    let course = Course::load(None).expect("bundled course");
    let cell = course
        .lesson(lesson)
        .expect("lesson")
        .cells()
        .find(|c| c.exercise.is_some() && c.runtime == runtime)
        .expect("an exercise")
        .clone();
    (cell.id, cell.exercise.unwrap().solution.expect("a solution"))
}

/// The scratch page holding `code` for `runtime` ("browser" or "server"), from the server's origin.
pub fn scratch_url(server: &Server, runtime: &str, code: &str) -> String {
    format!("{}{}", server.base(), scratch_path(runtime, code))
}

/// The path (`/#/scratch?…`) of the scratch page holding `code` for `runtime`.
pub fn scratch_path(runtime: &str, code: &str) -> String {
    format!("/#/scratch?runtime={runtime}&code={}", shared::link::encode(code.as_bytes()))
}

impl Browser {
    /// Replaces the code of cell `cell_id` (its first editor) as if the student had typed it.
    pub async fn set_code(&self, cell_id: &str, code: &str) {
        self.wait_for(&format!("{} !== null", code_of(cell_id)), 30, "the cell's editor").await;
        let script = "return window.classbookEditor.setText(\
                      document.querySelector(`[data-cell-id=\"${arguments[0]}\"] [data-role=editor]`), arguments[1]);";
        let done = self.client.execute(script, vec![json!(cell_id), json!(code)]).await.expect("set code");
        assert_eq!(done, json!(true), "no editor in cell {cell_id}");
    }

    /// The code in cell `cell_id`'s (first) editor, once the editor is there.
    pub async fn code(&self, cell_id: &str) -> String {
        let v = self.wait_for(&format!("{} ?? false", code_of(cell_id)), 30, "the cell's editor").await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Presses `keys` together (modifiers first; `fantoccini::key::Key` converts to char) on
    /// whatever has the focus, like a keyboard.
    pub async fn press(&self, keys: &[char]) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut seq = KeyActions::new("keyboard".into());
        for k in keys {
            seq = seq.then(KeyAction::Down { value: *k });
        }
        for k in keys.iter().rev() {
            seq = seq.then(KeyAction::Up { value: *k });
        }
        self.client.perform_actions(seq).await.expect("keys pressed");
    }

    /// Runs cell `cell_id` and waits until it is no longer loading or running.
    pub async fn run_cell(&self, cell_id: &str, secs: u64) -> String {
        self.click(&format!("[data-cell-id=\"{cell_id}\"] [data-action=run]")).await;
        let st = state_of(cell_id);
        self.wait_for(&format!("!['idle','loading','queued','running'].includes({st})"), secs, cell_id).await;
        self.eval(&output_of(cell_id)).await.as_str().unwrap_or_default().to_string()
    }
}

/// A temporary copy of the bundled course's lesson files, for tests that edit lessons;
/// removed on drop. Every copy has a folder of its own.
pub struct CourseCopy(pub std::path::PathBuf);

impl CourseCopy {
    pub fn new(label: &str) -> CourseCopy {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../course");
        // One folder per copy: a test's two origins run at once in one process.
        static COPIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("classbook-course-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        CourseCopy(dir)
    }
}

impl Drop for CourseCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The benchmarks' median (the upper one of an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The benchmarks' largest sample (0 for none).
pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
