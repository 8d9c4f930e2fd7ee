//! TFTP inside a student's sandbox, run by the backend from outside it: the companion server on
//! the sandbox's own 127.0.0.1:6969, UDP sockets made in the sandbox's network namespace, and
//! packet traces turned into capped `ServerMsg::Trace`s for one run.

use classbook_tftp::{Direction, Server, ServerConfig, SocketFactory, TraceEvent};
use rust_embed::RustEmbed;
use shared::trace::PacketTrace;
use shared::wire::ServerMsg;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Where the companion listens, inside every sandbox.
pub const COMPANION_PORT: u16 = 6969;
/// Packets of one run drawn on the page; past this the trace is cut and the cut announced.
pub const MAX_TRACE_EVENTS: usize = 2000;
/// Bytes the uploads of one session may hold together, and one upload at most.
const UPLOAD_QUOTA: u64 = 16 << 20;
const MAX_UPLOAD: u64 = 8 << 20;

/// The course's TFTP files (`course/tftp-files/`), shipped inside the binary.
#[derive(RustEmbed)]
#[folder = "../course/tftp-files"]
struct BundledFiles;

/// This process's private directory (mode 0700) for TFTP files and uploads, made once.
fn private_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("classbook-tftp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Those of classbook processes that are gone (they cannot clean up after themselves).
        for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("classbook-tftp-")).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        Ok(dir)
    })
    .clone()
}

/// A directory holding the bundled TFTP files, written once per process.
fn bundled_files_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = private_dir()?.join("course-files");
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            for name in BundledFiles::iter() {
                let file = BundledFiles::get(&name).expect("listed file");
                let path = dir.join(name.as_ref());
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(path, &file.data)?;
            }
            Ok(())
        };
        write().map(|_| dir.clone()).map_err(|e| format!("cannot write the course's TFTP files to {}: {e}", dir.display()))
    })
    .clone()
}

/// A sandbox's network namespace, held by an fd the agent sent (never looked up by pid).
pub struct NetNs(OwnedFd);

impl NetNs {
    pub fn new(fd: OwnedFd) -> NetNs {
        NetNs(fd)
    }

    /// A UDP socket bound to `addr` inside the namespace: a short-lived thread enters it
    /// (`setns` changes only the calling thread), makes the socket, and ends.
    pub fn bind_udp(&self, addr: SocketAddr) -> std::io::Result<UdpSocket> {
        let fd = self.0.as_raw_fd();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: setns on a namespace fd we hold, affecting only this thread.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    UdpSocket::bind(addr)
                })
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")))
        })
    }

    pub fn socket_factory(self: &Arc<Self>) -> SocketFactory {
        let ns = self.clone();
        Arc::new(move |addr| ns.bind_udp(addr))
    }
}

/// Which run the companion's packets are drawn under, and how many it got.
struct Follower {
    run_id: u32,
    out: mpsc::Sender<ServerMsg>,
    sent: usize,
}

/// The companion TFTP server of one sandbox. Dropping it stops the server and removes the
/// session's uploads.
pub struct Companion {
    follower: Arc<Mutex<Option<Follower>>>,
    /// The server's trace channel, also used to send a flush marker through it.
    events: mpsc::UnboundedSender<TraceEvent>,
    /// Who waits for a flush marker to come out of the channel, in order.
    flushes: Flushes,
    _stop: oneshot::Sender<()>,
    uploads: PathBuf,
}

type Flushes = Arc<Mutex<std::collections::VecDeque<oneshot::Sender<()>>>>;

/// A flush marker's transfer number (real transfers count up from 0).
const FLUSH: u64 = u64::MAX;

