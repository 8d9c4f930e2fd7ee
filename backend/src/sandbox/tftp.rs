//! TFTP inside a student's sandbox, run by the backend from outside it: the companion server on
//! the sandbox's own 127.0.0.1:6969 (UDP sockets made in the sandbox's network namespace).

use classbook_tftp::{Server, ServerConfig, SocketFactory};
use rust_embed::RustEmbed;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio::sync::oneshot;

/// Where the companion listens, inside every sandbox.
pub const COMPANION_PORT: u16 = 6969;
/// Bytes the uploads of one session may hold together (counted per byte written, across
/// uploads at once), one upload at most, and files at most (an empty one costs an inode).
const UPLOAD_QUOTA: u64 = 16 << 20;
const MAX_UPLOAD: u64 = 8 << 20;
const MAX_UPLOAD_FILES: u64 = 256;

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
        self.run_inside(move || UdpSocket::bind(addr))
    }

    /// Runs `make` on a short-lived thread inside the namespace (`setns` changes only the
    /// calling thread): a socket made there stays bound to the namespace after the thread ends.
    pub fn run_inside<T: Send>(&self, make: impl FnOnce() -> std::io::Result<T> + Send) -> std::io::Result<T> {
        let fd = self.0.as_raw_fd();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: setns on a namespace fd we hold, affecting only this thread.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    make()
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

/// The companion TFTP server of one sandbox. Dropping it stops the server and removes the
/// session's uploads. It traces nothing: its packets cross the sandbox's loopback, where the
/// capture (`sandbox::capture`) sees them for the page like any program's.
pub struct Companion {
    _stop: oneshot::Sender<()>,
    uploads: PathBuf,
}

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
        config.write_dir_max_files = Some(MAX_UPLOAD_FILES);
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
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = server.serve(request, shutdown, None).await {
                tracing::warn!("companion TFTP server stopped: {e}");
            }
        });
        Ok(Companion { _stop: stop, uploads })
    }

}

impl Drop for Companion {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.uploads);
    }
}
