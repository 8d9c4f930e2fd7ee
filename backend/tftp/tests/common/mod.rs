//! Test helpers shared by the integration tests: our server on a loopback port, external peer
//! binaries (skipped with a printed notice when absent), commands with time limits.
#![allow(dead_code)]

use classbook_tftp::{Client, ClientOptions, Server, ServerConfig, TraceEvent, TraceReceiver, TraceSink};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const LIMIT: Duration = Duration::from_secs(40);

/// Our server on 127.0.0.1, serving a fresh temporary root.
pub struct TestServer {
    pub addr: SocketAddr,
    pub root: TempDir,
    /// The server's trace: room for a million events (the interop tests move ~200,000); a test
    /// that moves more sees only the first.
    pub events: TraceReceiver,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts a server; `configure` may change the config (root is already set).
pub async fn start_server(configure: impl FnOnce(&mut ServerConfig, &Path)) -> TestServer {
    let root = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(root.path());
    config.timeout = Duration::from_millis(300);
    configure(&mut config, root.path());
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (events_tx, events) = TraceSink::channel(1 << 20);
    let server = Server::new(config);
    let task = tokio::spawn(async move {
        server
            .serve(
                socket,
                async {
                    let _ = stopped.await;
                },
                Some(events_tx),
            )
            .await
    });
    TestServer { addr, root, events, stop: Some(stop), task }
}

impl TestServer {
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Writes a file into the root and makes it world-readable.
    pub fn put(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    pub fn client(&self, options: ClientOptions) -> Client {
        Client::new(self.addr, options, None)
    }

    /// Stops the server and checks it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        result.expect("server did not stop").expect("server task panicked").expect("server failed");
    }

    /// The next `count` trace events (fails the test if they do not come).
    pub async fn collect_events(&mut self, count: usize) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        while out.len() < count {
            let event = tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await;
            out.push(event.expect("trace event missing").expect("trace channel closed"));
        }
        out
    }

    /// Trace events received so far.
    pub fn drain_events(&mut self) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            out.push(event);
        }
        out
    }
}

/// Prints why a test is skipped, past the test harness's output capture so it shows in the log.
pub fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {why}");
}

/// A peer binary, or `None` after printing why the test is skipped (written past the test
/// harness's capture so it shows in the log).
pub fn peer(path: &str, package: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    skip(&format!("{package} is not installed ({path} missing); `apt-get install -y {package}`"));
    None
}

/// Runs a peer command with a time limit (it is killed when the limit passes) and fails the
/// test unless it succeeded: exit status 0 and no error on stderr. (tftp-hpa exits with 0 even
/// after an ERROR or a timeout and says so on stdout: its callers check that stdout is empty.)
pub async fn run(mut command: tokio::process::Command, limit: Duration) -> Output {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child = command.spawn().expect("cannot start peer");
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("peer command did not finish within {limit:?}: {command:?}"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed = !output.status.success() || stderr.contains("rror") || stderr.contains("timed out");
    assert!(!failed, "peer failed: {command:?}: {:?} {}", output.status, String::from_utf8_lossy(&output.stderr));
    output
}

/// tftpd-hpa serving `dir` from a loopback socket we bind and hand over as its stdin (inetd
/// mode), so there is no port race. Killed on drop.
pub struct HpaServer {
    pub addr: SocketAddr,
    child: tokio::process::Child,
}

pub fn start_tftpd_hpa(binary: &Path, dir: &Path) -> HpaServer {
    let socket = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let user = std::process::Command::new("id").arg("-un").output().unwrap();
    let user = String::from_utf8_lossy(&user.stdout).trim().to_string();
    let child = tokio::process::Command::new(binary)
        .args(["-c", "-p", "-t", "60", "-u", &user, "-s"])
        .arg(dir)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start in.tftpd");
    HpaServer { addr, child }
}

impl HpaServer {
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Bounded wait on a test body.
pub async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future).await.unwrap_or_else(|_| panic!("{what}: no result within {LIMIT:?}"))
}

/// The sizes every interop test moves: around one 512-byte block, empty, and 10 MB.
pub const SIZES: [usize; 5] = [0, 511, 512, 513, 10 * 1024 * 1024];

/// Writes one generated file per size into `dir` as `s{size}`; returns (name, content).
pub fn fixtures(dir: &Path) -> Vec<(String, Vec<u8>)> {
    SIZES
        .iter()
        .map(|&size| {
            let name = format!("s{size}");
            let data = classbook_tftp::checks::generated_bytes(size as u64, size);
            std::fs::write(dir.join(&name), &data).unwrap();
            (name, data)
        })
        .collect()
}

/// Compares without dumping megabytes on failure.
pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: got {} bytes, want {}; first difference at byte {first}", got.len(), want.len());
    }
}

/// Reads a file a peer wrote, or an empty vector with a clear failure when it is missing.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()))
}
