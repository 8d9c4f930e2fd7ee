//! Protocol behaviour seen packet by packet with a hand-driven peer: RFC 1123 duplicate ACKs,
//! timeouts, RFC 7440 windows and partial ACKs, ERROR 5 for strangers, malformed requests.

mod common;

use classbook_tftp::checks::generated_bytes;
use classbook_tftp::packet::Request;
use classbook_tftp::{Client, ClientOptions, ErrorCode, Mode, Options, Packet, TransferError};
use common::{start_server, within};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A peer whose every packet is written by the test.
struct Raw {
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Raw {
    async fn new() -> Raw {
        Raw { socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(), buf: vec![0; 70_000] }
    }

    async fn send(&self, packet: &Packet<'_>, to: SocketAddr) {
        self.socket.send_to(&packet.to_bytes(), to).await.unwrap();
    }

    /// The next datagram within `wait`, decoded.
    async fn recv(&mut self, wait: Duration) -> Option<(Packet<'_>, SocketAddr)> {
        let (len, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut self.buf)).await.ok()?.unwrap();
        Some((Packet::decode(&self.buf[..len]).expect("peer sent a malformed packet"), from))
    }

    async fn expect(&mut self) -> (Packet<'_>, SocketAddr) {
        self.recv(Duration::from_secs(3)).await.expect("expected a packet")
    }
}

fn rrq(name: &str, options: Options) -> Packet<'static> {
    Packet::Rrq(Request { filename: name.to_string(), mode: Mode::Octet, options })
}

fn wrq(name: &str, options: Options) -> Packet<'static> {
    Packet::Wrq(Request { filename: name.to_string(), mode: Mode::Octet, options })
}

