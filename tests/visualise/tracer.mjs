// Runs the tracer's unit tests (tracer_test.py) inside Pyodide under node: the CPython the page
// really runs, which is newer than the host's python3.  usage: node tests/visualise/tracer.mjs
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYODIDE = join(ROOT, "frontend/node_modules/pyodide/pyodide.mjs");
const { loadPyodide } = await import(PYODIDE);
const pyodide = await loadPyodide({ indexURL: dirname(PYODIDE) + "/" });
pyodide.FS.mkdirTree("/tracer/worker");
pyodide.FS.writeFile("/tracer/worker/visualise.py", readFileSync(join(ROOT, "frontend/worker/visualise.py")));
pyodide.FS.writeFile("/tracer/tracer_test.py", readFileSync(join(ROOT, "tests/visualise/tracer_test.py")));
const ok = pyodide.runPython(`
import os, sys, unittest
os.environ["CLASSBOOK_WORKER_DIR"] = "/tracer/worker"
sys.path.insert(0, "/tracer")
print("Python", sys.version.split()[0])
suite = unittest.defaultTestLoader.loadTestsFromName("tracer_test")
unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(suite).wasSuccessful()
`);
process.exit(ok ? 0 : 1);
