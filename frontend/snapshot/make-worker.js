// Build-time only: loads Pyodide the way the page's worker does, imports what cells use
// (worker/preload.py), and returns a memory snapshot for the page's worker to start from.
import { loadPyodide } from "/pyodide/pyodide.mjs";

try {
  const py = await loadPyodide({ indexURL: "/pyodide/", env: { HOME: "/home/student" }, _makeSnapshot: true });
  const preload = await (await fetch("/_snapshot/preload.py")).text();
  py.runPython(preload, { filename: "/classbook/preload.py" });
  // Our own Python files, compiled here: worker.js runs these code objects when its file's text
  // is the same (the snapshot is made from the same build), instead of compiling it at every start.
  for (const name of ["check.py", "runner.py"]) {
    py.globals.set("_classbook_source", await (await fetch(`/${name}`)).text());
    py.runPython(`import sys
f = "/classbook/${name}"
sys.__dict__.setdefault("_classbook_compiled", {})[f] = (_classbook_source, compile(_classbook_source, f, "exec"))
del _classbook_source, f`);
  }
  const snapshot = py.makeMemorySnapshot();
  self.postMessage({ snapshot }, [snapshot.buffer]);
} catch (e) {
  self.postMessage({ error: String(e && e.stack ? e.stack : e) });
}
