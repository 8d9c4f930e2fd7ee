//! What one client can cost the server: a request's size and options, how long a transfer
//! waits for a peer that vanished, and that waiting transfers hold no thread each.

mod common;

use classbook_tftp::packet::Opcode;
use common::{start_server, within};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The next datagram on `socket` within 3 s, and where it came from.
async fn answer(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 70_000];
    let (len, from) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf)).await.expect("an answer within 3 s").unwrap();
    buf.truncate(len);
    (buf, from)
}

async fn peer() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

fn error_code(packet: &[u8]) -> Option<u16> {
    (packet.len() >= 4 && packet[..2] == [0, 5]).then(|| u16::from_be_bytes([packet[2], packet[3]]))
}

#[tokio::test]
async fn a_request_longer_than_512_bytes_is_answered_with_error_4_and_traced_small() {
    let mut server = start_server(|_, _| {}).await;
    let client = peer().await;
    let mut request = b"\x00\x01".to_vec();
    request.extend(std::iter::repeat_n(b'a', 65_000));
    request.extend_from_slice(b"\x00octet\x00");
    within("long request", async {
        client.send_to(&request, server.addr).await.unwrap();
        let (packet, _) = answer(&client).await;
        assert_eq!(error_code(&packet), Some(4), "{:?}", String::from_utf8_lossy(&packet));
        assert!(String::from_utf8_lossy(&packet).contains("512 bytes RFC 2347 allows"));
    })
    .await;
    let events = server.collect_events(2).await;
    assert!(events.iter().all(|e| e.filename.is_none() && e.note.as_ref().is_none_or(|n| n.len() <= 512)), "{events:?}");
    server.stop().await;
}

#[tokio::test]
async fn repeated_unknown_options_are_ignored_and_a_repeated_known_option_gets_error_8() {
    let server = start_server(|_, _| {}).await;
    server.put("f", b"hello");
    let client = peer().await;
    within("options", async {
        let mut request = b"\x00\x01f\x00octet\x00blksize\x00100\x00".to_vec();
        while request.len() + 4 <= 512 {
            request.extend_from_slice(b"x\x00\x00"); // the same unknown option, again and again
        }
        client.send_to(&request, server.addr).await.unwrap();
        let (packet, _) = answer(&client).await;
        assert_eq!(packet, b"\x00\x06blksize\x00100\x00", "an OACK of blksize alone");
        client.send_to(b"\x00\x01f\x00octet\x00blksize\x00100\x00BlkSize\x00200\x00", server.addr).await.unwrap();
        let (packet, _) = loop {
            let (packet, from) = answer(&client).await;
            if from == server.addr {
                break (packet, from);
            }
        };
        assert_eq!(error_code(&packet), Some(8), "{:?}", String::from_utf8_lossy(&packet));
    })
    .await;
    server.stop().await;
}

