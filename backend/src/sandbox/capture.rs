//! The packets of a sandbox's loopback, seen from outside it: one AF_PACKET socket per sandbox,
//! opened in its network namespace by a short-lived thread and read by a task of the backend.
//!
//! Nothing in the sandbox can reach this socket or write into it: it belongs to the backend,
//! and what it reads is what the kernel's `lo` of that namespace carried (outgoing copies are
//! ignored, so each packet appears once). The student's seccomp filter still refuses AF_PACKET.
//! Every queue is bounded: the kernel's receive buffer (`RCVBUF`; an overflow is counted by the
//! kernel and cuts the recording), and per run `MAX_PACKETS` packets and two cut notices. While
//! no run follows, a filter makes the kernel drop every packet before it is queued. While runs
//! follow, the socket is read at a pace (`PACE`), so a chatty program wakes the backend
//! hundreds of times a second rather than once a packet; finishing a run reads at once.

use super::tftp::NetNs;
use shared::capture::{decode, Segment};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

/// Packets of one run sent to its page; past this the run's recording is cut.
pub const MAX_PACKETS: usize = 10_000;
/// What a run's queue holds at most: every packet it may be shown, a cut notice, and the cut
/// notice's final count.
pub const RUN_QUEUE: usize = MAX_PACKETS + 2;
/// Bytes of each packet copied out of the kernel: IPv6 (40) + the longest TCP header (60) +
/// the page's preview (48), rounded up. Lengths come from the headers, not from the copy.
pub const SNAP_BYTES: u32 = 160;
/// The kernel's receive buffer of the capture socket. Packets past it are dropped (and
/// counted by the kernel), never queued by us.
pub const RCVBUF: libc::c_int = 512 << 10;

/// The wait after a read that emptied the socket before the next: packets meanwhile wait in
/// the kernel's buffer (`RCVBUF`, some 500 packets).
const PACE: std::time::Duration = std::time::Duration::from_millis(1);
/// A read of this many packets is followed by the next at once.
const BIG_READ: usize = 64;

const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_OUTGOING: u8 = 4;

/// What the capture tells a run that follows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Packet(Segment),
    /// The recording of this run stops here: `shown` packets were given, `not_shown` were not
    /// (so far: a second notice with the final count may follow).
    Cut { shown: u32, not_shown: u64 },
}

enum Cmd {
    Follow { run_id: u32, tx: mpsc::Sender<Seen> },
    Finish { run_id: u32, done: oneshot::Sender<()> },
}

/// One sandbox's capture. Dropping it ends its task and closes the socket.
pub struct Capture {
    cmds: mpsc::Sender<Cmd>,
}

impl Capture {
    /// Starts capturing on `lo` of the sandbox's network namespace `ns`.
    pub fn start(ns: &NetNs) -> io::Result<Capture> {
        let socket = ns.run_inside(open_lo_socket)?;
        // SAFETY: `socket` is an OwnedFd that the AsyncFd owns for its whole life.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?;
        let (cmds, rx) = mpsc::channel(64);
        tokio::spawn(capture(fd, rx));
        Ok(Capture { cmds })
    }

    /// From now on, run `run_id` is given every packet of the loopback, until `finish`: each
    /// live run of the sandbox gets them all (a server and its client share the loopback).
    pub fn follow(&self, run_id: u32) -> mpsc::Receiver<Seen> {
        let (tx, rx) = mpsc::channel(RUN_QUEUE);
        // The task takes commands at once; a full queue means it is gone or stuck, and then the
        // run simply gets no packets.
        let _ = self.cmds.try_send(Cmd::Follow { run_id, tx });
        rx
    }

    /// Run `run_id` is about to end: resolves once every packet the kernel holds now was given
    /// to it (at most a second), then its queue closes.
    pub fn finish(&self, run_id: u32) -> impl Future<Output = ()> + Send + 'static {
        let (done, finished) = oneshot::channel();
        let sent = self.cmds.try_send(Cmd::Finish { run_id, done }).is_ok();
        async move {
            if sent {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), finished).await;
            }
        }
    }
}

/// An AF_PACKET datagram socket on `lo` of the calling thread's network namespace: IP packets
/// without a link header, the loopback's outgoing copies ignored, kernel timestamps on, and a
/// filter that takes nothing until a run follows.
fn open_lo_socket() -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket call; the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto.into()) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_filter(&fd, 0)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    // Linux ≥ 4.20; older kernels give both copies, which `read_one` tells apart.
    let _ = setsockopt(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
    // SAFETY: if_nametoindex reads a NUL-terminated name.
    let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if lo == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = lo as i32;
    // SAFETY: bind with a sockaddr_ll of the right size.
    let ret = unsafe {
        libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_ll>() as u32)
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn setsockopt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: an int option.
    let ret = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, &value as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as u32)
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A classic BPF program of one instruction: accept each packet, copying its first `snap`
/// bytes (0: take none, so the kernel queues nothing).
fn set_filter(fd: &OwnedFd, snap: u32) -> io::Result<()> {
    const BPF_RET_K: u16 = 0x06;
    let mut code = [libc::sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: snap }];
    let prog = libc::sock_fprog { len: 1, filter: code.as_mut_ptr() };
    // SAFETY: the program outlives the call (the kernel copies it).
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &prog as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as u32,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Packets the kernel dropped since the last call (its receive buffer was full).
fn kernel_drops(fd: &OwnedFd) -> u64 {
    let mut stats = [0u32; 2]; // tpacket_stats: packets, drops (read and reset)
    let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
    // SAFETY: getsockopt into a buffer of `len` bytes.
    let ret = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::SOL_PACKET, PACKET_STATISTICS, stats.as_mut_ptr() as *mut libc::c_void, &mut len)
    };
    if ret == 0 {
        u64::from(stats[1])
    } else {
        0
    }
}

