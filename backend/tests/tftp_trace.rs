//! The companion's packet trace on its way to a page (`sandbox::tftp::trace::Relay`), fed by a
//! real TFTP server on loopback: bounded whatever the page does, cut once, never waited for.

use classbook::sandbox::tftp::trace::{Relay, MAX_PENDING, MAX_TRACE_EVENTS, TRACE_CHANNEL};
use classbook_tftp::{Server, ServerConfig, TraceSink};
use shared::wire::ServerMsg;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

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

fn cut_notes(messages: &[ServerMsg]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Trace { event, .. } if event.opcode == "CUT" => Some(event.note.clone().unwrap_or_default()),
            _ => None,
        })
        .collect()
}

fn drain(page: &mut mpsc::Receiver<ServerMsg>) -> Vec<ServerMsg> {
    std::iter::from_fn(|| page.try_recv().ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_does_not_read_holds_up_neither_the_server_nor_the_run_and_is_told_of_the_cut_once() {
    let server = traced_server().await;
    // A page whose queue holds 4 messages and which never reads.
    let (out, mut page) = mpsc::channel::<ServerMsg>(4);
    server.relay.follow(1, out.clone());
    missing_file_requests(server.addr, MAX_TRACE_EVENTS).await;
    // Run 1's trace is held for the page: 2,000 packets and the cap's notice, no more.
    server.relay.follow(2, out.clone());
    missing_file_requests(server.addr, 100).await;

    let started = Instant::now();
    let rest_of_2 = server.relay.finish(2).await;
    let rest_of_1 = server.relay.finish(1).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "finishing took {:?}", started.elapsed());

    // Run 2 came while run 1's trace filled the queue: cut at once, and told so once.
    assert!(rest_of_2.len() <= 5, "{} messages", rest_of_2.len());
    let notes = cut_notes(&rest_of_2);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("the page did not read them in time") && notes[0].contains("more were not drawn"), "{}", notes[0]);
    assert!(matches!(rest_of_2.last(), Some(ServerMsg::Trace { event, .. }) if event.opcode == "CUT"));

    // Run 1 lost nothing: what the page got plus what is handed back is its whole trace.
    let sent = drain(&mut page);
    assert_eq!(sent.len(), 4);
    let all_of_1: Vec<ServerMsg> = sent.into_iter().chain(rest_of_1).collect();
    assert_eq!(all_of_1.len(), MAX_PENDING);
    assert!(all_of_1.iter().all(|m| matches!(m, ServerMsg::Trace { run_id: 1, .. })));
    assert_eq!(cut_notes(&all_of_1), [format!("trace cut after {MAX_TRACE_EVENTS} packets; the transfer goes on")]);

    // Finished runs are forgotten: later packets go nowhere.
    missing_file_requests(server.addr, 10).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(drain(&mut page).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_packet_traced_before_a_run_finishes_reaches_its_page_in_order() {
    let server = traced_server().await;
    let (out, mut page) = mpsc::channel::<ServerMsg>(256);
    server.relay.follow(7, out);
    missing_file_requests(server.addr, 10).await;
    let rest = server.relay.finish(7).await;
    let all: Vec<ServerMsg> = drain(&mut page).into_iter().chain(rest).collect();
    let shape: Vec<(u32, String)> = all
        .iter()
        .map(|m| match m {
            ServerMsg::Trace { run_id, event } => (*run_id, format!("{} {}", event.from, event.opcode)),
            other => panic!("not a trace: {other:?}"),
        })
        .collect();
    let want: Vec<(u32, String)> = (0..10).flat_map(|_| [(7, "client RRQ".to_string()), (7, "server ERROR".to_string())]).collect();
    assert_eq!(shape, want);
}
