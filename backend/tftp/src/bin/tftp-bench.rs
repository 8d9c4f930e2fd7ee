//! tftp-bench: one 10 MB file downloaded on loopback from our server, tftpd-hpa and atftpd (when
//! present) by the same clients with the same options; prints medians and ours / best peer.
//!
//! Run: `cargo run --release --bin tftp-bench -- [--runs N] [--mb M] [--atftpd PATH] [--only OPTIONS]
//! [--client NAME] [--old PATH]` (`--only "1428 + win 16"` measures one row of options, `--client
//! atftp` one client (ours, atftp, curl, tftp-hpa); `--old` also measures the
//! server of another tftp-bench binary, e.g. one built before a change, in the same runs, as
//! `ours-old`, which is not counted as a peer: on a busy machine only interleaved runs compare).
//! Peers: /usr/bin/{atftp,curl,tftp} and /usr/sbin/in.tftpd (Debian tftp-hpa, tftpd-hpa, atftp,
//! curl); atftpd conflicts with tftpd-hpa as a package, so pass an extracted binary with
//! `--atftpd` (`apt-get download atftpd && dpkg-deb -x atftpd_*.deb DIR`). Absent peers are skipped.

use classbook_tftp::checks::generated_bytes;
use classbook_tftp::{Client, ClientOptions, Server, ServerConfig};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FILE: &str = "bench.bin";
const RUN_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct Setting {
    label: &'static str,
    blksize: u16,
    window: Option<u16>,
}

const SETTINGS: [Setting; 5] = [
    Setting { label: "512", blksize: 512, window: None },
    Setting { label: "1428", blksize: 1428, window: None },
    Setting { label: "8192", blksize: 8192, window: None },
    Setting { label: "1428 + win 16", blksize: 1428, window: Some(16) },
    Setting { label: "8192 + win 16", blksize: 8192, window: Some(16) },
];

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Ours,
    Atftp,
    Curl,
    TftpHpa,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Ours => "ours",
            Tool::Atftp => "atftp",
            Tool::Curl => "curl",
            Tool::TftpHpa => "tftp-hpa",
        }
    }

    fn binary(self) -> Option<&'static str> {
        match self {
            Tool::Ours => None,
            Tool::Atftp => Some("/usr/bin/atftp"),
            Tool::Curl => Some("/usr/bin/curl"),
            Tool::TftpHpa => Some("/usr/bin/tftp"),
        }
    }

    /// Whether the client can ask for these options (512 means no options at all).
    fn supports(self, s: Setting) -> bool {
        match self {
            Tool::Ours | Tool::Atftp => true,
            Tool::Curl => s.window.is_none(),
            Tool::TftpHpa => s.blksize == 512 && s.window.is_none(),
        }
    }
}

/// A peer server started in inetd mode on a socket we bound; killed on drop.
struct PeerServer {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer(name: &'static str, binary: &Path, args: &[&str], dir: &Path) -> Option<PeerServer> {
    if !binary.exists() {
        eprintln!("skipping {name}: {} not found", binary.display());
        return None;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    let addr = socket.local_addr().ok()?;
    let child = Command::new(binary)
        .args(args)
        .arg(dir)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(PeerServer { name, addr, child })
}

/// Our server as its own process, like the peers and like `classbook tftpd`: this binary
/// again, with `--serve DIR` and the bound socket as its stdin.
fn start_ours(dir: &Path) -> Option<PeerServer> {
    let exe = std::env::current_exe().ok()?;
    start_peer("ours", &exe, &["--serve"], dir)
}

/// The `--serve DIR` mode: our server on the UDP socket passed as stdin, until killed.
fn serve_stdin(dir: PathBuf) {
    use std::os::fd::FromRawFd;
    // SAFETY: the parent passed a bound UDP socket as fd 0 and nothing else in this process uses it.
    let socket = unsafe { UdpSocket::from_raw_fd(0) };
    socket.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let socket = tokio::net::UdpSocket::from_std(socket).unwrap();
        let _ = Server::new(ServerConfig::new(dir)).serve(socket, std::future::pending(), None).await;
    });
}

