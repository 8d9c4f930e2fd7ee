//! Hostile input: path escapes in every spelling (reads and writes), symlinks out of the root,
//! and a burst of garbage datagrams after which the server still serves normally.

mod common;

use classbook_tftp::checks::generated_bytes;
use classbook_tftp::{ClientOptions, ErrorCode, TransferError};
use common::{start_server, within};
use std::time::Duration;

fn quick() -> ClientOptions {
    ClientOptions { retransmit_after: Duration::from_millis(300), retries: 2, ..ClientOptions::default() }
}

fn assert_refused(result: Result<impl std::fmt::Debug, TransferError>, name: &str) {
    assert!(
        matches!(result, Err(TransferError::Peer { code: ErrorCode::ACCESS_VIOLATION, .. })),
        "{name:?} should be refused with ERROR 2, got {result:?}"
    );
}

#[tokio::test]
async fn reads_outside_the_root_are_refused_in_every_spelling() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    let server = start_server(|_, _| {}).await;
    std::fs::create_dir(server.path("sub")).unwrap();
    server.put("sub/ok", b"fine");
    std::os::unix::fs::symlink(outside.path().join("secret"), server.path("link-out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), server.path("dir-out")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", server.path("passwd")).unwrap();
    let client = server.client(quick());
    let escape = format!("../{}/secret", outside.path().file_name().unwrap().to_string_lossy());
    within("escapes", async {
        for name in [
            "../etc/passwd",
            "/etc/passwd",
            "a\\..\\b",
            "..\\..\\etc\\passwd",
            "sub/../../etc/passwd",
            "sub/..",
            "..",
            escape.as_str(),
            "link-out",
            "dir-out/secret",
            "passwd",
            "sub/",
            "sub",
        ] {
            assert_refused(client.download(name).await, name);
        }
        assert_eq!(client.download("sub/ok").await.unwrap().data, b"fine");
        assert_eq!(client.download("./sub/ok").await.unwrap().data, b"fine");
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn filename_with_nul_is_refused_with_an_error() {
    let server = start_server(|_, _| {}).await;
    server.put("secret", b"s");
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    within("nul", async {
        // "secret\0.txt": the NUL ends the filename early and ".txt" is no mode.
        peer.send_to(b"\x00\x01secret\x00.txt\x00octet\x00", server.addr).await.unwrap();
        let mut buf = [0u8; 1024];
        let (len, _) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..2], b"\x00\x05", "an ERROR packet, got {:?}", &buf[..len]);
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn writes_outside_the_upload_dir_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let server = start_server(|config, root| config.write_dir = Some(root.join("uploads"))).await;
    std::fs::create_dir(server.path("uploads")).unwrap();
    std::os::unix::fs::symlink(outside.path(), server.path("uploads/out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("target"), server.path("uploads/dangling")).unwrap();
    let client = server.client(quick());
    within("escapes", async {
        for name in ["../escape", "/tmp/escape", "a\\..\\escape", "out/escape", "dangling", "x/../../escape"] {
            assert_refused(client.upload(name, b"data").await, name);
        }
        client.upload("fine", b"data").await.unwrap();
    })
    .await;
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside");
    assert!(!server.path("escape").exists());
    assert_eq!(std::fs::read(server.path("uploads/fine")).unwrap(), b"data");
    server.stop().await;
}

/// 2000 datagrams of random bytes (half of them with a valid opcode in front).
fn garbage() -> Vec<Vec<u8>> {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..2000)
        .map(|i| {
            let len = (next() % 600) as usize;
            let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && len >= 2 {
                datagram[0] = 0;
                datagram[1] = (next() % 7) as u8;
            }
            datagram
        })
        .collect()
}

#[tokio::test]
async fn garbage_burst_does_not_stop_running_or_later_transfers() {
    let server = start_server(|config, _| config.timeout = Duration::from_secs(2)).await;
    let data = generated_bytes(11, 5 * 512 + 1);
    server.put("f", &data);
    let attacker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    within("burst", async {
        // A hand-driven download is in progress: DATA 1 has arrived from the transfer's port.
        peer.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
        let mut buf = vec![0u8; 2048];
        let (len, tid) = peer.recv_from(&mut buf).await.unwrap();
        let mut received = buf[4..len].to_vec();
        // Garbage to the request port and to the running transfer's port, alternately.
        for (i, datagram) in garbage().iter().enumerate() {
            let to = if i % 2 == 0 { server.addr } else { tid };
            attacker.send_to(datagram, to).await.unwrap();
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        // The running transfer goes on. The burst may have filled the transfer socket's receive
        // buffer so that our ACK was dropped: then the server retransmits the block we already
        // have, and, as any client would, we acknowledge it again.
        let (mut block, mut last_len) = (1u16, len);
        while last_len == 4 + 512 {
            peer.send_to(&[0, 4, (block >> 8) as u8, block as u8], tid).await.unwrap();
            let (len, from) = peer.recv_from(&mut buf).await.unwrap();
            if (from, &buf[..4]) == (tid, &[0, 3, (block >> 8) as u8, block as u8][..]) {
                continue; // a retransmission of the block we have
            }
            block += 1;
            assert_eq!((from, &buf[..4]), (tid, &[0, 3, (block >> 8) as u8, block as u8][..]));
            received.extend_from_slice(&buf[4..len]);
            last_len = len;
        }
        peer.send_to(&[0, 4, (block >> 8) as u8, block as u8], tid).await.unwrap();
        assert_eq!(received, data);
        // And a new transfer works.
        assert_eq!(server.client(quick()).download("f").await.unwrap().data, data);
    })
    .await;
    server.stop().await;
}
