//! TFTP client: download (RRQ) and upload (WRQ) with RFC 2347 options, retransmission on
//! timeout, checking of the server's OACK, and statistics; a transfer is the caller's future.

use crate::blockio::{Sink, Source};
use crate::lane::{self, Stop};
use crate::link::Link;
use crate::packet::{ErrorCode, Mode, Options, Packet, Request, DEFAULT_BLKSIZE, MAX_PACKET};
use crate::receiver::{dally, receive_blocks, Start};
use crate::sender::send_blocks;
use crate::server::SocketFactory;
use crate::trace::{TraceSink, Tracer};
use crate::transfer::{report, Params, TransferError, TransferStats};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the client asks for and how patient it is.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub mode: Mode,
    /// RFC 2348 `blksize` to ask for.
    pub blksize: Option<u16>,
    /// RFC 7440 `windowsize` to ask for.
    pub windowsize: Option<u16>,
    /// Ask for RFC 2349 `tsize`: the server tells a download's size; an upload announces its own.
    pub tsize: bool,
    /// RFC 2349 `timeout` to ask for, in seconds; once acknowledged it is also our timer.
    pub timeout_option: Option<u8>,
    /// Retransmission timer while no `timeout` option is in force: fixed for lock-step
    /// transfers, the starting and largest value for windowed ones.
    pub retransmit_after: Duration,
    /// Lower bound of the adaptive timer of windowed transfers (RFC 1123 4.2.3.2).
    pub min_retransmit_after: Duration,
    /// Retransmissions of one packet before giving up.
    pub retries: u32,
    /// Largest download accepted, in bytes (ERROR 3 beyond).
    pub max_bytes: u64,
    /// Simulates one lost ACK in a download: the ACK of this block (counted from 1, not wrapped)
    /// is not sent the first time, so the server has to retransmit that DATA. Not the last block.
    pub drop_ack: Option<u64>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            mode: Mode::Octet,
            blksize: None,
            windowsize: None,
            tsize: false,
            timeout_option: None,
            retransmit_after: Duration::from_secs(1),
            min_retransmit_after: Duration::from_millis(20),
            retries: 5,
            max_bytes: 1 << 30,
            drop_ack: None,
        }
    }
}

/// A finished download.
#[derive(Clone, Debug)]
pub struct Download {
    pub data: Vec<u8>,
    pub stats: TransferStats,
}

/// Transfer numbers of every client of this process, so traces of several clients never mix.
static NEXT_TRANSFER: AtomicU64 = AtomicU64::new(1);

/// A client for one server address; each call is its own transfer from a new local port.
#[derive(Clone)]
pub struct Client {
    server: SocketAddr,
    options: ClientOptions,
    trace: Option<TraceSink>,
    /// How each transfer's local socket is opened (default: a plain bind).
    sockets: SocketFactory,
}

/// The server's first answer to a request: an OACK, or plain RFC 1350 (ACK 0 to a write
/// request, DATA 1, carried along, to a read request).
enum Reply {
    Oack(Options),
    Plain(Option<Vec<u8>>),
}

impl Client {
    pub fn new(server: SocketAddr, options: ClientOptions, trace: Option<TraceSink>) -> Client {
        Client { server, options, trace, sockets: Arc::new(StdUdpSocket::bind) }
    }

    /// Replaces how transfer sockets are opened, e.g. to make them inside another network
    /// namespace (a student's sandbox).
    pub fn with_socket_factory(mut self, sockets: SocketFactory) -> Client {
        self.sockets = sockets;
        self
    }

    /// Reads `filename` from the server into memory. Dropping the future ends the transfer.
    pub async fn download(&self, filename: &str) -> Result<Download, TransferError> {
        let (client, filename) = (self.clone(), filename.to_string());
        let running = lane::run(move |stop, done| async move {
            match client.download_until_final_ack(&filename, stop).await {
                Ok((download, mut link, final_block, params)) => {
                    let _ = done.send(Ok(download));
                    // Stay around one timeout to answer a retransmitted last block, without
                    // making the caller wait.
                    dally(&mut link, final_block, params).await;
                }
                Err(error) => {
                    let _ = done.send(Err(error));
                }
            }
        });
        running.await.unwrap_or_else(ended_early)
    }

