# classbook sandbox agent: the first program in every student sandbox. It starts each run
# as a fork of this warm interpreter, reaps it, and kills what the run leaves behind. While no
# run lives it keeps one fork ready (a Spare, set up as far as a run allows), so a run starts
# without waiting for a fork.
#
# Protocol with the backend (a SOCK_SEQPACKET socket on the fd named in argv[1]; argv[2] is
# the work dir); one JSON object per packet. The backend's side of it is sandbox/protocol.rs,
# whose tests pin these shapes.
#   backend -> agent: {"op":"run","id":N,"entry":"a.py","args":[...],"watch":bool,"cpu":S,
#                      "files":["a.py", ...]} + fds [stdin, stdout, stderr, one pipe per file]
#                     with "check":"<the exercise's checks>" the fds are [stdin, stdout, stderr,
#                       records, one pipe per file]: `entry` is imported as a module, then the
#                       checks run by the check harness (shared/src/check.py, which the backend
#                       puts before this file), whose records go into `records`, not the output
#                     with "record":true the recording pipe (see recorder.py's comment below)
#                       comes after those, before the files' pipes
#                     {"op":"signal","id":N,"sig":2}   {"op":"kill","id":N}
#                     {"op":"read","name":"a.bin","max":B} + fd [a pipe]: the agent writes "+" and
#                       the file's first B bytes (never through a link), or "-" and why not
#   agent -> backend: {"ev":"ready"} + fd [this sandbox's network namespace, for the companion
#                       TFTP server] {"ev":"started","id":N,"pid":P} {"ev":"listening","id":N}
#                     {"ev":"exit","id":N,"code":C|null,"signal":S|null,"cpu_ms":T}
#                     {"ev":"error","id":N,"message":"..."}
#                     with "steps":true in its run (a benchmark's tracing mode), before its exit:
#                     {"ev":"steps","id":N,"ns":[...]} (CLOCK_MONOTONIC stamps, steps::AGENT_STEPS)
import builtins
import ctypes
import importlib
import importlib.machinery
import io
import json
import mmap
import os
import resource
import select
import signal
import socket
import stat
import sys
import time
import traceback

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
WORK = sys.argv[2] if len(sys.argv) > 2 else "/work"
SCAN_EVERY = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MAX_FILES = 32  # files of one run (sandbox::MAX_RUN_FILES): three fds and one per file arrive
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    # Orphans of a run are re-parented to us, so we can find and kill them.
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    chan = socket.socket(fileno=int(sys.argv[1]))
    # And what the recorder hooks (Recorder.install), so a recorded run imports nothing more.
    import multiprocessing.process  # noqa: F401
    import queue  # noqa: F401
    import selectors  # noqa: F401
    import threading  # noqa: F401
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    agent = Agent(chan, wake_r, wake_w, libc)
    try:
        netns = [os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)]
    except OSError:
        netns = []  # the backend then runs no companion TFTP server here
    # Not ptrace-able or /proc/<pid>/fd-readable by the student's own programs.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    ready = json.dumps({"ev": "ready"}).encode()
    if netns:
        socket.send_fds(chan, [ready], netns)
        os.close(netns[0])
    else:
        chan.send(ready)
    # What is alive now is kept for good: a fork's collector never walks it, so a child does not
    # copy the agent's whole heap at its first collection (ten child processes would otherwise
    # cost 100 MB of the sandbox's memory).
    import gc

    gc.freeze()
    agent.loop()


class Run:
    def __init__(self, rid, pid, watch, start_ticks):
        self.id = rid
        self.pid = pid
        self.watch = watch
        self.started = time.monotonic()
        self.start_ticks = start_ticks  # when it became this run (for orphans, see scan)
        self.steps = None  # under the `steps` tracing mode: [stamps, the child's page]


class Spare:
    """A child forked while no run lives, set up as far as a run allows before its request
    (its own session, signals, /work, the recorder's hooks), waiting on its own socket for the
    next run's request and streams. It is no run's until then: not dumpable, nothing of a
    student's in it, never seen by a running program (none runs while it is made), and killed
    like any other process of the sandbox."""

    def __init__(self, pid, sock, record, page):
        self.pid = pid
        self.sock = sock
        self.record = record  # whether it installed the recorder's hooks
        self.page = page


STEPS = None  # in a run's child under the `steps` tracing mode: the page its stamps go in


def stamp(i):
    """The child's step `i` (0 started, 1 ready, 2 ran, 3 exiting), when it is traced."""
    if STEPS is not None:
        STEPS[i * 8:i * 8 + 8] = time.monotonic_ns().to_bytes(8, "little")


