# classbook's cell runner inside Pyodide: one namespace per lesson, CPython's traceback text
# without the runner's own frames, sleep that waits without spinning. Loaded by worker.js.
import builtins
import linecache
import sys
import time
import traceback

import _classbook

_namespaces = {}


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _classbook.sleep(float(seconds))


time.sleep = _sleep


def flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a student may have replaced the stream
            pass


def reset(namespace):
    _namespaces.pop(namespace, None)


def run(code, filename, namespace):
    """Runs one cell; returns the exit code (0 ok, 1 error, -2 interrupted)."""
    ns = _namespaces.get(namespace)
    if ns is None:
        ns = _namespaces[namespace] = {"__name__": "__main__", "__builtins__": builtins}
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    status = 0
    try:
        compiled = compile(code, filename, "exec")
        exec(compiled, ns)
    except SystemExit as e:
        status = 0 if e.code is None else (e.code if isinstance(e.code, int) else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt as e:
        _print_traceback(e)
        status = -2
    except BaseException as e:  # noqa: BLE001 - this is the top level of the cell
        _print_traceback(e)
        status = 1
    flush_std()
    return status


def _print_traceback(e):
    tb = e.__traceback__
    # Drop this runner's frame (and anything above the cell).
    while tb is not None and tb.tb_frame.f_code.co_filename == run.__code__.co_filename:
        tb = tb.tb_next
    if tb is None and isinstance(e, SyntaxError):
        text = traceback.format_exception_only(type(e), e)
    else:
        text = traceback.format_exception(type(e), e, tb)
    flush_std()
    sys.stderr.write("".join(text))
    flush_std()
