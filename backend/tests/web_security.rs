//! The server's defences against other web pages, over real HTTP: requests from another site's
//! page are refused (Origin), the page carries a Content-Security-Policy, teacher answers are
//! never cached.

mod support;

use support::{http, Client, Reply};

const TOKEN: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

async fn join_from(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> Reply {
    let body = format!(r#"{{"token": "{TOKEN}", "name": "Wang"}}"#);
    http(addr, "POST", "/api/join", headers, Some(&body)).await
}

async fn session_from(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> Result<Client, (u16, String)> {
    Client::connect_with(format!("ws://{addr}/api/session?token={TOKEN}"), headers).await
}

#[tokio::test(flavor = "multi_thread")]
async fn another_sites_page_can_neither_open_a_session_nor_join_nor_post() {
    let server = support::start().await;
    let addr = server.addr;
    let evil = [("Origin", "http://evil.example")];

    let (status, body) = session_from(addr, &evil).await.err().expect("the WebSocket is refused");
    assert_eq!(status, 403, "{body}");
    let reply = join_from(addr, &evil).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let error: serde_json::Value = serde_json::from_str(&reply.body).expect("a JSON error");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("http://evil.example") && message.contains("--allowed-origin"), "{message}");

    let line = r#"{"kind": "line", "run": 1, "data": "x\n"}"#;
    let reply = http(addr, "POST", "/api/relay/0123456789abcdef0123", &evil, Some(line)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = http(addr, "POST", "/api/teacher/message", &evil, Some(r#"{"message": "hi"}"#)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    // The same host on another port is another site; so is a page with no origin (a file).
    let other_port = format!("http://127.0.0.1:{}", addr.port() + 1);
    assert_eq!(join_from(addr, &[("Origin", &other_port)]).await.status, 403);
    assert_eq!(join_from(addr, &[("Origin", "null")]).await.status, 403);
    // Reading stays open to everyone: lessons and the page itself.
    assert_eq!(http(addr, "GET", "/api/lessons", &evil, None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_opened_from_localhost_or_a_lan_name_is_its_own_site() {
    let server = support::start().await;
    let addr = server.addr;
    let port = addr.port();
    let local = format!("http://127.0.0.1:{port}");
    let lan_host = format!("classroom.test:{port}");
    let lan = format!("http://{lan_host}");
    let lan_https = format!("https://{lan_host}");

    assert_eq!(join_from(addr, &[("Origin", &local)]).await.status, 200);
    assert_eq!(join_from(addr, &[("Host", &lan_host), ("Origin", &lan)]).await.status, 200);
    assert_eq!(join_from(addr, &[("Host", &lan_host), ("Origin", &lan_https)]).await.status, 200, "http and https alike");
    assert_eq!(join_from(addr, &[]).await.status, 200, "no Origin: not a browser page");
    assert!(session_from(addr, &[("Origin", &local)]).await.is_ok());
    assert!(session_from(addr, &[("Host", &lan_host), ("Origin", &lan)]).await.is_ok());
    assert!(session_from(addr, &[]).await.is_ok());
    // The LAN name's page talking to a server addressed by its IP is another site.
    assert_eq!(join_from(addr, &[("Origin", &lan)]).await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_the_teacher_allowed_may_use_the_server() {
    let allowed = classbook::http::origin::normalize("https://class.school.example").unwrap();
    let server = support::start_with_app(|app| app.allowed_origins = vec![allowed]).await;
    let from = [("Origin", "https://class.school.example")];
    assert_eq!(join_from(server.addr, &from).await.status, 200);
    assert!(session_from(server.addr, &from).await.is_ok());
    assert_eq!(join_from(server.addr, &[("Origin", "https://other.school.example")]).await.status, 403);
}

/// `serve` itself: origins from the environment (comma-separated), and a bad one stops the start.
#[tokio::test(flavor = "multi_thread")]
async fn allowed_origins_come_from_the_flag_or_the_environment_and_a_bad_one_is_named() {
    let dir = std::env::temp_dir().join(format!("classbook-origins-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let serve = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_classbook"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data"]).arg(dir.join("class.sqlite3")).env_remove("CLASSBOOK_CONFIG");
        cmd
    };
    let out = serve().args(["--allowed-origin", "ftp://files.example"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--allowed-origin") && stderr.contains("ftp://files.example"), "{stderr}");

    let mut cmd = serve();
    cmd.env("CLASSBOOK_ALLOWED_ORIGINS", "http://a.example,https://b.example:9000").stderr(std::process::Stdio::null());
    let (mut server, addr, _stdout) = tokio::task::spawn_blocking(move || support::serve_binary(cmd)).await.unwrap();
    let b = join_from(addr, &[("Origin", "https://b.example:9000")]).await.status;
    let a = join_from(addr, &[("Origin", "http://a.example")]).await.status;
    let c = join_from(addr, &[("Origin", "http://c.example")]).await.status;
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((a, b, c), (200, 200, 403));
}

/// The text of each `<script>` without `src` (what the browser would run inline).
fn inline_scripts(html: &str) -> Vec<String> {
    html.split("<script").skip(1).filter_map(|s| {
        let (attrs, rest) = s.split_once('>')?;
        (!attrs.contains("src=")).then(|| rest.split("</script>").next().unwrap_or("").to_string())
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_forbids_inline_script_except_its_own_by_hash_and_allows_webassembly() {
    use base64::Engine;
    use sha2::Digest;
    let server = support::start().await;
    let lan_host = format!("classroom.test:{}", server.addr.port());
    for host in [server.addr.to_string(), lan_host] {
        let page = http(server.addr, "GET", "/", &[("Host", &host)], None).await;
        assert!(matches!(page.status, 200 | 503), "{}", page.status); // 503: the page is not built in
        let csp = page.header("content-security-policy").expect("a Content-Security-Policy on the page");
        let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).expect("script-src");
        assert!(script.contains("'self'") && script.contains("'wasm-unsafe-eval'"), "{csp}");
        assert!(!script.contains("'unsafe-inline'") && !script.contains("'unsafe-eval'"), "{csp}");
        assert!(csp.contains(&format!("ws://{host} wss://{host}")), "{csp}");
        for needed in ["worker-src 'self'", "img-src 'self' data:", "object-src 'none'", "frame-ancestors 'none'"] {
            assert!(csp.contains(needed), "{needed}: {csp}");
        }
        // Every inline script the built page has (trunk's wasm loader) is allowed by its hash.
        let inline = inline_scripts(&page.body);
        for s in &inline {
            let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()));
            assert!(script.contains(&format!("'sha256-{hash}'")), "an inline script without its hash:\n{s}\n{csp}");
        }
        println!("{} inline script(s) in the page: {csp}", inline.len());
    }
    // Other answers are not pages: no policy on the API.
    let api = http(server.addr, "GET", "/api/lessons", &[], None).await;
    assert_eq!(api.header("content-security-policy"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn teacher_answers_are_never_cached() {
    let teacher = "teacher-token-no-store";
    let server = support::start_with_app(|app| app.class.teacher_token = teacher.into()).await;
    let bearer = format!("Bearer {teacher}");
    for path in ["/api/teacher/students", "/api/teacher/progress", "/api/teacher/progress.csv", "/api/teacher/course"] {
        let ok = http(server.addr, "GET", path, &[("Authorization", &bearer)], None).await;
        assert_eq!((ok.status, ok.header("cache-control")), (200, Some("no-store")), "{path}");
        let refused = http(server.addr, "GET", path, &[], None).await;
        assert_eq!((refused.status, refused.header("cache-control")), (401, Some("no-store")), "{path}");
    }
    let posted = http(server.addr, "POST", "/api/teacher/message", &[("Authorization", &bearer)], Some(r#"{"message": "hi"}"#)).await;
    assert_eq!((posted.status, posted.header("cache-control")), (200, Some("no-store")));
}
