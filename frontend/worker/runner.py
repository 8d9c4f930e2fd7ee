# classbook's cell runner inside Pyodide: one namespace per lesson, CPython's traceback text
# without the runner's own frames, sleep that waits without spinning. Loaded by worker.js.
import ast
import builtins
import json
import linecache
import os
import sys
import time
import traceback
import types

import _classbook

_namespaces = {}

# Why the last run could not work in a browser (read by worker.js when run() returns 3).
last_reason = ""
# The traceback of the last run that raised, for the check harness's records.
last_error = ""
NEEDS_SERVER = 3

# Modules whose purpose is what a browser cannot give: real sockets and processes.
# (Pyodide imports them, and socket.bind even "succeeds", but nothing can connect.)
_SERVER_MODULES = {
    "socket": "网络套接字 (socket)",
    "socketserver": "网络服务器 (socketserver)",
    "selectors": "I/O 多路复用 (selectors)",
    "subprocess": "子进程 (subprocess)",
    "multiprocessing": "多进程 (multiprocessing)",
}


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    flush_std()  # what was printed before the sleep shows during it
    _classbook.sleep(float(seconds))


time.sleep = _sleep


def flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a student may have replaced the stream
            pass


def _imports_needing_server(code):
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in _SERVER_MODULES:
                return _SERVER_MODULES[top]
    return None


def _limit_hit(e):
    """What a browser cannot do that exception `e` shows the cell tried, or None."""
    text = str(e)
    if isinstance(e, RuntimeError) and "can't start new thread" in text:
        return "启动线程 (threading.Thread.start)"
    if isinstance(e, OSError) and e.errno == 138:
        return "启动进程 (subprocess / os.exec*)"
    if isinstance(e, OSError) and e.errno == 52 and "fork" in "".join(traceback.format_tb(e.__traceback__)):
        return "复制进程 (os.fork)"
    if isinstance(e, ModuleNotFoundError) and e.name in ("_multiprocessing", "_posixsubprocess", "resource"):
        return f"模块 {e.name}"
    if type(e).__name__ == "ZoneInfoNotFoundError":
        return "时区数据库 (zoneinfo / tzdata)"
    return None


def _explain(what):
    global last_reason
    last_reason = what
    sys.stderr.write(
        f"这段代码需要浏览器做不到的事：{what}。\n"
        "浏览器里的 Python 没有真正的操作系统；请点“在服务器上运行”，在你的沙箱里用真正的 python3 运行它。\n"
    )


# The last step-through's trace as JSON (read by worker.js after visualise() returns).
last_trace = ""


def visualise(code, filename, namespace, limit):
    """Runs one cell under the step-through tracer (visualise.py); returns as run() does and
    leaves the trace in `last_trace`."""
    global last_trace
    import json

    import _classbook_visualise

    recorder = _classbook_visualise.Recorder(filename, int(limit), poll=_classbook.poll)
    try:
        status = run(code, filename, namespace, recorder)
        last_trace = json.dumps(recorder.trace(), ensure_ascii=False, separators=(",", ":"))
    finally:
        recorder.release()
    return status


def run(code, filename, namespace, recorder=None):
    """Runs one cell; returns 0 (ok), 1 (error), -2 (interrupted) or 3 (needs the server)."""
    global last_reason, last_error
    last_reason = last_error = ""
    need = _imports_needing_server(code)
    if need:
        _explain(need)
        flush_std()
        return NEEDS_SERVER
    # Each namespace is a real __main__ module while its cells run, as in a script, so
    # pickle (and anything else that looks classes up in sys.modules) finds what cells define.
    main = _namespaces.get(namespace)
    if main is None:
        main = _namespaces[namespace] = types.ModuleType("__main__")
        main.__builtins__ = builtins
    sys.modules["__main__"] = main
    ns = main.__dict__
    # Each lesson has its own folder (in memory, like the rest of the browser's files).
    home = os.path.join("/home/student", namespace)
    os.makedirs(home, exist_ok=True)
    os.chdir(home)
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    status = 0
    try:
        compiled = compile(code, filename, "exec")
        if recorder is None:
            exec(compiled, ns)
        else:
            recorder.run(compiled, ns)
    except SystemExit as e:
        status = 0 if e.code is None else (e.code if isinstance(e.code, int) else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
        if status:
            last_error = f"SystemExit: {e.code}"

    except KeyboardInterrupt as e:
        _print_traceback(e)
        status = -2
    except BaseException as e:  # noqa: BLE001 - this is the top level of the cell
        if recorder is not None and recorder.cut == "limit":
            # The trace is full: the run ends there, which the player says; no traceback.
            flush_std()
            return 0
        _print_traceback(e)
        status = 1
        limit = _limit_hit(e)
        if limit:
            _explain(limit)
            status = NEEDS_SERVER
    flush_std()
    return status


def _print_traceback(e):
    global last_error
    # Drop this runner's frame (and anything above the cell).
    last_error = error_text(e, lambda f: f != run.__code__.co_filename)
    flush_std()
    sys.stderr.write(last_error)
    flush_std()


def check_run(code, filename, namespace, checks):
    """Runs the student's `code` in a fresh `namespace`, then the exercise's `checks` there
    (check.py, loaded before this file). Returns the harness's records as JSON lines: they go
    to the page as their own message, never through the output the student's code writes."""
    records = []
    emit = records.append
    emit({"plan": check_plan(checks)})
    status = run(code, filename, namespace)
    if status != 0:
        emit({"error": last_error or last_reason or f"exit status {status}"})
    else:
        run_checks(checks, _namespaces[namespace].__dict__, emit)
    flush_std()
    _namespaces.pop(namespace, None)
    return "\n".join(json.dumps(r) for r in records)
