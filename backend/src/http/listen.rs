//! The accept loop, for http and https alike (one port answers both): a cap on connections per
//! client address, TCP_NODELAY, the TLS handshake in each connection's own task (bounded), HTTP/1
//! with upgrades, a header read timeout, shutdown.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How connections are served.
pub struct Options {
    /// https with this certificate (and plain http still, on the same port); only plain http when `None`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// A client that has not finished its TLS handshake by then is dropped.
    pub handshake_timeout: Duration,
    /// A connection that has not sent a whole request head by then (from its start, or after its
    /// previous response) is closed: a silent or trickling client cannot hold a connection.
    pub header_timeout: Duration,
    /// At shutdown, how long requests under way may take to finish.
    pub drain: Duration,
    /// HTTP connections one client address may hold open at once (a browser uses about six;
    /// a WebSocket counts until its upgrade, then the session's own limits apply). Past it,
    /// new ones from that address are closed at once; other addresses are not affected.
    pub per_address: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
            per_address: 128,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests under way finish (at most `options.drain`) and returns. Each request carries
/// `ConnectInfo<SocketAddr>`, the peer's address. Upgraded connections (WebSockets) are
/// their handlers' own from the upgrade on, and are not waited for.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = Arc::new(options);
    // Every connection holds a receiver: `send` asks them to finish, `closed` says they have.
    let (stop, stopping) = watch::channel(());
    let open = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = Held::take(&open, peer.ip(), options.per_address) else {
            tracing::debug!(%peer, "closed: {} connections from this address already", options.per_address);
            continue;
        };
        no_delay(&tcp);
        let conn = connection(tcp, peer, router.clone(), options.clone(), stopping.clone());
        tokio::spawn(async move {
            conn.await;
            drop(held);
        });
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(());
    if tokio::time::timeout(options.drain, stop.closed()).await.is_err() {
        tracing::warn!("{} connection(s) still busy {:?} after shutdown: leaving them", stop.receiver_count(), options.drain);
    }
    Ok(())
}

/// One open connection counted against its address; uncounted when dropped.
struct Held {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Held {
    fn take(open: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Held> {
        let mut map = open.lock().expect("connection counts poisoned");
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Held { open: open.clone(), ip })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.open.lock().expect("connection counts poisoned");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Run output is many small WebSocket frames: without TCP_NODELAY, Nagle's algorithm holds
/// each one back until the page's delayed ACK (40 ms) arrives.
fn no_delay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!("cannot set TCP_NODELAY: {e}");
    }
}

/// An accept error: the peer gave up (go on), or we are out of file descriptors or memory
/// (wait a moment, or the loop spins while nothing can be accepted).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!("cannot accept a connection: {e}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One connection, in its own task: the TLS handshake when there is one, then HTTP.
async fn connection(tcp: TcpStream, peer: SocketAddr, router: Router, options: Arc<Options>, mut stop: watch::Receiver<()>) {
    let Some(acceptor) = &options.tls else {
        return http(tcp, peer, router, &options, stop).await;
    };
    let handshake = tokio::time::timeout(options.handshake_timeout, async {
        if !starts_tls(&tcp).await {
            return Err(tcp);
        }
        Ok(acceptor.accept(tcp).await)
    });
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(Ok(tls))) => tls,
            // A browser that distrusts the certificate closes here; that is its own warning page.
            Ok(Ok(Err(e))) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
            // Plain http on the https port is served too: the fallback for a browser that
            // does not trust the certificate (the page works without isolation).
            Ok(Err(plain)) => return http(plain, peer, router, &options, stop).await,
            Err(_) => return tracing::debug!(%peer, "no TLS handshake within {:?}", options.handshake_timeout),
        },
        _ = stop.changed() => return,
    };
    http(tls, peer, router, &options, stop).await
}

/// Whether the client's first byte starts a TLS handshake (a record of type 22), rather than
/// a plain http request.
async fn starts_tls(tcp: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(tcp.peek(&mut first).await, Ok(1) if first[0] == 0x16)
}

/// HTTP/1.1 on `io` until the client closes, a header timeout, an upgrade, or shutdown.
async fn http<I>(io: I, peer: SocketAddr, router: Router, options: &Options, mut stop: watch::Receiver<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        tower::ServiceExt::oneshot(router.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let done = tokio::select! {
        done = conn.as_mut() => done,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = done {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
