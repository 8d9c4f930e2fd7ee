# classbook's exercise check harness, one for the browser (runner.py in the Pyodide worker) and
# the sandbox (agent.py): it runs an exercise's checks after the student's code and hands every
# result to `emit` as a record (a dict, one JSON line on the wire) — never through stdout, so
# nothing the student prints can pass or fail a check. shared/src/check.rs reads the records:
#   {"plan": [[line, description], ...]}   every check() call of the checks, before any runs
#   {"line": L, "description": D, "passed": bool}   one per check() call that ran
#   {"error": traceback}   the student's code or a check raised: what follows did not run
#   {"done": true}   the checks ran to their end
import ast
import sys
import traceback


def check_plan(source):
    """[line, description] of every check(...) call in `source`, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text = arg.value
            else:
                text = ast.get_source_segment(source, arg) or "?"
            sites.append([node.lineno, text])
    sites.sort()
    return sites


def error_text(e, keep):
    """CPython's traceback of `e`, from the first frame whose file name `keep` accepts."""
    tb = e.__traceback__
    while tb is not None and not keep(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    if tb is None and isinstance(e, SyntaxError):
        return "".join(traceback.format_exception_only(type(e), e))
    return "".join(traceback.format_exception(type(e), e, tb))


def run_checks(source, namespace, emit, filename="<check>"):
    """Runs the checks `source` in `namespace`: each check() call is one record; an exception
    ends them (the rest did not run). Returns True when the checks ran to their end."""
    harness = run_checks.__code__.co_filename

    def check(description, condition):
        caller = sys._getframe(1)
        # Only the checks' own calls count: a student's function that calls check() fails.
        if caller.f_code.co_filename != filename:
            raise RuntimeError("check() is for the exercise's checks, not the student's code")
        emit({"line": caller.f_lineno, "description": str(description), "passed": bool(condition)})

    namespace["check"] = check
    try:
        exec(compile(source, filename, "exec"), namespace)
    except BaseException as e:  # noqa: BLE001 - the student's function may raise anything
        emit({"error": error_text(e, lambda f: f != harness)})
        return False
    emit({"done": True})
    return True
