//! What the page is shown of a server run, through the real WebSocket and real sandboxes: the
//! packets of its loopback (captured from outside the sandbox) and what its program recorded
//! (threads, waits, socket calls); bounded whatever the program does.

mod support;

use shared::capture::Segment;
use shared::timeline::{Activity, CallOp, Scheduler, SleepOn, WaitOn, Waits};
use shared::wire::{Recording, ServerMsg};
use std::time::Duration;
use support::{Client, Outcome};

fn packets(out: &Outcome) -> Vec<Segment> {
    out.events.iter().filter_map(|m| if let ServerMsg::Packet { packet, .. } = m { Some(packet.clone()) } else { None }).collect()
}

fn activity(out: &Outcome) -> Vec<Activity> {
    out.events.iter().filter_map(|m| if let ServerMsg::Activity { event, .. } = m { Some(event.clone()) } else { None }).collect()
}

/// (op, len) of the recorded socket calls.
fn calls(out: &Outcome) -> Vec<(CallOp, u32)> {
    activity(out).iter().filter_map(|a| if let Activity::Call { op, len, .. } = a { Some((*op, *len)) } else { None }).collect()
}

fn flags(segs: &[Segment]) -> Vec<(String, u32)> {
    segs.iter().map(|s| (s.flags.clone(), s.len)).collect()
}

const ECHO: &str = r#"
import socket, threading
srv = socket.create_server(("127.0.0.1", 5000))
def serve():
    conn, _ = srv.accept()
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data.upper())
t = threading.Thread(target=serve, name="echo-server")
t.start()
with socket.create_connection(("127.0.0.1", 5000)) as c:
    c.sendall(b"hello")
    print(c.recv(1024))
t.join()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_echo_demo_shows_handshake_data_and_close_with_the_bytes_sent() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let out = client.run(1, ECHO).await;
    assert_eq!(out.stdout, "b'HELLO'\n", "{}", out.stderr);
    let segs = packets(&out);
    assert!(segs.iter().all(|s| s.proto == "tcp" && s.ip == 4), "{segs:#?}");
    let shape = flags(&segs);
    // Handshake, the data each way (each acknowledged, or not when it is piggybacked), the close.
    assert_eq!(&shape[..3], [("SYN".into(), 0), ("SYN,ACK".into(), 0), ("ACK".into(), 0)], "{shape:?}");
    let data: Vec<(u16, u32, &str)> = segs.iter().filter(|s| s.len > 0).map(|s| (s.dport, s.len, s.preview.as_str())).collect();
    assert_eq!(data.len(), 2, "{shape:?}");
    assert_eq!((data[0].0, data[0].1, data[0].2), (5000, 5, "hello"));
    assert_eq!((data[1].1, data[1].2), (5, "HELLO"));
    assert_eq!(segs.iter().filter(|s| s.flags.contains("FIN")).count(), 2, "{shape:?}");
    assert_eq!(segs[0].dport, 5000);
    // The program's calls beside them, with the same sizes.
    let c = calls(&out);
    assert!(c.contains(&(CallOp::Connect, 0)) && c.contains(&(CallOp::Accept, 0)), "{c:?}");
    assert!(c.contains(&(CallOp::Sendall, 5)) && c.contains(&(CallOp::Recv, 5)), "{c:?}");
    assert!(c.contains(&(CallOp::Recv, 0)), "the server's last recv returns b'' at the close: {c:?}");
    // The thread's lane, named as the program named it, from its start to its end.
    let acts = activity(&out);
    let tid = acts.iter().find_map(|a| match a { Activity::Thread { name, tid, .. } if name == "echo-server" => Some(*tid), _ => None });
    let tid = tid.unwrap_or_else(|| panic!("{acts:#?}"));
    assert!(acts.iter().any(|a| matches!(a, Activity::ThreadEnd { tid: t, .. } if *t == tid)), "{acts:#?}");
    // Packets and calls share one clock: the client's sendall comes before the data segment.
    let sent_at = acts.iter().find_map(|a| match a { Activity::Call { op: CallOp::Sendall, us, peer: 5000, .. } => Some(*us), _ => None });
    let sent_at = sent_at.unwrap_or_else(|| panic!("{acts:#?}"));
    let seg_at = segs.iter().find(|s| s.len == 5 && s.dport == 5000).unwrap().us;
    assert!(sent_at <= seg_at && seg_at - sent_at < 1_000_000, "sendall at {sent_at}, segment at {seg_at}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sends_can_arrive_as_one_recv_the_sticky_packet_demo() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = r#"
import socket, threading
srv = socket.create_server(("127.0.0.1", 5001))
ready = threading.Event()
def serve():
    conn, _ = srv.accept()
    ready.wait()
    print(conn.recv(1024))
    conn.close()
t = threading.Thread(target=serve); t.start()
c = socket.create_connection(("127.0.0.1", 5001))
c.send(b"first;")
c.send(b"second;")
ready.set()
t.join(); c.close()
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "b'first;second;'\n", "{}", out.stderr);
    let c = calls(&out);
    assert!(c.contains(&(CallOp::Send, 6)) && c.contains(&(CallOp::Send, 7)), "{c:?}");
    assert!(c.contains(&(CallOp::Recv, 13)), "one recv returned both: {c:?}");
    let data: Vec<u32> = packets(&out).iter().filter(|s| s.len > 0).map(|s| s.len).collect();
    assert!(data == [6, 7] || data == [13], "the segments carry the 13 bytes: {data:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn udp_larger_than_the_receive_size_and_a_refused_connect() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = r#"
import socket
a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); a.bind(("::1", 5002))
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
b.sendto(b"x" * 100, ("::1", 5002))
print(len(a.recvfrom(10)[0]))
b.sendto(b"?", ("::1", 5999))
try:
    socket.create_connection(("127.0.0.1", 5998))
