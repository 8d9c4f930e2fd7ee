//! The classroom package: scripts/package.sh's .deb, unpacked into a fresh tree away from the
//! source, serves the gevent lesson from what the binary carries, and backs up while serving.

mod support;

use classbook::course::Course;
use shared::course::{output_matches, Runtime};
use std::io::BufRead;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEACHER: &str = "deb-install-teacher-token";

/// A process group, killed (with everything in it) when the test ends, also on panic.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill on the group of our own child, which still runs.
            unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
}

/// A directory removed when the test ends.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs scripts/package.sh (it builds the release binary when it is not up to date) and
/// returns the .deb it made.
fn package() -> PathBuf {
    let mut cmd = Command::new(repo().join("scripts/package.sh"));
    cmd.stdout(Stdio::piped()).process_group(0);
    let mut script = Running(cmd.spawn().expect("scripts/package.sh runs"));
    let stdout = script.0.stdout.take().unwrap();
    let lines = std::thread::spawn(move || std::io::BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let status = loop {
        if let Some(status) = script.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "scripts/package.sh took more than 20 minutes");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "scripts/package.sh failed ({status}); its messages are above");
    // The script prints the path as it knows it: relative to the repository unless the target
    // directory is absolute.
    let deb = repo().join(lines.join().unwrap().last().expect("the .deb's path").trim());
    assert!(deb.extension().is_some_and(|e| e == "deb") && deb.is_file(), "{}", deb.display());
    deb
}

fn dpkg_deb(args: &[&str], deb: &Path, dir: Option<&Path>) -> String {
    let out = Command::new("dpkg-deb").args(args).arg(deb).args(dir).output().expect("dpkg-deb runs");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `# key = value` line of the settings file uncommented: the defaults it documents.
fn with_defaults_uncommented(conf: &str) -> String {
    let default = |l: &str| l.split_once(" = ").is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
    conf.lines().map(|l| l.strip_prefix("# ").filter(|rest| default(rest)).unwrap_or(l)).collect::<Vec<_>>().join("\n")
}

/// The installed binary with a clean environment, as the service starts it: no CLASSBOOK_*
/// variable, a home of its own, systemd's CACHE_DIRECTORY, a working directory in the tree.
fn installed(root: &Path, tree: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(root.join("usr/bin/classbook"));
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tree.join("home"))
        .env("CACHE_DIRECTORY", root.join("var/cache/classbook"))
        .current_dir(tree);
    cmd
}