/// Sends read requests for `f` until one is accepted (DATA or OACK from a new port); returns when.
async fn until_accepted(server: SocketAddr, limit: Duration) -> Instant {
    let started = Instant::now();
    while started.elapsed() < limit {
        let client = peer().await;
        client.send_to(b"\x00\x01f\x00octet\x00", server).await.unwrap();
        let (packet, from) = answer(&client).await;
        if from != server && packet[..2] == [0, Opcode::Data as u8] {
            return Instant::now();
        }
        assert_eq!(error_code(&packet), Some(0), "busy, got {:?}", String::from_utf8_lossy(&packet));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no transfer slot came free within {limit:?}");
}

#[tokio::test]
async fn a_vanished_peer_frees_its_transfer_within_retries_plus_one_timeouts_whatever_timeout_it_asked() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    const RETRIES: u32 = 2;
    let server = start_server(|config, _| {
        config.max_transfers = 1;
        config.timeout = TIMEOUT;
        config.retries = RETRIES;
        config.max_timeout_option = 1;
    })
    .await;
    server.put("f", &[7u8; 2000]);
    let bound = TIMEOUT * (RETRIES + 1);
    within("vanished peers", async {
        // A plain request, then one asking RFC 2349 timeout 255 s: both peers vanish.
        for request in [&b"\x00\x01f\x00octet\x00"[..], b"\x00\x01f\x00octet\x00timeout\x00255\x00blksize\x00512\x00"] {
            let vanishing = peer().await;
            vanishing.send_to(request, server.addr).await.unwrap();
            let (packet, from) = answer(&vanishing).await;
            if packet[..2] == [0, Opcode::Oack as u8] {
                assert_eq!(packet, b"\x00\x06blksize\x00512\x00", "timeout 255 is declined");
                vanishing.send_to(b"\x00\x04\x00\x00", from).await.unwrap();
                let (data, _) = answer(&vanishing).await;
                assert_eq!(data[..4], [0, 3, 0, 1]);
            } else {
                assert_eq!(packet[..4], [0, 3, 0, 1]);
            }
            let vanished_at = Instant::now();
            drop(vanishing);
            let freed = until_accepted(server.addr, Duration::from_secs(20)).await - vanished_at;
            // The answered request holds the slot again; let it vanish too before the next round.
            assert!(freed <= bound + Duration::from_millis(800), "the slot came free after {freed:?}, bound {bound:?}");
            tokio::time::sleep(bound + Duration::from_millis(300)).await;
        }
    })
    .await;
    server.stop().await;
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn transfers_waiting_for_silent_peers_hold_no_thread_each() {
    const WAITING: usize = 64;
    let server = start_server(|config, _| {
        config.max_transfers = WAITING + 1;
        config.timeout = Duration::from_secs(5);
    })
    .await;
    server.put("f", &[7u8; 2000]);
    let before = threads();
    let mut peers = Vec::new();
    within("silent peers", async {
        for _ in 0..WAITING {
            let silent = peer().await;
            silent.send_to(b"\x00\x01f\x00octet\x00", server.addr).await.unwrap();
            let (packet, _) = answer(&silent).await;
            assert_eq!(packet[..4], [0, 3, 0, 1], "DATA 1, then the transfer waits for its ACK");
            peers.push(silent);
        }
    })
    .await;
    let during = threads();
    // Other tests of this binary run alongside and may start a few threads of their own.
    assert!(during < before + 16, "{WAITING} waiting transfers took the process from {before} to {during} threads");
    server.stop().await;
}

/// A raw upload: WRQ for `name` (octet), then blocks of 512 bytes sent one at a time by `block`.
struct Upload {
    socket: UdpSocket,
    port: SocketAddr,
    data: Vec<u8>,
}

impl Upload {
    async fn start(server: SocketAddr, name: &str, data: Vec<u8>) -> Upload {
        let socket = peer().await;
        socket.send_to(format!("\x00\x02{name}\x00octet\x00").as_bytes(), server).await.unwrap();
        let (packet, port) = answer(&socket).await;
        assert_eq!(packet, [0, 4, 0, 0], "ACK 0 for {name}");
        Upload { socket, port, data }
    }

    /// Sends block `n` (counted from 1; past the end, the empty final block); returns the answer.
    async fn block(&self, n: usize) -> Vec<u8> {
        let chunk = self.data.get((n - 1) * 512..).unwrap_or_default();
        let mut packet = vec![0, 3];
        packet.extend_from_slice(&(n as u16).to_be_bytes());
        packet.extend_from_slice(&chunk[..chunk.len().min(512)]);
        self.socket.send_to(&packet, self.port).await.unwrap();
        answer(&self.socket).await.0
    }
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn uploads_at_once_share_the_quota_byte_by_byte_and_the_one_that_overflows_is_removed() {
    let server = start_server(|config, root| {
        config.write_dir = Some(root.join("up"));
        config.write_dir_quota = Some(16 * 1024);
        config.max_upload_bytes = 12 * 1024;
    })
    .await;
    std::fs::create_dir(server.path("up")).unwrap();
    let (a_data, b_data) = (vec![b'a'; 10 * 1024], vec![b'b'; 10 * 1024]);
    within("two uploads at once", async {
        // Each fits the per-file limit and the quota alone; together they would hold 20 KiB.
        let a = Upload::start(server.addr, "a", a_data).await;
        let b = Upload::start(server.addr, "b", b_data.clone()).await;
        for n in 1..=16 {
            assert_eq!(a.block(n).await[..4], [0, 4, 0, n as u8]);
            assert_eq!(b.block(n).await[..4], [0, 4, 0, n as u8]);
        }
        // 16 KiB are written: a's next block is one too many.
        let refused = a.block(17).await;
        assert_eq!(error_code(&refused), Some(3), "{:?}", String::from_utf8_lossy(&refused));
        assert!(String::from_utf8_lossy(&refused).contains("upload space used up"));
        // a's share came back with its partial file: b finishes.
        for n in 17..=21 {
            assert_eq!(b.block(n).await[..4], [0, 4, 0, n as u8], "block {n} of b");
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(names_in(&server.path("up")), ["b"], "no trace of a, not even a partial file");
    assert_eq!(std::fs::read(server.path("up/b")).unwrap(), b_data);
    server.stop().await;
}

#[tokio::test]
async fn the_upload_space_holds_a_bounded_number_of_files_however_small() {
    let server = start_server(|config, root| {
        config.write_dir = Some(root.join("up"));
        config.write_dir_max_files = Some(2);
    })
    .await;
    std::fs::create_dir(server.path("up")).unwrap();
    within("empty uploads", async {
        for name in ["one", "two"] {
            let upload = Upload::start(server.addr, name, Vec::new()).await;
            assert_eq!(upload.block(1).await, [0, 4, 0, 1]);
        }
        let socket = peer().await;
        socket.send_to(b"\x00\x02three\x00octet\x00", server.addr).await.unwrap();
        let (packet, _) = answer(&socket).await;
        assert_eq!(error_code(&packet), Some(3), "{:?}", String::from_utf8_lossy(&packet));
    })
    .await;
    assert_eq!(names_in(&server.path("up")), ["one", "two"]);
    server.stop().await;
}
