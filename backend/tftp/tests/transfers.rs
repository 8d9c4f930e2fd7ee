//! Our client against our server on loopback: sizes, options, netascii, windows, block number
//! rollover, uploads and their rules, limits, lost ACKs, traces and the exercise checks.

mod common;

use classbook_tftp::checks::generated_bytes;
use classbook_tftp::{run_checks, CheckPlan, ClientOptions, Direction, ErrorCode, Mode, Packet, TransferError};
use common::{start_server, within};
use std::time::Duration;

const SIZES: [usize; 6] = [0, 1, 511, 512, 513, 5 * 512];

fn options(blksize: Option<u16>, windowsize: Option<u16>, tsize: bool) -> ClientOptions {
    ClientOptions { blksize, windowsize, tsize, retransmit_after: Duration::from_millis(300), ..ClientOptions::default() }
}

#[tokio::test]
async fn downloads_of_edge_sizes_arrive_intact_with_every_option_set() {
    let server = start_server(|_, _| {}).await;
    for size in SIZES {
        server.put(&format!("f{size}"), &generated_bytes(size as u64, size));
    }
    within("downloads", async {
        // The last set asks for more than the server's 64 KiB window: it gets 8 blocks of 8192.
        let sets = [(None, None, false, 1), (Some(8), None, true, 1), (Some(1428), Some(4), true, 4), (Some(8192), Some(16), false, 8)];
        for (blksize, windowsize, tsize, window) in sets {
            let client = server.client(options(blksize, windowsize, tsize));
            for size in SIZES {
                let done = client.download(&format!("f{size}")).await.unwrap();
                assert_eq!(done.data, generated_bytes(size as u64, size), "size {size} blksize {blksize:?}");
                assert_eq!(done.stats.blksize, blksize.unwrap_or(512));
                assert_eq!(done.stats.windowsize, window);
                assert_eq!(done.stats.tsize, tsize.then_some(size as u64));
                assert_eq!(done.stats.oack, blksize.is_some() || windowsize.is_some() || tsize);
            }
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn uploads_of_edge_sizes_are_stored_intact() {
    let server = start_server(|config, root| config.write_dir = Some(root.to_path_buf())).await;
    within("uploads", async {
        for (i, (blksize, windowsize)) in [(None, None), (Some(1428), Some(8)), (Some(8192), None)].into_iter().enumerate() {
            let client = server.client(options(blksize, windowsize, true));
            for size in SIZES {
                let name = format!("up{i}-{size}");
                let data = generated_bytes(size as u64 + 7, size);
                let stats = client.upload(&name, &data).await.unwrap();
                assert_eq!(stats.bytes, size as u64);
                assert_eq!(std::fs::read(server.path(&name)).unwrap(), data, "{name}");
            }
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn block_numbers_roll_over_past_65535_in_both_directions() {
    let server = start_server(|config, root| config.write_dir = Some(root.join("in"))).await;
    std::fs::create_dir(server.path("in")).unwrap();
    // blksize 8: 70 000 blocks, so the block number wraps from 65535 to 0.
    let data = generated_bytes(42, 8 * 70_000 + 3);
    server.put("big", &data);
    let client = server.client(options(Some(8), Some(64), true));
    within("rollover", async {
        let done = client.download("big").await.unwrap();
        assert_eq!(done.stats.blocks, 70_001);
        assert!(done.data == data, "download differs");
        client.upload("big", &data).await.unwrap();
        assert!(std::fs::read(server.path("in/big")).unwrap() == data, "upload differs");
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn netascii_round_trips_local_newlines() {
    let server = start_server(|config, root| config.write_dir = Some(root.join("in"))).await;
    std::fs::create_dir(server.path("in")).unwrap();
    let text = b"line one\nline two\r\nbare cr\r end\n".repeat(40);
    server.put("text", &text);
    let client = server.client(ClientOptions { mode: Mode::Netascii, ..options(Some(16), None, true) });
    within("netascii", async {
        let done = client.download("text").await.unwrap();
        assert_eq!(done.data, text);
        assert_eq!(done.stats.tsize, None, "tsize is not offered in netascii mode");
        client.upload("text", &text).await.unwrap();
        assert_eq!(std::fs::read(server.path("in/text")).unwrap(), text);
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn missing_file_yields_error_1() {
    let server = start_server(|_, _| {}).await;
    let result = within("missing", server.client(options(None, None, false)).download("nope")).await;
    assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::FILE_NOT_FOUND, .. })), "{result:?}");
    server.stop().await;
}

#[tokio::test]
async fn uploads_are_refused_unless_a_write_dir_is_configured() {
    let server = start_server(|_, _| {}).await;
    let result = within("upload", server.client(options(None, None, false)).upload("x", b"data")).await;
    assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::ACCESS_VIOLATION, .. })), "{result:?}");
    assert!(!server.path("x").exists());
    server.stop().await;
}

#[tokio::test]
async fn existing_file_is_not_overwritten_unless_allowed() {
    let server = start_server(|config, root| config.write_dir = Some(root.to_path_buf())).await;
    server.put("keep", b"original");
    let client = server.client(options(None, None, false));
    let result = within("upload", client.upload("keep", b"replacement")).await;
    assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::FILE_EXISTS, .. })), "{result:?}");
    assert_eq!(std::fs::read(server.path("keep")).unwrap(), b"original");
    server.stop().await;

    let server = start_server(|config, root| {
        config.write_dir = Some(root.to_path_buf());
        config.allow_overwrite = true;
    })
    .await;
    server.put("keep", b"original");
    within("upload", server.client(options(None, None, false)).upload("keep", b"replacement")).await.unwrap();
    assert_eq!(std::fs::read(server.path("keep")).unwrap(), b"replacement");
    server.stop().await;
}

#[tokio::test]
async fn uploads_beyond_the_size_limit_get_error_3_and_leave_no_file() {
    let server = start_server(|config, root| {
        config.write_dir = Some(root.to_path_buf());
        config.max_upload_bytes = 1000;
    })
    .await;
    let data = generated_bytes(1, 1500);
    within("limits", async {
        // Announced with tsize: refused up front.
        let result = server.client(options(None, None, true)).upload("big1", &data).await;
        assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::DISK_FULL, .. })), "{result:?}");
        // Not announced: refused when the limit is crossed.
        let result = server.client(options(None, None, false)).upload("big2", &data).await;
        assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::DISK_FULL, .. })), "{result:?}");
    })
    .await;
    assert_eq!(std::fs::read_dir(server.root.path()).unwrap().count(), 0, "no file or temporary file is left");
    server.stop().await;
}

