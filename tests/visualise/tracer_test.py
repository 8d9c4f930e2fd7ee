# Unit tests of the step-through tracer (frontend/worker/visualise.py) against known programs.
# Run by the host's python3 (python3 -m unittest tests/visualise/tracer_test.py) and inside Pyodide by tracer.mjs.
import io
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("CLASSBOOK_WORKER_DIR", os.path.join(HERE, "../../frontend/worker")))
import visualise  # noqa: E402

FILENAME = "<cell>"


def record(code, limit=visualise.DEFAULT_LIMIT):
    """Runs `code` as a cell under the tracer: (trace, the exception that ended it or None)."""
    rec = visualise.Recorder(FILENAME, limit)
    ns = {"__name__": "__main__"}
    ended = None
    saved = sys.stdout
    sys.stdout = io.StringIO()  # the cell's prints stay out of the test's report
    try:
        rec.run(compile(code, FILENAME, "exec"), ns)
    except BaseException as e:  # noqa: BLE001
        ended = e
    finally:
        sys.stdout = saved
        trace = rec.trace()
        rec.release()
    return trace, ended


class Replay:
    """The state at each step, rebuilt from the diffs as the page's player does."""

    def __init__(self, trace):
        self.steps = trace["steps"]

    def heap(self, n):
        heap = {}
        for step in self.steps[: n + 1]:
            for k, v in step.get("h", {}).items():
                heap[int(k)] = v
        return heap

    def var(self, n, frame, name):
        for f in self.steps[n]["s"]:
            if f["n"] == frame:
                for k, v in f["v"]:
                    if k == name:
                        return v
        raise KeyError((n, frame, name))

    def last(self, pred):
        return max(i for i, s in enumerate(self.steps) if pred(s))


COUNTER = """\
def make_counter():
    count = 0
    def up():
        nonlocal count
        count += 1
        return count
    def get():
        return count
    return up, get

up, get = make_counter()
up()
up()
done = get()
"""


class Closures(unittest.TestCase):
    def test_two_functions_share_one_cell_and_nonlocal_rebinds_it(self):
        trace, ended = record(COUNTER)
        self.assertIsNone(ended)
        r = Replay(trace)
        end = len(r.steps) - 1
        heap = r.heap(end)
        up, get = r.var(end, "<module>", "up"), r.var(end, "<module>", "get")
        self.assertEqual(heap[up]["k"], "function")
        [(name_u, cell_u)] = heap[up]["cells"]
        [(name_g, cell_g)] = heap[get]["cells"]
        self.assertEqual((name_u, name_g), ("count", "count"))
        self.assertEqual(cell_u, cell_g, "one cell, shared by both functions")
        self.assertEqual(heap[cell_u], {"t": "cell", "k": "cell", "value": "2"})
        self.assertEqual(r.var(end, "<module>", "done"), "2")
        # The cell's value went 0 -> 1 -> 2, each change recorded once at the step it happened.
        values = [s["h"][str(cell_u)]["value"] for s in r.steps if str(cell_u) in s.get("h", {})]
        self.assertEqual(values, ["0", "1", "2"])


DECORATED = """\
import functools

def timer(f):
    @functools.wraps(f)
    def timed(*args):
        return f(*args)
    return timed

def cache(f):
    memo = {}
    def cached(n):
        if n not in memo:
            memo[n] = f(n)
        return memo[n]
    return cached

@timer
@cache
def square(n):
    return n * n

x = square(3)
"""


class Decorators(unittest.TestCase):
    def test_stacked_decorators_read_as_a_chain(self):
        trace, _ = record(DECORATED)
        r = Replay(trace)
        end = len(r.steps) - 1
        heap = r.heap(end)
        timed = heap[r.var(end, "<module>", "square")]
        self.assertEqual(timed["name"], "timer.<locals>.timed")
        cached_id = dict(timed["cells"])["f"]
        cached_ref = heap[cached_id]["value"]
        self.assertEqual(timed["wrapped"], cached_ref, "functools.wraps' __wrapped__ is the inner function")
        cached = heap[cached_ref]
        self.assertEqual(cached["name"], "cache.<locals>.cached")
        original = heap[heap[dict(cached["cells"])["f"]]["value"]]
        self.assertEqual(original["name"], "square")
        memo = heap[heap[dict(cached["cells"])["memo"]]["value"]]
        self.assertEqual(memo["items"], [["3", "9"]])
        self.assertEqual(r.var(end, "<module>", "x"), "9")
        returns = [s for s in r.steps if s["e"] == "return" and s["s"][-1]["n"] == "square"]
        self.assertEqual([s["r"] for s in returns], ["9"])