    /// Writes `data` to the server as `filename`. Dropping the future ends the transfer.
    pub async fn upload(&self, filename: &str, data: &[u8]) -> Result<TransferStats, TransferError> {
        let (client, filename, data) = (self.clone(), filename.to_string(), data.to_vec());
        let running = lane::run(move |stop, done| async move {
            let _ = done.send(client.upload_all(&filename, &data, stop).await);
        });
        running.await.unwrap_or_else(ended_early)
    }

    /// A download up to the final ACK, which is left to `dally` on the returned link.
    async fn download_until_final_ack(&self, filename: &str, stop: Arc<Stop>) -> Result<(Download, Link, u16, Params), TransferError> {
        let started = Instant::now();
        let mut link = self.open(stop)?;
        let mut stats = TransferStats::default();
        let (data, final_block, params) = match self.download_on(&mut link, filename, &mut stats).await {
            Ok(done) => done,
            Err(error) => return Err(report(&mut link, error).await),
        };
        stats.bytes = data.len() as u64;
        self.finish_stats(&mut stats, &link, params, started);
        Ok((Download { data, stats }, link, final_block, params))
    }

    async fn upload_all(&self, filename: &str, data: &[u8], stop: Arc<Stop>) -> Result<TransferStats, TransferError> {
        let started = Instant::now();
        let mut link = self.open(stop)?;
        let mut stats = TransferStats::default();
        let params = match self.upload_on(&mut link, filename, data, &mut stats).await {
            Ok(params) => params,
            Err(error) => return Err(report(&mut link, error).await),
        };
        self.finish_stats(&mut stats, &link, params, started);
        Ok(stats)
    }

    fn open(&self, stop: Arc<Stop>) -> Result<Link, TransferError> {
        let any: SocketAddr = match self.server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = (self.sockets)(any)?;
        let id = NEXT_TRANSFER.fetch_add(1, Ordering::Relaxed);
        let tracer = Tracer::new(self.trace.clone(), id, socket.local_addr()?);
        Ok(Link::new(socket, self.server, false, tracer, stop)?)
    }

    fn asked(&self, upload_size: Option<u64>) -> Options {
        let o = &self.options;
        let tsize = match (o.tsize, o.mode, upload_size) {
            (false, _, _) => None,
            (true, _, None) => Some(0),
            (true, Mode::Octet, Some(size)) => Some(size),
            (true, Mode::Netascii, Some(_)) => None, // size after conversion is unknown
        };
        Options { blksize: o.blksize, timeout: o.timeout_option, tsize, windowsize: o.windowsize, unknown: Vec::new() }
    }

    async fn download_on(
        &self,
        link: &mut Link,
        filename: &str,
        stats: &mut TransferStats,
    ) -> Result<(Vec<u8>, u16, Params), TransferError> {
        let asked = self.asked(None);
        let request = Packet::Rrq(Request { filename: filename.to_string(), mode: self.options.mode, options: asked.clone() });
        let (params, start) = match self.request(link, &request, false).await?.0 {
            Reply::Oack(oack) => {
                let params = self.accept_oack(&asked, &oack, stats)?;
                let ack = Packet::Ack { block: 0 };
                link.send(&ack, false).await?;
                (params, Start { pending: Some(ack), first: None })
            }
            Reply::Plain(first) => (self.plain_params(), Start { pending: None, first }),
        };
        let mut sink = Sink::memory(self.options.mode, self.options.max_bytes);
        let received = receive_blocks(link, &mut sink, params, start, self.options.drop_ack).await?;
        stats.blocks = received.blocks;
        stats.duplicate_blocks = received.duplicates;
        Ok((sink.finish()?, received.final_block, params))
    }

    async fn upload_on(
        &self,
        link: &mut Link,
        filename: &str,
        data: &[u8],
        stats: &mut TransferStats,
    ) -> Result<Params, TransferError> {
        let asked = self.asked(Some(data.len() as u64));
        let request = Packet::Wrq(Request { filename: filename.to_string(), mode: self.options.mode, options: asked.clone() });
        let (reply, rtt) = self.request(link, &request, true).await?;
        let params = match reply {
            Reply::Oack(oack) => self.accept_oack(&asked, &oack, stats)?,
            Reply::Plain(_) => self.plain_params(),
        };
        stats.tsize = asked.tsize;
        stats.blocks = send_blocks(link, &mut Source::memory(data, self.options.mode), params, rtt).await?;
        stats.bytes = data.len() as u64;
        Ok(params)
    }

