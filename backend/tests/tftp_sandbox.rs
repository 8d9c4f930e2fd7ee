//! TFTP in the sandbox, through the real WebSocket and real sandboxes: the companion server on
//! each sandbox's own 127.0.0.1:6969 and its packets as the run's capture shows them, and the
//! checking of a student's TFTP server exercise by the built-in client.

mod support;

use shared::wire::{ClientMsg, ServerMsg};
use std::path::{Path, PathBuf};
use support::{Client, Outcome};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A minimal RFC 1350 client in Python: downloads or uploads one file from 127.0.0.1:6969.
const PY_CLIENT: &str = r#"
import socket, struct, sys
def rrq(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(struct.pack("!H", 1) + name.encode() + b"\0octet\0", ("127.0.0.1", 6969))
    data = b""
    while True:
        pkt, peer = s.recvfrom(600)
        op, n = struct.unpack("!HH", pkt[:4])
        if op == 5:
            return "ERROR %d %s" % (n, pkt[4:-1].decode())
        data += pkt[4:]
        s.sendto(struct.pack("!HH", 4, n), peer)
        if len(pkt) - 4 < 512:
            return data
def wrq(name, content):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(struct.pack("!H", 2) + name.encode() + b"\0octet\0", ("127.0.0.1", 6969))
    pkt, peer = s.recvfrom(600)
    if struct.unpack("!H", pkt[:2])[0] == 5:
        return ("ERROR %d" % struct.unpack("!H", pkt[2:4])[0], pkt[4:-1].decode())
    block = 1
    while True:
        chunk = content[(block - 1) * 512: block * 512]
        s.sendto(struct.pack("!HH", 3, block) + chunk, peer)
        s.recvfrom(600)
        if len(chunk) < 512:
            return "stored"
        block += 1
"#;

/// One datagram of a run's capture that reads as TFTP (`shared::capture::tftp`).
#[derive(Debug)]
struct Datagram {
    /// "client" or "server".
    from: &'static str,
    /// The transfer's client port (where its request came from): it names the transfer.
    client: u16,
    op: String,
    block: Option<u16>,
    label: String,
}

/// The run's TFTP datagrams as the capture saw them, in the order seen: a port that sent a
/// request is a client's; every other datagram is the server's answer to the port it goes to.
fn tftp_packets(out: &Outcome) -> Vec<Datagram> {
    let tftp: Vec<_> = out
        .events
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Packet { packet, .. } => packet.tftp.clone().map(|t| (packet.sport, packet.dport, t)),
            _ => None,
        })
        .collect();
    let clients: std::collections::HashSet<u16> = tftp.iter().filter(|(_, _, t)| t.op == "RRQ" || t.op == "WRQ").map(|p| p.0).collect();
    tftp.into_iter()
        .map(|(sport, dport, t)| {
            let (from, client) = if clients.contains(&sport) { ("client", sport) } else { ("server", dport) };
            Datagram { from, client, op: t.op, block: t.block, label: t.label }
        })
        .collect()
}

/// The datagrams of each transfer together, transfers in the order they began.
fn by_transfer(mut packets: Vec<Datagram>) -> Vec<Datagram> {
    let mut order: Vec<u16> = Vec::new();
    for p in &packets {
        if !order.contains(&p.client) {
            order.push(p.client);
        }
    }
    packets.sort_by_key(|p| order.iter().position(|c| *c == p.client));
    packets
}

