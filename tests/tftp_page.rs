//! The TFTP lesson in headless Chromium against a real server: a cell that talks to the
//! sandbox's companion server shows its packets in the packet diagram with their TFTP labels,
//! and the TFTP server exercise's Check shows the four cases of the built-in client.

use classbook_e2e::{on_both_origins, require_built_page, serve, Browser, Origin};

on_both_origins!(the_companions_packets_are_drawn_and_the_tftp_exercise_is_checked_from_the_page);
async fn the_companions_packets_are_drawn_and_the_tftp_exercise_is_checked_from_the_page(origin: Origin) {
    require_built_page();
    let server = serve(None).await.seen_from(origin);
    let b = Browser::start().await;
    b.open(&server, "/#/lesson/tftp").await;
    b.wait_for("document.querySelector('[data-cell-id=companion-get] [data-action=run]')", 30, "the companion cell").await;
    let out = b.run_cell("companion-get", 60).await;
    assert!(out.contains("ERROR 1: File not found"), "{out}");
    // The companion's packets are drawn in the one packet diagram, each TFTP datagram labelled
    // with what it says; the request and the transfer are conversations of their own.
    let diagram = "document.querySelector('[data-cell-id=companion-get] [data-role=packets]')";
    b.wait_for(&format!("{diagram} && {diagram}.querySelectorAll('[data-kind=segment][data-opcode=ERROR]').length > 0"), 10, "the diagram with its ERROR").await;
    let opcodes = b.eval(&format!("Array.from({diagram}.querySelectorAll('[data-kind=segment][data-opcode]')).map(e => e.dataset.opcode).join(' ')")).await;
    let opcodes = opcodes.as_str().unwrap();
    assert!(opcodes.starts_with("RRQ DATA ACK RRQ DATA ACK DATA ACK RRQ OACK ACK DATA ACK RRQ ERROR"), "{opcodes}");
    let labels = b.eval(&format!("Array.from({diagram}.querySelectorAll('[data-kind=segment][data-opcode] text')).map(e => e.textContent).join('|')")).await;
    let labels: Vec<&str> = labels.as_str().unwrap().split('|').collect();
    for label in ["RRQ hello.txt octet", "DATA 1 (512 B)", "DATA 2 (260 B)", "ACK 2", "RRQ switch.cfg octet blksize=1024 tsize=0", "OACK blksize=1024 tsize=772", "ACK 0", "DATA 1 (772 B)", "ERROR 1 File not found"] {
        assert!(labels.contains(&label), "{label} in {labels:?}");
    }
    let requests = b.eval(&format!("Array.from({diagram}.querySelectorAll('[data-kind=segment][data-opcode=RRQ]')).map(e => e.dataset.dst).join(' ')")).await;
    assert_eq!(requests, "6969 6969 6969 6969", "every request goes to the companion's port");
    assert!(b.eval(&format!("{diagram}.textContent.includes('UDP · TFTP')")).await.as_bool().unwrap());
    assert_eq!(b.eval("document.querySelectorAll('[data-cell-id=companion-get] [data-role=packets]').length").await, 1, "one diagram");

    // The exercise: the lesson's own solution passes the four cases, drawn with their packets.
    let solution = b.eval("document.querySelector('[data-cell-id=tftp-serve] details.solution pre').textContent").await;
    b.set_code("tftp-serve", solution.as_str().unwrap()).await;
    b.click("[data-cell-id=tftp-serve] [data-action=check]").await;
    let verdict = "document.querySelector('[data-cell-id=tftp-serve] [data-role=checks]')";
    b.wait_for(verdict, 60, "the verdict").await;
    assert_eq!(b.eval(&format!("{verdict}.dataset.passed")).await, "true", "{}", b.eval(&format!("{verdict}.textContent")).await);
    assert_eq!(b.eval(&format!("{verdict}.querySelectorAll('li.pass').length")).await, 4);
    // The checker's packets and the server's, from the same loopback, in the same diagram: the
    // DATA 3 the server sent again after the checker "lost" its ACK is marked.
    let again = "Array.from(document.querySelectorAll('[data-cell-id=tftp-serve] [data-role=packets] [data-kind=segment][data-again]')).map(e => e.dataset.opcode + ' ' + e.querySelector('text').textContent).join('|')";
    let again = b.eval(again).await;
    assert!(again.as_str().unwrap().contains("DATA ↻ DATA 3 ("), "the retransmitted DATA 3 is marked: {again}");

    // A server that answers a missing file with an empty one fails that case: the checker's
    // words (the server's, in the page's language too), then what to look at, in the page's
    // language (Chinese by default).
    let wrong = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/exercises/tftp/tftp-serve.wrong2.py")).unwrap();
    b.set_code("tftp-serve", &wrong).await;
    b.click("[data-cell-id=tftp-serve] [data-action=check]").await;
    b.wait_for(&format!("{verdict} && {verdict}.dataset.passed === 'false'"), 60, "the failing verdict").await;
    let failed = b.eval(&format!("Array.from({verdict}.querySelectorAll('li.fail')).map(li => li.textContent).join('\\n')")).await;
    let failed = failed.as_str().unwrap();
    assert!(failed.contains("请求不存在的文件时回 ERROR 1"), "{failed}");
    assert!(failed.contains("应为 ERROR 1（文件不存在）") && failed.contains("错误码 1"), "the checker's words and the hint: {failed}");
    assert_eq!(b.eval(&format!("{verdict}.querySelectorAll('li.fail').length")).await, 1, "only the missing-file case fails");
    b.close().await;
}
