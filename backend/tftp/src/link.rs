//! One transfer's UDP endpoint (its TID): sends and traces packets, receives with a deadline,
//! answers other ports with ERROR 5. How it waits (lane or runtime) is `socket`'s business.

use crate::lane::Stop;
use crate::packet::{ErrorCode, Packet};
use crate::socket::TransferSocket;
use crate::trace::{Direction, Tracer};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

/// Packet counts of one transfer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub sent: u64,
    pub received: u64,
    pub retransmits: u64,
}

pub(crate) struct Link {
    socket: TransferSocket,
    peer: SocketAddr,
    /// False while a client waits for the server's first reply: any port of the server's
    /// address may then become the peer's TID.
    locked: bool,
    tracer: Tracer,
    out: Vec<u8>,
    pub counters: Counters,
}

impl Link {
    /// Takes `socket` for a transfer started with `lane::run` (`stop` is its stop signal).
    pub fn new(socket: UdpSocket, peer: SocketAddr, locked: bool, mut tracer: Tracer, stop: Arc<Stop>) -> io::Result<Link> {
        if let Ok(local) = socket.local_addr() {
            tracer.set_local(local);
        }
        let socket = TransferSocket::new(socket, stop)?;
        Ok(Link { socket, peer, locked, tracer, out: Vec::with_capacity(1024), counters: Counters::default() })
    }

    pub async fn send(&mut self, packet: &Packet<'_>, retransmit: bool) -> io::Result<()> {
        packet.encode(&mut self.out);
        // Traced before it leaves: the peer's answer cannot then be traced ahead of it.
        self.tracer.packet(Direction::Sent, self.peer, packet, self.out.len(), retransmit, None);
        self.send_out(self.peer).await?;
        self.counters.sent += 1;
        if retransmit {
            self.counters.retransmits += 1;
        }
        Ok(())
    }

    /// Makes the kernel's receive buffer at least `bytes` (best effort, capped by
    /// net.core.rmem_max), so a window of large blocks is not dropped while we are busy.
    pub fn reserve_receive_buffer(&self, bytes: usize) {
        let fd = self.socket.raw_fd();
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
    /// from the peer are traced and dropped. Fails once the transfer is stopped.
    pub async fn recv<'b>(&mut self, buf: &'b mut [u8], deadline: Instant) -> io::Result<Option<Packet<'b>>> {
        let len = loop {
            let Some((len, src)) = self.socket.recv_from(buf, deadline).await? else {
                return Ok(None);
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
                        self.send_unknown_tid(src).await?;
                    }
                }
                Err(error) if candidate => self.tracer.malformed(src, len, &error, "dropped"),
                Err(error) => {
                    self.tracer.malformed(src, len, &error, "from an unknown transfer ID: answered with ERROR 5");
                    self.send_unknown_tid(src).await?;
                }
            }
        };
        let packet = Packet::decode(&buf[..len]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.counters.received += 1;
        self.tracer.packet(Direction::Received, self.peer, &packet, len, false, None);
        Ok(Some(packet))
    }

    async fn send_out(&mut self, to: SocketAddr) -> io::Result<()> {
        self.socket.send_to(&self.out, to).await
    }

    async fn send_unknown_tid(&mut self, to: SocketAddr) -> io::Result<()> {
        let packet = Packet::Error { code: ErrorCode::UNKNOWN_TID, message: "Unknown transfer ID".to_string() };
        packet.encode(&mut self.out);
        self.tracer.packet(Direction::Sent, to, &packet, self.out.len(), false, None);
        match self.send_out(to).await {
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
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
