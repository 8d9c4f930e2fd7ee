//! A program that floods its companion TFTP server while its page reads nothing: the server's
//! memory stays within a bound, and the page learns the run's packets were cut once it reads
//! again (the capture's cut: it is the one record of the companion's packets). A
//! test binary of its own, so the memory measured (this process hosts the server) is its own.

mod support;

use shared::wire::{Recording, ServerMsg};
use std::time::Duration;
use support::Client;

/// What the flood may cost the server, all queues included (issue 14: 32 MB per session).
const BOUND: u64 = 32 << 20;

/// For 5 s, requests as fast as the program can send them: 65 KB ones (far past RFC 2347's 512
/// bytes) and, one in ten, a valid read request for a missing file with a 480-byte name.
const FLOOD: &str = r#"
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
big = b"\0\1" + b"x" * 65000 + b"\0octet\0"
valid = b"\0\1" + b"y" * 480 + b"\0octet\0"
sent, end = 0, time.time() + 5
while time.time() < end:
    s.sendto(valid if sent % 10 == 0 else big, ("127.0.0.1", 6969))
    sent += 1
print("sent", sent > 1000)
"#;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_large_requests_behind_a_page_that_does_not_read_costs_the_server_under_32_mb() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    // The sandbox and its companion start, and a run completes, before measuring.
    assert_eq!(client.run(1, "print(1)").await.stdout, "1\n");
    let before = resident_bytes();

    client.start(2, &[("main.py", FLOOD)], "main.py", false).await;
    // The page reads nothing for 8 s: the flood's 5 s, and its end.
    let mut peak = before;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(resident_bytes());
    }
    let grew = peak.saturating_sub(before);
    assert!(grew < BOUND, "the server grew by {} MB while the page did not read", grew >> 20);

    // Reading again, the page gets the run's first packets (the companion's answers among
    // them, each once), the cut and the Exit.
    let out = client.collect(2).await;
    assert_eq!(out.stdout, "sent True\n", "{}", out.stderr);
    let packets: Vec<_> = out.events.iter().filter_map(|m| if let ServerMsg::Packet { packet, .. } = m { Some(packet) } else { None }).collect();
    assert!(packets.len() <= classbook::sandbox::capture::MAX_PACKETS, "{} packets", packets.len());
    let flooder = packets.iter().find(|p| p.dport == 6969).map(|p| p.sport).expect("the flood's requests are captured");
    let answers = packets.iter().filter(|p| p.dport == flooder && p.tftp.as_ref().is_some_and(|t| t.op == "ERROR")).count();
    assert!(answers > 0, "the companion's ERROR answers are captured");
    let cuts: Vec<(u32, u64)> = out
        .events
        .iter()
        .filter_map(|m| match m {
            ServerMsg::RecordingCut { what: Recording::Packets, shown, not_shown, .. } => Some((*shown, *not_shown)),
            _ => None,
        })
        .collect();
    assert!(!cuts.is_empty() && cuts.len() <= 2, "{cuts:?}");
    assert_eq!(cuts[0].0 as usize, packets.len(), "{cuts:?}");
    eprintln!("flood: resident memory grew by {:.1} MB; {} packets passed on, then cut", grew as f64 / (1 << 20) as f64, packets.len());
}
