//! A transfer's UDP socket and how it waits for the peer: blocking on a lane (polling first
//! while that pays), or in the runtime, holding no thread; it moves as the peer's pace says.

use crate::lane::{self, Stop, Token};
use crate::poll::{Poller, FAST_PEER, POLL};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::time::Sleep;

/// Longest a lane waits for the peer at a time; a peer slower than this sends the transfer back
/// to the runtime, so a lane is never held by a peer that keeps it waiting.
const LANE_WAIT: Duration = Duration::from_millis(10);
/// Answers in a row within `FAST_PEER` after which a transfer in the runtime moves to a free lane.
const FAST_IN_A_ROW: u32 = 8;

pub(crate) struct TransferSocket {
    wait: Wait,
    stop: Arc<Stop>,
    /// Answers in a row that came within `FAST_PEER` (while in the runtime).
    fast: u32,
}

enum Wait {
    Lane(OnLane),
    Runtime(InRuntime),
}

/// On a lane: a blocking socket, `recvfrom` with a receive timeout.
struct OnLane {
    socket: UdpSocket,
    /// The socket's receive timeout (SO_RCVTIMEO), changed only when a wait needs a shorter one.
    read_timeout: Option<Duration>,
    /// Whether the socket is in non-blocking mode now (only while polling).
    nonblocking: bool,
    poller: Poller,
}

/// In the runtime: a non-blocking socket registered with the reactor, and a timer.
struct InRuntime {
    socket: AsyncFd<UdpSocket>,
    /// Ends a wait at its deadline. It stays registered across receives and moves only when a
    /// deadline comes before it or it went off (then the wait goes on to the real deadline),
    /// so a steady transfer does not register a timer per packet.
    timer: Pin<Box<Sleep>>,
}

/// What a wait on a lane came to.
enum LaneWait {
    Received(usize, SocketAddr),
    Deadline,
    /// `LANE_WAIT` passed: the transfer leaves the lane.
    Slow,
}

impl TransferSocket {
    /// Takes `socket` for a transfer polled on a lane or in the runtime (call from within one).
    pub fn new(socket: UdpSocket, stop: Arc<Stop>) -> io::Result<TransferSocket> {
        let wait = if lane::on_lane() { Wait::Lane(OnLane::new(socket)?) } else { Wait::Runtime(InRuntime::new(socket)?) };
        Ok(TransferSocket { wait, stop, fast: 0 })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.std().as_raw_fd()
    }

    fn std(&self) -> &UdpSocket {
        match &self.wait {
            Wait::Lane(lane) => &lane.socket,
            Wait::Runtime(runtime) => runtime.socket.get_ref(),
        }
    }

    pub async fn send_to(&mut self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        match &mut self.wait {
            Wait::Lane(lane) => lane.send_to(bytes, to),
            Wait::Runtime(runtime) => runtime.send_to(bytes, to).await,
        }
    }

    /// One datagram before `deadline` (`None` once it passed); fails once the transfer is stopped.
    pub async fn recv_from(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<Option<(usize, SocketAddr)>> {
        loop {
            if self.stop.is_set() {
                return Err(io::Error::other("transfer stopped"));
            }
            let Wait::Runtime(runtime) = &mut self.wait else {
                let Wait::Lane(lane) = &mut self.wait else { unreachable!() };
                match lane.recv_from(buf, deadline, &self.stop)? {
                    LaneWait::Received(len, from) => return Ok(Some((len, from))),
                    LaneWait::Deadline => return Ok(None),
                    LaneWait::Slow => self.leave_lane().await?,
                }
                continue;
            };
            let Some((received, waited)) = runtime.recv_from(buf, deadline, &self.stop).await? else {
                return Ok(None);
            };
            self.fast = if waited < FAST_PEER { self.fast + 1 } else { 0 };
            if self.fast >= FAST_IN_A_ROW {
                self.fast = 0;
                if let Some(token) = Token::take() {
                    self.take_lane(token).await?;
                }
            }
            return Ok(Some(received));
        }
    }

    async fn leave_lane(&mut self) -> io::Result<()> {
        let Wait::Lane(lane) = &self.wait else { return Ok(()) };
        let socket = lane.socket.try_clone()?;
        self.wait = Wait::Runtime(InRuntime::new(socket)?);
        lane::to_runtime().await;
        Ok(())
    }

    async fn take_lane(&mut self, token: Token) -> io::Result<()> {
        lane::to_lane(token).await;
        if !lane::on_lane() {
            return Ok(()); // no lane took it: it goes on in the runtime
        }
        let Wait::Runtime(runtime) = &self.wait else { return Ok(()) };
        let socket = runtime.socket.get_ref().try_clone()?;
        self.wait = Wait::Lane(OnLane::new(socket)?);
        Ok(())
    }
}

impl OnLane {
    fn new(socket: UdpSocket) -> io::Result<OnLane> {
        socket.set_nonblocking(false)?;
        Ok(OnLane { socket, read_timeout: None, nonblocking: false, poller: Poller::default() })
    }