/// One timed download; `None` when it failed, stalled past the limit or delivered wrong bytes.
async fn download(tool: Tool, s: Setting, server: SocketAddr, out: &Path, expected: &[u8]) -> Option<Duration> {
    let _ = std::fs::remove_file(out);
    let started = Instant::now();
    if tool == Tool::Ours {
        let options = ClientOptions {
            blksize: (s.blksize != 512).then_some(s.blksize),
            windowsize: s.window,
            ..ClientOptions::default()
        };
        let client = Client::new(server, options, None);
        let done = tokio::time::timeout(RUN_LIMIT, client.download(FILE)).await.ok()?.ok()?;
        let elapsed = started.elapsed();
        return (done.data == expected).then_some(elapsed);
    }
    let (host, port) = (server.ip().to_string(), server.port().to_string());
    let mut cmd = Command::new(tool.binary()?);
    match tool {
        Tool::Atftp => {
            cmd.args(["--get", "-r", FILE, "-l"]).arg(out);
            if s.blksize != 512 {
                cmd.args(["--option", &format!("blksize {}", s.blksize)]);
            }
            if let Some(w) = s.window {
                cmd.args(["--option", &format!("windowsize {w}")]);
            }
            cmd.args([&host, &port]);
        }
        Tool::Curl => {
            cmd.args(["-sS", "--max-time", "10", "-o"]).arg(out).arg(format!("tftp://{server}/{FILE}"));
            if s.blksize == 512 {
                cmd.arg("--tftp-no-options");
            } else {
                cmd.args(["--tftp-blksize", &s.blksize.to_string()]);
            }
        }
        Tool::TftpHpa => {
            cmd.args([&host, &port, "-m", "octet", "-c", "get", FILE]).arg(out);
        }
        Tool::Ours => unreachable!(),
    }
    let mut child = tokio::process::Command::from(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let Ok(status) = tokio::time::timeout(RUN_LIMIT, child.wait()).await else {
        eprintln!("  {} {} from {server}: no result within {RUN_LIMIT:?}", tool.name(), s.label);
        return None;
    };
    let elapsed = started.elapsed();
    let got = std::fs::read(out).unwrap_or_default();
    if got != expected {
        eprintln!("  {} {} from {server}: {status:?}, {} of {} bytes correct", tool.name(), s.label, got.len(), expected.len());
        return None;
    }
    Some(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn cell(result: &Option<Duration>) -> String {
    match result {
        Some(t) => format!("{:.3}", t.as_secs_f64()),
        None => "stall/fail".to_string(),
    }
}

struct Args {
    runs: usize,
    megabytes: usize,
    atftpd: PathBuf,
    only: Option<String>,
    client: Option<String>,
    old: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args { runs: 5, megabytes: 10, atftpd: PathBuf::from("/usr/sbin/atftpd"), only: None, client: None, old: None };
    let usage = "usage: tftp-bench [--runs N] [--mb M] [--atftpd PATH] [--only OPTIONS] [--client NAME] [--old PATH]";
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{usage}");
            std::process::exit(0);
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--runs" => args.runs = value.parse().expect("--runs N"),
            "--mb" => args.megabytes = value.parse().expect("--mb M"),
            "--atftpd" => args.atftpd = PathBuf::from(value),
            "--only" => args.only = Some(value),
            "--client" => args.client = Some(value),
            "--old" => args.old = Some(PathBuf::from(value)),
            _ => panic!("{usage}"),
        }
    }
    args
}

fn main() {
    let mut argv = std::env::args().skip(1);
    if argv.next().as_deref() == Some("--serve") {
        return serve_stdin(PathBuf::from(argv.next().expect("--serve DIR")));
    }
    let args = parse_args();
    let work = std::env::temp_dir().join(format!("tftp-bench-{}", std::process::id()));
    let dir = work.join("root");
    std::fs::create_dir_all(&dir).unwrap();
    let data = generated_bytes(2024, args.megabytes * 1024 * 1024);
    std::fs::write(dir.join(FILE), &data).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(bench(&args, &work, &dir, &data));
    let _ = std::fs::remove_dir_all(&work);
}

async fn bench(args: &Args, work: &Path, dir: &Path, data: &[u8]) {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let user = user.trim();
    let atftpd_user = format!("{user}.{user}");
    // Ours first: the ratio column compares it with the others.
    let mut servers = vec![start_ours(dir).expect("cannot start our server (this binary with --serve)")];
    if let Some(old) = &args.old {
        servers.extend(start_peer("ours-old", old, &["--serve"], dir));
    }
    let hpa_args = ["-p", "-t", "600", "-u", user, "-s"];
    servers.extend(start_peer("tftpd-hpa", Path::new("/usr/sbin/in.tftpd"), &hpa_args, dir));
    let atftpd_args = ["--user", &atftpd_user, "--logfile", "/dev/null", "-t", "600"];
    servers.extend(start_peer("atftpd", &args.atftpd, &atftpd_args, dir));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tools: Vec<Tool> = [Tool::Ours, Tool::Atftp, Tool::Curl, Tool::TftpHpa]
        .into_iter()
        .filter(|t| t.binary().is_none_or(|b| Path::new(b).exists()))
        .filter(|t| args.client.as_deref().is_none_or(|client| client == t.name()))
        .collect();
    let out = work.join("out.bin");

    println!("{} MB download on loopback, median of {} runs, seconds (limit {} s per run)", args.megabytes, args.runs, RUN_LIMIT.as_secs());
    print!("{:<15} {:<9}", "options", "client");
    for server in &servers {
        print!(" {:>11}", server.name);
    }
    println!(" {:>15}", "ours/best peer");
    for setting in SETTINGS.into_iter().filter(|s| args.only.as_deref().is_none_or(|only| only == s.label)) {
        for &tool in tools.iter().filter(|t| t.supports(setting)) {
            // Runs alternate between servers so that load changes on the machine hit all alike.
            let mut times: Vec<Option<Vec<Duration>>> = vec![Some(Vec::new()); servers.len()];
            for _ in 0..args.runs {
                for (server, server_times) in servers.iter().zip(times.iter_mut()) {
                    let Some(list) = server_times else { continue };
                    match download(tool, setting, server.addr, &out, data).await {
                        Some(t) => list.push(t),
                        None => *server_times = None, // a stall or failure: not waited for again
                    }
                }
            }
            let medians: Vec<Option<Duration>> = times.into_iter().map(|t| t.map(median)).collect();
            let peers = medians.iter().zip(&servers).filter(|(_, server)| !server.name.starts_with("ours"));
            let best_peer = peers.filter_map(|(median, _)| median.as_ref()).min();
            let ratio = match (medians[0], best_peer) {
                (Some(ours), Some(peer)) => format!("{:.2}", ours.as_secs_f64() / peer.as_secs_f64()),
                _ => "-".to_string(),
            };
            print!("{:<15} {:<9}", setting.label, tool.name());
            for m in &medians {
                print!(" {:>11}", cell(m));
            }
            println!(" {ratio:>15}");
        }
    }
    println!("tftpd-hpa 5.2 has no windowsize: with it, \"+ win 16\" rows run lock-step.");
}