except ConnectionRefusedError:
    print("refused")
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "10\nrefused\n", "{}", out.stderr);
    let segs = packets(&out);
    let udp: Vec<(u8, u16, u32)> = segs.iter().filter(|s| s.proto == "udp").map(|s| (s.ip, s.dport, s.len)).collect();
    assert_eq!(udp, [(6, 5002, 100), (6, 5999, 1)], "{segs:#?}");
    assert!(calls(&out).contains(&(CallOp::Sendto, 100)) && calls(&out).contains(&(CallOp::Recvfrom, 10)));
    let icmp: Vec<(&str, u16)> = segs.iter().filter(|s| s.proto == "icmp").map(|s| (s.flags.as_str(), s.sport)).collect();
    assert_eq!(icmp, [("port-unreachable", 5999)], "{segs:#?}");
    let tcp: Vec<(&str, u16)> = segs.iter().filter(|s| s.proto == "tcp").map(|s| (s.flags.as_str(), s.sport)).collect();
    assert_eq!(tcp.len(), 2, "{tcp:?}");
    assert_eq!(tcp[0].0, "SYN");
    assert_eq!(tcp[1], ("RST,ACK", 5998));
}

const DEADLOCK: &str = r#"
import threading, time
a, b = threading.Lock(), threading.Lock()
def one():
    with a:
        time.sleep(0.2)
        with b:
            pass
def two():
    with b:
        time.sleep(0.2)
        with a:
            pass
threading.Thread(target=one, name="one").start()
threading.Thread(target=two, name="two").start()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_deadlock_shows_as_a_cycle_of_waits_with_both_lines_while_hung_and_after_stop() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    client.start(1, &[("main.py", DEADLOCK)], "main.py", false).await;
    let mut waits = Waits::default();
    let mut early = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while waits.deadlock().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "no cycle within 10 s: {early:#?}");
        let msg = client.recv().await;
        if let ServerMsg::Activity { event, .. } = &msg {
            waits.apply(event);
        }
        assert!(!matches!(msg, ServerMsg::Exit(_)), "the deadlocked program exited");
        early.push(msg);
    }
    let cycle = waits.deadlock().unwrap();
    let mut lines: Vec<u32> = cycle.iter().map(|w| w.line).collect();
    lines.sort();
    assert_eq!(lines, [7, 12], "{cycle:?}");
    assert!(cycle.iter().all(|w| w.on == WaitOn::Lock && w.holder.is_some()));
    client.send(&shared::wire::ClientMsg::Signal { run_id: 1, signal: shared::wire::Signal::Kill }).await;
    let out = client.collect_all_after(&[1], early).await.remove(&1).unwrap();
    // After Stop the waits never ended: the cycle is still what the recording says.
    let mut after = Waits::default();
    activity(&out).iter().for_each(|a| after.apply(a));
    assert_eq!(after.deadlock().map(|c| c.len()), Some(2));
}

const SEMAPHORE: &str = r#"
import threading, time
sem = threading.Semaphore(1)
def worker():
    with sem:
        time.sleep(0.3)
a = threading.Thread(target=worker)
a.start()
time.sleep(0.1)
with sem:
    print("mine")
