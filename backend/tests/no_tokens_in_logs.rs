//! Every log line the server writes, at every level, while students join, connect, run, are
//! refused and leave and the teacher uses the API: no student token, no teacher token in them.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::Client;

const TEACHER: &str = "teacher-token-for-the-log-test";

/// Everything logged in this test binary, captured by a global subscriber at TRACE.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        log
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_never_appear_in_the_log_when_students_join_connect_run_and_leave() {
    let log = captured();
    let server = support::start_with_app(|app| {
        app.grace = Duration::from_millis(300);
        app.class.teacher_token = TEACHER.into();
        app.class.access_code = Some("4711".into());
    })
    .await;
    let addr = server.addr;
    let student = "5ec2e7000000000000000000000000a1";
    let stranger = "5ec2e7000000000000000000000000b2";

    // A stranger who never joined is refused; a wrong code is refused.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/session?token={stranger}")).await.unwrap();
    let told = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut ws)).await;
    assert!(format!("{told:?}").contains("join_first"), "{told:?}");
    let wrong = format!(r#"{{"token": "{stranger}", "name": "X", "code": "0000"}}"#);
    assert_eq!(support::http(addr, "POST", "/api/join", &[], Some(&wrong)).await.status, 403);

    let join = format!(r#"{{"token": "{student}", "name": "Li Lei", "code": "4711"}}"#);
    assert_eq!(support::http(addr, "POST", "/api/join", &[], Some(&join)).await.status, 200);
    let mut c = Client::connect_as(&server, student).await;
    let out = c.run(1, "print('hi')").await;
    assert_eq!(out.stdout, "hi\n", "{}", out.combined);

    let bearer = format!("Bearer {TEACHER}");
    assert_eq!(support::http(addr, "GET", "/api/teacher/students", &[("Authorization", &bearer)], None).await.status, 200);
    let stop = r#"{"student": 1}"#;
    assert_eq!(support::http(addr, "POST", "/api/teacher/stop", &[("Authorization", &bearer)], Some(stop)).await.status, 200);
    let wrong_teacher = format!("Bearer {student}");
    assert_eq!(support::http(addr, "GET", "/api/teacher/students", &[("Authorization", &wrong_teacher)], None).await.status, 401);

    c.close().await;
    let ended = async {
        while !String::from_utf8_lossy(&log.lock().unwrap()).contains("session ended") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ended).await.expect("the session ends after its grace period");

    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    for line in ["refused", "joined", "connected", "disconnected", "session ended"] {
        assert!(text.contains(line), "the capture works: no '{line}' in\n{text}");
    }
    for secret in [student, stranger, TEACHER] {
        assert!(!text.contains(secret), "{secret} is in the log:\n{text}");
    }
}