#[tokio::test]
async fn client_download_limit_refuses_bigger_files() {
    let server = start_server(|_, _| {}).await;
    server.put("f", &generated_bytes(3, 3000));
    let client = server.client(ClientOptions { max_bytes: 2000, ..options(None, None, false) });
    let result = within("limit", client.download("f")).await;
    assert!(matches!(result, Err(TransferError::Local { code: ErrorCode::DISK_FULL, .. })), "{result:?}");
    server.stop().await;
}

#[tokio::test]
async fn lost_ack_is_recovered_by_server_retransmission() {
    let server = start_server(|_, _| {}).await;
    let data = generated_bytes(9, 4000);
    server.put("f", &data);
    for windowsize in [None, Some(4)] {
        let client = server.client(ClientOptions {
            drop_ack: Some(4),
            retransmit_after: Duration::from_secs(5),
            min_retransmit_after: Duration::from_secs(5),
            ..options(None, windowsize, false)
        });
        let done = within("lost ack", client.download("f")).await.unwrap();
        assert_eq!(done.data, data);
        assert!(done.stats.duplicate_blocks >= 1, "server retransmitted after its timeout");
    }
    server.stop().await;
}

#[tokio::test]
async fn checks_pass_against_our_own_server() {
    let server = start_server(|config, root| config.write_dir = Some(root.to_path_buf())).await;
    let mut plan = CheckPlan::prepare(server.root.path(), 7).unwrap();
    plan.retransmit_wait = Duration::from_secs(3);
    let (tx, mut rx) = classbook_tftp::TraceSink::channel(4096);
    let outcomes = within("checks", run_checks(server.addr, &plan, Some(tx))).await;
    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["download", "upload", "missing_file", "lost_ack"]);
    for outcome in &outcomes {
        assert!(outcome.passed, "{outcome:?}");
    }
    let mut dropped_note = false;
    while let Ok(event) = rx.try_recv() {
        dropped_note |= event.note.as_deref().is_some_and(|n| n.contains("deliberately not sent"));
    }
    assert!(dropped_note, "the client traces the ACK it dropped");
    server.stop().await;
}

