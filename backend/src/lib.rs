//! classbook's class server. Map of the crate (see ARCHITECTURE.md for the whole picture):
//! - `course`: lesson files → validated `shared::course` types.
//! - `http`: routes; `assets`: the embedded, precompressed page.
//! - `session`: one WebSocket and its student's sandbox; `run`: one program's streams and exit.
//! - `sandbox`: bubblewrap sandboxes, the only code that starts student processes.
//! - `class`: students, the teacher, progress, the class database, course reloading.
//! - `relay`: input lines and Stop for the Python worker of a page without shared memory.
//! - `app`: state shared by every request.

pub mod app;
pub mod assets;
pub mod class;
pub mod course;
pub mod http;
pub mod relay;
pub mod run;
pub mod sandbox;
pub mod session;

use std::sync::Arc;

/// Serves `app` on `listener` until `shutdown` resolves; handlers see each client's address
/// (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<app::App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let routes = http::router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(no_delay(listener), routes).with_graceful_shutdown(shutdown).await
}

/// Run output is many small WebSocket frames: without TCP_NODELAY, Nagle's algorithm holds
/// each one back until the page's delayed ACK (40 ms) arrives. Set on the listening socket,
/// Linux gives it to every connection it accepts.
pub fn no_delay(listener: tokio::net::TcpListener) -> tokio::net::TcpListener {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a pointer to a c_int of the size given.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        tracing::warn!("cannot set TCP_NODELAY: {}", std::io::Error::last_os_error());
    }
    listener
}

#[cfg(test)]
#[tokio::test]
async fn accepted_connections_inherit_no_delay_from_the_listener() {
    let listener = no_delay(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = listener.local_addr().unwrap();
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    assert!(accepted.nodelay().unwrap());
}

/// Checks that sandboxes can start here; the error says what to install or enable.
pub async fn probe_sandbox(cfg: &sandbox::Config) -> Result<(), String> {
    if !cfg.bwrap.exists() {
        return Err("bubblewrap is not installed: run `apt-get install bubblewrap`".into());
    }
    if !cfg.python.exists() {
        return Err(format!("{} is missing: run `apt-get install python3`", cfg.python.display()));
    }
    // Unique per probe: two probes at once (tests in one binary) must not share a cgroup,
    // or the first to finish removes it while the other joins it.
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("probe-{}-{n}", std::process::id());
    if cfg.cgroups.is_none() {
        tracing::warn!("no writable cgroups here: sandboxes are limited by rlimits only (no memory limit)");
    }
    match sandbox::Sandbox::start(cfg, &name).await {
        Ok(s) => {
            s.close().await;
            Ok(())
        }
        Err(e) => Err(format!(
            "{e:#}. Server cells need user namespaces: check `sysctl user.max_user_namespaces` \
             (must be > 0) and, on kernels that have it, `sysctl kernel.unprivileged_userns_clone=1`"
        )),
    }
}