/// One packet read without waiting: its first `SNAP_BYTES` bytes, its kernel timestamp in µs
/// since the epoch, and whether it was the outgoing copy. `None`: nothing is waiting.
fn read_one(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<(usize, u64, bool)>> {
    // SAFETY: zeroed sockaddr_ll, msghdr and control buffer are valid; recvmsg fills them.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = &mut addr as *mut _ as *mut libc::c_void;
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: recvmsg with the buffers set up above.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
    }
    let mut us = 0;
    // SAFETY: walking the control messages recvmsg wrote, with the libc macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::timespec);
                us = ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if us == 0 {
        us = now_us();
    }
    Ok(Some((n as usize, us, addr.sll_pkttype == PACKET_OUTGOING)))
}

/// Now, in µs since the epoch (the clock of packets and of the program's recorded calls).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A run following the capture.
struct Follower {
    run_id: u32,
    tx: mpsc::Sender<Seen>,
    shown: u32,
    /// Packets not given since the cut (`None`: not cut).
    cut: Option<u64>,
}

impl Follower {
    fn give(&mut self, seg: &Segment) {
        match &mut self.cut {
            Some(not_shown) => *not_shown += 1,
            None if (self.shown as usize) < MAX_PACKETS => {
                // Never full: it holds all this run may be given.
                if self.tx.try_send(Seen::Packet(seg.clone())).is_ok() {
                    self.shown += 1;
                }
            }
            None => self.cut_here(1),
        }
    }

    fn cut_here(&mut self, lost: u64) {
        match &mut self.cut {
            Some(not_shown) => *not_shown += lost,
            None => {
                self.cut = Some(lost);
                let _ = self.tx.try_send(Seen::Cut { shown: self.shown, not_shown: lost });
            }
        }
    }

    /// The cut notice again with its final count, when packets were left out since.
    fn close(self) {
        if let Some(not_shown) = self.cut {
            let _ = self.tx.try_send(Seen::Cut { shown: self.shown, not_shown });
        }
    }
}

/// The capture's task: reads packets as they come and gives them to every following run.
async fn capture(fd: AsyncFd<OwnedFd>, mut cmds: mpsc::Receiver<Cmd>) {
    let mut followers: Vec<Follower> = Vec::new();
    let mut buf = vec![0u8; SNAP_BYTES as usize];
    let mut resume = tokio::time::Instant::now();
    loop {
        let (at, socket) = (resume, &fd);
        let paced = async move {
            tokio::time::sleep_until(at).await;
            socket.readable().await
        };
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(Cmd::Follow { run_id, tx }) => {
                    if followers.is_empty() {
                        let _ = kernel_drops(fd.get_ref()); // what was dropped before is no run's loss
                        let _ = set_filter(fd.get_ref(), SNAP_BYTES);
                    }
                    followers.push(Follower { run_id, tx, shown: 0, cut: None });
                }
                Some(Cmd::Finish { run_id, done }) => {
                    let _ = drain(fd.get_ref(), &mut buf, &mut followers);
                    if let Some(at) = followers.iter().position(|f| f.run_id == run_id) {
                        followers.remove(at).close();
                    }
                    if followers.is_empty() {
                        let _ = set_filter(fd.get_ref(), 0);
                        let _ = drain(fd.get_ref(), &mut buf, &mut followers);
                    }
                    let _ = done.send(());
                }
            },
            ready = paced => {
                let Ok(mut guard) = ready else { return };
                let (read, emptied) = drain(fd.get_ref(), &mut buf, &mut followers);
                if emptied {
                    guard.clear_ready();
                    if read < BIG_READ {
                        resume = tokio::time::Instant::now() + PACE;
                    }
                }
            }
        }
    }
}

/// Reads every packet waiting and gives each to the followers; a kernel drop cuts them all (a
/// diagram with a gap would mislead). How many it read, and whether nothing is left to read.
fn drain(fd: &OwnedFd, buf: &mut [u8], followers: &mut [Follower]) -> (usize, bool) {
    let mut emptied = false;
    let mut read = 0;
    // Bounded work per call, so commands are heard during a flood.
    for _ in 0..4096 {
        read += 1;
        match read_one(fd, buf) {
            Ok(Some((n, us, outgoing))) => {
                if outgoing || followers.is_empty() {
                    continue;
                }
                if let Ok(seg) = decode(&buf[..n], us) {
                    for f in followers.iter_mut() {
                        f.give(&seg);
                    }
                }
            }
            Ok(None) | Err(_) => {
                emptied = true;
                break;
            }
        }
    }
    let dropped = kernel_drops(fd);
    if dropped > 0 {
        for f in followers.iter_mut() {
            f.cut_here(dropped);
        }
    }
    (read, emptied)
}
