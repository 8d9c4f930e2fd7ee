//! One server transfer from request to end, on its own port, as a task: resolves the file,
//! negotiates options (OACK), then sends the file (RRQ) or receives and stores an upload (WRQ).

use crate::blockio::{Sink, Source};
use crate::lane::Stop;
use crate::link::Link;
use crate::packet::{ErrorCode, Mode, Options, Packet, Request, DEFAULT_BLKSIZE, MAX_PACKET};
use crate::path::{self, Upload};
use crate::quota::Quota;
use crate::receiver::{dally, receive_blocks, Start};
use crate::sender::send_blocks;
use crate::server::{validate, ServerConfig};
use crate::trace::{Direction, Tracer};
use crate::transfer::{report, Params, Rto, TransferError};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server's directories, canonicalized once at start, and the upload space's quota.
pub(crate) struct Dirs {
    root: PathBuf,
    write_dir: Option<PathBuf>,
    quota: Arc<Quota>,
}

impl Dirs {
    pub fn new(config: &ServerConfig) -> io::Result<Dirs> {
        validate(config)?;
        let canonical_dir = |dir: &PathBuf| -> io::Result<PathBuf> {
            let canonical = dir.canonicalize().map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
            if !canonical.is_dir() {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", dir.display())));
            }
            Ok(canonical)
        };
        let write_dir = config.write_dir.as_ref().map(canonical_dir).transpose()?;
        let quota = Arc::new(Quota::new(config.write_dir_quota, config.write_dir_max_files, write_dir.as_deref()));
        Ok(Dirs { root: canonical_dir(&config.root)?, write_dir, quota })
    }
}

/// A transfer's request and where it came from.
pub(crate) struct Accepted {
    pub peer: SocketAddr,
    pub request: Request,
    pub write: bool,
    pub id: u64,
}

/// Runs one transfer to its end (started with `lane::run`); `stop` ends it early, and a partial
/// upload is removed.
pub(crate) async fn run(dirs: &Dirs, config: &ServerConfig, socket: UdpSocket, accepted: Accepted, tracer: Tracer, stop: Arc<Stop>) {
    let Accepted { peer, request, write, id } = accepted;
    let Ok(mut link) = Link::new(socket, peer, true, tracer, stop) else { return };
    let result = if write { receive(dirs, config, &mut link, request, id).await } else { send(dirs, config, &mut link, request).await };
    if let Err(error) = result {
        report(&mut link, error).await;
    }
}

async fn send(dirs: &Dirs, config: &ServerConfig, link: &mut Link, request: Request) -> Result<(), TransferError> {
    let uploads = dirs.write_dir.as_deref().filter(|_| config.read_uploads);
    let (file, size) = match (path::open_read(&dirs.root, &request.filename), uploads) {
        (Err(TransferError::Local { code: ErrorCode::FILE_NOT_FOUND, .. }), Some(uploads)) => {
            path::open_read(uploads, &request.filename)?
        }
        (opened, _) => opened?,
    };
    // The netascii size is unknown before conversion, so tsize is only answered for octet.
    let tsize = (request.mode == Mode::Octet).then_some(size);
    let (params, oack) = negotiate(config, &request.options, tsize);
    let handshake_rtt = match oack {
        Some(oack) => await_ack_of_oack(link, Packet::Oack(oack), params).await?,
        None => None,
    };
    send_blocks(link, &mut Source::file(file, request.mode), params, handshake_rtt).await?;
    Ok(())
}

async fn receive(dirs: &Dirs, config: &ServerConfig, link: &mut Link, request: Request, id: u64) -> Result<(), TransferError> {
    let Some(dir) = dirs.write_dir.clone() else {
        return Err(TransferError::local(ErrorCode::ACCESS_VIOLATION, "uploads are not allowed on this server"));
    };
    let announced = request.options.tsize;
    if announced.is_some_and(|size| size > config.max_upload_bytes) {
        let message = format!("file larger than the {}-byte upload limit", config.max_upload_bytes);
        return Err(TransferError::local(ErrorCode::DISK_FULL, message));
    }
    if let Some(left) = dirs.quota.left().filter(|&left| left == 0 || announced.is_some_and(|size| size > left)) {
        return Err(TransferError::local(ErrorCode::DISK_FULL, format!("upload space used up ({left} bytes left)")));
    }
    // Counted from here: the file now, its bytes as they are written (with those of every
    // other upload at the same time), all given back if the upload fails.
    let charge = dirs.quota.start()?;
    let (upload, file) = Upload::create(&dir, &request.filename, config.allow_overwrite, id)?;
    let (params, oack) = negotiate(config, &request.options, announced);
    let pending = oack.map_or(Packet::Ack { block: 0 }, Packet::Oack);
    link.send(&pending, false).await?;
    let mut sink = Sink::file(file, request.mode, config.max_upload_bytes, &charge);
    let start = Start { pending: Some(pending), first: None };
    let received = receive_blocks(link, &mut sink, params, start, None).await?;
    sink.finish()?;
    if let Some(replaced) = upload.commit()? {
        dirs.quota.replaced(replaced);
    }
    charge.keep();
    dally(link, received.final_block, params).await;
    Ok(())
}

