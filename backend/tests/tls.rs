//! https and the accept loop: the class CA's certificate served over TLS (page headers and the
//! session WebSocket), plain http through the same loop, timeouts that keep one client from holding others.

use axum::extract::ConnectInfo;
use classbook::http::listen::Options;
use classbook::tls::ca;
use classbook::{app::App, course::Course};
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// A directory of its own under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("classbook-tls-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server on a loopback port, stopped on drop. `/test/peer` answers the peer address the
/// request carries.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(options: Options) -> Server {
    let app = Arc::new(App::new(Course::load(None).expect("bundled course"), Err("no sandboxes in this test".into())));
    let router = classbook::http::router(app)
        .route("/test/peer", axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(classbook::http::listen::serve(listener, router, options, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), done }
}

/// The class CA and a certificate for localhost and 127.0.0.1 in `dir`, and https options with it.
fn https(dir: &Path) -> (ca::ClassCerts, Options) {
    let made = ca::ensure(dir, &["localhost".into()], &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).expect("class CA and certificate");
    let loaded = classbook::tls::load(&made.cert(), &made.key()).expect("the certificate loads");
    assert_eq!(loaded.fingerprint, made.cert_fingerprint, "the served certificate is the one made");
    (made, Options { tls: Some(loaded.acceptor), ..Options::default() })
}

/// A TLS connection that trusts only the class CA in `ca_pem`, to `name`.
async fn tls_connect(addr: SocketAddr, ca_pem: &Path, name: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca_pem).expect("ca.pem")).expect("a CA certificate");
    #[allow(deprecated)] // the provider the server uses
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(name.to_string()).expect("a server name");
    tokio::time::timeout(Duration::from_secs(10), TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await
        .expect("handshake within 10 s")
        .expect("the certificate is trusted through the class CA")
}

/// One `GET path` with `Connection: close` on `io`: the answer's head (lower case) and body.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    io.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    // A peer may close without TLS close_notify; what arrived is the answer.
    let _ = tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut answer)).await.expect("an answer within 10 s");
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

/// The session WebSocket on `io` says Hello.
async fn websocket_says_hello<S: AsyncRead + AsyncWrite + Unpin>(io: S, url: &str) {
    let (mut ws, response) = tokio_tungstenite::client_async(url, io).await.expect("the WebSocket upgrades");
    assert_eq!(response.status(), 101);
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("Hello within 10 s");
    match frame.expect("a frame").expect("a good frame") {
        Message::Text(t) => match serde_json::from_str(t.as_str()).expect("a ServerMsg") {
            shared::wire::ServerMsg::Hello { session, .. } => assert!(!session.is_empty()),
            other => panic!("expected Hello, got {other:?}"),
        },
        other => panic!("expected Hello, got {other:?}"),
    }
}

/// Waits until the server closes `tcp`, writing one byte of a header every 200 ms as a
/// trickling client would; the time it took.
async fn closed_after(mut tcp: TcpStream, from: Instant) -> Duration {
    let deadline = from + Duration::from_secs(8);
    let mut buf = [0u8; 256];
    loop {
        assert!(Instant::now() < deadline, "the connection is still open after 8 s");
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return from.elapsed(),
            Ok(Ok(n)) => panic!("the server answered a request never finished: {}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => {
                if tcp.write_all(b"x").await.is_err() {
                    return from.elapsed();
                }
            }
        }
    }
}

#[tokio::test]
async fn https_with_the_class_ca_serves_the_page_headers_and_the_session_websocket() {
    let dir = TempDir::new("https");
    let (made, options) = https(&dir.0);
    let server = start(options).await;

    for name in ["localhost", "127.0.0.1"] {
        let (head, body) = get(tls_connect(server.addr, &made.ca(), name).await, "/api/class").await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("cross-origin-opener-policy: same-origin"), "{head}");
        assert!(head.contains("cross-origin-embedder-policy: require-corp"), "{head}");
        assert!(body.contains("\"title\""), "{body}");
    }
    let tls = tls_connect(server.addr, &made.ca(), "localhost").await;
    websocket_says_hello(tls, &format!("wss://localhost:{}/api/session", server.addr.port())).await;
}

#[tokio::test]
async fn plain_http_is_served_through_the_same_loop_with_the_peers_address() {
    let server = start(Options::default()).await;
    let (head, _) = get(TcpStream::connect(server.addr).await.unwrap(), "/api/class").await;
    assert!(head.starts_with("http/1.1 200") && head.contains("cross-origin-embedder-policy: require-corp"), "{head}");

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mine = tcp.local_addr().unwrap();
    let (_, body) = get(tcp, "/test/peer").await;
    assert_eq!(body, mine.to_string(), "ConnectInfo is the client's own address");

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    websocket_says_hello(tcp, &format!("ws://{}/api/session", server.addr)).await;
}

