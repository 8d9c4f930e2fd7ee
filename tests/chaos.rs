//! A class survives its worst students: three students do ordinary work while, at the same
//! time, hostile students flood pages that read nothing, stop their sandbox's helper and fork
//! CPU burners, queue programs and leave, send too many files and made-up results, and
//! strangers on the LAN guess the access code, open sessions that never join and hold idle
//! connections. The ordinary work must all succeed, nothing hostile may outlive its session,
//! the class must stay joinable, and the server's memory must stay within its bound.

use classbook_e2e::chaos::{self, machine};
use classbook_e2e::serve_class;
use std::time::{Duration, Instant};

const CODE: &str = "chaos-2026";
/// The server's growth that one session may cause at most (README, "Nothing waits on a page").
const PER_SESSION_BYTES: u64 = 32 << 20;

const ECHO: &str = "import socket, threading\n\
srv = socket.create_server(('127.0.0.1', 0))\n\
def serve():\n    c, _ = srv.accept()\n    c.sendall(c.recv(100).upper())\n    c.close()\n\
t = threading.Thread(target=serve)\nt.start()\n\
s = socket.create_connection(srv.getsockname())\ns.sendall(b'hello')\nprint(s.recv(100).decode())\nt.join()\n";

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok());
    kb.unwrap_or(0) * 1024
}

/// An ordinary student's minute: `n` × print(1) (latencies in ms) and the echo program.
async fn ordinary_work(ws: &mut chaos::Ws, first_id: u32, n: u32) -> Result<Vec<f64>, String> {
    let mut took = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let out = chaos::run(ws, first_id + i, "print(1)").await?;
        took.push(t.elapsed().as_secs_f64() * 1e3);
        if out != "1\n" {
            return Err(format!("print(1) printed {out:?}"));
        }
    }
    let echoed = chaos::run(ws, first_id + n, ECHO).await?;
    if echoed != "HELLO\n" {
        return Err(format!("the echo program printed {echoed:?}"));
    }
    Ok(took)
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_students_keep_working_while_hostile_ones_and_strangers_do_everything_at_once() {
    let server = serve_class(None, |app| {
        app.class.access_code = Some(CODE.into());
        app.grace = Duration::from_secs(2);
    })
    .await;
    let to = server.addr;
    // Three students, each on a machine of their own, join and work in a quiet class.
    let mut students = Vec::new();
    for n in 1..=3u8 {
        let token = format!("{:032x}", 0x600d_0000u64 + n as u64);
        assert_eq!(chaos::join_from(machine(n), to, &token, &format!("student {n}"), Some(CODE)).await, 200);
        students.push(chaos::connect_from(machine(n), to, &token).await.expect("a student's session"));
    }
    let mut quiet = Vec::new();
    for ws in &mut students {
        quiet.extend(ordinary_work(ws, 1, 8).await.expect("quiet work"));
    }
    let rss_before = rss_bytes();

    // Everything at once.
    let (burn, leave) = (chaos::tag("burn", 1), chaos::tag("leave", 1));
    let tokens: Vec<String> = (0..5u64).map(|n| format!("{:032x}", 0xbad0_0000u64 + n)).collect();
    let hostile = tokio::spawn({
        let (burn, leave) = (burn.clone(), leave.clone());
        async move {
            tokio::join!(
                chaos::flood_without_reading(to, machine(66), &tokens[1], Some(CODE), Duration::from_secs(25)),
                chaos::stop_helper_and_burn(to, machine(67), &tokens[2], Some(CODE), &burn),
                chaos::queue_and_leave(to, machine(68), &tokens[3], Some(CODE), &leave, 12),
                chaos::bad_input(to, machine(69), &tokens[4], Some(CODE), 3000),
                chaos::guess_codes(to, machine(70), 60),
                chaos::anonymous_sessions(to, machine(71), 60),
                chaos::idle_connections(to, machine(72), 300, Duration::from_secs(15)),
            )
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut busy = Vec::new();
    for (i, ws) in students.iter_mut().enumerate() {
        let took = ordinary_work(ws, 100, 8).await.unwrap_or_else(|e| panic!("student {} could not work: {e}", i + 1));
        busy.extend(took);
    }
    let rss_during = rss_bytes();
    let (_, burned, _, bad, throttled, anonymous, idle) = hostile.await.expect("the hostile moves");
    burned.expect("Stop ended every burner although the helper was stopped");
    assert_eq!(bad.expect("bad input got clear errors"), 0, "made-up exercise results were accepted");
    assert!(throttled > 0, "60 wrong codes from one machine were never throttled");
    assert_eq!(anonymous, 0, "with an access code, a page that never joined gets no session");
    assert_eq!(idle, 0, "the server kept idle connections that never sent a whole request head");

    // A student who arrives now joins and works; nothing hostile is left running.
    let newcomer = format!("{:032x}", 0x0e11_0000u64);
    assert_eq!(chaos::join_from(machine(9), to, &newcomer, "late", Some(CODE)).await, 200, "the class stays joinable");
    let mut late = chaos::connect_from(machine(9), to, &newcomer).await.expect("the newcomer's session");
    assert_eq!(chaos::run(&mut late, 1, "print(1)").await.as_deref(), Ok("1\n"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while chaos::alive_named(&burn) + chaos::alive_named(&leave) > 0 {
        assert!(Instant::now() < deadline, "hostile processes outlived their sessions");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    quiet.sort_by(f64::total_cmp);
    busy.sort_by(f64::total_cmp);
    let (q95, b95) = (chaos::percentile(&quiet, 0.95), chaos::percentile(&busy, 0.95));
    println!(
        "print(1) quiet p50 {:.1} ms p95 {q95:.1} ms; during the chaos p50 {:.1} ms p95 {b95:.1} ms ({:.2}x)",
        chaos::percentile(&quiet, 0.5),
        chaos::percentile(&busy, 0.5),
        b95 / q95
    );
    let grew = rss_during.saturating_sub(rss_before);
    println!("this process (server and clients) grew by {:.1} MiB during the chaos", grew as f64 / 1048576.0);
    // Five hostile students' sessions, each within the documented bound.
    assert!(grew < 5 * PER_SESSION_BYTES, "the server grew by {grew} bytes");
}