/// Settles the requested options within the configured limits. Returns the parameters and the
/// OACK to send (`None`: no known option was asked for, plain RFC 1350).
fn negotiate(config: &ServerConfig, asked: &Options, tsize: Option<u64>) -> (Params, Option<Options>) {
    let mut reply = Options {
        blksize: asked.blksize.map(|b| b.min(config.max_blksize)),
        timeout: asked.timeout.filter(|&seconds| seconds <= config.max_timeout_option),
        tsize: asked.tsize.and(tsize),
        ..Options::default()
    };
    let blksize = usize::from(reply.blksize.unwrap_or(DEFAULT_BLKSIZE));
    let window_cap = (config.max_window_bytes / blksize).clamp(1, usize::from(u16::MAX)) as u16;
    reply.windowsize = asked.windowsize.map(|w| w.min(config.max_windowsize).min(window_cap));
    let window = usize::from(reply.windowsize.unwrap_or(1));
    let params = Params::new(blksize, window, reply.timeout, config.min_timeout, config.timeout, config.retries);
    (params, (!reply.is_empty()).then_some(reply))
}

/// Sends the OACK of a read request until the client's ACK 0 arrives; returns the round trip
/// when the first OACK was answered.
async fn await_ack_of_oack(link: &mut Link, oack: Packet<'static>, params: Params) -> Result<Option<Duration>, TransferError> {
    link.send(&oack, false).await?;
    let sent_at = Instant::now();
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let mut retries = 0;
    let mut rto = Rto::new(&params, None);
    let mut deadline = Instant::now() + rto.timeout();
    loop {
        match link.recv(&mut buf, deadline).await? {
            None => {
                rto.timed_out(&mut retries, &params)?;
                link.send(&oack, true).await?;
                deadline = Instant::now() + rto.timeout();
            }
            Some(Packet::Ack { block: 0 }) => return Ok((retries == 0).then(|| sent_at.elapsed())),
            Some(Packet::Ack { .. }) => link.note(Direction::Received, 4, "ACK ignored: waiting for ACK 0 of the OACK"),
            Some(other) => return Err(TransferError::unexpected(&other, "ACK 0")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_clamps_to_configured_limits_and_window_memory() {
        let mut config = ServerConfig::new("/");
        config.max_blksize = 1428;
        config.max_windowsize = 32;
        config.max_window_bytes = 8 * 1428;
        let asked = Options { blksize: Some(8192), windowsize: Some(64), tsize: Some(0), timeout: Some(2), ..Options::default() };
        let (params, oack) = negotiate(&config, &asked, Some(77));
        let oack = oack.unwrap();
        assert_eq!((oack.blksize, oack.windowsize, oack.tsize, oack.timeout), (Some(1428), Some(8), Some(77), Some(2)));
        assert_eq!((params.blksize, params.window), (1428, 8));
        assert_eq!((params.min_timeout, params.timeout), (Duration::from_secs(2), Duration::from_secs(2)));
    }

    #[test]
    fn no_known_option_means_no_oack() {
        let config = ServerConfig::new("/");
        let asked = Options { unknown: vec![("x".into(), "1".into())], ..Options::default() };
        let (params, oack) = negotiate(&config, &asked, Some(5));
        assert!(oack.is_none());
        assert_eq!((params.blksize, params.window), (512, 1));
    }

    #[test]
    fn a_timeout_above_the_limit_is_declined_and_the_server_timer_kept() {
        let config = ServerConfig::new("/");
        let asked = Options { timeout: Some(255), blksize: Some(512), ..Options::default() };
        let (params, oack) = negotiate(&config, &asked, None);
        assert_eq!(oack.unwrap().timeout, None);
        assert_eq!(params.timeout, config.timeout);
        let asked = Options { timeout: Some(config.max_timeout_option), ..Options::default() };
        assert_eq!(negotiate(&config, &asked, None).1.unwrap().timeout, Some(config.max_timeout_option));
    }

    #[test]
    fn tsize_is_left_out_when_unknown() {
        let config = ServerConfig::new("/");
        let asked = Options { tsize: Some(0), ..Options::default() };
        assert!(negotiate(&config, &asked, None).1.is_none());
    }
}