fn data_block(packet: &Packet<'_>) -> u16 {
    match packet {
        Packet::Data { block, .. } => *block,
        other => panic!("expected DATA, got {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_ack_does_not_trigger_resend() {
    let server = start_server(|config, _| config.timeout = Duration::from_secs(1)).await;
    server.put("f", &generated_bytes(1, 3 * 512 + 10));
    let mut peer = Raw::new().await;
    within("exchange", async {
        peer.send(&rrq("f", Options::default()), server.addr).await;
        let (packet, tid) = peer.expect().await;
        assert_eq!(data_block(&packet), 1);
        peer.send(&Packet::Ack { block: 1 }, tid).await;
        assert_eq!(data_block(&peer.expect().await.0), 2);
        // ACK 1 again, twice: a Sorcerer's Apprentice server would send DATA 2 twice more.
        peer.send(&Packet::Ack { block: 1 }, tid).await;
        peer.send(&Packet::Ack { block: 1 }, tid).await;
        assert!(peer.recv(Duration::from_millis(500)).await.is_none(), "no DATA resent on a duplicate ACK");
        peer.send(&Packet::Ack { block: 2 }, tid).await;
        assert_eq!(data_block(&peer.expect().await.0), 3);
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn unacknowledged_data_is_resent_on_timeout_a_bounded_number_of_times() {
    let server = start_server(|config, _| {
        config.timeout = Duration::from_millis(100);
        config.retries = 3;
    })
    .await;
    server.put("f", &generated_bytes(1, 100));
    let mut peer = Raw::new().await;
    within("exchange", async {
        peer.send(&rrq("f", Options::default()), server.addr).await;
        let mut copies = 0;
        while let Some((packet, _)) = peer.recv(Duration::from_millis(600)).await {
            assert_eq!(data_block(&packet), 1);
            copies += 1;
        }
        assert_eq!(copies, 4, "the first DATA and three retransmissions, then the server gives up");
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn window_is_sent_whole_and_partial_ack_restarts_after_the_acknowledged_block() {
    // A fixed 2 s timer: this test is about the window, not about the adaptive timer.
    let server = start_server(|config, _| {
        config.timeout = Duration::from_secs(2);
        config.min_timeout = config.timeout;
    })
    .await;
    server.put("f", &generated_bytes(2, 10 * 8 + 3));
    let mut peer = Raw::new().await;
    within("exchange", async {
        let ask = Options { blksize: Some(8), windowsize: Some(4), ..Options::default() };
        peer.send(&rrq("f", ask.clone()), server.addr).await;
        let (packet, tid) = peer.expect().await;
        assert_eq!(packet, Packet::Oack(ask));
        peer.send(&Packet::Ack { block: 0 }, tid).await;
        let mut blocks = Vec::new();
        for _ in 0..4 {
            blocks.push(data_block(&peer.expect().await.0));
        }
        assert_eq!(blocks, [1, 2, 3, 4]);
        assert!(peer.recv(Duration::from_millis(200)).await.is_none(), "the sender waits after a full window");
        // Blocks 3 and 4 "were lost": ACK 2 makes the next window start at 3.
        peer.send(&Packet::Ack { block: 2 }, tid).await;
        blocks.clear();
        for _ in 0..4 {
            blocks.push(data_block(&peer.expect().await.0));
        }
        assert_eq!(blocks, [3, 4, 5, 6]);
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn receiver_acks_once_per_window_and_reports_a_gap() {
    let server = start_server(|config, root| {
        config.write_dir = Some(root.to_path_buf());
        config.timeout = Duration::from_secs(2);
        config.min_timeout = config.timeout;
    })
    .await;
    let mut peer = Raw::new().await;
    within("exchange", async {
        let ask = Options { blksize: Some(8), windowsize: Some(3), ..Options::default() };
        peer.send(&wrq("up", ask.clone()), server.addr).await;
        let (packet, tid) = peer.expect().await;
        assert_eq!(packet, Packet::Oack(ask));
        for block in 1..=3u16 {
            peer.send(&Packet::Data { block, data: b"12345678" }, tid).await;
        }
        assert_eq!(peer.expect().await.0, Packet::Ack { block: 3 });
        // Block 4 lost: block 5 and 6 arrive; the receiver ACKs 3 once.
        peer.send(&Packet::Data { block: 5, data: b"12345678" }, tid).await;
        peer.send(&Packet::Data { block: 6, data: b"12345678" }, tid).await;
        assert_eq!(peer.expect().await.0, Packet::Ack { block: 3 });
        assert!(peer.recv(Duration::from_millis(200)).await.is_none(), "a gap is reported once");
        for block in 4..=5u16 {
            peer.send(&Packet::Data { block, data: b"abcdefgh" }, tid).await;
        }
        peer.send(&Packet::Data { block: 6, data: b"end" }, tid).await;
        assert_eq!(peer.expect().await.0, Packet::Ack { block: 6 });
    })
    .await;
    let stored = std::fs::read(server.path("up")).unwrap();
    assert_eq!(stored, b"123456781234567812345678abcdefghabcdefghend");
    server.stop().await;
}

#[tokio::test]
async fn packet_from_unknown_port_gets_error_5_and_the_transfer_goes_on() {
    let server = start_server(|config, _| config.timeout = Duration::from_secs(2)).await;
    server.put("f", &generated_bytes(3, 700));
    let mut peer = Raw::new().await;
    let mut stranger = Raw::new().await;
    within("exchange", async {
        peer.send(&rrq("f", Options::default()), server.addr).await;
        let (packet, tid) = peer.expect().await;
        assert_eq!(data_block(&packet), 1);
        stranger.send(&Packet::Ack { block: 1 }, tid).await;
        let (packet, from) = stranger.expect().await;
        assert!(matches!(packet, Packet::Error { code: ErrorCode::UNKNOWN_TID, .. }), "{packet:?}");
        assert_eq!(from, tid);
        peer.send(&Packet::Ack { block: 1 }, tid).await;
        assert_eq!(data_block(&peer.expect().await.0), 2);
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_error_4_and_bad_options_error_8() {
    let server = start_server(|_, _| {}).await;
    server.put("f", b"x");
    let mut peer = Raw::new().await;
    let cases: [(&[u8], u16); 5] = [
        (b"\x00\x01f\x00mail\x00", 4),
        (b"\x00\x01f", 4),
        (b"\x00\x02\x00octet\x00", 4),
        (b"\x00\x01f\x00octet\x00blksize\x00huge\x00", 8),
        (b"\x00\x01f\x00octet\x00windowsize\x000\x00", 8),
    ];
    within("malformed", async {
        for (bytes, code) in cases {
            peer.socket.send_to(bytes, server.addr).await.unwrap();
            let (packet, from) = peer.expect().await;
            assert!(matches!(packet, Packet::Error { code: c, .. } if c.0 == code), "{bytes:?}: {packet:?}");
            assert_eq!(from, server.addr, "answered from the request port");
        }
        // DATA or ACK on the request port belongs to no transfer.
        peer.send(&Packet::Ack { block: 1 }, server.addr).await;
        assert!(matches!(peer.expect().await.0, Packet::Error { code: ErrorCode::UNKNOWN_TID, .. }));
        // An ERROR is never answered.
        peer.send(&Packet::Error { code: ErrorCode(0), message: "x".into() }, server.addr).await;
        assert!(peer.recv(Duration::from_millis(200)).await.is_none());
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn client_rejection_of_the_oack_ends_the_server_transfer() {
    let mut server = start_server(|config, _| config.timeout = Duration::from_millis(200)).await;
    server.put("f", b"abc");
    let mut peer = Raw::new().await;
    within("exchange", async {
        peer.send(&rrq("f", Options { blksize: Some(100), ..Options::default() }), server.addr).await;
        let (packet, tid) = peer.expect().await;
        assert!(matches!(packet, Packet::Oack(_)));
        peer.send(&Packet::Error { code: ErrorCode::OPTION_REFUSED, message: "no".into() }, tid).await;
        assert!(peer.recv(Duration::from_millis(700)).await.is_none(), "no DATA and no OACK resent");
    })
    .await;
    let events = server.drain_events();
    assert!(events.iter().all(|e| e.opcode.map(|o| o.to_string()) != Some("DATA".into())));
    server.stop().await;
}

/// A fake server answering the first request with `reply`, then recording what the client sends.
async fn fake_server(reply: Packet<'static>) -> (SocketAddr, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = listen.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 70_000];
        let (_, client) = listen.recv_from(&mut buf).await.unwrap();
        let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tid.send_to(&reply.to_bytes(), client).await.unwrap();
        let mut seen = Vec::new();
        while let Ok(Ok((len, _))) = tokio::time::timeout(Duration::from_millis(400), tid.recv_from(&mut buf)).await {
            seen.push(buf[..len].to_vec());
        }
        seen
    });
    (addr, task)
}

#[tokio::test]
async fn client_refuses_an_oack_with_options_it_did_not_ask_for() {
    let (addr, task) = fake_server(Packet::Oack(Options { windowsize: Some(8), ..Options::default() })).await;
    let client = Client::new(addr, ClientOptions { blksize: Some(1024), ..ClientOptions::default() }, None);
    let result = within("download", client.download("f")).await;
    assert!(matches!(result, Err(TransferError::Local { code: ErrorCode::OPTION_REFUSED, .. })), "{result:?}");
    let seen = task.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(matches!(Packet::decode(&seen[0]).unwrap(), Packet::Error { code: ErrorCode::OPTION_REFUSED, .. }));
}

#[tokio::test]
async fn client_upload_ignores_duplicate_acks() {
    // The fake server ACKs WRQ with ACK 0, then the test reads what the client does with a
    // duplicate ACK 0 after DATA 1.
    let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = listen.local_addr().unwrap();
    let client = Client::new(addr, ClientOptions { retransmit_after: Duration::from_secs(2), ..ClientOptions::default() }, None);
    let data = generated_bytes(4, 600);
    let upload = tokio::spawn(async move { client.upload("f", &data).await });
    within("exchange", async {
        let mut buf = vec![0u8; 2048];
        let (_, peer) = listen.recv_from(&mut buf).await.unwrap();
        let tid = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tid.send_to(&Packet::Ack { block: 0 }.to_bytes(), peer).await.unwrap();
        let (len, _) = tid.recv_from(&mut buf).await.unwrap();
        assert_eq!(data_block(&Packet::decode(&buf[..len]).unwrap()), 1);
        tid.send_to(&Packet::Ack { block: 0 }.to_bytes(), peer).await.unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(400), tid.recv_from(&mut buf)).await;
        assert!(quiet.is_err(), "no DATA resent on a duplicate ACK");
        tid.send_to(&Packet::Ack { block: 1 }.to_bytes(), peer).await.unwrap();
        let (len, _) = tid.recv_from(&mut buf).await.unwrap();
        assert_eq!(data_block(&Packet::decode(&buf[..len]).unwrap()), 2);
        tid.send_to(&Packet::Ack { block: 2 }.to_bytes(), peer).await.unwrap();
        let stats = upload.await.unwrap().unwrap();
        assert_eq!((stats.blocks, stats.retransmits), (2, 0));
    })
    .await;
}