#[tokio::test]
async fn the_https_port_answers_plain_http_too_for_browsers_that_distrust_the_certificate() {
    let dir = TempDir::new("both");
    let (_, options) = https(&dir.0);
    let server = start(options).await;
    let (head, body) = get(TcpStream::connect(server.addr).await.unwrap(), "/api/class").await;
    assert!(head.starts_with("http/1.1 200") && head.contains("cross-origin-embedder-policy: require-corp"), "{head}");
    assert!(body.contains("\"title\""), "{body}");
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    websocket_says_hello(tcp, &format!("ws://{}/api/session", server.addr)).await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_closed_after_the_header_timeout_while_others_are_served() {
    let server = start(Options { header_timeout: Duration::from_secs(1), ..Options::default() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/class HTTP/1.1\r\nHost: loc").await.unwrap();

    let (head, _) = get(TcpStream::connect(server.addr).await.unwrap(), "/api/class").await;
    let other_served = started.elapsed();
    assert!(head.starts_with("http/1.1 200"), "{head}");

    let closed = closed_after(slow, started).await;
    assert!(other_served < closed, "the other client waited for the slow one ({other_served:?} vs {closed:?})");
    assert!(closed >= Duration::from_millis(900), "closed before the timeout: {closed:?}");
    assert!(closed < Duration::from_secs(4), "closed long after the 1 s timeout: {closed:?}");
}

#[tokio::test]
async fn a_tls_client_that_never_says_hello_does_not_stop_others_and_is_dropped() {
    let dir = TempDir::new("silent");
    let (made, options) = https(&dir.0);
    let server = start(Options { handshake_timeout: Duration::from_secs(1), ..options }).await;
    let silent: Vec<TcpStream> = futures_util::future::join_all((0..4).map(|_| TcpStream::connect(server.addr)))
        .await
        .into_iter()
        .map(|c| c.expect("connect"))
        .collect();
    let started = Instant::now();

    let (head, _) = get(tls_connect(server.addr, &made.ca(), "localhost").await, "/api/class").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(started.elapsed() < Duration::from_millis(900), "served only after the silent clients timed out");

    for mut tcp in silent {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.expect("dropped within 5 s");
        assert!(matches!(n, Ok(0) | Err(_)), "a silent client got {n:?}");
    }
    assert!(started.elapsed() >= Duration::from_millis(900), "dropped before the handshake timeout");
}

#[tokio::test]
async fn after_shutdown_new_connections_are_refused_and_serve_returns() {
    let mut server = start(Options::default()).await;
    let addr = server.addr;
    let _ = server.stop.take().unwrap().send(());
    let done = tokio::time::timeout(Duration::from_secs(5), &mut server.done).await.expect("serve returns");
    done.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[test]
fn bad_certificate_or_key_files_are_errors_naming_the_file() {
    let dir = TempDir::new("bad");
    let made = ca::ensure(&dir.0, &["localhost".into()], &[]).unwrap();
    let other = ca::ensure(&dir.0.join("other"), &["localhost".into()], &[]).unwrap();
    let garbage = dir.0.join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let missing = dir.0.join("missing.pem");
    let err = |cert: &Path, key: &Path| match classbook::tls::load(cert, key) {
        Ok(_) => panic!("{} with {} loaded", cert.display(), key.display()),
        Err(e) => format!("{e:#}"),
    };

    let e = err(&missing, &made.key());
    assert!(e.contains("cannot read the certificate file") && e.contains("missing.pem"), "{e}");
    let e = err(&made.cert(), &missing);
    assert!(e.contains("cannot read the key file") && e.contains("missing.pem"), "{e}");
    let e = err(&garbage, &made.key());
    assert!(e.contains("garbage.pem") && e.contains("no certificate"), "{e}");
    let e = err(&made.cert(), &garbage);
    assert!(e.contains("garbage.pem") && e.contains("no private key"), "{e}");
    let e = err(&made.key(), &made.cert());
    assert!(e.contains("server-key.pem") && e.contains("swapped"), "{e}");
    let e = err(&made.cert(), &other.key());
    assert!(e.contains("does not belong") && e.contains(&other.key().display().to_string()), "{e}");
}

#[test]
fn the_certificate_covers_the_names_and_addresses_asked_for_and_is_signed_by_the_class_ca() {
    let dir = TempDir::new("names");
    let names = vec!["teacher.school.lan".to_string(), "localhost".to_string()];
    let ips: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap(), "::1".parse().unwrap()];
    let made = ca::ensure(&dir.0, &names, &ips).unwrap();
    assert!(made.made_ca && made.made_cert);

    let ca_der = CertificateDer::from_pem_file(made.ca()).unwrap();
    let cert_der = CertificateDer::from_pem_file(made.cert()).unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    assert!(ca_cert.is_ca(), "the CA is a CA");
    assert!(!cert.is_ca(), "the server's certificate is not a CA");
    assert_eq!(cert.issuer(), ca_cert.subject());
    cert.verify_signature(Some(ca_cert.public_key())).expect("signed by the class CA");
    let eku = cert.extended_key_usage().unwrap().expect("extended key usage").value;
    assert!(eku.server_auth, "for TLS servers");
    let days = cert.validity().time_to_expiration().expect("valid now").whole_days();
    assert!((390..=398).contains(&days), "{days} days: browsers and Apple limit a certificate's life");

    let san = cert.subject_alternative_name().unwrap().expect("subject alternative names").value;
    let mut dns = Vec::new();
    let mut addresses = Vec::new();
    for name in &san.general_names {
        match name {
            x509_parser::extensions::GeneralName::DNSName(n) => dns.push(n.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(b) => addresses.push(b.to_vec()),
            other => panic!("unexpected name {other:?}"),
        }
    }
    assert_eq!(dns, names);
    let want = vec![vec![10, 1, 2, 3], "::1".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec()];
    assert_eq!(addresses, want);

    let fingerprint = |der: &[u8]| classbook::tls::fingerprint(der);
    assert_eq!(made.ca_fingerprint, fingerprint(&ca_der));
    assert_eq!(made.cert_fingerprint, fingerprint(&cert_der));
}

#[test]
fn the_class_ca_is_made_once_and_the_certificate_again_only_for_new_names() {
    let dir = TempDir::new("reuse");
    let first = ca::ensure(&dir.0, &["localhost".into()], &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    let again = ca::ensure(&dir.0, &["localhost".into()], &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).unwrap();
    assert!(!again.made_ca && !again.made_cert, "everything was there and still good");
    assert_eq!((&again.ca_fingerprint, &again.cert_fingerprint), (&first.ca_fingerprint, &first.cert_fingerprint));

    let more = ca::ensure(&dir.0, &["localhost".into(), "teacher.lan".into()], &[]).unwrap();
    assert!(!more.made_ca && more.made_cert, "a new name needs a new certificate from the same CA");
    assert_eq!(more.ca_fingerprint, first.ca_fingerprint);
    assert_ne!(more.cert_fingerprint, first.cert_fingerprint);

    use std::os::unix::fs::PermissionsExt;
    for key in [dir.0.join(ca::CA_KEY), more.key()] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is readable by others", key.display());
    }

    std::fs::remove_file(dir.0.join(ca::CA_KEY)).unwrap();
    let e = ca::ensure(&dir.0, &["localhost".into()], &[]).err().expect("a CA without its key").to_string();
    assert!(e.contains("ca-key.pem") && e.contains("is not"), "{e}");
}

#[test]
fn this_machine_is_named_by_localhost_loopback_and_every_lan_address() {
    let (names, ips) = ca::this_machine(&["Teacher.LAN".into(), "10.9.8.7".into()], &["192.0.2.9".parse().unwrap()]);
    assert!(names.contains(&"localhost".to_string()), "{names:?}");
    assert!(names.contains(&"teacher.lan".to_string()), "names are lower case: {names:?}");
    assert!(ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{ips:?}");
    assert!(ips.contains(&"10.9.8.7".parse().unwrap()), "an address given as a name is an address: {ips:?}");
    assert!(ips.contains(&"192.0.2.9".parse().unwrap()), "{ips:?}");
    for lan in classbook::class::lan_addresses() {
        assert!(ips.contains(&lan), "{lan} missing from {ips:?}");
    }
}

#[test]
fn serve_refuses_a_certificate_without_its_key_and_names_a_bad_file() {
    let dir = TempDir::new("cli");
    std::fs::create_dir_all(&dir.0).unwrap();
    let bin = env!("CARGO_BIN_EXE_classbook");
    let data = dir.0.join("class.sqlite3");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("serve")
            .arg("--bind=127.0.0.1:0")
            .arg(format!("--data={}", data.display()))
            .args(args)
            .env_remove("CLASSBOOK_TLS_CERT")
            .env_remove("CLASSBOOK_TLS_KEY")
            .output()
            .expect("classbook runs");
        assert!(!out.status.success(), "serve {args:?} started");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let e = run(&["--tls-cert=/nonexistent/cert.pem"]);
    assert!(e.contains("--tls-cert and --tls-key go together"), "{e}");
    let e = run(&["--tls-cert=/nonexistent/cert.pem", "--tls-key=/nonexistent/key.pem"]);
    assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    let e = run(&["--self-signed", "--tls-key=/nonexistent/key.pem"]);
    assert!(e.contains("--self-signed"), "{e}");
}

/// A connection to `to` from loopback address `from` (a machine of its own, as on a LAN).
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    sock.connect(to).await.unwrap()
}

#[tokio::test]
async fn one_address_holding_many_idle_connections_is_capped_while_others_are_served() {
    let server = start(Options { per_address: 5, ..Options::default() }).await;
    let stranger = Ipv4Addr::new(127, 0, 0, 77);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut tcp = connect_from(stranger, server.addr).await;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(tcp);
    }
    // The sixth from that address is closed at once, without an answer.
    let sixth = connect_from(stranger, server.addr).await;
    let closed = closed_after(sixth, Instant::now()).await;
    assert!(closed < Duration::from_secs(2), "the sixth connection was kept for {closed:?}");
    // Another machine is served as usual.
    let (head, _) = get(connect_from(Ipv4Addr::new(127, 0, 0, 5), server.addr).await, "/api/class").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Once the stranger lets go, it may connect again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (head, _) = get(connect_from(stranger, server.addr).await, "/api/class").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}
