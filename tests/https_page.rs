//! https in headless Chromium: under a non-local name (mapped to loopback), the page over https
//! with a trusted certificate is cross-origin isolated, and the same port over plain http is not.

use base64::Engine;
use classbook::http::listen::Options;
use classbook::{app::App, course::Course};
use classbook_e2e::{Browser, LAN_NAME as NAME};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn the_page_over_https_with_a_trusted_certificate_is_cross_origin_isolated_and_over_plain_http_is_not() {
    let dir = std::env::temp_dir().join(format!("classbook-https-page-{}", std::process::id()));
    let made = classbook::tls::ca::ensure(&dir, &[NAME.to_string()], &[]).expect("class CA and certificate");
    let loaded = classbook::tls::load(&made.cert(), &made.key()).expect("the certificate loads");
    let spki = spki_sha256_base64(&made.cert());

    let app = Arc::new(App::new(Course::load(None).expect("bundled course"), Err("no sandboxes in this test".into())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options { tls: Some(loaded.acceptor), ..Options::default() };
    tokio::spawn(classbook::http::listen::serve(listener, classbook::http::router(app), options, async move {
        let _ = stopped.await;
    }));

    // Chromium trusts exactly this certificate's key, as if the class CA were installed.
    // (Every test browser maps the LAN name to loopback.)
    let browser = Browser::start_with(&[format!("--ignore-certificate-errors-spki-list={spki}")]).await;
    let isolated = "[window.isSecureContext, window.crossOriginIsolated, typeof SharedArrayBuffer]";
    browser.goto(&format!("https://{NAME}:{port}/api/class")).await;
    let https = browser.eval(isolated).await;
    browser.goto(&format!("http://{NAME}:{port}/api/class")).await;
    let plain = browser.eval(isolated).await;
    browser.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(https, serde_json::json!([true, true, "function"]), "over https");
    assert_eq!(plain, serde_json::json!([false, false, "undefined"]), "over plain http from a non-local name");
}

/// What `--ignore-certificate-errors-spki-list` takes: base64 of the SHA-256 of the
/// certificate's SubjectPublicKeyInfo.
fn spki_sha256_base64(cert: &std::path::Path) -> String {
    let pem = std::fs::read(cert).expect("server.pem");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    let parsed = pem.parse_x509().expect("a certificate");
    let digest = ring::digest::digest(&ring::digest::SHA256, parsed.public_key().raw);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}
