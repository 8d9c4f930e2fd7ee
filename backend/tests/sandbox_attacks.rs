//! Hostile programs, sent through the real WebSocket, are contained; a second student's
//! session keeps working normally throughout. Includes the holes DESIGN.md records for the
//! first recipe (sandbox user = host root, secrets in PID 1's environment, missing limits).

mod support;

use support::{Client, Outcome};

/// A second student who must not notice anything: a normal run before and after.
async fn bystander_ok(other: &mut Client, id: u32) {
    let out = other.run(id, "import socket\ns = socket.create_server(('127.0.0.1', 8080))\nprint('fine', sum(range(10)))").await;
    assert_eq!(out.stdout, "fine 45\n", "the other session broke: {}", out.stderr);
}

async fn two_students() -> (support::Server, Client, Client) {
    let server = support::start().await;
    let attacker = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    bystander_ok(&mut other, 1000).await;
    (server, attacker, other)
}

fn says(out: &Outcome, text: &str) -> bool {
    out.combined.contains(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_user_is_not_host_root() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import os
print("uid", os.getuid())
for path in ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sys/vm/overcommit_memory"]:
    try:
        with open(path, "w") as f:
            f.write("1")
        print("WROTE", path)
    except OSError as e:
        print("refused", path, e.errno)
"#).await;
    assert!(says(&out, "uid 1000"), "{}", out.combined);
    assert!(!says(&out, "WROTE"), "a sandboxed program wrote host kernel settings: {}", out.combined);
    assert_eq!(out.combined.matches("refused").count(), 3, "{}", out.combined);
    let status = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    assert_ne!(status.trim(), "1");
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_sandbox_environment() {
    // The backend's own environment holds a "secret"; nothing in the sandbox may see it.
    std::env::set_var("CLASSBOOK_TEST_SECRET", "hunter2-secret");
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import os
seen = dict(os.environ)
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError:
            pass
print("\n".join(f"{k}={v}" for k, v in seen.items()))
"#).await;
    assert!(!says(&out, "hunter2-secret"), "a secret leaked into the sandbox:\n{}", out.combined);
    assert!(says(&out, "PATH=/usr/bin:/bin"), "{}", out.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_files_and_other_sessions_are_out_of_reach() {
    let (server, mut a, mut other) = two_students().await;
    // The bystander leaves a file in its own work dir.
    let note = other.run(1002, "open('diary.txt', 'w').write('private')\nimport os\nprint(os.getcwd())").await;
    assert_eq!(note.stdout, "/work\n");
    let backend_dir = std::env::current_exe().unwrap().parent().unwrap().display().to_string();
    // A host file in the host's /tmp: the sandbox has a /tmp of its own.
    let marker = std::env::temp_dir().join(format!("classbook-host-marker-{}", std::process::id()));
    std::fs::write(&marker, "host").unwrap();
    let marker = marker.display().to_string();
    let _ = &server;
    let code = format!(r#"
import os
def probe(path):
    try:
        with open(path, "rb") as f:
            print("READ", path, f.read(20))
    except OSError as e:
        print("no", path, e.__class__.__name__)
probe("/etc/shadow")
probe("/root/.bashrc")
probe("{backend_dir}/classbook")
probe("{marker}")
for d in ["{backend_dir}", "/home", "/root", "/var", "/srv"]:
    print("exists" if os.path.exists(d) else "absent", d)
found = []
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
    found += [os.path.join(top, f) for f in files if f == "diary.txt"]
print("diaries", found)
for target in ["/usr/evil", "/etc/evil", "/evil", "/opt/classbook/evil"]:
    try:
        open(target, "w").write("x")
        print("WROTE", target)
    except OSError as e:
        print("refused", target)
os.symlink("/etc/shadow", "link-to-shadow")
probe("link-to-shadow")
os.symlink("/", "root-link")
print("via link", sorted(os.listdir("root-link"))[:20])
"#);
    let out = a.run(1, &code).await;
    assert!(!says(&out, "READ"), "{}", out.combined);
    assert!(!says(&out, "WROTE"), "{}", out.combined);
    assert!(!says(&out, &format!("exists {backend_dir}")), "{}", out.combined);
    assert!(says(&out, &format!("no {marker}")), "{}", out.combined);
    assert!(says(&out, "diaries ['/work/diary.txt']") || says(&out, "diaries []"), "{}", out.combined);
    assert!(!says(&out, "private"), "{}", out.combined);
    // A link the student made in their work dir does not lead the backend astray either:
    // writing a file named like the link replaces nothing outside the sandbox.
    a.start(2, &[("link-to-shadow", "overwritten")], "missing.py", false).await;
    let msg = a.recv().await;
    assert!(matches!(msg, shared::wire::ServerMsg::Error { run_id: Some(2), .. }), "{msg:?}");
    assert!(std::fs::read_to_string("/etc/shadow").map(|s| !s.contains("overwritten")).unwrap_or(true));
    bystander_ok(&mut other, 1003).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_is_only_the_sandbox_loopback() {
    let (server, mut a, mut other) = two_students().await;
    let port = server.addr.port();
    let code = format!(r#"
import socket, errno
def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("CONNECTED", host, port)
    except OSError as e:
        print("no", host, port, errno.errorcode.get(e.errno, e.errno))
connect("127.0.0.1", {port})
# A route check that sends nothing: UDP connect() to a documentation address.
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("192.0.2.1", 9))
    print("ROUTE to 192.0.2.1")
except OSError as e:
    print("no route", errno.errorcode.get(e.errno, e.errno))
try:
    socket.socket(40, socket.SOCK_STREAM)
    print("VSOCK created")
except OSError as e:
    print("no vsock", errno.errorcode.get(e.errno, e.errno))
print("interfaces", [name for _, name in socket.if_nameindex()])
"#);
    let out = a.run(1, &code).await;
    assert!(!says(&out, "CONNECTED"), "the backend port is reachable: {}", out.combined);
    assert!(!says(&out, "ROUTE"), "{}", out.combined);
    assert!(says(&out, "no vsock EAFNOSUPPORT"), "{}", out.combined);
    assert!(says(&out, "interfaces ['lo']"), "{}", out.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_sessions_processes_cannot_be_signalled_or_traced() {
    let (_s, mut a, mut other) = two_students().await;
    // The bystander runs a long program; the attacker looks for it and tries to kill it.
    other.start(1004, &[("long.py", "import time\nprint('alive', flush=True)\ntime.sleep(5)\nprint('survived')")], "long.py", false).await;
    let out = a.run(1, r#"
import os, signal, ctypes
mine = os.getpid()
pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
print("visible", len(pids))
for pid in range(2, 40000):
    if pid in pids:
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        print("KILLED", pid)
    except ProcessLookupError:
        pass
    except PermissionError:
        print("EPERM", pid)
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace 1:", libc.ptrace(16, 1, 0, 0), ctypes.get_errno())
"#).await;
    assert!(!says(&out, "KILLED"), "{}", out.combined);
    assert!(!says(&out, "EPERM"), "other sessions' processes are visible: {}", out.combined);
    let long = other.collect(1004).await;
    assert_eq!(long.stdout, "alive\nsurvived\n");
    bystander_ok(&mut other, 1005).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_stops_at_the_process_limit() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import os, time
children = 0
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as e:
    print("stopped after", children, "forks:", e.__class__.__name__)
"#).await;
    // Each sleeping child costs about 1 MB of its own (copy-on-write), so the 256 processes
    // come close to the 256 MB: whichever limit comes first ends the bomb, never the sandbox.
    if says(&out, "stopped after") {
        let n: usize = out.stdout.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(n < 300, "{n} processes");
    } else {
        assert!(matches!(out.exit.why, Some(shared::wire::EndReason::Memory { .. })), "{} {:?}", out.combined, out.exit);
    }
    // The run's leftovers are gone: a new run can fork again.
    let again = a.run(2, "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('forked')").await;
    assert_eq!(again.stdout, "forked\n", "{}", again.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_does_not_outlive_its_run() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("/work/daemon.pid", "w").write(str(os.getpid()))
        while True:
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.3)
print("parent leaves")
"#).await;
    assert_eq!(out.stdout, "parent leaves\n", "{:?}\n{}", out.exit, out.stderr);
    let check = a.run(2, r#"
import os
pid = int(open("/work/daemon.pid").read())
print("alive" if os.path.exists(f"/proc/{pid}") else "gone")
print("processes", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
"#).await;
    assert!(check.stdout.starts_with("gone\n"), "{}", check.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cpu_spin_and_output_flood_are_cut_by_their_limits() {
    let server = support::start_with(|cfg| {
        cfg.limits.cpu_secs = 1;
        cfg.limits.output_bytes = 64 << 10;
    })
    .await;
    let mut a = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    let spin = a.run(1, "while True:\n    pass\n").await;
    assert_eq!(spin.exit.signal, Some(libc::SIGXCPU), "{:?}", spin.exit);
    assert!(spin.exit.reason.as_deref().unwrap_or("").contains("CPU"), "{:?}", spin.exit);
    let flood = a.run(2, "import sys\nfor i in range(200000):\n    sys.stdout.write('x' * 250 + '\\n')\nprint('end')").await;
    assert!(flood.exit.truncated, "{:?}", flood.exit);
    assert_eq!(flood.exit.code, Some(0), "the flooding program itself must finish");
    assert!(flood.stdout.len() <= 64 << 10, "{} bytes reached the page", flood.stdout.len());
    assert!(flood.stderr.contains("output cut"), "{}", flood.stderr);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_is_ended_and_the_page_is_told_why() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, "hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))\n").await;
    let reason = out.exit.reason.clone().unwrap_or_default();
    // With a cgroup the OOM killer ends it (and says so); with rlimits only, MemoryError.
    assert!(
        reason.contains("out of memory") || out.stderr.contains("MemoryError"),
        "{:?} {}",
        out.exit,
        out.stderr
    );
    assert_ne!(out.exit.code, Some(0));
    println!("memory bomb ended: {:?}", out.exit);
    let again = a.run(2, "print('recovered')").await;
    assert_eq!(again.stdout, "recovered\n", "{}", again.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filling_the_disk_stops_at_the_work_dir_size() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import os, errno
written = 0
try:
    for i in range(10000):
        with open(f"/work/fill{i}.bin", "wb") as f:
            f.write(b"x" * (8 << 20))
        written += 8
except OSError as e:
    print("stopped at", written, "MiB:", errno.errorcode.get(e.errno, e.errno))
for p in ["/tmp/x.bin", "/dev/shm/x.bin"]:
    try:
        with open(p, "wb") as f:
            for _ in range(100):
                f.write(b"x" * (4 << 20))
        print("FILLED", p)
    except OSError as e:
        print("stopped", p, errno.errorcode.get(e.errno, e.errno))
"#).await;
    assert!(out.stdout.contains("stopped at"), "{}", out.combined);
    let mib: u64 = out.stdout.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(mib <= 64, "wrote {mib} MiB into /work");
    assert!(!out.stdout.contains("FILLED"), "{}", out.combined);
    // The student can still work after freeing space.
    let again = a.run(2, "import glob, os\nfor f in glob.glob('/work/fill*'):\n    os.remove(f)\nopen('ok.txt', 'w').write('ok')\nprint(open('ok.txt').read())").await;
    assert_eq!(again.stdout, "ok\n", "{}", again.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_cgroups_a_memory_bomb_meets_the_address_space_limit_and_threads_still_start() {
    let server = support::start_with(|cfg| cfg.cgroups = None).await;
    let mut a = Client::connect(&server).await;
    let threads = a.run(1, "import threading\nts = [threading.Thread(target=lambda: None) for _ in range(64)]\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint('64 threads')").await;
    assert_eq!(threads.stdout, "64 threads\n", "{}", threads.combined);
    let bomb = a.run(2, "hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))\n").await;
    assert!(bomb.stderr.contains("MemoryError"), "{:?} {}", bomb.exit, bomb.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_families_the_course_does_not_use_are_refused_with_a_clear_error() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import socket, errno
def sock(name, *args):
    try:
        socket.socket(*args).close()
        print("CREATED", name)
    except OSError as e:
        print("refused", name, errno.errorcode.get(e.errno, e.errno), "-", e.strerror)
sock("packet", socket.AF_PACKET, socket.SOCK_RAW, 0)
sock("alg", socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
sock("key", 15, socket.SOCK_RAW, 2)
sock("vsock", 40, socket.SOCK_STREAM, 0)
sock("netlink-audit", socket.AF_NETLINK, socket.SOCK_RAW, 9)
sock("netlink-generic", socket.AF_NETLINK, socket.SOCK_RAW, 16)
sock("netlink-uevent", socket.AF_NETLINK, socket.SOCK_DGRAM, 15)
try:
    socket.socketpair(socket.AF_PACKET)
    print("CREATED pair")
except OSError as e:
    print("refused pair", errno.errorcode.get(e.errno, e.errno))
"#).await;
    for name in ["packet", "alg", "key", "vsock"] {
        assert!(says(&out, &format!("refused {name} EAFNOSUPPORT - Address family not supported")), "{name}: {}", out.combined);
    }
    for name in ["netlink-audit", "netlink-generic", "netlink-uevent"] {
        assert!(says(&out, &format!("refused {name} EPROTONOSUPPORT")), "{name}: {}", out.combined);
    }
    assert!(says(&out, "refused pair EAFNOSUPPORT"), "{}", out.combined);
    assert!(!says(&out, "CREATED"), "{}", out.combined);
    bystander_ok(&mut other, 1001).await;
}

/// The syscall numbers below are x86_64's.
#[cfg(target_arch = "x86_64")]
#[tokio::test(flavor = "multi_thread")]
async fn kernel_facilities_the_course_does_not_use_fail_with_an_errno_not_a_kill() {
    let (_s, mut a, mut other) = two_students().await;
    // Arguments are chosen so that, unfiltered, each call would fail differently (EFAULT,
    // EINVAL) or succeed: the errno printed is the filter's.
    let out = a.run(1, r#"
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys(name, nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print("sys", name, r, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
sys("io_uring_setup", 425, 1, 0)
sys("io_uring_enter", 426, 0, 0, 0, 0, 0, 0)
sys("io_uring_register", 427, 0, 0, 0, 0)
sys("keyctl", 250, 0, -3, 0)
sys("add_key", 248, 0, 0, 0, 0, 0)
sys("request_key", 249, 0, 0, 0, 0)
sys("userfaultfd", 323, 0)
sys("bpf", 321, 999, 0, 0)
sys("perf_event_open", 298, 0, 0, -1, -1, 0)
sys("kexec_load", 246, 0, 0, 0, 0)
sys("kexec_file_load", 320, -1, -1, 0, 0, 0)
sys("init_module", 175, 0, 0, 0)
sys("finit_module", 313, -1, 0, 0)
sys("delete_module", 176, 0, 0)
sys("mount", 165, 0, 0, 0, 0, 0)
sys("umount2", 166, 0, 0)
sys("pivot_root", 155, 0, 0)
print("still alive")
"#).await;
    for name in ["io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key"] {
        assert!(says(&out, &format!("sys {name} -1 ENOSYS")), "{name}: {}", out.combined);
    }
    for name in [
        "userfaultfd", "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
        "delete_module", "mount", "umount2", "pivot_root",
    ] {
        assert!(says(&out, &format!("sys {name} -1 EPERM")), "{name}: {}", out.combined);
    }
    assert!(says(&out, "still alive"), "{}", out.combined);
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_socket_families_the_course_needs_still_work() {
    let (_s, mut a, mut other) = two_students().await;
    let out = a.run(1, r#"
import socket, os
for name, family, kind in [("tcp", socket.AF_INET, socket.SOCK_STREAM), ("udp", socket.AF_INET, socket.SOCK_DGRAM),
                           ("tcp6", socket.AF_INET6, socket.SOCK_STREAM), ("unix", socket.AF_UNIX, socket.SOCK_STREAM)]:
    socket.socket(family, kind).close()
    print("ok", name)
a, b = socket.socketpair()
a.sendall(b"ping")
print("ok pair", b.recv(4).decode())
r = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
r.close()
print("ok route")
print("ok names", [n for _, n in socket.if_nameindex()])
print("ok resolve", sorted({ai[4][0] for ai in socket.getaddrinfo("localhost", 80, flags=socket.AI_ADDRCONFIG)}))
s = socket.create_server(("::1", 0), family=socket.AF_INET6)
c = socket.create_connection(s.getsockname()[:2])
print("ok v6 connect")
"#).await;
    for line in ["ok tcp", "ok udp", "ok tcp6", "ok unix", "ok pair ping", "ok route", "ok names ['lo']", "ok resolve", "ok v6 connect"] {
        assert!(says(&out, line), "{line}: {}", out.combined);
    }
    bystander_ok(&mut other, 1001).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_memory_limit_the_students_processes_end_never_the_agent() {
    let (_s, mut a, mut other) = two_students().await;
    // 30 children of 12 MB each are more than the sandbox's 256 MB: the kernel must end some
    // of them (their score is raised), not the agent, whose end would end the sandbox.
    let out = a.run(1, r#"
import os, signal, time
print("score", open("/proc/self/oom_score_adj").read().strip())
kids = []
for i in range(30):
    pid = os.fork()
    if pid == 0:
        block = bytearray(12 << 20)
        time.sleep(2)
        os._exit(0)
    kids.append(pid)
killed = sum(1 for k in kids if os.waitpid(k, 0)[1] == signal.SIGKILL)
print("killed", killed > 0)
"#).await;
    assert_eq!(out.stdout, "score 1000\nkilled True\n", "{} {:?}", out.combined, out.exit);
    assert_eq!(out.exit.code, Some(0), "{:?}", out.exit);
    let again = a.run(2, "print('same sandbox')").await;
    assert_eq!(again.stdout, "same sandbox\n", "{}", again.combined);
    bystander_ok(&mut other, 1006).await;
}
