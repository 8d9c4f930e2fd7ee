//! TFTP in the sandbox, through the real WebSocket and real sandboxes: the companion server on
//! each sandbox's own 127.0.0.1:6969 and its packet trace, and the checking of a student's
//! TFTP server exercise by the built-in client.

mod support;

use shared::trace::PacketTrace;
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

fn traces(out: &Outcome) -> Vec<PacketTrace> {
    out.events
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Trace { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_companion_serves_course_files_in_the_sandbox_and_traces_the_run() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = format!("{PY_CLIENT}\nprint(rrq('hello.txt').decode(), end='')\nprint(rrq('nope.txt'))\n");
    let out = client.run(1, &code).await;
    let want = std::fs::read_to_string(root().join("course/tftp-files/hello.txt")).unwrap();
    assert_eq!(out.stdout, format!("{want}ERROR 1 File not found\n"), "{}", out.stderr);
    // Packets of different transfers may interleave: compare each transfer's own sequence.
    let mut trace = traces(&out);
    trace.sort_by_key(|t| t.transfer);
    let shape: Vec<(&str, &str, Option<u16>)> = trace.iter().map(|t| (t.from.as_str(), t.opcode.as_str(), t.block)).collect();
    assert_eq!(
        shape,
        [("client", "RRQ", None), ("server", "DATA", Some(1)), ("client", "ACK", Some(1)), ("client", "RRQ", None), ("server", "ERROR", None)],
        "{trace:#?}"
    );
    assert_eq!(trace[0].filename.as_deref(), Some("hello.txt"));
    assert_eq!(trace[4].error.as_ref().map(|e| e.0), Some(1));
    // The trace ends with the run: a later run's packets are drawn under that run only.
    let out2 = client.run(2, &format!("{PY_CLIENT}\nprint(len(rrq('blocks.bin')))\n")).await;
    assert_eq!(out2.stdout, "1024\n");
    assert_eq!(traces(&out2).iter().filter(|t| t.opcode == "DATA").count(), 3, "1024 bytes: DATA 1, 2 and an empty 3");
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
    let trace = traces(&out);
    let lost = trace.iter().find(|t| t.note.as_deref().is_some_and(|n| n.contains("deliberately not sent"))).expect("the lost ACK is traced");
    let data3 = trace.iter().filter(|t| t.transfer == lost.transfer && t.from == "server" && t.opcode == "DATA" && t.block == Some(3));
    assert_eq!(data3.count(), 2, "DATA 3 and its retransmission are traced: {trace:#?}");

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
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_trace_is_cut_and_the_cut_announced() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    // blksize 8: each download of the 1024-byte file is about 260 packets; 10 of them pass the cap.
    let code = r#"
import socket, struct
total = 0
for _ in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(b"\0\1blocks.bin\0octet\0blksize\0" + b"8\0", ("127.0.0.1", 6969))
    while True:
        pkt, peer = s.recvfrom(100)
        op, n = struct.unpack("!HH", pkt[:4])
        if op == 6:
            s.sendto(struct.pack("!HH", 4, 0), peer); continue
        total += len(pkt) - 4
        s.sendto(struct.pack("!HH", 4, n), peer)
        if len(pkt) - 4 < 8:
            break
print(total)
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "10240\n", "{}", out.stderr);
    let trace = traces(&out);
    assert_eq!(trace.len(), classbook::sandbox::tftp::trace::MAX_TRACE_EVENTS + 1);
    let last = trace.last().unwrap();
    assert_eq!(last.opcode, "CUT");
    assert!(last.note.as_deref().unwrap().contains("trace cut after 2000 packets"), "{last:?}");
}