a.join()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_in_with_semaphore_is_a_wait_on_the_semaphore() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let out = client.run(1, SEMAPHORE).await;
    assert_eq!(out.stdout, "mine\n");
    let waits: Vec<(WaitOn, u32)> =
        activity(&out).iter().filter_map(|a| if let Activity::Wait { on, line, .. } = a { Some((*on, *line)) } else { None }).collect();
    // `with sem:` calls the class's `__enter__`, which CPython binds to the original `acquire`.
    assert!(waits.contains(&(WaitOn::Semaphore, 10)), "{waits:?}");
    assert!(!waits.iter().any(|(on, _)| *on == WaitOn::Condition), "the semaphore's inner condition is no wait of its own: {waits:?}");
}

/// The pool tasks of a run: (pid, tid, function, arguments).
fn tasks(acts: &[Activity]) -> Vec<(u32, u32, &str, &str)> {
    acts.iter().filter_map(|a| if let Activity::Task { pid, tid, name, args, .. } = a { Some((*pid, *tid, name.as_str(), args.as_str())) } else { None }).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn thread_and_process_pools_show_which_worker_ran_which_task() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = r#"
from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
import multiprocessing, os, time
MAIN = os.getpid()
def square(n):
    return n * n
class Secret:
    def __repr__(self):
        print("repr called")
        return "secret"
class Lingers:
    def __del__(self):  # a worker frees its copy slowly: meanwhile the pool is left, its workers ended
        if os.getpid() != MAIN:
            time.sleep(1)
def lingering():
    return Lingers()
with ThreadPoolExecutor(max_workers=2) as pool:
    print(sum(pool.map(square, range(10))), pool.submit(len, [Secret()]).result())
with ProcessPoolExecutor(max_workers=2) as ex:
    print(sum(ex.map(square, range(4))), ex.submit(square, 12).result())
with multiprocessing.Pool(2) as procs:
    print(sum(procs.map(square, range(10))), procs.apply_async(square, (7,)).get(), procs.starmap(pow, [(2, 3)]))
    print(type(procs.apply(lingering)).__name__)
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "285 1\n14 144\n285 49 [8]\nLingers\n", "the hooks print nothing of their own: {}", out.stderr);
    let acts = activity(&out);
    let thread_names: std::collections::HashMap<u32, &str> =
        acts.iter().filter_map(|a| if let Activity::Thread { tid, name, .. } = a { Some((*tid, name.as_str())) } else { None }).collect();
    let process_names: std::collections::HashMap<u32, &str> =
        acts.iter().filter_map(|a| if let Activity::Process { pid, name, .. } = a { Some((*pid, name.as_str())) } else { None }).collect();
    let all = tasks(&acts);
    // Each task sits on the worker that ran it: a pool thread, or a pool process's thread.
    let worker = |pid: u32, tid: u32| (thread_names.get(&tid).copied().unwrap_or("?"), process_names.get(&pid).copied().unwrap_or("?"));
    let in_threads: Vec<&str> = all.iter().filter(|t| worker(t.0, t.1).0.starts_with("ThreadPoolExecutor-")).map(|t| t.3).collect();
    assert_eq!(in_threads.len(), 11, "{all:?}");
    for n in 0..10 {
        assert!(in_threads.contains(&n.to_string().as_str()), "square({n}) in {in_threads:?}");
    }
    assert!(all.iter().any(|t| t.2 == "len" && t.3 == "[<Secret>]"), "never the program's own repr: {all:?}");
    let mut in_executor: Vec<(&str, &str)> =
        all.iter().filter(|t| worker(t.0, t.1).1.starts_with("ForkProcess-")).map(|t| (t.2, t.3)).collect();
    in_executor.sort();
    assert_eq!(in_executor, [("square", "0"), ("square", "1"), ("square", "12"), ("square", "2"), ("square", "3")], "{all:?}");
    let in_pool: Vec<(&str, &str)> = all.iter().filter(|t| worker(t.0, t.1).1.starts_with("ForkPoolWorker-")).map(|t| (t.2, t.3)).collect();
    let mapped: Vec<&str> = in_pool.iter().filter(|t| t.0 == "square").flat_map(|t| t.1.split("; ")).collect();
    for n in 0..10 {
        assert!(mapped.contains(&n.to_string().as_str()), "square({n}) in {in_pool:?}");
    }
    assert!(in_pool.contains(&("square", "7")) && in_pool.contains(&("pow", "2, 3")) && in_pool.contains(&("lingering", "")), "{in_pool:?}");
    // Every task ended, on the thread that ran it, after it began and before its next: a pool
    // process's last task too, though `with Pool(…)` terminates the workers on leaving (its end
    // is written when the worker hands its result back, before the pool can have every result).
    for (i, a) in acts.iter().enumerate() {
        if let Activity::Task { tid, us, .. } = a {
            let end = acts[i + 1..].iter().find_map(|b| match b {
                Activity::TaskEnd { tid: t, us: u, .. } if t == tid => Some(*u),
                Activity::Task { tid: t, .. } if t == tid => Some(0),
                _ => None,
            });
            assert!(end.is_some_and(|e| e >= *us), "{a:?} has no end before the next task: {acts:#?}");
        }
    }
    assert!(acts.iter().any(|a| matches!(a, Activity::ProcessEnd { .. })), "{acts:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_is_cut_once_and_forged_lines_stay_in_their_own_run() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    // 20,000 datagrams on the loopback, and lines written straight into the recording pipe:
    // a forged packet line is no packet, and too many events are cut.
    let code = r#"
import os, socket, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5003))
for i in range(20000):
    s.sendto(b"x", ("127.0.0.1", 5003))