    /// Sends the request (again on each timeout) until the server's first answer; also returns
    /// the round trip when the first request was answered.
    async fn request(&self, link: &mut Link, request: &Packet<'_>, write: bool) -> Result<(Reply, Option<Duration>), TransferError> {
        link.send(request, false).await?;
        let sent_at = Instant::now();
        let mut buf = vec![0u8; MAX_PACKET + 1];
        let mut retries = 0;
        loop {
            let deadline = Instant::now() + self.options.retransmit_after;
            match link.recv(&mut buf, deadline).await? {
                None => {
                    retries += 1;
                    if retries > self.options.retries {
                        return Err(TransferError::Unanswered(self.options.retries));
                    }
                    link.send(request, true).await?;
                }
                Some(packet) => {
                    let rtt = (retries == 0).then(|| sent_at.elapsed());
                    let reply = match packet {
                        Packet::Oack(options) => Reply::Oack(options),
                        Packet::Ack { block: 0 } if write => Reply::Plain(None),
                        Packet::Data { block: 1, data } if !write => Reply::Plain(Some(data.to_vec())),
                        other => {
                            let expected = if write { "ACK 0 or OACK" } else { "DATA 1 or OACK" };
                            return Err(TransferError::unexpected(&other, expected));
                        }
                    };
                    return Ok((reply, rtt));
                }
            }
        }
    }

    fn plain_params(&self) -> Params {
        let o = &self.options;
        Params::new(usize::from(DEFAULT_BLKSIZE), 1, None, o.min_retransmit_after, o.retransmit_after, o.retries)
    }

    /// Checks the OACK only acknowledges what was asked, within the asked values (RFC 2347-2349,
    /// 7440); a bad one is refused with ERROR 8.
    fn accept_oack(&self, asked: &Options, oack: &Options, stats: &mut TransferStats) -> Result<Params, TransferError> {
        let refuse = |why: String| Err(TransferError::local(ErrorCode::OPTION_REFUSED, why));
        if let Some((name, _)) = oack.unknown.first() {
            return refuse(format!("OACK contains option {name:?}, which was not requested"));
        }
        let too_big = |got: Option<u16>, want: Option<u16>| got.is_some_and(|g| want.is_none_or(|w| g > w));
        if too_big(oack.blksize, asked.blksize) {
            return refuse(format!("OACK blksize {:?} was not requested or exceeds {:?}", oack.blksize, asked.blksize));
        }
        if too_big(oack.windowsize, asked.windowsize) {
            return refuse(format!("OACK windowsize {:?} was not requested or exceeds {:?}", oack.windowsize, asked.windowsize));
        }
        if oack.timeout.is_some() && oack.timeout != asked.timeout {
            return refuse(format!("OACK timeout {:?} differs from the requested {:?}", oack.timeout, asked.timeout));
        }
        let upload_size = asked.tsize.filter(|&size| size > 0);
        if oack.tsize.is_some() && (asked.tsize.is_none() || (upload_size.is_some() && oack.tsize != upload_size)) {
            return refuse(format!("OACK tsize {:?} does not match the request {:?}", oack.tsize, asked.tsize));
        }
        stats.oack = true;
        stats.tsize = oack.tsize;
        let o = &self.options;
        let blksize = usize::from(oack.blksize.unwrap_or(DEFAULT_BLKSIZE));
        let window = usize::from(oack.windowsize.unwrap_or(1));
        Ok(Params::new(blksize, window, oack.timeout, o.min_retransmit_after, o.retransmit_after, o.retries))
    }

    fn finish_stats(&self, stats: &mut TransferStats, link: &Link, params: Params, started: Instant) {
        stats.blksize = params.blksize as u16;
        stats.windowsize = params.window as u16;
        stats.add_counters(link.counters);
        stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    }
}

fn ended_early<T>() -> Result<T, TransferError> {
    Err(TransferError::local(ErrorCode::NOT_DEFINED, "the transfer ended early"))
}
