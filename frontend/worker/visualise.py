# classbook's step-through tracer: runs one cell under sys.settrace and records each step (line,
# call, return, exception) as a compact diff; the page's visualiser replays it. Loaded by worker.js.
#
# The trace (JSON, the shape of shared/src/visualise.rs):
#   {"steps": [step...], "limit": N, "cut": null | "limit" | "stopped"}
#   step: {"e": event, "l": line, "s": [frame...], "k": frames elided, "h": {id: object} (only
#          the objects new or changed since the previous step), "o": output since the previous
#          step, "r": value returned (return steps), "x": "Type: message" (exception steps)}
#   frame: {"i": frame id, "n": name ("<module>" for the globals), "q": qualified name when it
#           differs ("Child.hello"), "l": line, "v": [[name, value]...] in the order first bound}
#   value: an int is the id of a heap object; a string is a primitive's repr, drawn inline.
# Object ids are stable for one object identity across all steps: every object drawn is kept
# alive until the trace is done, so CPython never reuses its address for another.
import inspect
import operator
import sys
import types

DEFAULT_LIMIT = 10_000
# Items of a container recorded; the rest is counted ("more").
MAX_ITEMS = 40
# A stack deeper than this keeps its outermost and innermost HALF_STACK frames.
HALF_STACK = 8
MAX_REPR = 120
# Names of the globals that are the machinery's, not the student's.
_HIDDEN_GLOBALS = {"__builtins__", "__name__", "__doc__", "__package__", "__loader__", "__spec__", "__file__", "__cached__"}
_HIDDEN_CLASS_ATTRS = {
    "__module__", "__dict__", "__weakref__", "__doc__", "__qualname__", "__firstlineno__",
    "__static_attributes__", "__annotations__", "__annotate__", "__annotate_func__",
    "__annotations_cache__", "__slots__", "__classdictcell__", "__classcell__",
}
_PRIMITIVES = {type(None), bool, int, float, complex, str, bytes}
_GEN_STATES = {
    "GEN_CREATED": "created", "GEN_RUNNING": "running", "GEN_SUSPENDED": "suspended", "GEN_CLOSED": "closed",
}


class StepLimit(BaseException):
    """Raised into the cell when the trace is full: the run ends there, the trace is kept."""