#[tokio::test]
async fn checks_fail_clearly_against_a_silent_port() {
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut plan = CheckPlan::prepare(dir.path(), 1).unwrap();
    plan.limit = Duration::from_millis(300);
    plan.retransmit_wait = Duration::from_millis(100);
    let outcomes = within("checks", run_checks(silent.local_addr().unwrap(), &plan, None)).await;
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| !o.passed && !o.message.is_empty()), "{outcomes:?}");
}

#[tokio::test]
async fn every_packet_is_traced_and_serializes_to_json() {
    let mut server = start_server(|_, _| {}).await;
    server.put("f", &generated_bytes(5, 600));
    within("download", server.client(options(Some(512), None, true)).download("f")).await.unwrap();
    let events = server.collect_events(7).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.drain_events().is_empty(), "nothing after the last ACK");
    let kinds: Vec<(Direction, Option<String>, Option<u16>)> =
        events.iter().map(|e| (e.direction, e.opcode.map(|o| o.to_string()), e.block)).collect();
    let sent = |op: &str, block: Option<u16>| (Direction::Sent, Some(op.to_string()), block);
    let received = |op: &str, block: Option<u16>| (Direction::Received, Some(op.to_string()), block);
    assert_eq!(
        kinds,
        [
            received("RRQ", None),
            sent("OACK", None),
            received("ACK", Some(0)),
            sent("DATA", Some(1)),
            received("ACK", Some(1)),
            sent("DATA", Some(2)),
            received("ACK", Some(2)),
        ]
    );
    assert!(events.iter().all(|e| e.transfer == 1 && !e.retransmit));
    assert_eq!(events[1].options, [("blksize".to_string(), "512".to_string()), ("tsize".to_string(), "600".to_string())]);
    assert_eq!(events[5].data_len, Some(88));
    let json = serde_json::to_string(&events[3]).unwrap();
    assert!(json.contains(r#""opcode":"DATA""#) && json.contains(r#""direction":"sent""#), "{json}");
    server.stop().await;
}

#[tokio::test]
async fn busy_server_answers_error_0_beyond_max_transfers() {
    let server = start_server(|config, _| {
        config.max_transfers = 1;
        config.timeout = Duration::from_secs(2);
    })
    .await;
    server.put("f", &generated_bytes(1, 2000));
    // A raw client that requests and never acknowledges holds the only slot.
    let holder = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rrq = Packet::Rrq(classbook_tftp::packet::Request { filename: "f".into(), mode: Mode::Octet, options: Default::default() });
    holder.send_to(&rrq.to_bytes(), server.addr).await.unwrap();
    let mut buf = [0u8; 1024];
    within("first DATA", holder.recv_from(&mut buf)).await.unwrap();
    let result = within("busy", server.client(options(None, None, false)).download("f")).await;
    assert!(matches!(result, Err(TransferError::Peer { code: ErrorCode::NOT_DEFINED, .. })), "{result:?}");
    server.stop().await;
}

#[tokio::test]
async fn client_gives_up_after_bounded_retries_when_nobody_answers() {
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = classbook_tftp::Client::new(
        silent.local_addr().unwrap(),
        ClientOptions { retransmit_after: Duration::from_millis(50), retries: 3, ..ClientOptions::default() },
        None,
    );
    let result = within("silence", client.download("f")).await;
    assert!(matches!(result, Err(TransferError::Unanswered(3))), "{result:?}");
    let mut requests = 0;
    let mut buf = [0u8; 1024];
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(50), silent.recv_from(&mut buf)).await {
        requests += 1;
    }
    assert_eq!(requests, 4, "one request and three retransmissions");
}

