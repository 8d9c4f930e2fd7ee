// Build-time only: loads Pyodide the way the page's worker does, imports what cells use
// (worker/preload.py), and returns a memory snapshot for the page's worker to start from.
import { loadPyodide } from "/pyodide/pyodide.mjs";

try {
  const py = await loadPyodide({ indexURL: "/pyodide/", env: { HOME: "/home/student" }, _makeSnapshot: true });
  const preload = await (await fetch("/_snapshot/preload.py")).text();
  py.runPython(preload, { filename: "/classbook/preload.py" });
  const snapshot = py.makeMemorySnapshot();
  self.postMessage({ snapshot }, [snapshot.buffer]);
} catch (e) {
  self.postMessage({ error: String(e && e.stack ? e.stack : e) });
}
