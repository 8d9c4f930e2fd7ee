//! The TFTP server: configuration, and the request port's loop that answers or drops every
//! datagram and starts each accepted request as its own transfer on a new port (TID) and task.

use crate::lane;
use crate::link::is_transient;
use crate::packet::{ErrorCode, Packet, PacketError, MAX_BLKSIZE, MAX_PACKET, MIN_BLKSIZE};
use crate::session::{self, Accepted, Dirs};
use crate::trace::{Direction, TraceSink, Tracer};
use std::future::Future;
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Server settings. `ServerConfig::new(root)` gives read-only defaults.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Directory read requests are confined to.
    pub root: PathBuf,
    /// Directory write requests go to; `None` refuses every write request (ERROR 2).
    pub write_dir: Option<PathBuf>,
    /// Whether an upload may replace an existing file (otherwise ERROR 6).
    pub allow_overwrite: bool,
    /// Transfers running at once; requests beyond get ERROR 0.
    pub max_transfers: usize,
    /// Retransmission timeout when the client negotiates none (RFC 2349 `timeout` overrides):
    /// fixed for lock-step transfers, the starting and largest value for windowed ones.
    pub timeout: Duration,
    /// Lower bound of the adaptive timeout of windowed transfers (RFC 1123 4.2.3.2).
    pub min_timeout: Duration,
    /// Retransmissions of one packet before a transfer is abandoned: a peer that went silent
    /// is given up after (retries + 1) timeouts.
    pub retries: u32,
    /// Largest RFC 2349 `timeout` acknowledged, in seconds. A request asking for more gets no
    /// `timeout` in its OACK (RFC 2349: the server acknowledges the value or leaves it out) and
    /// the server's own timer, so a silent peer is given up after (retries + 1) × at most
    /// this many seconds, however patient the client asked it to be.
    pub max_timeout_option: u8,
    pub max_blksize: u16,
    pub max_windowsize: u16,
    /// Bytes one window may hold (windowsize × blksize): what a receiver takes in one burst.
    /// The default fits a Linux socket's default receive buffer (208 KiB, where a datagram
    /// costs up to twice its size); a larger window loses its tail at most clients (atftp)
    /// and every window then waits for a timeout.
    pub max_window_bytes: usize,
    /// Largest upload accepted (ERROR 3 beyond).
    pub max_upload_bytes: u64,
    /// Bytes all files in `write_dir` may hold together, counted per byte written across the
    /// uploads running at once: the upload whose write would go beyond is cut with ERROR 3 and
    /// its partial file removed. `None`: only `max_upload_bytes` applies.
    pub write_dir_quota: Option<u64>,
    /// Files `write_dir` may hold, counted from the start of each upload (ERROR 3 beyond):
    /// an empty file costs no bytes, but it does cost the file system.
    pub write_dir_max_files: Option<u64>,
    /// Read requests for a name missing from `root` are served from `write_dir`, so a client
    /// can fetch back what it uploaded.
    pub read_uploads: bool,
    /// A transfer still running after this long is ended (a peer that keeps answering, slowly).
    pub max_transfer_time: Duration,
}

impl ServerConfig {
    pub fn new(root: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            root: root.into(),
            write_dir: None,
            allow_overwrite: false,
            max_transfers: 64,
            timeout: Duration::from_secs(1),
            min_timeout: Duration::from_millis(20),
            retries: 5,
            max_timeout_option: 5,
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
            max_window_bytes: 64 << 10,
            max_upload_bytes: 64 << 20,
            write_dir_quota: None,
            write_dir_max_files: None,
            read_uploads: false,
            max_transfer_time: Duration::from_secs(600),
        }
    }
}

/// Opens the UDP socket of a new transfer, given the address to bind (request port's IP, port 0).
pub type SocketFactory = Arc<dyn Fn(SocketAddr) -> io::Result<StdUdpSocket> + Send + Sync>;

pub struct Server {
    config: ServerConfig,
    sockets: SocketFactory,
}

impl Server {
    pub fn new(config: ServerConfig) -> Server {
        Server { config, sockets: Arc::new(StdUdpSocket::bind) }
    }

    /// Replaces how transfer sockets are opened, e.g. to create them inside the network
    /// namespace the request socket came from.
    pub fn with_socket_factory(mut self, sockets: SocketFactory) -> Server {
        self.sockets = sockets;
        self
    }

    /// Serves requests arriving on `socket` (already bound; from a std socket use
    /// `set_nonblocking(true)` and `tokio::net::UdpSocket::from_std`) until `shutdown`
    /// completes, then ends the running transfers. Fails only if the directories are unusable
    /// or the request socket breaks.
    pub async fn serve(&self, socket: UdpSocket, shutdown: impl Future<Output = ()>, trace: Option<TraceSink>) -> io::Result<()> {
        let local = socket.local_addr()?;
        let mut port = RequestPort {
            server: self,
            dirs: Arc::new(Dirs::new(&self.config)?),
            tracer: Tracer::new(trace.clone(), 0, local),
            trace,
            socket,
            local,
            slots: Arc::new(Semaphore::new(self.config.max_transfers)),
            transfers: JoinSet::new(),
            next_id: 1,
        };
        let mut buf = vec![0u8; MAX_PACKET + 1];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = port.transfers.join_next(), if !port.transfers.is_empty() => {}
                received = port.socket.recv_from(&mut buf) => match received {
                    Ok((len, peer)) => port.on_datagram(&buf[..len], peer).await,
                    Err(e) if is_transient(&e) => {}
                    Err(e) => return Err(e),
                },
            }
        }
        port.transfers.shutdown().await;
        Ok(())
    }
}