#[tokio::test(flavor = "multi_thread")]
async fn the_companion_serves_course_files_in_the_sandbox_and_its_packets_are_the_runs() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = format!("{PY_CLIENT}\nprint(rrq('hello.txt').decode(), end='')\nprint(rrq('nope.txt'))\n");
    let out = client.run(1, &code).await;
    let want = std::fs::read_to_string(root().join("course/tftp-files/hello.txt")).unwrap();
    assert_eq!(out.stdout, format!("{want}ERROR 1 File not found\n"), "{}", out.stderr);
    // Each companion packet is the capture's, once; compare each transfer's own sequence.
    let trace = by_transfer(tftp_packets(&out));
    let shape: Vec<(&str, &str, Option<u16>)> = trace.iter().map(|t| (t.from, t.op.as_str(), t.block)).collect();
    assert_eq!(
        shape,
        [("client", "RRQ", None), ("server", "DATA", Some(1)), ("client", "ACK", Some(1)), ("client", "RRQ", None), ("server", "ERROR", None)],
        "{trace:#?}"
    );
    assert_eq!(trace[0].label, "RRQ hello.txt octet");
    assert!(trace[4].label.starts_with("ERROR 1 File not found"), "{trace:#?}");
    // A later run's packets are drawn under that run only.
    let out2 = client.run(2, &format!("{PY_CLIENT}\nprint(len(rrq('blocks.bin')))\n")).await;
    assert_eq!(out2.stdout, "1024\n");
    let trace2 = tftp_packets(&out2);
    assert_eq!(trace2.iter().filter(|t| t.op == "DATA").count(), 3, "1024 bytes: DATA 1, 2 and an empty 3: {trace2:#?}");
    assert!(trace2.iter().all(|t| t.op != "ERROR" && !t.label.contains("hello.txt")), "{trace2:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sandboxes_each_have_their_own_companion_and_uploads() {
    let server = support::start().await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    let program = |who: &str| {
        format!("{PY_CLIENT}\nprint(wrq('mine.txt', b'{who}' * 300))\nprint(rrq('mine.txt')[:6], len(rrq('mine.txt')))\nprint(wrq('mine.txt', b'again'))\n")
    };
    let (out_a, out_b) = (a.run(1, &program("from-a")).await, b.run(1, &program("from-b")).await);
    assert_eq!(out_a.stdout, "stored\nb'from-a' 1800\n('ERROR 6', 'File already exists')\n", "{}", out_a.stderr);
    assert_eq!(out_b.stdout, "stored\nb'from-b' 1800\n('ERROR 6', 'File already exists')\n", "{}", out_b.stderr);
}

/// Checks `code` as the lesson's TFTP server exercise; returns each case's (name, passed).
async fn check(client: &mut Client, run_id: u32, code: &str) -> (Vec<(String, bool, String)>, Outcome) {
    let msg = ClientMsg::CheckTftp { run_id, lesson: "tftp".into(), cell: "tftp-serve".into(), code: code.into() };
    client.send(&msg).await;
    let out = client.collect(run_id).await;
    let cases = out
        .events
        .iter()
        .filter_map(|m| match m {
            ServerMsg::TftpCheck { case, passed, message, .. } => Some((case.clone(), *passed, message.clone())),
            _ => None,
        })
        .collect();
    (cases, out)
}