#[tokio::test]
async fn server_works_on_ipv6_loopback() {
    let Ok(socket) = tokio::net::UdpSocket::bind("[::1]:0").await else {
        common::skip("IPv6 loopback is not available");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"over ipv6").unwrap();
    let addr = socket.local_addr().unwrap();
    let server = classbook_tftp::Server::new(classbook_tftp::ServerConfig::new(root.path()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move { server.serve(socket, async { let _ = stopped.await; }, None).await });
    let client = classbook_tftp::Client::new(addr, options(Some(1024), None, true), None);
    assert_eq!(within("v6", client.download("f")).await.unwrap().data, b"over ipv6");
    stop.send(()).unwrap();
    within("stop", task).await.unwrap().unwrap();
}

#[tokio::test]
async fn tftpd_entry_point_serves_the_root_and_stores_uploads_there() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), b"hello").unwrap();
    // Find a free port, then let run_tftpd bind it.
    let addr = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let tftpd = tokio::spawn(classbook_tftp::run_tftpd(root.path().to_path_buf(), addr, true));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = classbook_tftp::Client::new(addr, options(None, None, true), None);
    within("tftpd", async {
        assert_eq!(client.download("hello.txt").await.unwrap().data, b"hello");
        client.upload("new.txt", b"uploaded").await.unwrap();
        let again = client.upload("new.txt", b"other").await;
        assert!(matches!(again, Err(TransferError::Peer { code: ErrorCode::FILE_EXISTS, .. })), "{again:?}");
    })
    .await;
    assert_eq!(std::fs::read(root.path().join("new.txt")).unwrap(), b"uploaded");
    tftpd.abort();
}

#[tokio::test]
async fn uploads_share_a_quota_and_can_be_read_back_from_the_upload_directory() {
    let uploads = tempfile::tempdir().unwrap();
    let dir = uploads.path().to_path_buf();
    let server = start_server(move |config, _| {
        config.write_dir = Some(dir);
        config.write_dir_quota = Some(3000);
        config.read_uploads = true;
    })
    .await;
    server.put("course.txt", b"from the root");
    let client = server.client(options(None, None, false));
    within("quota", async {
        client.upload("a.bin", &generated_bytes(1, 2000)).await.unwrap();
        assert_eq!(client.download("a.bin").await.unwrap().data, generated_bytes(1, 2000), "read back from the uploads");
        assert_eq!(client.download("course.txt").await.unwrap().data, b"from the root", "the root still comes first");
        // 1000 bytes are left: a 1500-byte upload is cut with ERROR 3 and leaves nothing behind.
        match client.upload("b.bin", &generated_bytes(2, 1500)).await {
            Err(TransferError::Peer { code: ErrorCode::DISK_FULL, .. }) => {}
            other => panic!("expected ERROR 3, got {other:?}"),
        }
        assert!(!uploads.path().join("b.bin").exists());
        client.upload("c.bin", &generated_bytes(3, 900)).await.unwrap();
        // 100 bytes are left: the upload is cut once it goes beyond them.
        match client.upload("d.bin", &generated_bytes(4, 200)).await {
            Err(TransferError::Peer { code: ErrorCode::DISK_FULL, message }) => {
                assert!(message.contains("upload space used up (2900 of 3000 bytes)"), "{message}")
            }
            other => panic!("expected ERROR 3, got {other:?}"),
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_whose_peer_pauses_now_and_then_arrives_intact() {
    // Fast stretches move the transfer to a lane, each 30 ms pause sends it back to the
    // runtime: no block may be lost or doubled on the way.
    let server = start_server(|_, _| {}).await;
    let data = generated_bytes(9, 300 * 512 + 77);
    server.put("f", &data);
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    within("pausing download", async {
        client.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1024];
        for expected in 1u16.. {
            let (len, port) = tokio::time::timeout(Duration::from_secs(3), client.recv_from(&mut buf)).await.unwrap().unwrap();
            assert_eq!(buf[..4], [0, 3, (expected >> 8) as u8, expected as u8], "DATA {expected}, once and in order");
            got.extend_from_slice(&buf[4..len]);
            if expected % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            client.send_to(&[0, 4, (expected >> 8) as u8, expected as u8], port).await.unwrap();
            if len < 4 + 512 {
                break;
            }
        }
        assert!(got == data, "{} bytes of {}", got.len(), data.len());
    })
    .await;
    server.stop().await;
}
