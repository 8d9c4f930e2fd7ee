//! The packet diagram in headless Chromium (LAN origin): a run past the recording caps shows the
//! cut notice, draws a bounded window of rows, and "draw more" draws more; a server exercise's
//! Check draws its run's packets, whose traffic property the server judged.

use classbook_e2e::{require_built_page, scratch_path, serve, Browser, Origin};

/// 12,000 datagrams (each a packet and a recorded `sendto`): past both caps of 10,000.
const FLOOD: &str = "import socket, time\n\
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.bind(('127.0.0.1', 5006))\n\
for i in range(12000):\n    s.sendto(b'x', ('127.0.0.1', 5006))\n    if i % 200 == 199:\n        time.sleep(0.01)\n\
print('sent')\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_the_caps_shows_the_cut_notice_and_a_bounded_diagram() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    b.open(&server, &scratch_path("server", FLOOD)).await;
    assert_eq!(b.run_cell("scratch", 90).await, "sent\n");
    let cut = "document.querySelector('[data-cell-id=scratch] details.packets [data-kind=cut]')";
    b.wait_for(cut, 20, "the cut notice").await;
    let text = b.eval(&format!("{cut}.textContent")).await;
    let text = text.as_str().unwrap();
    // The page speaks Chinese by default: "cut after {shown} packets: {n} more not shown".
    assert!(text.contains("记录在 ") && text.contains(" 个报文后截断"), "{text}");
    let shown: u64 = text.split("记录在 ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((1000..=10_000).contains(&shown), "at most the cap is kept: {text}");

    let rows = "document.querySelectorAll('[data-cell-id=scratch] [data-role=packets] [data-kind=segment], [data-cell-id=scratch] [data-role=packets] [data-kind=call]').length";
    let drawn = b.eval(rows).await.as_u64().unwrap();
    assert!(drawn <= 200, "a bounded window is drawn, not every event: {drawn}");
    let more = "document.querySelector('[data-cell-id=scratch] [data-action=more-packets]')";
    let hidden: u64 = b.eval(&format!("{more}.dataset.hidden")).await.as_str().unwrap().parse().unwrap();
    assert!(drawn + hidden >= shown, "every packet kept is drawn or counted: {drawn} + {hidden} < {shown}");
    assert!(b.eval("document.querySelector('[data-cell-id=scratch] [data-role=packets] [data-kind=folded]') !== null").await.as_bool().unwrap());
    b.click("[data-cell-id=scratch] [data-action=more-packets]").await;
    b.wait_for(&format!("{rows} > {drawn}"), 10, "more rows").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_check_draws_its_packets_and_the_traffic_verdict_judged_from_them() {
    require_built_page();
    let server = serve(None).await.seen_from(Origin::Lan);
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/tcp-framing").await;
    let cell = "[data-cell-id=one-send]";
    b.wait_for(&format!("document.querySelector('{cell} [data-action=check]')"), 30, "the exercise").await;
    // The header, a pause, then the body: the Python checks pass, the traffic's does not.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wrong = std::fs::read_to_string(root.join("tests/exercises/tcp-framing/one-send.wrong2.py")).unwrap();
    b.set_code("one-send", &wrong).await;
    b.click(&format!("{cell} [data-action=check]")).await;
    let verdict = format!("document.querySelector('{cell} [data-role=checks]')");
    b.wait_for(&verdict, 60, "the verdict").await;
    assert_eq!(b.eval(&format!("{verdict}.dataset.passed")).await, "false");
    let lines = b.eval(&format!("Array.from({verdict}.querySelectorAll('li')).map(l => l.dataset.status + ' ' + l.textContent)")).await;
    let lines: Vec<&str> = lines.as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[..2].iter().all(|l| l.starts_with("pass ")), "{lines:?}");
    // The page speaks Chinese by default, and so does the server's verdict.
    assert!(lines[2].starts_with("fail ") && lines[2].contains("只有 4 字节的长度头"), "{lines:?}");
    // What the verdict was judged from is drawn under the Check: each header a 4-byte segment.
    let headers = format!("document.querySelectorAll('{cell} [data-role=packets] [data-kind=segment][data-dst=\"6160\"][data-len=\"4\"]').length");
    b.wait_for(&format!("{headers} >= 4"), 20, "the lone headers in the diagram").await;
    b.close().await;
}