fake = {"proto": "tcp", "flags": "SYN", "src": "10.9.9.9", "dst": "127.0.0.1", "sport": 1, "dport": 2, "len": 0, "us": 1, "ip": 4}
for fd in range(3, 20):
    try:
        os.write(fd, (json.dumps(fake) + "\n" + "z" * 5000 + "\n").encode())
    except OSError:
        pass
print("done")
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "done\n", "{}", out.stderr);
    let segs = packets(&out);
    assert!(segs.len() <= classbook::sandbox::capture::MAX_PACKETS, "{}", segs.len());
    assert!(segs.iter().all(|s| s.proto == "udp" && s.src == "127.0.0.1"), "only what crossed the loopback");
    let cuts: Vec<(Recording, u32, u64)> = out
        .events
        .iter()
        .filter_map(|m| if let ServerMsg::RecordingCut { what, shown, not_shown, .. } = m { Some((*what, *shown, *not_shown)) } else { None })
        .collect();
    let packet_cuts: Vec<_> = cuts.iter().filter(|c| c.0 == Recording::Packets).collect();
    assert!(!packet_cuts.is_empty() && packet_cuts.len() <= 2, "{cuts:?}");
    assert_eq!(packet_cuts[0].1 as usize, segs.len());
    assert!(packet_cuts.last().unwrap().2 > 1000, "{cuts:?}");
    let activity_cuts: Vec<_> = cuts.iter().filter(|c| c.0 == Recording::Activity).collect();
    assert!(!activity_cuts.is_empty() && activity_cuts[0].1 as usize == classbook::sandbox::record::MAX_EVENTS, "{cuts:?}");
    // The next run starts afresh.
    let again = client.run(2, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ('127.0.0.1', 9))\n").await;
    assert_eq!(packets(&again).iter().filter(|s| s.proto == "udp").count(), 1);
    assert!(again.events.iter().all(|m| !matches!(m, ServerMsg::RecordingCut { .. })));
}

/// Each thread's name by its id.
fn thread_ids(acts: &[Activity]) -> std::collections::HashMap<String, u32> {
    acts.iter().filter_map(|a| if let Activity::Thread { tid, name, .. } = a { Some((name.clone(), *tid)) } else { None }).collect()
}

/// The sleeps of thread `tid`: (on, line, how long in µs; `None` when it never ended).
fn sleeps_of(acts: &[Activity], tid: u32) -> Vec<(SleepOn, u32, Option<u64>)> {
    let mut out = Vec::new();
    for (i, a) in acts.iter().enumerate() {
        if let Activity::Sleep { tid: t, on, line, us, .. } = a {
            if *t == tid {
                let end = acts[i + 1..].iter().find_map(|b| match b {
                    Activity::SleepEnd { tid: t, us: u, .. } if *t == tid => Some(*u - us),
                    _ => None,
                });
                out.push((*on, *line, end));
            }
        }
    }
    out
}

const SLEEPERS: &str = r#"
import socket, threading, time
def napper():
    time.sleep(0.3)
def busy():
    n = 0
    for i in range(2_000_000):
        n += i
srv = socket.create_server(("127.0.0.1", 5004))
def server():
    conn, _ = srv.accept()
    print(conn.recv(16))
    conn.close()
threads = [threading.Thread(target=f, name=f.__name__) for f in (napper, busy, server)]
for t in threads:
    t.start()
time.sleep(0.1)
with socket.create_connection(("127.0.0.1", 5004)) as c:
    time.sleep(0.1)
    c.sendall(b"late")
