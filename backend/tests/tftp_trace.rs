//! The companion's packet trace on its way to a page (`sandbox::tftp::trace::Relay`), fed by a
//! real TFTP server on loopback: bounded whatever the pages do, cut once, never waited for.

use classbook::sandbox::tftp::trace::{CompanionTrace, Relay, MAX_PENDING, MAX_TRACE_EVENTS, TRACE_CHANNEL};
use classbook_tftp::{Server, ServerConfig, TraceSink};
use shared::trace::PacketTrace;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// A read-only server of the course's TFTP files, traced into a relay; stops when `_stop` drops.
struct Traced {
    addr: SocketAddr,
    relay: Relay,
    _stop: oneshot::Sender<()>,
}

async fn traced_server() -> Traced {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../course/tftp-files");
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (sink, events) = TraceSink::channel(TRACE_CHANNEL);
    let relay = Relay::start(events, sink.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = Server::new(ServerConfig::new(root)).serve(socket, async { let _ = stopped.await; }, Some(sink)).await;
    });
    Traced { addr, relay, _stop: stop }
}

/// Sends `count` read requests for a missing file one after the other, each answered (ERROR 1)
/// before the next: every request is traced twice, the RRQ and the ERROR.
async fn missing_file_requests(server: SocketAddr, count: usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 600];
    for _ in 0..count {
        socket.send_to(b"\x00\x01no-such-file\x00octet\x00", server).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await;
        let (len, _) = answer.expect("the server answers while the page reads nothing").unwrap();
        assert_eq!(&buf[..4], b"\x00\x05\x00\x01", "ERROR 1, got {:?}", &buf[..len]);
    }
}

fn cut_notes(events: &[PacketTrace]) -> Vec<String> {
    events.iter().filter(|e| e.opcode == "CUT").map(|e| e.note.clone().unwrap_or_default()).collect()
}

/// Everything a run's trace queue holds once its run is finished (the queue then ends).
async fn drain(trace: &mut CompanionTrace) -> Vec<PacketTrace> {
    let mut events = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), trace.recv()).await {
        events.push(event);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_whose_pages_do_not_read_hold_up_neither_the_server_nor_each_other_and_are_told_of_the_cut_once() {
    let server = traced_server().await;
    // Run 1's page reads nothing while its whole trace comes: 2,000 packets and the cap's notice.
    let mut run_1 = server.relay.follow(1);
    missing_file_requests(server.addr, MAX_TRACE_EVENTS).await;
    // Run 1 ends (every packet traced so far is taken in) with its trace unread; run 2 comes
    // while run 1's trace fills what the relay holds: it is cut at once, and told so once.
    server.relay.finish(1).await;
    let mut run_2 = server.relay.follow(2);
    missing_file_requests(server.addr, 100).await;

    let started = Instant::now();
    server.relay.finish(2).await;
    server.relay.finish(1).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "finishing took {:?}", started.elapsed());

    let of_2 = drain(&mut run_2).await;
    let notes = cut_notes(&of_2);
    assert_eq!(of_2.len(), 1, "{of_2:?}");
    assert!(notes[0].contains("the page did not read them in time") && notes[0].contains("200 more were not drawn"), "{}", notes[0]);

    // Run 1 lost nothing: its whole trace, the cap's notice last.
    let of_1 = drain(&mut run_1).await;
    assert_eq!(of_1.len(), MAX_PENDING);
    assert_eq!(cut_notes(&of_1), [format!("trace cut after {MAX_TRACE_EVENTS} packets; the transfer goes on")]);
    assert_eq!(of_1.last().map(|e| e.opcode.as_str()), Some("CUT"));

    // Taken packets free the relay's room: a new run is drawn again, and finished runs get nothing.
    let mut run_3 = server.relay.follow(3);
    missing_file_requests(server.addr, 10).await;
    server.relay.finish(3).await;
    assert_eq!(drain(&mut run_3).await.len(), 20);
    assert!(drain(&mut run_1).await.is_empty() && drain(&mut run_2).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_packet_traced_before_a_run_finishes_reaches_its_page_in_order() {
    let server = traced_server().await;
    let mut run = server.relay.follow(7);
    missing_file_requests(server.addr, 10).await;
    server.relay.finish(7).await;
    let shape: Vec<String> = drain(&mut run).await.iter().map(|e| format!("{} {}", e.from, e.opcode)).collect();
    let want: Vec<String> = (0..10).flat_map(|_| ["client RRQ".to_string(), "server ERROR".to_string()]).collect();
    assert_eq!(shape, want);
}