    fn recv_from(&mut self, buf: &mut [u8], deadline: Instant, stop: &Stop) -> io::Result<LaneWait> {
        let slow_at = Instant::now() + LANE_WAIT;
        loop {
            if stop.is_set() {
                return Err(io::Error::other("transfer stopped"));
            }
            let now = Instant::now();
            let Some(left) = deadline.checked_duration_since(now).filter(|left| !left.is_zero()) else {
                return Ok(LaneWait::Deadline);
            };
            let Some(patience) = slow_at.checked_duration_since(now).filter(|p| !p.is_zero()) else {
                return Ok(LaneWait::Slow);
            };
            match self.receive(buf, left.min(patience)) {
                Ok((len, from)) => return Ok(LaneWait::Received(len, from)),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if crate::link::is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// One datagram within `wait` (or a timeout error): polled for a moment while that measurably
    /// speeds the transfer (a thread woken from `recvfrom` answers later than one already
    /// running, yet polling made large blocks slower: see `poll`), else waited for in the kernel.
    fn receive(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<(usize, SocketAddr)> {
        let polling = self.poller.active();
        if polling {
            self.set_nonblocking(true)?;
            let until = Instant::now() + POLL.min(wait);
            loop {
                match self.socket.recv_from(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => std::thread::yield_now(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Ok(received) => {
                        self.poller.received(true);
                        return Ok(received);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.set_nonblocking(false)?;
        self.wait_at_most(wait)?;
        let received = self.socket.recv_from(buf);
        if received.is_ok() {
            self.poller.received(polling);
        }
        received
    }

    /// A full send buffer while the socket polls (non-blocking) is waited out as a blocking
    /// socket would.
    fn send_to(&mut self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        match self.socket.send_to(bytes, to) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.set_nonblocking(false)?;
                self.socket.send_to(bytes, to).map(drop)
            }
            result => result.map(drop),
        }
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.nonblocking != nonblocking {
            self.socket.set_nonblocking(nonblocking)?;
            self.nonblocking = nonblocking;
        }
        Ok(())
    }

    /// Lets the next `recvfrom` block at most `wait`. A timeout already set between half of
    /// `wait` and `wait` is kept (the wait ends early and goes on), so receiving costs no extra
    /// syscall in the steady state.
    fn wait_at_most(&mut self, wait: Duration) -> io::Result<()> {
        if self.read_timeout.is_some_and(|current| current <= wait && current * 2 >= wait) {
            return Ok(());
        }
        self.socket.set_read_timeout(Some(wait))?;
        self.read_timeout = Some(wait);
        Ok(())
    }
}

impl InRuntime {
    fn new(socket: UdpSocket) -> io::Result<InRuntime> {
        socket.set_nonblocking(true)?;
        // SAFETY: a std `UdpSocket` owns its fd and returns that same fd for as long as it
        // lives; the AsyncFd owns the socket, so the fd stays open while registered.
        let socket = unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)?;
        let timer = Box::pin(tokio::time::sleep(Duration::from_secs(86_400)));
        Ok(InRuntime { socket, timer })
    }

    /// One datagram before `deadline`, and how long it was waited for.
    async fn recv_from(&mut self, buf: &mut [u8], deadline: Instant, stop: &Stop) -> io::Result<Option<((usize, SocketAddr), Duration)>> {
        let wake_at = tokio::time::Instant::from_std(deadline);
        loop {
            if Instant::now() >= deadline {
                return Ok(None);
            }
            if self.timer.is_elapsed() || self.timer.deadline() > wake_at {
                self.timer.as_mut().reset(wake_at);
            }
            let started = Instant::now();
            tokio::select! {
                biased;
                received = next_datagram(&self.socket, buf) => match received {
                    Err(e) if crate::link::is_transient(&e) => {}
                    received => return received.map(|r| Some((r, started.elapsed()))),
                },
                () = stop.wait() => return Err(io::Error::other("transfer stopped")),
                // The deadline, or an earlier one the timer still held: the loop looks again.
                () = self.timer.as_mut() => {}
            }
        }
    }

    async fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        match self.socket.get_ref().send_to(bytes, to) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result.map(drop),
        }
        loop {
            let mut ready = self.socket.writable().await?;
            if let Ok(result) = ready.try_io(|socket| socket.get_ref().send_to(bytes, to)) {
                return result.map(drop);
            }
        }
    }
}

/// The next datagram, waited for in the runtime until one is there.
async fn next_datagram(socket: &AsyncFd<UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    loop {
        let mut ready = socket.readable().await?;
        if let Ok(result) = ready.try_io(|socket| socket.get_ref().recv_from(buf)) {
            return result;
        }
    }
}