class Agent:
    def __init__(self, chan, wake_r, wake_w, libc):
        self.libc = libc
        self.chan = chan
        self.wake_r = wake_r
        self.wake_w = wake_w
        self.runs = {}  # main pid -> Run
        self.owner = {}  # pid -> (run id, start ticks), for every process seen in a run's tree
        self.me = os.getpid()
        self.woke = 0  # when the loop last woke (the `steps` tracing mode)
        self.received = 0  # when the message being handled arrived
        self.spare = None  # the Spare waiting for the next run
        self.spares_work = True  # false after a spare ended unused, until the next run starts
        self.record_hint = True  # whether the next run records (as the last one did)

    def send(self, obj):
        try:
            self.chan.send(json.dumps(obj).encode())
        except OSError:
            os._exit(0)  # the backend is gone

    def loop(self):
        self.make_spare()
        while True:
            timeout = SCAN_EVERY if self.runs else None
            ready, _, _ = select.select([self.chan, self.wake_r], [], [], timeout)
            self.woke = time.monotonic_ns()
            if self.chan in ready:
                try:
                    msg, fds, _, _ = socket.recv_fds(self.chan, 65536, 4 + MAX_FILES + 1)
                except OSError:
                    return
                self.received = time.monotonic_ns()
                if not msg:
                    return  # backend closed the channel
                req = {}
                try:
                    req = json.loads(msg)
                    self.handle(req, fds)
                except Exception as e:  # a bad message must not kill the agent
                    for fd in fds:
                        close_quietly(fd)
                    if isinstance(req, dict) and req.get("op") == "run" and isinstance(req.get("id"), int):
                        # The run it was for hears why, so it never waits for an answer.
                        self.send({"ev": "failed", "id": req["id"], "message": f"the sandbox could not start it: {e}"})
                    else:
                        self.send({"ev": "error", "id": None, "message": f"agent: {e!r}"})
            if self.wake_r in ready:
                try:
                    os.read(self.wake_r, 4096)
                except BlockingIOError:
                    pass
            self.reap()
            if self.runs:
                self.scan(report=True)
            else:
                self.make_spare()

    def handle(self, msg, fds):
        op = msg.get("op")
        if op == "run":
            self.start(msg, fds)
        elif op == "read":
            if len(fds) != 1:
                raise ValueError("read needs one fd")
            read_file(msg.get("name", ""), int(msg.get("max", 0)), fds[0])
        elif op in ("signal", "kill"):
            for run in self.runs.values():
                if run.id == msg["id"]:
                    if op == "kill":
                        self.kill_tree(run.id)
                    else:
                        try:
                            os.killpg(run.pid, int(msg["sig"]))
                        except ProcessLookupError:
                            pass

    def start(self, msg, fds):
        names = msg.get("files", [])
        streams = 3 + (msg.get("check") is not None) + bool(msg.get("record"))
        if len(fds) != streams + len(names):
            raise ValueError("a run needs three fds, the records pipe for a check, the recording pipe if asked, and one per file")
        rid = msg["id"]
        try:
            for name, fd in zip(names, fds[streams:]):
                write_file(name, fd)
        except OSError as e:
            for fd in fds:
                close_quietly(fd)
            self.send({"ev": "failed", "id": rid, "message": f"cannot write {e.filename or 'a file'}: {e.strerror}"})
            return
        fds = fds[:streams]
        written = time.monotonic_ns()
        record = bool(msg.get("record"))
        self.record_hint = record
        self.spares_work = True
        spare = self.take_spare(record)
        if spare is not None and self.hand_over(spare, msg, fds):
            pid, page, ticks = spare.pid, spare.page, now_ticks()
        else:
            page = new_page()
            pid = os.fork()
            if pid == 0:
                become(self, msg, fds, page, prepare_child(self, record))
            ticks = proc_start(pid) or 0
        forked = time.monotonic_ns()
        for fd in fds:
            os.close(fd)
        run = Run(rid, pid, bool(msg.get("watch")), ticks)
        self.runs[pid] = run
        self.owner[pid] = (rid, run.start_ticks)
        self.send({"ev": "started", "id": rid, "pid": pid})
        if msg.get("steps"):
            run.steps = ([self.received, written, forked, time.monotonic_ns()], page)

    def take_spare(self, record):
        """The Spare, if one is waiting and prepared as this run needs; it is no longer spare."""
        spare, self.spare = self.spare, None
        if spare is not None and spare.record != record:
            self.spare = spare
            self.drop_spare()
            return None
        return spare

    def hand_over(self, spare, msg, fds):
        """Gives the Spare its run's request and streams; False if it is gone (killed: reap()
        reaps it)."""
        try:
            socket.send_fds(spare.sock, [json.dumps(msg).encode()], fds)
            return True
        except OSError:
            kill(spare.pid)
            return False
        finally:
            spare.sock.close()

    def make_spare(self):
        """Forks the Spare for the next run, when none is waiting (only while no run lives)."""
        if self.spare is not None or not self.spares_work:
            return
        record = self.record_hint
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        page = new_page()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return  # e.g. at the process limit: the next run is forked when it comes
        if pid == 0:
            ours.close()
            wait_for_run(self, theirs, page, prepare_child(self, record))
        theirs.close()
        self.spare = Spare(pid, ours, record, page)

    def drop_spare(self):
        if self.spare is not None:
            kill(self.spare.pid)  # reaped by reap()
            self.spare.sock.close()
            self.spare = None

    def reap(self):
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.runs.pop(pid, None)
            self.owner.pop(pid, None)
            if self.spare is not None and pid == self.spare.pid:
                # It ended before its run: the next is made only after a run has started, so a
                # spare that cannot live is not forked again and again.
                self.spare.sock.close()
                self.spare = None
                self.spares_work = False
            if run is None:
                continue  # an orphan we adopted, or the spare
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            cpu_ms = int((usage.ru_utime + usage.ru_stime) * 1000)
            reaped = time.monotonic_ns()
            self.kill_tree(run.id)
            if run.steps is not None:
                ours, page = run.steps
                theirs = [int.from_bytes(page[i:i + 8], "little") for i in range(0, 32, 8)]
                ns = ours + theirs + [self.woke, reaped, time.monotonic_ns()]
                self.send({"ev": "steps", "id": run.id, "ns": ns})
            self.send({"ev": "exit", "id": run.id, "code": code, "signal": sig, "cpu_ms": cpu_ms})

    def scan(self, report=False):
        """Attributes every process to a run; with `report`, tells which runs started listening."""
        procs = list_procs()
        mains = {pid for pid in self.runs}
        spare = self.spare.pid if self.spare is not None else None
        for pid, (ppid, ticks) in procs.items():
            if pid == self.me or pid == 1 or pid in mains or pid == spare:
                continue
            if self.owner.get(pid, (None, ticks))[1] != ticks:
                self.owner.pop(pid, None)  # pid reused
            if pid in self.owner:
                continue
            # Walk up to a run's main process.
            seen, cur = 0, ppid
            def known(p):  # an ancestor we attributed, and not a reused pid
                return p in self.owner and p in procs and self.owner[p][1] == procs[p][1]

            while cur in procs and cur not in mains and cur not in (self.me, 1) and seen < 64:
                if known(cur):
                    break
                cur, seen = procs[cur][0], seen + 1
            if cur in mains:
                self.owner[pid] = (self.runs[cur].id, ticks)
            elif known(cur):
                self.owner[pid] = (self.owner[cur][0], ticks)
            elif cur == self.me:
                # An orphan we adopted (we are the subreaper) but never saw in a run's tree:
                # blame the newest run started before it.
                cands = [r for r in self.runs.values() if r.start_ticks <= ticks]
                if cands:
                    newest = max(cands, key=lambda r: r.start_ticks)
                    self.owner[pid] = (newest.id, ticks)
                else:
                    kill(pid)
            # Anything else is not ours (outside a sandbox, the host's own processes).
        for run in list(self.runs.values()) if report else ():
            if run.watch and listening(run.pid):
                run.watch = False
                self.send({"ev": "listening", "id": run.id})

    def kill_tree(self, rid):
        """SIGKILLs every process attributed to run `rid`, until none is left."""
        if self.nothing_left(rid):
            for p in [p for p, (r, _) in self.owner.items() if r == rid]:
                self.owner.pop(p, None)
            return
        spare = self.spare.pid if self.spare is not None else None
        for _ in range(50):
            self.scan()
            live = list_procs()
            # Only processes still the ones we saw (same start time): never a reused pid.
            victims = [p for p, (r, t) in self.owner.items() if r == rid and p in live and live[p][1] == t]
            main = [p for p, run in self.runs.items() if run.id == rid]
            victims += main
            # Orphans with no owner at all belong to nobody: kill them too.
            victims += [p for p, (pp, _) in live.items() if pp == self.me and p not in self.runs and p not in self.owner and p != spare]
            victims = [p for p in set(victims) if p in live]
            if not victims:
                break
            for p in victims:
                kill(p)
            time.sleep(0.002)
            for p in victims:  # our adopted orphans; a run's main is reaped by reap()
                if p not in self.runs:
                    try:
                        os.waitpid(p, os.WNOHANG)
                    except ChildProcessError:
                        pass
        for p in [p for p, (r, _) in self.owner.items() if r == rid]:
            self.owner.pop(p, None)


    def nothing_left(self, rid):
        """True when no process of run `rid` can be alive, from one read: its main is gone and
        every child of ours is another run's main or the spare. (We are the subreaper: a process
        of `rid` whose main ended hangs, through its ancestors, from a child of ours that is
        neither.) False whenever that read fails or shows anything else."""
        allowed = {pid for pid, run in self.runs.items() if run.id != rid}
        if self.spare is not None:
            allowed.add(self.spare.pid)
        try:
            with open(f"/proc/self/task/{self.me}/children", "rb") as f:
                kids = {int(p) for p in f.read().split()}
        except (OSError, ValueError):
            return False
        return kids <= allowed