/// One GET; the status, the header and the body.
async fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut raw)).await.expect("an answer within 20 s").unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, head, raw[end + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deb_unpacked_in_a_fresh_tree_serves_gevent_and_backs_up_while_serving() {
    let deb = package();
    let tree = TempTree(std::env::temp_dir().join(format!("classbook-deb-install-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tree.0);
    std::fs::create_dir_all(&tree.0).unwrap();
    let (root, control) = (tree.0.join("root"), tree.0.join("control"));
    dpkg_deb(&["-x"], &deb, Some(&root));
    dpkg_deb(&["-e"], &deb, Some(&control));

    // What apt and systemd need from the package.
    let fields = std::fs::read_to_string(control.join("control")).unwrap();
    let depends = fields.lines().find_map(|l| l.strip_prefix("Depends: ")).expect("a Depends field");
    assert!(depends.contains("bubblewrap") && depends.contains("python3 (>= 3."), "{depends}");
    assert_eq!(std::fs::read_to_string(control.join("conffiles")).unwrap().trim(), "/etc/classbook/classbook.toml");
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/classbook.service")).expect("the systemd unit");
    assert!(unit.contains("ExecStart=/usr/bin/classbook serve --config /etc/classbook/classbook.toml"), "{unit}");
    let conf = std::fs::read_to_string(root.join("etc/classbook/classbook.toml")).expect("the settings file");
    assert!(conf.contains("bind = \"0.0.0.0:8080\"") && conf.contains("data = \"/var/lib/classbook/classbook.sqlite3\""));

    // The service's directories (systemd makes them), and the settings with every documented
    // default uncommented: serve must accept each of them. Flags keep the test on loopback.
    for dir in ["var/lib/classbook", "var/cache/classbook"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::create_dir_all(tree.0.join("home")).unwrap();
    let settings = tree.0.join("classbook.toml");
    std::fs::write(&settings, with_defaults_uncommented(&conf)).unwrap();
    let data = root.join("var/lib/classbook/classbook.sqlite3");
    let mut serve = installed(&root, &tree.0, &["serve", "--bind", "127.0.0.1:0", "--teacher-token", TEACHER]);
    serve.arg("--config").arg(&settings).arg("--data").arg(&data).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; the server gets SIGTERM if this test process dies.
    unsafe {
        serve.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut server = Running(serve.process_group(0).spawn().expect("the installed classbook starts"));
    // Everything the server prints goes to `log` (for failure messages); stdout's lines also
    // to `banner`.
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, banner) = mpsc::channel();
    let stderr: Box<dyn std::io::Read + Send> = Box::new(server.0.stderr.take().unwrap());
    let stdout: Box<dyn std::io::Read + Send> = Box::new(server.0.stdout.take().unwrap());
    for (stream, tx) in [(stdout, Some(tx)), (stderr, None)] {
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(tx) = &tx {
                    let _ = tx.send(line);
                }
            }
        });
    }
    let serving = std::iter::from_fn(|| banner.recv_timeout(Duration::from_secs(60)).ok()).find(|l| l.contains("serving"));
    let serving = serving.unwrap_or_else(|| panic!("no banner within 60 s; the server said:\n{}", log.lock().unwrap()));
    let addr: SocketAddr = serving.split("http://").nth(1).and_then(|s| s.split('/').next()).and_then(|s| s.parse().ok()).expect(&serving);

    // The concurrency lesson's greenlet and gevent cells, with the packages from the binary.
    let course = Course::load(None).expect("the bundled course");
    let lesson = course.lesson("concurrency").expect("the concurrency lesson");
    let cells: Vec<_> = lesson.cells().filter(|c| ["greenlet-demo", "gevent-demo"].contains(&c.id.as_str())).collect();
    assert!(cells.len() == 2 && cells.iter().all(|c| c.runtime == Runtime::Server), "the lesson's greenlet and gevent cells");
    let mut student = Client::connect_to(addr, &format!("{:032x}", 0xdeb_u64)).await;
    let whence = student.run(1, "import gevent, greenlet\nprint(gevent.__file__)\nprint(greenlet.__file__)").await;
    assert_eq!(whence.exit.code, Some(0), "{}\nserver log:\n{}", whence.stderr, log.lock().unwrap());
    assert_eq!(whence.stdout.lines().count(), 2, "{}", whence.stdout);
    for line in whence.stdout.lines() {
        assert!(line.starts_with("/opt/classbook/site-packages/"), "imported from the binary's packages: {line}");
    }
    for (n, cell) in cells.iter().enumerate() {
        let out = student.run(2 + n as u32, &cell.code).await;
        let expected = cell.expected.as_ref().expect("an output block");
        assert!(output_matches(expected, &out.combined), "{}: expected\n{}\ngot\n{}", cell.id, expected.text, out.combined);
    }

    // A backup while the class is connected: the endpoint, then the installed command.
    let (status, _, _) = get(addr, "/api/teacher/backup", None).await;
    assert_eq!(status, 401, "a backup needs the teacher's token");
    let (status, head, body) = get(addr, "/api/teacher/backup", Some(TEACHER)).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: application/vnd.sqlite3"), "{head}");
    assert!(head.contains("filename=\"classbook-backup-20"), "{head}");
    assert!(body.starts_with(b"SQLite format 3\0"));
    let copy = tree.0.join("backups/class.sqlite3");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let url = format!("http://{addr}");
    let out = installed(&root, &tree.0, &["backup", "--url", &url, "--token", TEACHER, "--out"]).arg(&copy).output().unwrap();
    assert!(out.status.success(), "classbook backup: {}", String::from_utf8_lossy(&out.stderr));
    let conn = rusqlite::Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let students: i64 = conn.query_row("SELECT COUNT(*) FROM students", [], |r| r.get(0)).expect("a students table");
    assert_eq!(students, 1, "the student who ran the cells");
    drop(conn);
    student.close().await;

    // SIGTERM, as `systemctl stop` sends it (KillMode=mixed): a clean stop.
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop within 30 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}\n{}", log.lock().unwrap());

    // One whole, world-readable tree of packages in the service's cache, nothing half-made.
    let cache: Vec<_> = std::fs::read_dir(root.join("var/cache/classbook")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(cache.len(), 1, "{cache:?}");
    assert!(cache[0].file_name().unwrap().to_string_lossy().starts_with("packages-"), "{cache:?}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache[0]), 0o755);
    assert_eq!(mode(&cache[0].join("gevent/__init__.py")), 0o644);
}