GENERATOR = """\
def countdown(n):
    while n > 0:
        yield n
        n -= 1

g = countdown(2)
a = next(g)
b = next(g)
rest = list(g)
"""


class Generators(unittest.TestCase):
    def test_a_generator_is_created_suspended_between_next_calls_then_closed(self):
        trace, _ = record(GENERATOR)
        r = Replay(trace)

        def gen_at(line):
            n = next(i for i, s in enumerate(r.steps) if s["e"] == "line" and s["l"] == line and len(s["s"]) == 1)
            return r.heap(n)[r.var(n, "<module>", "g")]

        created = gen_at(7)
        self.assertEqual((created["k"], created["state"], created["vars"]), ("generator", "created", [["n", "2"]]))
        suspended = gen_at(8)
        self.assertEqual(suspended["state"], "suspended")
        self.assertEqual(suspended["line"], 3, "resumes at its yield")
        self.assertEqual(suspended["vars"], [["n", "2"]])
        after_second = gen_at(9)
        self.assertEqual(after_second["vars"], [["n", "1"]])
        end = len(r.steps) - 1
        self.assertEqual(r.heap(end)[r.var(end, "<module>", "g")]["state"], "closed")
        running = [s for s in r.steps if len(s["s"]) == 2 and s["s"][1]["n"] == "countdown"]
        self.assertTrue(running, "the generator's own frame is on the stack while it runs")


ALIAS = """\
a = [1, 2]
b = a
b.append(3)
c = [1, 2, 3]
"""


class Aliasing(unittest.TestCase):
    def test_two_names_one_list_and_its_mutation_is_one_diff(self):
        trace, _ = record(ALIAS)
        r = Replay(trace)
        end = len(r.steps) - 1
        a, b, c = (r.var(end, "<module>", n) for n in "abc")
        self.assertEqual(a, b)
        self.assertNotEqual(a, c, "an equal list is another object")
        mutated = next(i for i, s in enumerate(r.steps) if s["l"] == 4)
        self.assertEqual(r.steps[mutated]["h"], {str(a): {"t": "list", "k": "seq", "items": ["1", "2", "3"]}})
        # The list is sent when it appears and when it changes, never again unchanged.
        sends = [i for i, s in enumerate(r.steps) if str(a) in s.get("h", {})]
        self.assertEqual(len(sends), 2)


class Limits(unittest.TestCase):
    def test_a_long_loop_stops_at_the_limit_with_what_was_recorded(self):
        trace, ended = record("total = 0\nfor i in range(6000):\n    total += i\n")
        self.assertIsInstance(ended, visualise.StepLimit)
        self.assertEqual(trace["cut"], "limit")
        self.assertEqual(len(trace["steps"]), visualise.DEFAULT_LIMIT)
        self.assertEqual(trace["limit"], 10_000)

    def test_large_containers_are_abbreviated_with_a_count(self):
        trace, _ = record("big = list(range(100))\nx = 1\n")
        r = Replay(trace)
        big = r.heap(len(r.steps) - 1)[r.var(len(r.steps) - 1, "<module>", "big")]
        self.assertEqual(len(big["items"]), visualise.MAX_ITEMS)
        self.assertEqual(big["more"], 100 - visualise.MAX_ITEMS)

    def test_deep_recursion_elides_the_middle_frames(self):
        trace, _ = record("def down(n):\n    return 0 if n == 0 else down(n - 1)\n\ndown(30)\n")
        deepest = max(trace["steps"], key=lambda s: len(s["s"]) + s.get("k", 0))
        self.assertEqual(len(deepest["s"]), 2 * visualise.HALF_STACK)
        self.assertEqual(deepest["k"], 32 - 2 * visualise.HALF_STACK)
        self.assertEqual(deepest["s"][0]["n"], "<module>")
        self.assertEqual([v for _, v in deepest["s"][-1]["v"]], ["0"])