def write_file(name, fd):
    """Writes what pipe `fd` holds into the work dir as `name`, never through a link."""
    try:
        if not name or name.startswith(".") or not set(name) <= NAME_CHARS or len(name) > 64:
            raise OSError(22, "not a plain file name", name)
        path = os.path.join(WORK, name)
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        try:
            st = os.fstat(out)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
                raise OSError(21, "exists and is not a plain file", name)
            os.set_blocking(out, True)
            os.ftruncate(out, 0)
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                os.write(out, chunk)
        finally:
            os.close(out)
    except OSError as e:
        e.filename = e.filename or name
        raise
    finally:
        os.close(fd)


def read_file(name, limit, fd):
    """Writes "+" and the first `limit` bytes of work-dir file `name` into pipe `fd`, or "-" and
    why not. Never through a link; only a plain file."""
    try:
        try:
            if not name or name.startswith(".") or not set(name) <= NAME_CHARS or len(name) > 64:
                raise OSError(22, "not a plain file name")
            src = os.open(os.path.join(WORK, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as e:
            os.write(fd, b"-" + (e.strerror or str(e)).encode())
            return
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                os.write(fd, b"-not a plain file")
                return
            os.write(fd, b"+")
            left = limit
            while left > 0:
                chunk = os.read(src, min(65536, left))
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                left -= len(chunk)
        finally:
            os.close(src)
    except OSError:
        pass  # the backend stopped reading
    finally:
        os.close(fd)


def list_procs():
    """pid -> (ppid, start time in clock ticks) for every live (non-zombie) process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    rest = f.read().rsplit(b")", 1)[1].split()
                if rest[0] != b"Z":
                    out[int(name)] = (int(rest[1]), int(rest[19]))
            except (OSError, IndexError, ValueError):
                pass
    return out


def proc_start(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def listening(pid):
    """True when process `pid` holds a listening TCP or a bound UDP socket."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    if not inodes:
        return False
    for table, want_state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", None), ("udp6", None)):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[9] in inodes and (want_state is None or cols[3] == want_state):
                        return True
        except (OSError, StopIteration, IndexError):
            pass
    return False


def new_page():
    """A page shared with a run's child: its stamps under the `steps` tracing mode."""
    return mmap.mmap(-1, 32)


def now_ticks():
    """Now, in the clock ticks since boot that /proc/<pid>/stat's start times count."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLOCK_TICKS)


def prepare_child(agent, record):
    """In a forked child, what needs no run yet: its own session, none of the agent's ends,
    default signals, /work, and (with `record`) the recorder's hooks, returned. A child that
    cannot be prepared ends (it must never return into the agent's loop)."""
    try:
        return prepare(agent, record)
    except BaseException:  # noqa: BLE001
        os._exit(1)


def prepare(agent, record):
    os.setsid()
    signal.set_wakeup_fd(-1)
    for fd in (agent.wake_r, agent.wake_w):
        close_quietly(fd)
    agent.chan.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(WORK)
    if not record:
        return None
    recorder = Recorder()
    recorder.install()
    return recorder


def wait_for_run(agent, sock, page, recorder):
    """The Spare: waits for its run's request and streams, then becomes it. Never returns."""
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 65536, 5)
        sock.close()
        msg = json.loads(msg) if msg else None
    except BaseException:  # noqa: BLE001 - a spare that cannot get its run just ends
        os._exit(1)
    if not msg:
        os._exit(0)  # the agent dropped it
    become(agent, msg, fds, page, recorder)


def become(agent, msg, fds, page, recorder):
    """In the child: become the student's program. Never returns."""
    global STEPS
    STEPS = page if msg.get("steps") else None
    stamp(0)
    code = 1
    try:
        # The agent is not dumpable; its runs must be, like any program the student starts.
        agent.libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        # At the sandbox's memory limit the kernel ends the student's processes, never the
        # agent (a fork bomb's children together outweigh it, and the largest one would be
        # it). Raising one's own score needs no privilege once dumpable; the run's processes
        # inherit it.
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        extra = fds[3:]
        records = extra.pop(0) if msg.get("check") is not None else None
        record = extra.pop(0) if msg.get("record") else None
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
            if fd > 2:
                os.close(fd)
        if records is not None:
            os.set_inheritable(records, False)  # not into programs the student's code starts
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cpu = int(msg.get("cpu") or 0)
        if cpu:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        entry = os.path.join(WORK, msg["entry"])
        sys.argv = [msg["entry"]] + [str(a) for a in msg.get("args", [])]
        sys.path[0] = WORK
        if record is not None and recorder is not None:
            recorder.begin(record)
        elif record is not None:
            os.close(record)
        stamp(1)
        code = run_main(entry) if records is None else run_check(entry, msg["check"], records)
    except BaseException:
        traceback.print_exc()
    stamp(3)
    os._exit(code)


class Recorder:
    """Records, inside the student's program, what its timeline and its socket calls show:
    processes and threads (start, end, name), waits on locks, semaphores, conditions, events,
    queues, joins and children (with the student's line and, for locks, the holding thread),
    sleeps (time.sleep, select, and accept/recv/connect that block), send/recv/accept/connect
    with their sizes, which pool worker ran which task, and the turns of asyncio tasks and
    greenlets on their thread. One JSON line per event on a pipe only this run
    has (backend: sandbox/record.rs), written without waiting: what does not fit is dropped, so
    the program never slows on it. It changes no result: wrappers call the originals with the
    same arguments and return what they return; only `threading.Lock`/`RLock` become Python
    classes (so `type()` of a lock differs) and `time.sleep`/`select.select` Python functions. The program can write into this pipe or undo these
    hooks, so it can misdraw its own run's timeline and calls, never its packets (captured from
    outside) nor another run."""

    def __init__(self):
        self.fd = None  # the run's pipe, from `begin`
        self.begun = None  # what `begin` announces: the run's main process
        self.pid = os.getpid()
        self.prefix = os.path.join(WORK, "")
        # A forked child is announced at its first event, not at the fork: a fork bomb's
        # children, which do nothing recorded, cost nothing (see `forked`).
        self.announce = None
        self.encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one a line
        self.waiting = set()  # threads inside a recorded wait or sleep (nested ones are not recorded)

    def emit(self, event):
        self.write(self.encode(event) + "\n")

    def write(self, line):
        """Writes one whole JSON line (`emit` makes it from a dict; hot hooks format their own)."""
        if self.announce is not None:
            announce, self.announce = self.announce, None
            announce()
        if self.fd is None:
            return  # not begun: nothing of a run's yet
        try:
            os.write(self.fd, line.encode())
        except OSError:
            pass  # full (the backend fell behind) or closed: dropped

    def line(self):
        """The line of the student's code the current call comes from (0: none of theirs)."""
        f = sys._getframe(2)
        prefix = self.prefix
        while f is not None:
            if f.f_code.co_filename.startswith(prefix):
                return f.f_lineno
            f = f.f_back
        return 0

    def begin(self, fd):
        """The run starts: its events go into pipe `fd` from now on, the first its main process.
        (`install` may come well before, in a Spare.)"""
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)  # a program it execs is not recorded
        self.fd = fd
        self.begun()

    def install(self):
        import _thread
        import queue
        import threading

        self.native = threading.get_native_id
        rec = self
        emit, write = self.emit, self.write
        native = threading.get_native_id
        now = time.time_ns
        waiting = self.waiting

        def wait(on, obj, holder, block):
            """Runs `block()` as a recorded wait of the calling thread."""
            tid = native()
            if tid in waiting:
                return block()
            line = rec.line()
            if not line:
                return block()  # a wait inside the library, not at a line of theirs
            waiting.add(tid)
            write('{"k":"wait","us":%d,"pid":%d,"tid":%d,"on":"%s","obj":%d,"line":%d,"holder":%s}\n'
                  % (now() // 1000, rec.pid, tid, on, obj, line, "null" if holder is None else "%d" % holder))
            try:
                return block()
            finally:
                waiting.discard(tid)
                write('{"k":"wait_end","us":%d,"pid":%d,"tid":%d}\n' % (now() // 1000, rec.pid, tid))

        allocate, c_rlock = _thread.allocate_lock, _thread.RLock

        # A `with` of a lock is the hottest call a program makes: `__enter__` and `__exit__`
        # do their work in their own frame (no call of `acquire`/`release`) unless it waits.
        class Lock:
            __slots__ = ("_l", "_owner", "__weakref__")

            def __init__(self):
                self._l = allocate()
                self._owner = None

            def acquire(self, blocking=True, timeout=-1):
                if self._l.acquire(False):
                    self._owner = native()
                    return True
                if not blocking:
                    return False
                got = wait("lock", id(self), self._owner, lambda: self._l.acquire(True, timeout))
                if got:
                    self._owner = native()
                return got

            def __enter__(self):
                if self._l.acquire(False):
                    self._owner = native()
                    return True
                return self.acquire()

            def release(self):
                self._owner = None
                self._l.release()

            def __exit__(self, t, v, tb):
                self._owner = None
                self._l.release()

            def locked(self):
                return self._l.locked()

            def _at_fork_reinit(self):
                self._l._at_fork_reinit()
                self._owner = None

            def __repr__(self):
                return repr(self._l)

        class RLock:
            __slots__ = ("_l", "_owner", "_n", "__weakref__")

            def __init__(self):
                self._l = c_rlock()
                self._owner = None
                self._n = 0

            def acquire(self, blocking=True, timeout=-1):
                if not self._l.acquire(False):
                    if not blocking:
                        return False
                    if not wait("rlock", id(self), self._owner, lambda: self._l.acquire(True, timeout)):
                        return False
                self._owner = native()
                self._n += 1
                return True

            def __enter__(self):
                if self._l.acquire(False):
                    self._owner = native()
                    self._n += 1
                    return True
                return self.acquire()

            def release(self):
                if self._owner == native():
                    self._n -= 1
                    if self._n == 0:
                        self._owner = None
                self._l.release()

            def __exit__(self, t, v, tb):
                if self._owner == native():
                    self._n -= 1
                    if self._n == 0:
                        self._owner = None
                self._l.release()

            def _is_owned(self):
                return self._l._is_owned()

            def _release_save(self):
                state = (self._l._release_save(), self._n)
                self._owner, self._n = None, 0
                return state

            def _acquire_restore(self, state):
                self._l._acquire_restore(state[0])
                self._owner, self._n = native(), state[1]

            def _at_fork_reinit(self):
                self._l._at_fork_reinit()
                self._owner, self._n = None, 0

            def __repr__(self):
                return repr(self._l)

        threading.Lock, threading.RLock = Lock, RLock

        def blocking_first(cls, name, on, ready):
            """Wraps `cls.name` so a call that would block is recorded as a wait on `on`;
            `ready(self, args, kwargs)` says it will not block."""
            orig = getattr(cls, name)

            def wrapper(self, *args, **kwargs):
                if ready(self, args, kwargs):
                    return orig(self, *args, **kwargs)
                return wait(on, id(self), None, lambda: orig(self, *args, **kwargs))

            wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = orig.__name__, orig.__doc__, orig
            setattr(cls, name, wrapper)
            # `__enter__ = acquire` in the class body keeps the original: `with sem:` must wait
            # through the wrapper too.
            if cls.__dict__.get("__enter__") is orig:
                cls.__enter__ = wrapper

        def nonblocking(args, kwargs, at=0):
            return not kwargs.get("blocking", kwargs.get("block", args[at] if len(args) > at else True))

        blocking_first(threading.Semaphore, "acquire", "semaphore",
                       lambda s, a, k: nonblocking(a, k) or s._value > 0)
        blocking_first(threading.Condition, "wait", "condition", lambda s, a, k: False)
        blocking_first(threading.Event, "wait", "event", lambda s, a, k: s.is_set())
        blocking_first(threading.Thread, "join", "join", lambda s, a, k: not s.is_alive())
        blocking_first(queue.Queue, "get", "queue", lambda s, a, k: nonblocking(a, k) or s.qsize() > 0)
        blocking_first(queue.Queue, "put", "queue",
                       lambda s, a, k: nonblocking(a, k, 1) or s.maxsize <= 0 or s.qsize() < s.maxsize)

        thread_start = threading.Thread.start

        def start(self):  # its wait for the new thread to begin is no wait of the program's
            tid = native()
            inside = tid in waiting
            waiting.add(tid)
            try:
                return thread_start(self)
            finally:
                if not inside:
                    waiting.discard(tid)

        threading.Thread.start = start
        boot = threading.Thread._bootstrap_inner

        def bootstrap_inner(self):
            tid = native()
            emit({"k": "thread", "us": now() // 1000, "pid": rec.pid, "tid": tid, "name": clip(str(self.name))})
            try:
                boot(self)
            finally:
                emit({"k": "thread_end", "us": now() // 1000, "pid": rec.pid, "tid": tid})

        threading.Thread._bootstrap_inner = bootstrap_inner

        def process(name):
            rec.announce = None
            rec.pid = os.getpid()
            t = now() // 1000
            emit({"k": "process", "us": t, "pid": rec.pid, "ppid": os.getppid(), "name": clip(name)})
            emit({"k": "thread", "us": t, "pid": rec.pid, "tid": native(), "name": clip(threading.current_thread().name)})

        self.begun = lambda: process("MainProcess")

        def forked():
            rec.pid = os.getpid()
            rec.announce = lambda: process("fork")

        os.register_at_fork(after_in_child=forked)
        real_exit = os._exit

        def exit_(code):
            if rec.announce is None:  # announced: its lane ends here
                emit({"k": "process_end", "us": now() // 1000, "pid": os.getpid()})
            real_exit(code)

        os._exit = exit_
        try:
            import multiprocessing.process as mp

            mp_boot = mp.BaseProcess._bootstrap

            def mp_bootstrap(self, *args, **kwargs):
                process(str(self.name))  # the name the program gave it, once it is known
                return mp_boot(self, *args, **kwargs)

            mp.BaseProcess._bootstrap = mp_bootstrap
            blocking_first(mp.BaseProcess, "join", "child", lambda s, a, k: False)
        except ImportError:
            pass
        self.hook_sleeps()
        self.hook_sockets()
        self.hook_pools()

    def asleep(self, on, block):
        """Runs `block()` as a recorded sleep (`on`: shared::timeline::SleepOn) of the calling thread."""
        tid = self.native()
        waiting = self.waiting
        if tid in waiting:
            return block()
        waiting.add(tid)
        self.write('{"k":"sleep","us":%d,"pid":%d,"tid":%d,"on":"%s","line":%d}\n'
                   % (time.time_ns() // 1000, self.pid, tid, on, self.line()))
        try:
            return block()
        finally:
            waiting.discard(tid)
            self.write('{"k":"sleep_end","us":%d,"pid":%d,"tid":%d}\n' % (time.time_ns() // 1000, self.pid, tid))

    def hook_sleeps(self):
        """Records when a thread sleeps: off the CPU until time passes or a file descriptor is
        ready, not waiting for another thread. `time.sleep` with a positive time; `select.select`
        and a `selectors` selector's `select` (an asyncio loop's, a socketserver's) only when
        nothing is ready yet: they are asked first with a timeout of 0, which returns the same
        as the call would."""
        import selectors

        asleep, real_sleep, real_select = self.asleep, time.sleep, select.select

        def sleep(secs):
            if (type(secs) is float or type(secs) is int) and secs > 0:
                return asleep("sleep", lambda: real_sleep(secs))
            return real_sleep(secs)

        sleep.__name__, sleep.__doc__ = real_sleep.__name__, real_sleep.__doc__
        time.sleep = sleep
        seqs = (list, tuple)

        def select_(rlist, wlist, xlist, timeout=None):
            if timeout == 0 or not (type(rlist) in seqs and type(wlist) in seqs and type(xlist) in seqs):
                return real_select(rlist, wlist, xlist, timeout)
            ready = real_select(rlist, wlist, xlist, 0)
            if ready[0] or ready[1] or ready[2]:
                return ready
            return asleep("select", lambda: real_select(rlist, wlist, xlist, timeout))

        select_.__name__, select_.__doc__ = real_select.__name__, real_select.__doc__
        select.select = select_

        def selector(cls):
            orig = cls.__dict__["select"]

            def select_ready(self, timeout=None):
                if timeout is not None and timeout <= 0:
                    return orig(self, timeout)
                ready = orig(self, 0)
                if ready:
                    return ready
                return asleep("select", lambda: orig(self, timeout))

            select_ready.__name__, select_ready.__doc__, select_ready.__wrapped__ = orig.__name__, orig.__doc__, orig
            cls.select = select_ready

        for name in ("SelectSelector", "_PollLikeSelector", "EpollSelector"):
            cls = getattr(selectors, name, None)
            if cls is not None and "select" in cls.__dict__:
                selector(cls)

    def hook_sockets(self):
        """Records each send/recv/accept/connect of an IPv4 or IPv6 socket (`call`: its size,
        the student's line, both ports), and a read or connect that waits as a sleep. Cheap per
        call: a blocking socket's read is first made with MSG_DONTWAIT (when data waits, that
        is the read itself: no extra system call), and a connected TCP socket's ports are asked
        once and kept beside it (weakly: they go with the socket)."""
        import threading
        import weakref

        rec, native, now, write = self, threading.get_native_id, time.time_ns, self.write
        asleep, real_select = self.asleep, select.select
        c_sock = socket.socket.__mro__[1]  # _socket.socket, whose methods do the work
        # The plain numbers: `socket.socket.family` makes an enum member at every call.
        family_of, type_of = c_sock.__dict__["family"].__get__, c_sock.__dict__["type"].__get__
        inet = (int(socket.AF_INET), int(socket.AF_INET6))
        stream, dontwait = int(socket.SOCK_STREAM), socket.MSG_DONTWAIT
        known = weakref.WeakKeyDictionary()  # a connected TCP socket -> (its port, its peer's)

        def blocks(sock):
            """A read (accept, recv) on `sock` would block now: it blocks and nothing is ready."""
            if sock.timeout == 0:
                return False
            try:
                return not real_select((sock,), (), (), 0)[0]
            except (OSError, ValueError):  # closed, or past select's fd limit: its call says
                return False

        def ends(sock, peer):
            got = known.get(sock)
            if got is not None:
                return got
            try:
                port = sock.getsockname()[1]
            except OSError:
                port = 0
            # Fixed for the socket's life once a TCP socket is connected.
            fixed = peer is None and port != 0 and type_of(sock) == stream
            if peer is None:
                try:
                    peer = sock.getpeername()
                except OSError:
                    peer, fixed = None, False
            got = port, (peer[1] if isinstance(peer, tuple) and len(peer) > 1 else 0)
            if fixed:
                known[sock] = got
            return got

        def call(sock, op, size, t, peer=None):
            port, peer = ends(sock, peer)
            write('{"k":"call","us":%d,"pid":%d,"tid":%d,"op":"%s","len":%d,"line":%d,"port":%d,"peer":%d}\n'
                  % (t, rec.pid, native(), op, size, rec.line(), port, peer))

        def size_of(data):
            try:
                return memoryview(data).nbytes
            except TypeError:
                return 0

        send_orig, sendall_orig, sendto_orig = c_sock.send, c_sock.sendall, c_sock.sendto
        recv_orig, recvfrom_orig, recv_into_orig = c_sock.recv, c_sock.recvfrom, c_sock.recv_into

        def read(sock, orig, args, flags_at):
            """`orig(sock, *args)`, a read, recorded as a `recv` sleep when it waits. A blocking
            socket's is made without waiting first (its flags argument at `flags_at`, or given)."""
            n = len(args)
            if sock.timeout is None and 1 <= n <= flags_at + 1 and (n <= flags_at or isinstance(args[flags_at], int)):
                now_args = list(args[:flags_at]) + [0] * (flags_at - n) + [int(args[flags_at]) | dontwait if n > flags_at else dontwait]
                try:
                    return orig(sock, *now_args)
                except BlockingIOError:
                    return asleep("recv", lambda: orig(sock, *args))
            if blocks(sock):
                return asleep("recv", lambda: orig(sock, *args))
            return orig(sock, *args)

        def send(self, data, *args):
            t = now() // 1000
            n = send_orig(self, data, *args)
            if family_of(self) in inet:
                call(self, "send", n, t)
            return n

        def sendall(self, data, *args):
            t = now() // 1000
            r = sendall_orig(self, data, *args)
            if family_of(self) in inet:
                call(self, "sendall", size_of(data), t)
            return r

        def sendto(self, data, *args):
            t = now() // 1000
            n = sendto_orig(self, data, *args)
            if family_of(self) in inet:
                call(self, "sendto", n, t, args[-1] if args else None)
            return n

        def recv(self, *args):
            data = read(self, recv_orig, args, 1)
            if family_of(self) in inet:
                call(self, "recv", len(data), now() // 1000)
            return data

        def recvfrom(self, *args):
            got = read(self, recvfrom_orig, args, 1)
            if family_of(self) in inet:
                call(self, "recvfrom", len(got[0]), now() // 1000, got[1])
            return got

        def recv_into(self, *args, **kwargs):
            if kwargs:
                n = asleep("recv", lambda: recv_into_orig(self, *args, **kwargs)) if blocks(self) else recv_into_orig(self, *args, **kwargs)
            else:
                n = read(self, recv_into_orig, args, 2)
            if family_of(self) in inet:
                call(self, "recv_into", n, now() // 1000)
            return n

        accept_orig, connect_orig = socket.socket.accept, c_sock.connect

        def accept(self):
            got = asleep("accept", lambda: accept_orig(self)) if blocks(self) else accept_orig(self)
            if family_of(self) in inet:
                call(self, "accept", 0, now() // 1000, got[1])
            return got

        def connect(self, address):
            t = now() // 1000
            try:
                if self.timeout == 0:
                    return connect_orig(self, address)
                return asleep("connect", lambda: connect_orig(self, address))
            finally:
                if family_of(self) in inet:
                    call(self, "connect", 0, t, address)

        for f in (send, sendall, sendto, recv, recvfrom, recv_into, accept, connect):
            setattr(socket.socket, f.__name__, f)


    def hook_pools(self):
        """Records, in the pool's worker (the thread or process that runs it), each task of a
        `concurrent.futures` ThreadPoolExecutor or ProcessPoolExecutor and of a
        `multiprocessing.Pool`: its function's name and a short text of its arguments, from when
        the worker takes it to when it is done. The pool modules are hooked as the program
        imports them (a finder first on `sys.meta_path`), so a program without pools pays
        nothing. No frame is added to the task's call (its traceback is unchanged): a process
        worker's task is timed from taking it off the queue to handing its result back (before
        the result is on its way, so a pool that ends its workers once it has every result, as
        `with Pool():` does, cannot end one before its task's end is written)."""
        import functools
        import threading
        import types

        rec, native, now = self, threading.get_native_id, time.time_ns
        plain = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.MethodDescriptorType)

        def name_of(fn):
            while isinstance(fn, functools.partial):
                fn = fn.func
            return clip(fn.__qualname__ if isinstance(fn, plain) else type(fn).__qualname__)

        def short(v, depth=0):  # never the program's own __repr__: it could print or be slow
            t = type(v)
            if v is None or t is bool or t is float or (t is int and -10**18 < v < 10**18):
                return repr(v)
            if t is str or t is bytes:
                return repr(v[:24]) + ("…" if len(v) > 24 else "")
            if (t is tuple or t is list) and depth < 2:
                inner = ", ".join(short(x, depth + 1) for x in v[:4]) + (", …" if len(v) > 4 else "")
                return ("(%s)" if t is tuple else "[%s]") % inner
            return "<%s>" % t.__qualname__

        def call_text(args, kwargs):
            parts = [short(a) for a in args[:4]] + (["…"] if len(args) > 4 else [])
            parts += ["%s=%s" % (k, short(v)) for k, v in list(kwargs.items())[:2]]
            return ", ".join(parts)

        def chunk_text(calls):  # the calls of one chunk a pool's map hands a worker at once
            return "; ".join(call_text(a, {}) for a in calls[:3]) + ("; …" if len(calls) > 3 else "")

        quote = json.encoder.encode_basestring_ascii  # a JSON string, as json.dumps writes it
        write = rec.write

        def begin(name, args):  # formatted here: a pool of short tasks writes many
            write('{"k":"task","us":%d,"pid":%d,"tid":%d,"name":%s,"args":%s}\n'
                  % (now() // 1000, rec.pid, native(), quote(name), quote(clip(args))))

        def end():
            write('{"k":"task_end","us":%d,"pid":%d,"tid":%d}\n' % (now() // 1000, rec.pid, native()))

        class Tasks:
            """A process worker's queue: a task it takes runs until its result is handed back
            (`Results`), or else until the worker asks for the next."""

            def __init__(self, q, describe):
                self.q, self.describe, self.open = q, describe, False
                if hasattr(q, "_writer"):  # multiprocessing.pool.worker closes its copy
                    self._writer = q._writer

            def get(self, *args, **kwargs):
                self.close()
                item = self.q.get(*args, **kwargs)
                try:
                    what = self.describe(item)
                except Exception:  # noqa: BLE001 - an item of an unknown shape is not drawn
                    what = None
                if what:
                    begin(*what)
                    self.open = True
                return item

            def close(self):
                if self.open:
                    self.open = False
                    end()

        class Results:
            """A process worker's result queue: handing a result back ends the open task."""

            def __init__(self, q, tasks):
                self.q, self.tasks = q, tasks
                if hasattr(q, "_reader"):  # multiprocessing.pool.worker closes its copy
                    self._reader = q._reader

            def put(self, *args, **kwargs):
                self.tasks.close()
                return self.q.put(*args, **kwargs)

        def worker_with(orig, describe):
            def worker(q, results, *args, **kwargs):
                tasks = Tasks(q, describe)
                try:
                    return orig(tasks, Results(results, tasks), *args, **kwargs)
                finally:
                    tasks.close()

            # Pickled by reference (a spawned worker runs the original, unrecorded).
            worker.__module__, worker.__qualname__, worker.__name__ = orig.__module__, orig.__qualname__, orig.__name__
            return worker

        def thread_pool(module):
            run = module._WorkItem.run

            def run_recorded(self):
                if self.future.cancelled():
                    return run(self)
                begin(name_of(self.fn), call_text(self.args, self.kwargs))
                try:
                    return run(self)
                finally:
                    end()

            module._WorkItem.run = run_recorded

        def process_pool(module):
            def describe(item):
                if item is None:
                    return None
                fn, args = item.fn, item.args
                if isinstance(fn, functools.partial) and fn.func is module._process_chunk:
                    return name_of(fn.args[0]), chunk_text(args[0])
                return name_of(fn), call_text(args, item.kwargs)

            module._process_worker = worker_with(module._process_worker, describe)

        def mp_pool(module):
            def describe(task):
                if not isinstance(task, tuple) or len(task) != 5:
                    return None
                func, args, kwds = task[2], task[3], task[4]
                if func is module.mapstar:
                    return name_of(args[0][0]), chunk_text([(x,) for x in args[0][1][:4]])
                if func is module.starmapstar:
                    return name_of(args[0][0]), chunk_text(list(args[0][1][:4]))
                if func is module._helper_reraises_exception:
                    return None
                return name_of(func), call_text(args, kwds)

            module.worker = worker_with(module.worker, describe)

        hooks = {"concurrent.futures.thread": thread_pool, "concurrent.futures.process": process_pool,
                 "multiprocessing.pool": mp_pool}
        hooks.update(self.scheduler_hooks())

        class PoolFinder:
            """Hooks a pool module once its code has run (imports nothing itself)."""

            def find_spec(self, name, path, target=None):
                hook = hooks.pop(name, None)
                if hook is None:
                    return None
                for finder in sys.meta_path:
                    find = getattr(finder, "find_spec", None)
                    spec = find(name, path, target) if finder is not self and find else None
                    if spec is not None:
                        break
                else:
                    return None
                exec_module = spec.loader.exec_module

                def exec_and_hook(module):
                    exec_module(module)
                    hook(module)

                spec.loader.exec_module = exec_and_hook
                return spec

        for name in [n for n in hooks if n in sys.modules]:
            hooks.pop(name)(sys.modules[name])
        sys.meta_path.insert(0, PoolFinder())


    def scheduler_hooks(self):
        """Hooks, by the module they wait for, that record the turns tasks take on one thread:
        each step of an asyncio task (the event loop's `Handle._run` of a callback bound to a
        task: its `__step` or `__wakeup`) from when the loop runs it to when it gives the loop
        back, named by the task's name; and each greenlet's turn (`greenlet.settrace`, set for
        the thread that imports greenlet), written when it switches away, since a greenlet is
        named by its function only while it is suspended: the main one "main", gevent's by their
        `name` or class (Hub), a plain one by the function its frames begin with."""
        import weakref

        rec, native, now, write = self, self.native, time.time_ns, self.write
        quote = json.encoder.encode_basestring_ascii

        def asyncio_events(module):
            run = module.Handle._run
            task_type = []

            def run_recorded(self):
                task = getattr(self._callback, "__self__", None)
                if not task_type:
                    tasks = sys.modules.get("asyncio.tasks")
                    if tasks is None:
                        return run(self)
                    task_type.append(tasks.Task)
                if not isinstance(task, task_type[0]):
                    return run(self)
                try:
                    name = clip(str(task.get_name()))
                except Exception:  # noqa: BLE001 - a task subclass's own get_name failed
                    name = "task"
                tid = native()
                write('{"k":"step","us":%d,"pid":%d,"tid":%d,"of":"asyncio","name":%s}\n'
                      % (now() // 1000, rec.pid, tid, quote(name)))
                try:
                    return run(self)
                finally:
                    write('{"k":"step_end","us":%d,"pid":%d,"tid":%d}\n' % (now() // 1000, rec.pid, tid))

            module.Handle._run = run_recorded

        def greenlets(module):
            plain = module.greenlet
            names = weakref.WeakKeyDictionary()
            began = {}  # thread -> when the running greenlet's turn began

            def name_of(g):
                try:
                    name = names.get(g)
                except TypeError:
                    name = None
                if name:
                    return name
                if g.parent is None:
                    name = "main"
                elif type(g) is not plain:
                    name = getattr(g, "name", None)
                    if not (isinstance(name, str) and name):
                        name = type(g).__name__
                else:
                    f, bottom = g.gr_frame, None
                    while f is not None:
                        bottom, f = f, f.f_back
                    if bottom is None:
                        return "greenlet"  # ended in its first turn: never seen suspended
                    name = bottom.f_code.co_name
                name = clip(str(name))
                try:
                    names[g] = name
                except TypeError:
                    pass
                return name

            def trace(event, args):
                if event != "switch" and event != "throw":
                    return
                try:
                    t, tid = now() // 1000, native()
                    origin = args[0]
                    write('{"k":"step","us":%d,"pid":%d,"tid":%d,"of":"greenlet","name":%s}\n'
                          '{"k":"step_end","us":%d,"pid":%d,"tid":%d}\n'
                          % (began.get(tid, t), rec.pid, tid, quote(name_of(origin)), t, rec.pid, tid))
                    began[tid] = t
                except Exception:  # noqa: BLE001 - never raise into the switch
                    pass

            began[native()] = now() // 1000
            module.settrace(trace)

        return {"asyncio.events": asyncio_events, "greenlet": greenlets}


def clip(text, limit=60):
    """`text` in at most `limit` UTF-8 bytes (what `shared::timeline::MAX_NAME` allows)."""
    data = text.encode("utf-8", "replace")
    return text if len(data) <= limit else data[: limit - 3].decode("utf-8", "ignore") + "…"


def run_main(entry):
    """Runs `entry` as __main__ the way `python3 entry` would; returns the exit code."""
    code = 0
    interrupted = False
    try:
        run_as_main(entry)
        stamp(2)
    except SystemExit as e:
        code = exit_code(e)
    except KeyboardInterrupt as e:
        print_student_traceback(e, entry)
        interrupted = True
    except BaseException as e:  # noqa: BLE001 - this is the top level of the program
        print_student_traceback(e, entry)
        code = 1
    try:
        import threading

        threading._shutdown()
    except BaseException as e:  # noqa: BLE001
        print_student_traceback(e, entry)
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    flush_std()
    if interrupted:  # like CPython: die by SIGINT so the parent sees it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def run_as_main(entry):
    """Runs the file `entry` as `python3 entry` does: compiled from its bytes (so its coding
    line counts), in a fresh module that is `__main__` from then on. (runpy.run_path would
    also first try the file as a zip archive and as a cached .pyc: twice the time of a small
    program, for nothing a student's file needs.)"""
    with io.open_code(entry) as f:
        source = f.read()
    code = compile(source, entry, "exec", dont_inherit=True)
    main = type(sys)("__main__")
    main.__dict__.update(
        __file__=entry,
        __cached__=None,
        __builtins__=builtins,
        __loader__=importlib.machinery.SourceFileLoader("__main__", entry),
    )
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def run_check(entry, checks, records):
    """Imports `entry` as the module the checks import, then runs the checks with the harness;
    its records go to fd `records`. Returns the exit code. The student's own error (a
    SyntaxError, an exception at import) is printed as `python3 entry` would, and recorded."""
    write, dumps = os.write, json.dumps

    def emit(record):
        data = (dumps(record) + "\n").encode()
        while data:
            data = data[write(records, data):]

    emit({"plan": check_plan(checks)})
    code = 0
    try:
        importlib.import_module(os.path.basename(entry)[:-3])
    except SystemExit as e:
        code = exit_code(e) or 1
        emit({"error": f"SystemExit: {e.code} (the program ended before the checks ran)"})
    except BaseException as e:  # noqa: BLE001 - the student's code may raise anything
        print_student_traceback(e, entry)
        emit({"error": error_text(e, lambda f: f == entry)})
        code = 1
    else:
        if not run_checks(checks, {"__name__": "__check__"}, emit):
            code = 1
    try:
        import threading

        threading._shutdown()
    except BaseException:  # noqa: BLE001
        pass
    flush_std()
    return code


def flush_std():
    """Flushes what the program left buffered; a stream it closed or replaced is not our error."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def exit_code(e):
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    try:
        print(e.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001
        pass
    return 1


def print_student_traceback(e, entry):
    """CPython's traceback text without this agent's frames."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != entry:
        tb = tb.tb_next
    if tb is None and isinstance(e, SyntaxError):
        sys.stderr.write("".join(traceback.format_exception_only(type(e), e)))
    else:
        sys.stderr.write("".join(traceback.format_exception(type(e), e, tb)))
    sys.stderr.flush()


if __name__ == "__main__":
    main()