fn verdicts(cases: &[(String, bool, String)]) -> Vec<(&str, bool)> {
    cases.iter().map(|(c, p, _)| (c.as_str(), *p)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tftp_server_exercise_passes_its_solution_and_rejects_wrong_servers() {
    let course = classbook::course::Course::load(None).unwrap();
    let cell = course.lesson("tftp").unwrap().cells().find(|c| c.id == "tftp-serve").cloned().expect("exercise cell");
    let solution = cell.exercise.as_ref().and_then(|e| e.solution.clone()).expect("solution");
    let server = support::start().await;
    let mut client = Client::connect(&server).await;

    let (cases, out) = check(&mut client, 1, &solution).await;
    assert_eq!(verdicts(&cases), [("download", true), ("upload", true), ("missing_file", true), ("lost_ack", true)], "{cases:?}\n{}", out.combined);
    // The check's packets are the check run's capture: in the transfer whose ACK 3 the checker
    // held back, the server sends DATA 3 twice, and the one ACK 3 follows the retransmission.
    let trace = tftp_packets(&out);
    let is_data3 = |t: &Datagram| t.from == "server" && t.op == "DATA" && t.block == Some(3);
    let lossy = trace.iter().filter(|t| is_data3(t)).map(|t| t.client).find(|c| trace.iter().filter(|t| t.client == *c && is_data3(t)).count() == 2);
    let lossy = lossy.unwrap_or_else(|| panic!("DATA 3 and its retransmission are captured: {trace:#?}"));
    let transfer: Vec<&Datagram> = trace.iter().filter(|t| t.client == lossy).collect();
    let second = transfer.iter().rposition(|t| is_data3(t)).unwrap();
    let ack3: Vec<usize> = transfer.iter().enumerate().filter(|(_, t)| t.from == "client" && t.op == "ACK" && t.block == Some(3)).map(|(i, _)| i).collect();
    assert!(ack3.len() == 1 && ack3[0] > second, "ACK 3 only after the retransmission: {transfer:#?}");

    let dir = root().join("tests/exercises/tftp");
    let wrong = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let (cases, out) = check(&mut client, 2, &wrong("tftp-serve.wrong.py")).await;
    assert_eq!(verdicts(&cases), [("download", true), ("upload", true), ("missing_file", true), ("lost_ack", false)], "never retransmits\n{}", out.combined);
    assert!(cases[3].2.contains("did not retransmit"), "{}", cases[3].2);
    let (cases, out) = check(&mut client, 3, &wrong("tftp-serve.wrong2.py")).await;
    assert_eq!(verdicts(&cases), [("download", true), ("upload", true), ("missing_file", false), ("lost_ack", true)], "answers a missing file wrongly\n{}", out.combined);
    let (cases, _) = check(&mut client, 4, "import time\ntime.sleep(60)\n").await;
    assert!(cases.len() == 4 && cases.iter().all(|c| !c.1 && c.2.contains("did not bind")), "{cases:?}");
    let (cases, _) = check(&mut client, 5, "raise SystemExit('端口被占用')\n").await;
    assert!(cases.len() == 4 && cases.iter().all(|c| !c.1 && c.2.ends_with("before it bound a UDP socket: 端口被占用")), "{cases:?}");
    // The lesson's unfinished starter code binds but never answers: the check says so after
    // the first request's retries instead of waiting out every case, and what the server
    // printed reaches the page meanwhile.
    let started = std::time::Instant::now();
    let (cases, out) = check(&mut client, 6, &cell.code).await;
    let took = started.elapsed();
    println!("tftp check of the starter code: {} ms", took.as_millis());
    assert!(took < std::time::Duration::from_secs(12), "took {took:?}");
    assert!(cases.len() == 4 && cases.iter().all(|c| !c.1), "{cases:?}");
    assert!(cases[0].2.contains("did not answer the read request"), "{cases:?}");
    assert!(cases[1..].iter().all(|c| c.2.starts_with("not run")), "{cases:?}");
    assert!(out.stdout.contains("请求 1 "), "the server's own output: {}", out.combined);

    // The English lesson's solution passes too, and its starter code is judged the same way,
    // with the server's own (English) output reaching the page.
    let en = course.lesson_in("tftp", "en").filter(|l| l.lang == "en").expect("an English tftp lesson");
    let en_cell = en.cells().find(|c| c.id == "tftp-serve").cloned().expect("English exercise cell");
    let en_solution = en_cell.exercise.as_ref().and_then(|e| e.solution.clone()).expect("English solution");
    let (cases, out) = check(&mut client, 7, &en_solution).await;
    assert_eq!(verdicts(&cases), [("download", true), ("upload", true), ("missing_file", true), ("lost_ack", true)], "{cases:?}\n{}", out.combined);
    let (cases, out) = check(&mut client, 8, &en_cell.code).await;
    assert!(cases.len() == 4 && cases.iter().all(|c| !c.1), "{cases:?}");
    assert!(out.stdout.contains("request 1 "), "the English server's own output: {}", out.combined);
}