class Values(unittest.TestCase):
    def test_values_are_drawn_with_repr_semantics(self):
        trace, _ = record("f = 0.1 + 0.2\ns = \"it's\"\nn = None\nt = (1,)\nz = 1\n")
        r = Replay(trace)
        end = len(r.steps) - 1
        self.assertEqual(r.var(end, "<module>", "f"), "0.30000000000000004")
        self.assertEqual(r.var(end, "<module>", "s"), '"it\'s"')
        self.assertEqual(r.var(end, "<module>", "n"), "None")
        self.assertEqual(r.heap(end)[r.var(end, "<module>", "t")]["items"], ["1"])

    def test_exception_in_a_nested_call_is_recorded_at_its_step(self):
        code = "def inner(x):\n    return 1 / x\n\ndef outer():\n    return inner(0)\n\nouter()\n"
        trace, ended = record(code)
        self.assertIsInstance(ended, ZeroDivisionError)
        first = next(s for s in trace["steps"] if s["e"] == "exception")
        self.assertEqual(first["x"], "ZeroDivisionError: division by zero")
        self.assertEqual([f["n"] for f in first["s"]], ["<module>", "outer", "inner"])
        self.assertEqual(first["l"], 2)
        unwinding = [s for s in trace["steps"] if s["e"] == "return"]
        self.assertTrue(all("r" not in s for s in unwinding), "a frame left by an exception returns no value")

    def test_output_so_far_is_recorded_at_the_step_that_printed(self):
        trace, _ = record("print('a')\nprint('b')\nx = 1\n")
        outputs = [s.get("o") for s in trace["steps"]]
        self.assertEqual(outputs, [None, "a\n", "b\n", None], "the last step is the module's return")

    def test_frames_list_locals_in_the_order_they_were_bound(self):
        trace, _ = record("def f():\n    b = 1\n    a = 2\n    return a\n\nf()\n")
        step = next(s for s in trace["steps"] if s["e"] == "return")
        self.assertEqual([k for k, _ in step["s"][-1]["v"]], ["b", "a"])
        self.assertEqual(step["r"], "2")


OOP = """\
class Animal:
    kind = "animal"
    def speak(self):
        return "..."

class Dog(Animal):
    def __init__(self, name):
        self.name = name

class Point:
    __slots__ = ("x", "y")
    def __init__(self, x, y):
        self.x = x
        self.y = y

d = Dog("rex")
p = Point(1, 2)
m = d.speak
it = iter([d])
z = 0
"""


class Objects(unittest.TestCase):
    def test_instances_classes_mro_slots_and_bound_methods(self):
        trace, _ = record(OOP)
        r = Replay(trace)
        end = len(r.steps) - 1
        heap = r.heap(end)
        d = r.var(end, "<module>", "d")
        self.assertEqual(heap[d]["k"], "instance")
        self.assertEqual(heap[d]["attrs"], [["name", "'rex'"]])
        dog = heap[heap[d]["class"]]
        self.assertEqual((dog["k"], dog["mro"]), ("class", ["Dog", "Animal", "object"]))
        self.assertEqual([k for k, _ in dog["attrs"]], ["__init__"])
        animal = heap[r.var(end, "<module>", "Animal")]
        self.assertEqual(dict(animal["attrs"])["kind"], "'animal'")
        p = heap[r.var(end, "<module>", "p")]
        self.assertEqual((p["attrs"], p.get("slots")), ([["x", "1"], ["y", "2"]], True))
        self.assertEqual(heap[r.var(end, "<module>", "Point")]["slots"], ["x", "y"])
        m = heap[r.var(end, "<module>", "m")]
        self.assertEqual((m["k"], m["self"]), ("method", d))
        self.assertEqual(heap[m["func"]]["name"], "Animal.speak")
        init = next(s["s"][-1] for s in r.steps if s["s"][-1]["n"] == "__init__")
        self.assertEqual(init["q"], "Dog.__init__", "a method's frame says whose method it is")
        it = heap[r.var(end, "<module>", "it")]
        self.assertEqual((it["k"], it["t"]), ("iterator", "list_iterator"))


class Ids(unittest.TestCase):
    def test_ids_are_never_reused_for_another_object(self):
        trace, _ = record("for i in range(3):\n    x = [i]\n")
        r = Replay(trace)
        ids = {r.var(n, "<module>", "x") for n in range(len(r.steps)) if any(k == "x" for k, _ in r.steps[n]["s"][0]["v"])}
        self.assertEqual(len(ids), 3, "three lists, three ids, though CPython may reuse an address")


if __name__ == "__main__":
    unittest.main()
