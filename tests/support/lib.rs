//! End-to-end harness: a classbook server on a loopback port (the real binary's code,
//! real sandboxes, the built page) and headless Debian Chromium driven through chromedriver.

use classbook::{app::App, course::Course, sandbox};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
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
    Server { addr, _stop: stop }
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect to the test server");
    let body = body.unwrap_or("");
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

impl Browser {
    pub async fn start() -> Browser {
        Browser::start_with(&[]).await
    }

    /// With `extra` command-line switches for Chromium.
    pub async fn start_with(extra: &[String]) -> Browser {
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
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend_from_slice(extra);
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
                "args": args,
            }
        });
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

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
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

/// The scratch page holding `code` for `runtime` ("browser" or "server").
pub fn scratch_url(server: &Server, runtime: &str, code: &str) -> String {
    format!("http://{}/#/scratch?runtime={runtime}&code={}", server.addr, shared::link::encode(code.as_bytes()))
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
/// removed on drop. `label` keeps two tests of one process apart.
pub struct CourseCopy(pub std::path::PathBuf);

impl CourseCopy {
    pub fn new(label: &str) -> CourseCopy {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../course");
        let dir = std::env::temp_dir().join(format!("classbook-course-{label}-{}", std::process::id()));
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