impl Companion {
    /// Starts serving the course's TFTP files (read-only) and a fresh uploads directory of
    /// this session on 127.0.0.1:6969 inside `ns`.
    pub fn start(ns: &Arc<NetNs>, name: &str, files: Option<&Path>) -> Result<Companion, String> {
        let root = match files {
            Some(dir) => dir.to_path_buf(),
            None => bundled_files_dir()?,
        };
        let uploads = private_dir()?.join(format!("uploads-{name}"));
        let _ = std::fs::remove_dir_all(&uploads);
        std::fs::create_dir_all(&uploads).map_err(|e| format!("cannot make {}: {e}", uploads.display()))?;
        let mut config = ServerConfig::new(root);
        config.write_dir = Some(uploads.clone());
        config.write_dir_quota = Some(UPLOAD_QUOTA);
        config.max_upload_bytes = MAX_UPLOAD;
        config.read_uploads = true;
        config.max_transfers = 16;
        let request = ns
            .bind_udp(SocketAddr::from(([127, 0, 0, 1], COMPANION_PORT)))
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
            .and_then(tokio::net::UdpSocket::from_std)
            .map_err(|e| format!("the companion TFTP server cannot listen in the sandbox: {e}"))?;
        let server = Server::new(config).with_socket_factory(ns.socket_factory());
        let (stop, stopped) = oneshot::channel::<()>();
        let (events, receiver) = mpsc::unbounded_channel::<TraceEvent>();
        let marker_events = events.clone();
        let follower: Arc<Mutex<Option<Follower>>> = Arc::default();
        let flushes: Flushes = Arc::default();
        tokio::spawn(forward(receiver, follower.clone(), flushes.clone()));
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = server.serve(request, shutdown, Some(events)).await {
                tracing::warn!("companion TFTP server stopped: {e}");
            }
        });
        Ok(Companion { follower, events: marker_events, flushes, _stop: stop, uploads })
    }

    /// Draws the companion's packets under run `run_id` from now on (the newest run wins).
    pub fn follow(&self, run_id: u32, out: mpsc::Sender<ServerMsg>) {
        *self.follower.lock().expect("follower poisoned") = Some(Follower { run_id, out, sent: 0 });
    }

    /// Resolves once every packet traced before the call has been passed on (so a run's last
    /// packets reach the page before its `Exit`); at most one second.
    pub fn flush(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (done, flushed) = oneshot::channel();
        self.flushes.lock().expect("flushes poisoned").push_back(done);
        let marker = TraceEvent {
            transfer: FLUSH,
            direction: Direction::Sent,
            local: SocketAddr::from(([127, 0, 0, 1], COMPANION_PORT)),
            peer: SocketAddr::from(([127, 0, 0, 1], COMPANION_PORT)),
            opcode: None,
            block: None,
            size: 0,
            data_len: None,
            filename: None,
            mode: None,
            options: Vec::new(),
            elapsed_us: 0,
            retransmit: false,
            error_code: None,
            error_message: None,
            note: None,
        };
        let _ = self.events.send(marker);
        async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), flushed).await;
        }
    }

    /// Run `run_id` ended: its trace stops (unless a newer run took over).
    pub fn unfollow(&self, run_id: u32) {
        let mut follower = self.follower.lock().expect("follower poisoned");
        if follower.as_ref().is_some_and(|f| f.run_id == run_id) {
            *follower = None;
        }
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.uploads);
    }
}

async fn forward(mut events: mpsc::UnboundedReceiver<TraceEvent>, follower: Arc<Mutex<Option<Follower>>>, flushes: Flushes) {
    while let Some(event) = events.recv().await {
        if event.transfer == FLUSH {
            if let Some(done) = flushes.lock().expect("flushes poisoned").pop_front() {
                let _ = done.send(());
            }
            continue;
        }
        let msg = {
            let mut guard = follower.lock().expect("follower poisoned");
            let Some(f) = guard.as_mut() else { continue };
            let Some(trace) = TraceCap::step(&mut f.sent, to_page(&event, Side::Server)) else { continue };
            (f.out.clone(), ServerMsg::Trace { run_id: f.run_id, event: trace })
        };
        let _ = msg.0.send(msg.1).await;
    }
}

/// Counts a run's trace events: passes the first `MAX_TRACE_EVENTS`, then one notice of the cut.
pub struct TraceCap;

impl TraceCap {
    pub fn step(sent: &mut usize, trace: PacketTrace) -> Option<PacketTrace> {
        *sent += 1;
        match (*sent).cmp(&(MAX_TRACE_EVENTS + 1)) {
            std::cmp::Ordering::Less => Some(trace),
            std::cmp::Ordering::Equal => Some(PacketTrace {
                from: trace.from,
                opcode: "CUT".into(),
                ms: trace.ms,
                note: Some(format!("trace cut after {MAX_TRACE_EVENTS} packets; the transfer goes on")),
                ..PacketTrace::default()
            }),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// Which end of the traced transfers is ours.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The companion server: what it received came from the client.
    Server,
    /// The exercise checker's client: what it sent came from the client.
    Client,
}

/// The page's view of one traced datagram.
pub fn to_page(event: &TraceEvent, ours: Side) -> PacketTrace {
    let sent_by_us = event.direction == Direction::Sent;
    let from = match (ours, sent_by_us) {
        (Side::Server, true) | (Side::Client, false) => "server",
        _ => "client",
    };
    PacketTrace {
        transfer: event.transfer,
        from: from.into(),
        opcode: event.opcode.map(|o| o.to_string()).unwrap_or_else(|| "?".into()),
        block: event.block,
        size: event.size as u32,
        filename: event.filename.clone(),
        options: event.options.clone(),
        ms: event.elapsed_us as f64 / 1000.0,
        retransmit: event.retransmit,
        error: event.error_code.map(|c| (c, event.error_message.clone().unwrap_or_default())),
        note: event.note.clone(),
    }
}