def short_repr(value):
    """`repr(value)` as CPython prints it, cut to MAX_REPR characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
        text = f"<int with {value.bit_length()} bits>"
    except Exception as e:  # noqa: BLE001 - a student's __repr__ may fail
        text = f"<{type(value).__name__}: repr failed: {type(e).__name__}>"
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 1] + "…"


class _Tee:
    """A stream that records what the cell writes and passes it on."""

    def __init__(self, inner, sink):
        self._inner, self._sink = inner, sink

    def write(self, text):
        self._sink.append(text)
        return self._inner.write(text)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Recorder:
    def __init__(self, filename, limit=DEFAULT_LIMIT, poll=None):
        self.filename = filename
        self.limit = limit
        self.poll = poll  # called now and then while recording (to hear Stop where nothing else can)
        self.steps = []
        self.cut = None
        self._ids = {}  # id(obj) -> our id
        self._keep = []  # every object given an id, alive till the trace ends
        self._sent = {}  # our id -> the encoding last recorded
        self._cache = {}  # our id -> (what it held, its encoding, the objects it refers to)
        self._frames = {}  # id(frame) -> (our frame id, names in first-bound order, the frame)
        self._frame_cache = {}  # our frame id -> (names, their values, encoded, objects named)
        self._output = []
        self._top = None  # the innermost frame of the step before, and its stack
        self._last_stack = ([], 0)
        self._unwinding = set()  # frames an exception is leaving

    # --- ids -------------------------------------------------------------------------------

    def _id(self, obj):
        key = id(obj)
        n = self._ids.get(key)
        if n is None:
            n = self._ids[key] = len(self._keep) + 1
            self._keep.append(obj)
        return n

    # --- values and objects ------------------------------------------------------------------

    def _value(self, obj, todo):
        """A primitive's repr (drawn inline) or the id of a heap object (queued for encoding)."""
        if type(obj) in _PRIMITIVES:
            return short_repr(obj)
        if isinstance(obj, type) and obj.__module__ == "builtins":
            return short_repr(obj)
        n = self._id(obj)
        todo.append(n)
        return n

    def _items(self, values, todo):
        out = []
        for i, v in enumerate(values):
            if i == MAX_ITEMS:
                break
            out.append(self._value(v, todo))
        return out

    def _encode(self, obj, todo):
        t = type(obj)
        enc = {"t": t.__name__}
        if t in (list, tuple, set, frozenset):
            items = obj if t in (list, tuple) else _sorted_if_possible(obj)
            enc["k"] = "seq"
            enc["items"] = self._items(items, todo)
            if len(obj) > MAX_ITEMS:
                enc["more"] = len(obj) - MAX_ITEMS
        elif t is dict:
            pairs = []
            for i, (k, v) in enumerate(obj.items()):
                if i == MAX_ITEMS:
                    break
                pairs.append([self._value(k, todo), self._value(v, todo)])
            enc["k"] = "dict"
            enc["items"] = pairs
            if len(obj) > MAX_ITEMS:
                enc["more"] = len(obj) - MAX_ITEMS
        elif t is types.FunctionType:
            enc["k"] = "function"
            # The code's own name: functools.wraps gives a wrapper its wrapped function's.
            enc["name"] = obj.__code__.co_qualname
            enc["line"] = obj.__code__.co_firstlineno
            cells = obj.__closure__ or ()
            enc["cells"] = [[name, self._value(c, todo)] for name, c in zip(obj.__code__.co_freevars, cells)]
            wrapped = obj.__dict__.get("__wrapped__")
            if wrapped is not None:
                enc["wrapped"] = self._value(wrapped, todo)
        elif t is types.CellType:
            enc["k"] = "cell"
            try:
                enc["value"] = self._value(obj.cell_contents, todo)
            except ValueError:  # empty: the name is not bound yet
                pass
        elif t is types.GeneratorType:
            enc["k"] = "generator"
            enc["name"] = obj.__qualname__
            enc["state"] = _GEN_STATES[inspect.getgeneratorstate(obj)]
            frame = obj.gi_frame
            if frame is not None and enc["state"] != "running":
                enc["line"] = frame.f_lineno
                enc["vars"] = [[k, self._value(v, todo)] for k, v in frame.f_locals.items()]
        elif t is types.MethodType:
            enc["k"] = "method"
            enc["name"] = obj.__func__.__qualname__
            enc["self"] = self._value(obj.__self__, todo)
            enc["func"] = self._value(obj.__func__, todo)
        elif isinstance(obj, type):
            enc["k"] = "class"
            enc["name"] = obj.__qualname__
            enc["mro"] = [c.__qualname__ for c in obj.__mro__]
            slots = obj.__dict__.get("__slots__")
            if slots is not None:
                enc["slots"] = [slots] if isinstance(slots, str) else list(slots)
            enc["attrs"] = [
                [k, self._value(v, todo)]
                for k, v in obj.__dict__.items()
                if k not in _HIDDEN_CLASS_ATTRS and type(v).__name__ not in ("member_descriptor", "getset_descriptor")
            ]
        elif t.__module__ == "__main__":
            enc["k"] = "instance"
            enc["class"] = self._value(t, todo)
            attrs = [[k, self._value(v, todo)] for k, v in getattr(obj, "__dict__", {}).items()]
            slotted = False
            for cls in t.__mro__:
                slots = cls.__dict__.get("__slots__", ())
                for name in [slots] if isinstance(slots, str) else slots:
                    if name in ("__dict__", "__weakref__"):
                        continue
                    slotted = True
                    try:
                        attrs.append([name, self._value(getattr(obj, name), todo)])
                    except AttributeError:
                        pass
            enc["attrs"] = attrs
            if slotted:
                enc["slots"] = True
        else:
            over = _iterated(obj)
            if over is not None:
                enc["k"] = "iterator"
                # What a recipe names may be a fresh copy (a range, a dict's keys): drawn by
                # repr unless it is an object already drawn, so no step invents an identity.
                known = id(over[0]) in self._ids or type(over[0]) in _PRIMITIVES
                enc["over"] = self._value(over[0], todo) if known else short_repr(over[0])
                if over[1] is not None:
                    enc["index"] = over[1]
            else:
                enc["k"] = "other"
                enc["repr"] = short_repr(obj)
        return enc

    def _encode_fresh(self, n, obj, snap, todo):
        """Encodes object `n` (whose references are `snap`) and caches it; the encoding sent
        before when nothing shown changed, so the step sends nothing."""
        children = []
        try:
            enc = self._encode(obj, children)
        except Exception:  # noqa: BLE001 - an odd object is drawn by its repr, never breaks the run
            enc = {"t": type(obj).__name__, "k": "other", "repr": short_repr(obj)}
        if self._sent.get(n) == enc:
            enc = self._sent[n]
        if snap is not None:
            self._cache[n] = (snap, enc, children)
        todo.extend(children)
        return enc

    # --- steps ---------------------------------------------------------------------------------

    def _frame_vars(self, frame, is_module, todo):
        key = id(frame)
        entry = self._frames.get(key)
        if entry is None:
            entry = self._frames[key] = (len(self._frames) + 1, [], frame)
        fid, order, _ = entry
        names = frame.f_globals if is_module else frame.f_locals
        current = [k for k in names if not (is_module and (k in _HIDDEN_GLOBALS or k.startswith("__")))]
        if len(current) != len(order) or current != order[: len(current)]:
            known = set(order)
            order.extend(k for k in current if k not in known)
            present = set(current)
            shown = [k for k in order if k in present]
        else:
            shown = current
        values = [names[k] for k in shown]
        cached = self._frame_cache.get(fid)
        if cached is not None and cached[0] == shown and all(map(operator.is_, cached[1], values)):
            todo.extend(cached[3])
            return fid, cached[2]
        children = []
        encoded = [[k, self._value(v, children)] for k, v in zip(shown, values)]
        self._frame_cache[fid] = (shown, values, encoded, children)
        todo.extend(children)
        return fid, encoded

    def _stack(self, frame):
        frames = []
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                frames.append(frame)
            frame = frame.f_back
        frames.reverse()
        elided = 0
        if len(frames) > 2 * HALF_STACK:
            elided = len(frames) - 2 * HALF_STACK
            frames = frames[:HALF_STACK] + frames[-HALF_STACK:]
        return frames, elided

    def record(self, frame, event, arg):
        if len(self.steps) >= self.limit:
            self.cut = "limit"
            raise StepLimit()
        if self.poll is not None and len(self.steps) % 256 == 0:
            self.poll()
        todo = []
        # A line step in the frame of the step before has the same stack: no walk up it.
        if event == "line" and frame is self._top:
            frames, elided = self._last_stack
        else:
            frames, elided = self._last_stack = self._stack(frame)
            self._top = frame
        stack = []
        for f in frames:
            is_module = f.f_code.co_name == "<module>"
            fid, names = self._frame_vars(f, is_module, todo)
            entry = {"i": fid, "n": f.f_code.co_name, "l": f.f_lineno, "v": names}
            if f.f_code.co_qualname != f.f_code.co_name:
                entry["q"] = f.f_code.co_qualname
            stack.append(entry)
        step = {"e": event, "l": frame.f_lineno, "s": stack}
        if elided:
            step["k"] = elided
        if event == "return" and id(frame) not in self._unwinding:
            step["r"] = self._value(arg, todo)
        if event == "exception":
            self._unwinding.add(id(frame))
            step["x"] = f"{arg[0].__name__}: {arg[1]}" if str(arg[1]) else arg[0].__name__
        elif event == "line":
            self._unwinding.discard(id(frame))
        changed = {}
        seen = set()
        keep, cache, same = self._keep, self._cache, operator.is_
        # The heap walk, the tracer's cost: an object holding the very same objects as when it
        # was last encoded is not encoded again (most objects do not change at most steps).
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            obj = keep[n - 1]
            t = type(obj)
            snap = tuple(obj) if t is list or t is tuple else _snapshot(obj, t)
            cached = cache.get(n)
            if cached is not None and snap is not None:
                before = cached[0]
                if len(before) == len(snap) and all(map(same, before, snap)):
                    todo.extend(cached[2])
                    continue
            enc = self._encode_fresh(n, obj, snap, todo)
            if self._sent.get(n) is not enc:
                self._sent[n] = enc
                changed[str(n)] = enc
        if changed:
            step["h"] = changed
        if self._output:
            step["o"] = "".join(self._output)
            self._output.clear()
        self.steps.append(step)

    def _trace(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename:
            return None
        if not (event == "call" and frame.f_code.co_name == "<module>"):
            self.record(frame, event, arg)
        return self._trace

    def run(self, code_object, namespace):
        """Executes `code_object` in `namespace` under the tracer; exceptions propagate
        (StepLimit too), and the trace is complete however the run ends."""
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, self._output), _Tee(err, self._output)
        sys.settrace(self._trace)
        try:
            exec(code_object, namespace)
        except KeyboardInterrupt:
            self.cut = "stopped"
            raise
        finally:
            sys.settrace(None)
            sys.stdout, sys.stderr = out, err
            if self._output and self.steps:
                self.steps[-1]["o"] = self.steps[-1].get("o", "") + "".join(self._output)
                self._output.clear()

    def trace(self):
        return {"steps": self.steps, "limit": self.limit, "cut": self.cut}

    def release(self):
        """Lets go of every object the trace kept alive."""
        self._keep.clear()
        self._frames.clear()
        self._frame_cache.clear()
        self._cache.clear()
        self._top, self._last_stack = None, ([], 0)


