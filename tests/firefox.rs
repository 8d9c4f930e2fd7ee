//! The main flows in Debian's firefox-esr, from localhost and over plain http as the LAN sees
//! it: tests/firefox/flows.mjs drives Firefox through WebDriver BiDi against a real server.

use classbook_e2e::{descendants, on_both_origins, require_built_page, serve_class, Origin};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const TEACHER: &str = "firefox-teacher-token";

/// Ends the node driver's whole tree (node, Firefox and its content processes) when dropped.
struct Tree(u32);

impl Drop for Tree {
    fn drop(&mut self) {
        for pid in descendants(self.0).into_iter().chain([self.0]) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

on_both_origins!(the_main_flows_work_in_firefox);
async fn the_main_flows_work_in_firefox(origin: Origin) {
    require_built_page();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("firefox");
    assert!(Path::new("/usr/bin/firefox-esr").exists(), "firefox-esr is not installed: run ./run test");
    assert!(dir.join("node_modules/puppeteer-core").is_dir(), "tests/firefox has no node_modules: run ./run test");
    let server = serve_class(None, |app| app.class.teacher_token = TEACHER.into()).await.seen_from(origin);
    let mode = if origin == Origin::Lan { "lan" } else { "localhost" };
    let child = tokio::process::Command::new("node")
        .arg(dir.join("flows.mjs"))
        .args([&server.base(), mode, TEACHER])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let _tree = Tree(child.id().expect("node's pid"));
    let out = tokio::time::timeout(Duration::from_secs(280), child.wait_with_output())
        .await
        .expect("the Firefox flows finished within 280 s")
        .expect("node's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the Firefox flows failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("firefox ({mode}): ok the teacher page lists the student")), "{stdout}");
}