/// The request port's state while serving.
struct RequestPort<'a> {
    server: &'a Server,
    dirs: Arc<Dirs>,
    /// Traces datagrams that start no transfer (transfer number 0).
    tracer: Tracer,
    trace: Option<TraceSink>,
    socket: UdpSocket,
    local: SocketAddr,
    slots: Arc<Semaphore>,
    transfers: JoinSet<()>,
    next_id: u64,
}

impl RequestPort<'_> {
    /// Starts a transfer for a request; answers or drops anything else.
    async fn on_datagram(&mut self, datagram: &[u8], peer: SocketAddr) {
        let len = datagram.len();
        let packet = match Packet::decode(datagram) {
            Ok(packet) => packet,
            Err(error) if datagram.starts_with(&[0, 1]) || datagram.starts_with(&[0, 2]) => {
                self.tracer.malformed(peer, len, &error, "answered with ERROR");
                let message = format!("malformed request: {error}");
                return answer(&self.socket, peer, &self.tracer, request_error_code(&error), &message).await;
            }
            Err(error) => return self.tracer.malformed(peer, len, &error, "dropped"),
        };
        match &packet {
            Packet::Rrq(_) | Packet::Wrq(_) => {}
            Packet::Error { .. } => return self.tracer.packet(Direction::Received, peer, &packet, len, false, Some("ignored")),
            other => {
                self.tracer.packet(Direction::Received, peer, other, len, false, None);
                let message = format!("{} sent to the request port, which takes only RRQ and WRQ", other.opcode());
                return answer(&self.socket, peer, &self.tracer, ErrorCode::UNKNOWN_TID, &message).await;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let tracer = Tracer::new(self.trace.clone(), id, self.local);
        tracer.packet(Direction::Received, peer, &packet, len, false, None);
        let (write, request) = match packet {
            Packet::Wrq(request) => (true, request),
            Packet::Rrq(request) => (false, request),
            _ => return,
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            let message = "server busy: too many transfers, try later";
            return answer(&self.socket, peer, &tracer, ErrorCode::NOT_DEFINED, message).await;
        };
        let socket = match self.open_transfer_socket() {
            Ok(socket) => socket,
            Err(e) => {
                let message = format!("cannot open a transfer port: {e}");
                return answer(&self.socket, peer, &tracer, ErrorCode::NOT_DEFINED, &message).await;
            }
        };
        let (dirs, config) = (self.dirs.clone(), self.server.config.clone());
        let limit = config.max_transfer_time;
        let accepted = Accepted { peer, request, write, id };
        // A task that may move to a lane while its peer answers fast (see `lane`): waiting for
        // a peer holds no thread.
        let running = lane::run(move |stop, done| async move {
            session::run(&dirs, &config, socket, accepted, tracer, stop).await;
            let _ = done.send(());
        });
        self.transfers.spawn(async move {
            // Past the time limit, or when the server stops (this task is aborted), `running`
            // is dropped and the transfer stops at its socket's next look at the stop signal.
            let _slot = slot;
            let _ = tokio::time::timeout(limit, running).await;
        });
    }

    /// A transfer socket on the request port's address, from the server's socket factory.
    fn open_transfer_socket(&self) -> io::Result<StdUdpSocket> {
        (self.server.sockets)(SocketAddr::new(self.local.ip(), 0))
    }
}

/// An ERROR from the request port itself, for datagrams that get no transfer.
async fn answer(socket: &UdpSocket, peer: SocketAddr, tracer: &Tracer, code: ErrorCode, message: &str) {
    let packet = Packet::Error { code, message: message.to_string() };
    let bytes = packet.to_bytes();
    // Traced before it leaves, so the peer's next request cannot be traced ahead of it.
    tracer.packet(Direction::Sent, peer, &packet, bytes.len(), false, None);
    let _ = socket.send_to(&bytes, peer).await;
}

/// RFC 2347: option problems are ERROR 8; anything else wrong with a request is ERROR 4.
fn request_error_code(error: &PacketError) -> ErrorCode {
    match error {
        PacketError::InvalidOptionValue { .. } | PacketError::DuplicateOption(_) | PacketError::MissingOptionValue(_) => {
            ErrorCode::OPTION_REFUSED
        }
        _ => ErrorCode::ILLEGAL_OPERATION,
    }
}

/// Checks a configuration's limits make sense (used by `Dirs::new`).
pub(crate) fn validate(config: &ServerConfig) -> io::Result<()> {
    let bad = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid server config: {what}")));
    if config.max_blksize < MIN_BLKSIZE {
        return bad("max_blksize below 8");
    }
    if config.max_windowsize == 0 || config.max_transfers == 0 {
        return bad("max_windowsize and max_transfers must be at least 1");
    }
    if config.timeout.is_zero() {
        return bad("timeout must be positive");
    }
    Ok(())
}
