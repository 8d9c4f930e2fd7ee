//! classbook's class server. Map of the crate (see ARCHITECTURE.md for the whole picture):
//! - `course`: lesson files → validated `shared::course` types.
//! - `http`: routes; `assets`: the embedded, precompressed page.
//! - `session`: one WebSocket and its student's sandbox; `run`: one program's streams and exit.
//! - `sandbox`: bubblewrap sandboxes, the only code that starts student processes.
//! - `class`: students, the teacher, progress, the class database, course reloading.
//! - `app`: state shared by every request.

pub mod app;
pub mod assets;
pub mod class;
pub mod course;
pub mod http;
pub mod run;
pub mod sandbox;
pub mod session;

use std::sync::Arc;

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<app::App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(no_delay(listener), http::router(app)).with_graceful_shutdown(shutdown).await
}

/// Run output is many small WebSocket frames: without TCP_NODELAY, Nagle's algorithm holds
/// each one back until the page's delayed ACK (40 ms) arrives.
pub fn no_delay(listener: tokio::net::TcpListener) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
    })
}

/// Checks that sandboxes can start here; the error says what to install or enable.
pub async fn probe_sandbox(cfg: &sandbox::Config) -> Result<(), String> {
    if !cfg.bwrap.exists() {
        return Err("bubblewrap is not installed: run `apt-get install bubblewrap`".into());
    }
    if !cfg.python.exists() {
        return Err(format!("{} is missing: run `apt-get install python3`", cfg.python.display()));
    }
    let name = format!("probe-{}", std::process::id());
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
