#!/usr/bin/python3
"""Local stand-in for the sandbox checker: runs every server cell of the course with
/usr/bin/python3 in a scratch directory and compares outputs with the ```output blocks.

Groups: files start in order; each next file starts once the previous one listens on a socket
(a TCP socket in LISTEN or a bound UDP socket), or exits, or after 3 s. Exercises: the solution
is written as its file (file= or <cell-id>.py) and the check runs as _check.py next to it; all
checks must pass; every tests/exercises/<lesson>/<cell>.wrong*.py must fail at least one check.

usage: /usr/bin/python3 tests/course/server_cells.py [COURSE_DIR] [LESSON_ID ...]
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
CHECK_DEF = (
    "def check(description, condition):\n"
    "    print(('\\u2714 ' if condition else '\\u2718 ') + str(description), flush=True)\n\n"
)


def norm(s):
    return "\n".join(line.rstrip() for line in s.splitlines()).rstrip()


def matches(expected, actual):
    want, got = norm(expected["text"]), norm(actual)
    if not expected["loose"]:
        return want == got
    parts = want.split("...")
    rest = got
    for i, part in enumerate(parts):
        if i == 0:
            if not rest.startswith(part):
                return False
            rest = rest[len(part):]
        elif i == len(parts) - 1:
            return rest.endswith(part)
        else:
            at = rest.find(part)
            if at < 0:
                return False
            rest = rest[at + len(part):]
    return rest == ""


def socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", link)
            if m:
                inodes.add(m.group(1))
    except OSError:
        pass
    return inodes


def listening(pid):
    """True once the process (or a child) has a listening TCP or bound UDP socket."""
    pids = {pid}
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids |= {int(p) for p in out.split()}
    except OSError:
        pass
    inodes = set()
    for p in pids:
        inodes |= socket_inodes(p)
    if not inodes:
        return False
    for table, tcp in (("tcp", True), ("tcp6", True), ("udp", False), ("udp6", False)):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            port = int(f[1].rsplit(":", 1)[1], 16)
            if f[9] in inodes and port != 0 and (f[3] == "0A" if tcp else True):
                return True
    return False


def run_group(cells, workdir, timeout=15):
    """Writes all files, starts them in order; returns {cell id: (output, seconds)}."""
    for c in cells:
        (workdir / c["_file"]).write_text(c["code"] + "\n", encoding="utf-8")
    procs = []
    t0 = time.time()
    for c in cells:
        if not c.get("start", True):
            continue
        outf = open(workdir / f".{c['_file']}.out", "w+b")
        p = subprocess.Popen(
            [PYTHON, c["_file"]], cwd=workdir, stdin=subprocess.PIPE, stdout=outf,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"},
        )
        if c.get("stdin"):
            p.stdin.write(c["stdin"].encode())
        p.stdin.close()
        procs.append((c, p, outf, time.time()))
        deadline = time.time() + 3
        while time.time() < deadline and p.poll() is None and not listening(p.pid):
            time.sleep(0.02)
    results = {}
    for c, p, outf, started in procs:
        try:
            p.wait(timeout=max(0.1, timeout - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        outf.seek(0)
        results[c["id"]] = (outf.read().decode("utf-8", "replace"), time.time() - started, p.returncode)
        outf.close()
    return results


def run_exercise(cell, code, workdir):
    name = cell.get("file") or f"{cell['id']}.py"
    (workdir / name).write_text(code + "\n", encoding="utf-8")
    (workdir / "_check.py").write_text(CHECK_DEF + cell["exercise"]["check"] + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    try:
        r = subprocess.run([PYTHON, "_check.py"], cwd=workdir, capture_output=True, text=True, timeout=20, env=env,
                           input=cell.get("stdin") or "")
        out, code_ = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired:
        out, code_ = "timeout", 1
    ok = len(re.findall(r"^\u2714 ", out, re.M))
    bad = len(re.findall(r"^\u2718 ", out, re.M))
    return ok, bad, code_ != 0, out


def main():
    args = sys.argv[1:]
    course = Path(args.pop(0)) if args and Path(args[0]).is_dir() else ROOT / "course"
    only = set(args)
    lessons = json.loads(subprocess.check_output(
        [str(ROOT / "target/release/classbook"), "check-course", str(course), "--json"]))
    passed = failed = 0
    for lesson in lessons:
        if only and lesson["id"] not in only:
            continue
        units = []
        for b in lesson["blocks"]:
            if b["kind"] == "cell" and b["runtime"] == "server":
                units.append([b])
            elif b["kind"] == "group" and b["runtime"] == "server":
                units.append(b["files"])
        for unit in units:
            with tempfile.TemporaryDirectory(prefix="cb-") as tmp:
                tmp = Path(tmp)
                ex = unit[0].get("exercise")
                if ex:
                    cell = unit[0]
                    ok, bad, err, out = run_exercise(cell, ex.get("solution") or "", tmp)
                    where = f"{lesson['id']}:{cell['line']}: {cell['id']}"
                    if err or bad or not ok:
                        failed += 1
                        print(f"{where}: solution fails ({ok} ok, {bad} bad, error={err})\n{out}")
                    else:
                        passed += 1
                    wdir = ROOT / "tests/exercises" / lesson["id"]
                    wrongs = sorted(wdir.glob(cell["id"] + ".wrong*.py")) if wdir.exists() else []
                    if not wrongs:
                        failed += 1
                        print(f"{where}: no wrong solution")
                    for w in wrongs:
                        for f in tmp.iterdir():
                            f.unlink()
                        ok, bad, err, out = run_exercise(cell, w.read_text(encoding="utf-8"), tmp)
                        if not (err or bad):
                            failed += 1
                            print(f"{where}: wrong solution {w.name} passes\n{out}")
                        else:
                            passed += 1
                    continue
                for c in unit:
                    c["_file"] = c.get("file") or f"{c['id']}.py"
                res = run_group(unit, tmp)
                for c in unit:
                    if c["id"] not in res:
                        continue
                    out, secs, rc = res[c["id"]]
                    where = f"{lesson['id']}:{c['line']}: {c['id']} ({secs:.2f} s)"
                    if not c.get("expected"):
                        failed += 1
                        print(f"{where}: no output block")
                    elif matches(c["expected"], out):
                        passed += 1
                        if secs > 3:
                            print(f"{where}: slow")
                    else:
                        failed += 1
                        print(f"{where}: output differs, got:\n{out}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
