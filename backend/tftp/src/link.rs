//! One transfer's UDP endpoint (its TID), on the transfer's own thread: sends and traces packets,
//! receives with a deadline (polling first while the peer is fast), answers other ports with ERROR 5.

use crate::packet::{ErrorCode, Packet};
use crate::poll::{Poller, POLL};
use crate::trace::{Direction, Tracer};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a receive blocks before looking at the stop flag again.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Ends a transfer from outside its thread when dropped (the task that waits for it ended or
/// was aborted), unless disarmed first.
pub(crate) struct StopOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl StopOnDrop {
    /// A guard and the flag to hand to the transfer's `Link`.
    pub fn new() -> (StopOnDrop, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (StopOnDrop { flag: flag.clone(), armed: true }, flag)
    }

    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Packet counts of one transfer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub sent: u64,
    pub received: u64,
    pub retransmits: u64,
}

pub(crate) struct Link {
    socket: UdpSocket,
    peer: SocketAddr,
    /// False while a client waits for the server's first reply: any port of the server's
    /// address may then become the peer's TID.
    locked: bool,
    tracer: Tracer,
    out: Vec<u8>,
    pub counters: Counters,
    /// Set by whoever started the transfer to end it (server shutdown, a dropped client call).
    stop: Arc<AtomicBool>,
    /// The socket's receive timeout (SO_RCVTIMEO), changed only when a deadline needs a shorter one.
    read_timeout: Option<Duration>,
    /// Whether receives poll before sleeping (see `poll`).
    poller: Poller,
    /// Whether the socket is in non-blocking mode now (only while polling).
    nonblocking: bool,
}

impl Link {
    /// Takes `socket` in blocking mode: a transfer owns its thread, and waiting in `recvfrom`
    /// is the shortest path from a datagram's arrival to our answer (lock-step speed).
    pub fn new(socket: UdpSocket, peer: SocketAddr, locked: bool, mut tracer: Tracer, stop: Arc<AtomicBool>) -> io::Result<Link> {
        socket.set_nonblocking(false)?;
        if let Ok(local) = socket.local_addr() {
            tracer.set_local(local);
        }
        let out = Vec::with_capacity(1024);
        Ok(Link { socket, peer, locked, tracer, out, counters: Counters::default(), stop, read_timeout: None, poller: Poller::default(), nonblocking: false })
    }

    pub fn send(&mut self, packet: &Packet<'_>, retransmit: bool) -> io::Result<()> {
        packet.encode(&mut self.out);
        self.send_out(self.peer)?;
        self.counters.sent += 1;
        if retransmit {
            self.counters.retransmits += 1;
        }
        self.tracer.packet(Direction::Sent, self.peer, packet, self.out.len(), retransmit, None);
        Ok(())
    }

    /// Makes the kernel's receive buffer at least `bytes` (best effort, capped by
    /// net.core.rmem_max), so a window of large blocks is not dropped while we are busy.
    pub fn reserve_receive_buffer(&self, bytes: usize) {
        let fd = self.socket.as_raw_fd();
        let wanted = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let mut current: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `fd` belongs to `self.socket`, alive for these calls; the option values are
        // c_ints whose sizes are passed along.
        unsafe {
            let read = libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut current as *mut libc::c_int).cast(), &mut len);
            // Linux reports twice the size that was set (bookkeeping overhead included).
            if read == 0 && current / 2 < wanted {
                libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&wanted as *const libc::c_int).cast(), len);
            }
        }
    }

    /// Adds a note to the trace: why a received packet was ignored, or a deliberately unsent one.
    pub fn note(&self, direction: Direction, size: usize, note: &str) {
        self.tracer.note(direction, self.peer, size, note);
    }

    /// Waits until `deadline` for a valid packet from the peer; `None` on timeout. Datagrams
    /// from other ports get ERROR 5 (unless they are errors themselves); malformed datagrams
    /// from the peer are traced and dropped. Fails once the stop flag is set.
    pub fn recv<'b>(&mut self, buf: &'b mut [u8], deadline: Instant) -> io::Result<Option<Packet<'b>>> {
        let len = loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("transfer stopped"));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) else {
                return Ok(None);
            };
            let (len, src) = match self.receive(buf, left) {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                Err(e) if is_transient(&e) => continue,
                result => result?,
            };
            let candidate = src == self.peer || (!self.locked && src.ip() == self.peer.ip());
            match Packet::decode(&buf[..len]) {
                Ok(_) if candidate => {
                    self.peer = src;
                    self.locked = true;
                    break len;
                }
                Ok(packet) => {
                    let answered = packet.opcode() != crate::packet::Opcode::Error;
                    let note = if answered { "unknown transfer ID: answered with ERROR 5" } else { "unknown transfer ID: ignored" };
                    self.tracer.packet(Direction::Received, src, &packet, len, false, Some(note));
                    if answered {
                        self.send_unknown_tid(src)?;
                    }
                }
                Err(error) if candidate => self.tracer.malformed(src, len, &error, "dropped"),
                Err(error) => {
                    self.tracer.malformed(src, len, &error, "from an unknown transfer ID: answered with ERROR 5");
                    self.send_unknown_tid(src)?;
                }
            }
        };
        let packet = Packet::decode(&buf[..len]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.counters.received += 1;
        self.tracer.packet(Direction::Received, self.peer, &packet, len, false, None);
        Ok(Some(packet))
    }

    /// One datagram within `left` (or a timeout error): polled for a moment while the peer is
    /// fast, else waited for in the kernel, at most `STOP_CHECK` at a time.
    fn receive(&mut self, buf: &mut [u8], left: Duration) -> io::Result<(usize, SocketAddr)> {
        if self.poller.active() {
            self.set_nonblocking(true)?;
            let until = Instant::now() + POLL.min(left);
            loop {
                match self.socket.recv_from(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => std::thread::yield_now(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.poller.missed();
                        break;
                    }
                    result => return result,
                }
            }
        }
        self.set_nonblocking(false)?;
        self.wait_at_most(left.min(STOP_CHECK))?;
        let started = Instant::now();
        let received = self.socket.recv_from(buf);
        if received.is_ok() {
            self.poller.slept(started.elapsed());
        }
        received
    }

    /// Sends the encoded packet in `out`; a full send buffer while the socket polls (non-blocking)
    /// waits as a blocking socket would.
    fn send_out(&mut self, to: SocketAddr) -> io::Result<()> {
        match self.socket.send_to(&self.out, to) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.set_nonblocking(false)?;
                self.socket.send_to(&self.out, to).map(drop)
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
    /// `wait` and `wait` is kept (`recv` wakes early and waits again), so receiving costs
    /// no extra syscall in the steady state.
    fn wait_at_most(&mut self, wait: Duration) -> io::Result<()> {
        if self.read_timeout.is_some_and(|current| current <= wait && current * 2 >= wait) {
            return Ok(());
        }
        self.socket.set_read_timeout(Some(wait))?;
        self.read_timeout = Some(wait);
        Ok(())
    }

    fn send_unknown_tid(&mut self, to: SocketAddr) -> io::Result<()> {
        let packet = Packet::Error { code: ErrorCode::UNKNOWN_TID, message: "Unknown transfer ID".to_string() };
        packet.encode(&mut self.out);
        match self.send_out(to) {
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
        self.tracer.packet(Direction::Sent, to, &packet, self.out.len(), false, None);
        Ok(())
    }
}

/// Errors a UDP socket reports for earlier datagrams (ICMP unreachable) that do not concern us.
pub(crate) fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}
