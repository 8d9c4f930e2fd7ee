//! Our server against real Debian clients on loopback: tftp-hpa, atftp and curl download and
//! upload 0, 511, 512, 513 bytes and 10 MB with their supported options, byte for byte.

mod common;

use common::{assert_same, fixtures, peer, read, run, start_server, within, TestServer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

const PEER_LIMIT: Duration = Duration::from_secs(30);

async fn server_with_uploads() -> TestServer {
    let server = start_server(|config, root| {
        config.write_dir = Some(root.join("up"));
        config.timeout = Duration::from_secs(1);
    })
    .await;
    std::fs::create_dir(server.path("up")).unwrap();
    server
}

fn host_port(server: &TestServer) -> [String; 2] {
    [server.addr.ip().to_string(), server.addr.port().to_string()]
}

fn tftp_hpa(binary: &Path, server: &TestServer, mode: &str, command: &str, a: &Path, b: &str) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(host_port(server)).args(["-m", mode, "-c", command]);
    if command == "get" {
        cmd.arg(b).arg(a);
    } else {
        cmd.arg(a).arg(b);
    }
    cmd
}

#[tokio::test]
async fn tftp_hpa_client_downloads_and_uploads_byte_identical() {
    let Some(tftp) = peer("/usr/bin/tftp", "tftp-hpa") else { return };
    let server = server_with_uploads().await;
    let files = fixtures(server.root.path());
    let work = tempfile::tempdir().unwrap();
    within("tftp-hpa", async {
        for (name, data) in &files {
            let local = work.path().join(name);
            let out = run(tftp_hpa(&tftp, &server, "octet", "get", &local, name), PEER_LIMIT).await;
            assert!(out.stdout.is_empty(), "tftp-hpa get {name}: {}", String::from_utf8_lossy(&out.stdout));
            assert_same(&read(&local), data, &format!("tftp-hpa get {name}"));
            let out = run(tftp_hpa(&tftp, &server, "octet", "put", &local, name), PEER_LIMIT).await;
            assert!(out.stdout.is_empty(), "tftp-hpa put {name}: {}", String::from_utf8_lossy(&out.stdout));
            assert_same(&read(&server.path(&format!("up/{name}"))), data, &format!("tftp-hpa put {name}"));
        }
        // netascii: the local file keeps its LF newlines after a round trip through CR LF.
        let text = b"one\ntwo\r\nthree\n".repeat(100);
        server.put("text", &text);
        let local = work.path().join("text");
        let out = run(tftp_hpa(&tftp, &server, "netascii", "get", &local, "text"), PEER_LIMIT).await;
        assert!(out.stdout.is_empty(), "tftp-hpa netascii get: {}", String::from_utf8_lossy(&out.stdout));
        assert_same(&read(&local), &text, "tftp-hpa netascii get");
    })
    .await;
    server.stop().await;
}

fn atftp(binary: &Path, server: &TestServer, get: bool, local: &Path, remote: &str, options: &[&str]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg(if get { "--get" } else { "--put" }).arg("-l").arg(local).args(["-r", remote]);
    for option in options {
        cmd.args(["--option", option]);
    }
    cmd.args(host_port(server));
    cmd
}

const ATFTP_OPTIONS: [&[&str]; 6] = [
    &[],
    &["blksize 1428"],
    &["blksize 8192"],
    &["tsize"],
    &["windowsize 16"],
    &["blksize 1428", "windowsize 16"],
];

#[tokio::test]
async fn atftp_client_downloads_with_each_option_set() {
    let Some(binary) = peer("/usr/bin/atftp", "atftp") else { return };
    let server = server_with_uploads().await;
    let files = fixtures(server.root.path());
    let work = tempfile::tempdir().unwrap();
    within("atftp get", async {
        for options in ATFTP_OPTIONS {
            for (name, data) in &files {
                let local = work.path().join(name);
                let out = run(atftp(&binary, &server, true, &local, name, options), PEER_LIMIT).await;
                assert_same(&read(&local), data, &format!("atftp get {name} {options:?}: {out:?}"));
            }
        }
    })
    .await;
    let mut server = server;
    let windowed = server.drain_events().iter().any(|e| {
        e.opcode.map(|o| o.to_string()).as_deref() == Some("OACK") && e.options.contains(&("windowsize".into(), "16".into()))
    });
    assert!(windowed, "atftp negotiated windowsize 16");
    server.stop().await;
}

#[tokio::test]
async fn atftp_client_uploads_with_each_option_set() {
    let Some(binary) = peer("/usr/bin/atftp", "atftp") else { return };
    let server = server_with_uploads().await;
    let files = fixtures(server.root.path());
    within("atftp put", async {
        for (i, options) in ATFTP_OPTIONS.iter().enumerate() {
            for (name, data) in &files {
                let remote = format!("{i}-{name}");
                let out = run(atftp(&binary, &server, false, &server.path(name), &remote, options), PEER_LIMIT).await;
                let stored = read(&server.path(&format!("up/{remote}")));
                assert_same(&stored, data, &format!("atftp put {name} {options:?}: {out:?}"));
            }
        }
    })
    .await;
    server.stop().await;
}

fn url(server: &TestServer, name: &str) -> String {
    format!("tftp://{}/{name}", server.addr)
}

#[tokio::test]
async fn curl_downloads_and_uploads_with_each_blksize() {
    let Some(binary) = peer("/usr/bin/curl", "curl") else { return };
    let server = server_with_uploads().await;
    let files = fixtures(server.root.path());
    let work = tempfile::tempdir().unwrap();
    within("curl", async {
        for blksize in [None, Some("1428"), Some("8192")] {
            for (name, data) in &files {
                // To stdout: curl creates no output file for an empty download.
                let mut cmd = Command::new(&binary);
                cmd.args(["-sS", "--max-time", "30"]).arg(url(&server, name));
                if let Some(size) = blksize {
                    cmd.args(["--tftp-blksize", size]);
                }
                if data.is_empty() {
                    // curl 7.88 refuses "tsize 0" in an OACK (from tftpd-hpa too), so an empty
                    // file is fetched without options.
                    cmd.arg("--tftp-no-options");
                }
                let out = run(cmd, PEER_LIMIT).await;
                let what = format!("curl get {name} blksize {blksize:?}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
                assert_same(&out.stdout, data, &what);
                let local: PathBuf = work.path().join(name);
                std::fs::write(&local, &out.stdout).unwrap();

                let remote = format!("{}-{name}", blksize.unwrap_or("default"));
                let mut cmd = Command::new(&binary);
                cmd.args(["-sS", "--max-time", "30", "-T"]).arg(&local).arg(url(&server, &remote));
                if let Some(size) = blksize {
                    cmd.args(["--tftp-blksize", size]);
                }
                let out = run(cmd, PEER_LIMIT).await;
                let stored = read(&server.path(&format!("up/{remote}")));
                assert_same(&stored, data, &format!("curl put {name} blksize {blksize:?}: {out:?}"));
            }
        }
    })
    .await;
    server.stop().await;
}
