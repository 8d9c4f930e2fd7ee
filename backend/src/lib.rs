//! classbook's class server. Map of the crate (see ARCHITECTURE.md for the whole picture):
//! - `course`: lesson files → validated `shared::course` types.
//! - `http`: routes and the accept loop (`http::listen`, http or https); `assets`: the page.
//! - `tls`: the certificate https serves, and the class CA (`tls::ca`).
//! - `session`: one WebSocket and its student's sandbox; `run`: one program's streams and exit.
//! - `sandbox`: bubblewrap sandboxes, the only code that starts student processes.
//! - `class`: students, the teacher, progress, the class database, course reloading.
//! - `relay`: input lines and Stop for the Python worker of a page without shared memory.
//! - `app`: state shared by every request.
//! - `steps`: where a server run's time goes (a benchmark's tracing mode).

pub mod app;
pub mod assets;
pub mod class;
pub mod course;
pub mod http;
pub mod relay;
pub mod run;
pub mod sandbox;
pub mod session;
pub mod steps;
pub mod tls;

use std::sync::Arc;

/// Serves `app` over plain http on `listener` until `shutdown` resolves (`http::listen`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<app::App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::listen::serve(listener, http::router(app), http::listen::Options::default(), shutdown).await
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