for t in threads:
    t.join()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_sleeping_thread_shows_its_sleeps_and_a_computing_one_none() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let out = client.run(1, SLEEPERS).await;
    assert_eq!(out.stdout, "b'late'\n", "{}", out.stderr);
    let acts = activity(&out);
    let tids = thread_ids(&acts);
    let napper = sleeps_of(&acts, tids["napper"]);
    assert!(matches!(napper[..], [(SleepOn::Sleep, 4, Some(us))] if us >= 250_000), "{napper:?}");
    assert_eq!(sleeps_of(&acts, tids["busy"]), [], "a thread that computes never sleeps");
    // The server sleeps in accept until the client connects, then in recv until it sends.
    let server_sleeps: Vec<(SleepOn, u32)> = sleeps_of(&acts, tids["server"]).iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(server_sleeps, [(SleepOn::Accept, 11), (SleepOn::Recv, 12)], "{acts:#?}");
    assert!(sleeps_of(&acts, tids["server"]).iter().all(|s| s.2.is_some()), "each sleep ended: {acts:#?}");
    let main: Vec<(SleepOn, u32)> = sleeps_of(&acts, tids["MainThread"]).iter().map(|s| (s.0, s.1)).collect();
    assert!(main.contains(&(SleepOn::Sleep, 17)) && main.contains(&(SleepOn::Sleep, 19)), "{main:?}");
    assert!(main.contains(&(SleepOn::Connect, 18)), "{main:?}");
}

/// The turns recorded on thread `tid`: (scheduler, name), each checked to end before the next.
fn turns(acts: &[Activity], tid: u32) -> Vec<(Scheduler, String)> {
    let mut out = Vec::new();
    let mut open = false;
    for a in acts {
        match a {
            Activity::Step { tid: t, of, name, .. } if *t == tid => {
                assert!(!open, "a turn began before the last ended: {acts:#?}");
                open = true;
                out.push((*of, name.clone()));
            }
            Activity::StepEnd { tid: t, .. } if *t == tid => open = false,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn asyncio_tasks_and_greenlets_show_their_turns_on_their_one_thread_in_order() {
    let server = support::start().await;
    let mut client = Client::connect(&server).await;
    let code = r#"
import asyncio
async def player(name):
    for i in range(3):
        print(name, i)
        await asyncio.sleep(0)
async def main():
    await asyncio.gather(asyncio.create_task(player("ping"), name="ping"), asyncio.create_task(player("pong"), name="pong"))
    await asyncio.sleep(0.1)
asyncio.run(main())
"#;
    let out = client.run(1, code).await;
    assert_eq!(out.stdout, "ping 0\npong 0\nping 1\npong 1\nping 2\npong 2\n", "{}", out.stderr);
    let acts = activity(&out);
    let main = thread_ids(&acts)["MainThread"];
    let all = turns(&acts, main);
    assert!(all.iter().all(|t| t.0 == Scheduler::Asyncio), "{all:?}");
    let players: Vec<&str> = all.iter().map(|t| t.1.as_str()).filter(|n| *n == "ping" || *n == "pong").collect();
    assert_eq!(players, ["ping", "pong", "ping", "pong", "ping", "pong", "ping", "pong"], "{all:?}");
    assert_eq!(all[0].1, "Task-1", "asyncio.run's own task first: {all:?}");
    // While every task waits for its timer, the loop's thread sleeps in its selector.
    let slept = sleeps_of(&acts, main);
    assert!(slept.iter().any(|s| s.0 == SleepOn::Select && s.1 == 10 && s.2.is_some()), "{slept:?}");

    let code = r#"
from greenlet import greenlet
def ping():
    for i in range(3):
        print("ping", i)
        pong_g.switch()
def pong():
    for i in range(3):
        print("pong", i)
        ping_g.switch()
ping_g = greenlet(ping)
pong_g = greenlet(pong)
ping_g.switch()
print("main again")
"#;
    let out = client.run(2, code).await;
    assert_eq!(out.stdout, "ping 0\npong 0\nping 1\npong 1\nping 2\npong 2\nmain again\n", "{}", out.stderr);
    let acts = activity(&out);
    let all = turns(&acts, thread_ids(&acts)["MainThread"]);
    assert!(all.iter().all(|t| t.0 == Scheduler::Greenlet), "{all:?}");
    let names: Vec<&str> = all.iter().map(|t| t.1.as_str()).collect();
    // Each turn is written as it ends: main's until it switched to ping, then the ping-pong,
    // then ping's last turn (it returned to main).
    assert!(names.len() >= 8, "{names:?}");
    assert_eq!(names[..8], ["main", "ping", "pong", "ping", "pong", "ping", "pong", "ping"], "{acts:#?}");
}