def _snapshot(obj, t):
    """What an object refers to, as a tuple compared by identity from step to step; None for
    objects whose encoding is made afresh at every step (generators, iterators, others)."""
    if t in (list, tuple, set, frozenset):
        return tuple(obj)
    if t is dict:
        return tuple(obj) + tuple(obj.values())
    if t is types.CellType:
        try:
            return (obj.cell_contents,)
        except ValueError:
            return ()
    if t is types.FunctionType:
        return (obj.__dict__.get("__wrapped__"),)
    if t is types.MethodType:
        return (obj.__self__, obj.__func__)
    if t.__module__ == "__main__" and not isinstance(obj, type) and "__slots__" not in t.__dict__:
        d = getattr(obj, "__dict__", None)
        if d is not None and not any("__slots__" in c.__dict__ for c in t.__mro__):
            return tuple(d) + tuple(d.values())
    return None


def _sorted_if_possible(items):
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def _iterated(obj):
    """(what a built-in iterator iterates over, its position) from its pickling recipe, or None."""
    t = type(obj)
    if t.__module__ != "builtins" or not t.__name__.endswith("iterator"):
        return None
    try:
        recipe = obj.__reduce__()
    except Exception:  # noqa: BLE001
        return None
    if len(recipe) >= 2 and isinstance(recipe[1], tuple) and recipe[1]:
        position = recipe[2] if len(recipe) > 2 and isinstance(recipe[2], int) else None
        return recipe[1][0], position
    return None
