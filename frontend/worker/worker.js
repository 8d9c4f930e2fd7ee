// classbook's Python engine: Pyodide in a module Web Worker. Runs browser cells and streams
// their output; input() and time.sleep block until the page answers or Stop is pressed.
//
// Page -> worker: first {type: "init", control: SharedArrayBuffer} when the page is
// cross-origin isolated, else {type: "init", relay: URL}; then JSON strings
// (shared::worker::WorkerRequest). Worker -> page: JSON strings, each one WorkerEvent
// (shared::worker) or an array of them.
// Isolated (localhost, https): the control buffer (Int32Array view) is [0] interrupt signal
// (Pyodide's interrupt buffer, which the page writes), [1] stdin state (0 waiting, 1 data,
// 2 EOF), [2] stdin length, [3] wake counter, [4] the run Stop was last pressed for (the page
// writes it), [5] the run the worker is running (the worker writes it); bytes from offset 32:
// the stdin line.
// Plain http (the LAN): no shared memory exists, so input() and sleep wait in a synchronous
// request to the class server's relay, which answers when the page posts the line, EOF or
// Stop (backend/src/relay.rs); a busy loop cannot be interrupted and the page replaces the
// worker instead.

const t0 = performance.now();
// The steps of the start, as [name, epoch ms], posted with Ready: the page marks them on its
// own performance timeline (bench-browser prints them as the start's phases).
const marks = [];
const mark = (name) => marks.push([name, performance.timeOrigin + performance.now()]);
mark("worker script running");

const ENGINE_WASM = new URL("./pyodide/pyodide.asm.wasm", import.meta.url).href;
// Everything the start needs is asked for at once, here: the engine's scripts, its wasm
// (compiled while it downloads and while the snapshot arrives), the snapshot, the package
// list and our Python files. Nothing waits for anything else before it is requested; these
// URLs are relative to this script, which the page loads from a versioned path the server
// marks immutable, so a second visit takes them all from the HTTP cache (and V8 its compiled
// wasm from its code cache).
const early = {
  pyodide: import("./pyodide/pyodide.mjs"),
  engine: import("./pyodide/pyodide.asm.mjs"),
  wasm: WebAssembly.compileStreaming(fetch(ENGINE_WASM)),
  lockFile: fetch("./pyodide/pyodide-lock.json").then((r) => r.json()),
  snapshot: readSnapshot(fetch("./pyodide/snapshot.bin")),
  runner: source("runner.py"),
  check: source("check.py"),
  tracer: source("visualise.py"),
};
// Unobserved until used: a failure is reported where it is awaited, not as an unhandled rejection.
for (const p of [...Object.values(early), ...Object.values(early.snapshot)]) p.catch?.(() => {});

// The build-time memory snapshot (scripts/make_snapshot.py writes it without its zero pages):
// `sized` is Python's memory as soon as its length is known, `filled` when every page is in it.
// Pyodide sets up its engine with the first while the rest arrives. Both reject when this build
// has no snapshot, or it is not of this format; Python then starts bare.
function readSnapshot(response) {
  let size;
  const sized = new Promise((resolve, reject) => (size = { resolve, reject }));
  const filled = (async () => {
    try {
      const r = await response;
      mark("snapshot response");
      if (!r.ok) throw new Error(`snapshot.bin: HTTP ${r.status}`);
      const reader = r.body.getReader();
      let pending = new Uint8Array(0);
      const next = async () => {
        const { done, value } = await reader.read();
        if (done) throw new Error("snapshot.bin: cut short");
        return value;
      };
      const take = async (n) => {
        while (pending.length < n) {
          const more = await next();
          const both = new Uint8Array(pending.length + more.length);
          both.set(pending);
          both.set(more, pending.length);
          pending = both;
        }
        const out = pending.slice(0, n);
        pending = pending.subarray(n);
        return out;
      };
      const head = await take(16);
      const [length, page, pages] = new Uint32Array(head.buffer, 4, 3);
      if (new TextDecoder().decode(head.subarray(0, 4)) !== "CBS1" || pages !== Math.ceil(length / page)) {
        throw new Error("snapshot.bin: not a classbook snapshot");
      }
      const stored = await take(pages);
      const memory = new Uint8Array(length);
      size.resolve(memory);
      const nextStored = (from) => {
        while (from < pages && !stored[from]) from++;
        return from;
      };
      let at = nextStored(0); // the page being filled, and how much of it is
      let filledOfPage = 0;
      for (let chunk = pending; at < pages || chunk.length; chunk = at < pages ? await next() : new Uint8Array(0)) {
        let i = 0;
        while (i < chunk.length) {
          if (at >= pages) throw new Error("snapshot.bin: longer than its pages");
          const start = at * page;
          const n = Math.min(Math.min(page, length - start) - filledOfPage, chunk.length - i);
          memory.set(chunk.subarray(i, i + n), start + filledOfPage);
          i += n;
          filledOfPage += n;
          if (filledOfPage === Math.min(page, length - start)) [at, filledOfPage] = [nextStored(at + 1), 0];
        }
      }
      if (!(await reader.read()).done) throw new Error("snapshot.bin: longer than its pages");
      mark("snapshot body");
    } catch (e) {
      size.reject(e);
      throw e;
    }
  })();
  return { sized, filled };
}
const post = (obj) => self.postMessage(JSON.stringify(obj));
const progress = (fraction, message) => post({ kind: "Progress", fraction, message });

let pyodide = null;
let ctrl = null; // Int32Array over the shared control buffer (isolated pages)
let stdinBytes = null; // Uint8Array over its stdin area
let relay = null; // the relay's URL (plain http pages)
let interruptFlag = null; // Pyodide's interrupt buffer: ctrl's first cell, or our own
let current = null; // the run in progress: { id, out: {stdout, stderr}, last }
const queue = [];

// Output goes to the page at every complete line (a cell that prints, then computes for a
// long time in C, must show what it printed: nothing can flush it later), when the stream
// changes, and before input, sleep and the end. A partial line waits for its end, as on a
// line-buffered terminal. The page batches what arrives per frame.
function emit(stream, text) {
  if (!current || !text) return;
  const buf = current.out;
  if (buf.stream !== stream && buf.text) flushOutput();
  buf.stream = stream;
  buf.text += text;
  if (text.includes("\n") || buf.text.length > 65536) flushOutput();
}
function takeOutput() {
  if (!current || !current.out.text) return null;
  const ev = { kind: "Run", type: "Output", run_id: current.id, stream: current.out.stream, data: current.out.text };
  current.out.text = "";
  current.last = performance.now();
  return ev;
}
function flushOutput() {
  const ev = takeOutput();
  if (ev) post(ev);
}

function writer(stream) {
  const decoder = new TextDecoder();
  return {
    isatty: false,
    write(bytes) {
      emit(stream, decoder.decode(bytes, { stream: true }));
      return bytes.length;
    },
  };
}

// Standard input as a terminal gives it: each read returns what the student typed so far
// (one line), blocking until the page answers; an empty read is EOF. Stop raises
// KeyboardInterrupt. (Python's input() has flushed its prompt; calling Python here is not allowed.)
let pendingInput = new Uint8Array(0);
function readStdin(buffer) {
  if (pendingInput.length === 0) {
    flushOutput();
    post({ kind: "InputWanted", run_id: current.id });
    const line = relay ? relayLine() : sharedLine();
    if (line === null) return 0; // EOF
    pendingInput = line;
  }
  const n = Math.min(buffer.length, pendingInput.length);
  buffer.set(pendingInput.subarray(0, n));
  pendingInput = pendingInput.subarray(n);
  return n;
}

// Isolated: waits on the shared buffer, waking every 50 ms to honour Stop.
function sharedLine() {
  Atomics.store(ctrl, 1, 0);
  while (Atomics.load(ctrl, 1) === 0) {
    Atomics.wait(ctrl, 1, 0, 50);
    pyodide.checkInterrupt();
  }
  const state = Atomics.load(ctrl, 1);
  Atomics.store(ctrl, 1, 0);
  return state === 2 ? null : stdinBytes.slice(0, Atomics.load(ctrl, 2));
}

// Plain http: asks the relay until the page posts a line, EOF or Stop.
function relayLine() {
  for (;;) {
    const answer = relayWait("input", 20000);
    if (answer.kind === "line") return new TextEncoder().encode(answer.data);
    if (answer.kind === "eof") return null;
    if (answer.kind === "unreachable") {
      emit("stderr", "\nclassbook: input() cannot reach the class server; it reads end of input\n");
      return null;
    }
  }
}

// One blocking request to the relay: {kind: line|eof|interrupt|timeout|superseded|unreachable}.
// Stop arrives as "interrupt", raised here as KeyboardInterrupt through Pyodide's own check.
function relayWait(want, ms) {
  let answer = { kind: "unreachable" };
  try {
    const xhr = new XMLHttpRequest();
    xhr.open("GET", `${relay}?run=${current.id}&want=${want}&ms=${Math.ceil(ms)}`, false);
    xhr.send();
    if (xhr.status === 200) answer = JSON.parse(xhr.responseText);
  } catch (e) {
    console.warn("classbook: the relay did not answer:", e);
  }
  if (answer.kind === "interrupt") {
    interruptFlag[0] = 2;
    pyodide.checkInterrupt();
  }
  return answer;
}

// time.sleep without spinning the CPU; Stop wakes it at once. runner.py flushes first.
function sleep(seconds) {
  flushOutput();
  const end = performance.now() + Math.max(0, seconds) * 1000;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) break;
    if (ctrl) {
      // A wake for another run's Stop must not turn this wait into a spin: the count is read afresh.
      Atomics.wait(ctrl, 3, Atomics.load(ctrl, 3), Math.min(left, 100));
      pyodide.checkInterrupt();
    } else if (left < 4 || relayWait("sleep", left).kind === "unreachable") {
      // A request costs about a millisecond; without the server, the only way left is to spin.
      while (performance.now() < end) {}
    }
  }
}

// While the step-through tracer records, it asks here now and then whether Stop was pressed:
// on plain http nothing else could tell a running loop (the relay answers at once).
function poll() {
  if (relay && current) relayWait("sleep", 0);
}

function source(name) {
  return fetch(`./${name}`).then((r) => {
    if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
    return r.text();
  });
}

async function boot() {
  progress(0.05, "engine");
  pyodide = await loadEngine();
  progress(0.85, "start");
  await initialised;
  mark("page's init received");
  pyodide.setStdout(writer("stdout"));
  pyodide.setStderr(writer("stderr"));
  pyodide.setStdin({ read: readStdin, isatty: false });
  pyodide.setInterruptBuffer(interruptFlag);
  pyodide.registerJsModule("_classbook", { sleep, poll });
  // The exercise check harness (shared/src/check.py) first: runner.py's check_run uses it.
  execFile(await early.check, "/classbook/check.py");
  // The tracer is a module runner.py imports when a cell is stepped through.
  pyodide.FS.mkdirTree("/classbook");
  pyodide.FS.writeFile("/classbook/_classbook_visualise.py", await early.tracer);
  pyodide.runPython("import sys\nsys.path.append('/classbook')");
  execFile(await early.runner, "/classbook/runner.py");
  const runner = { run: pyodide.globals.get("run"), visualise: pyodide.globals.get("visualise") };
  checker = pyodide.globals.get("check_run");
  mark("runner ready");
  // When each of the engine's files arrived, and whether from the cache (nothing transferred).
  for (const r of performance.getEntriesByType("resource")) {
    const file = r.name.split("/").pop();
    const cached = r.transferSize === 0 && r.decodedBodySize > 0 ? " (cache)" : "";
    marks.push([`fetched ${file}${cached}`, performance.timeOrigin + r.responseEnd]);
  }
  post({ kind: "Ready", ms: performance.now() - t0, version: pyodide.version, marks });
  return runner;
}

// Runs one of our Python files in the main namespace: the code object compiled into the
// snapshot when it is of this very text (frontend/snapshot/make-worker.js), else compiled now.
// compile() of the text is about three times faster than runPython, which first builds the
// file's syntax tree as Python objects (runner.py: 27 ms against 81 ms in Node on this machine kind).
function execFile(source, filename) {
  pyodide.globals.set("_classbook_source", source);
  pyodide.runPython(`import sys
_classbook_made = getattr(sys, "_classbook_compiled", {}).get(${JSON.stringify(filename)})
exec(_classbook_made[1] if _classbook_made and _classbook_made[0] == _classbook_source
     else compile(_classbook_source, ${JSON.stringify(filename)}, "exec"))
del _classbook_source, _classbook_made`);
}

// Starts from the build-time memory snapshot (CPython already initialised, common modules
// imported) when the build has one; otherwise, or if this build refuses it, starts bare.
async function loadEngine() {
  const { loadPyodide } = await early.pyodide;
  const create = (await early.engine).default;
  const options = {
    indexURL: "./pyodide/",
    // Packages, were any loaded, come from this server too, never from Pyodide's CDN.
    packageBaseUrl: new URL("./pyodide/", import.meta.url).href,
    env: { HOME: "/home/student" },
    lockFileContents: early.lockFile,
    createPyodideModule: (settings) => create(withCompiledWasm(settings)),
  };
  const load = (extra) => withEngineFetched(() => loadPyodide({ ...options, ...extra }));
  try {
    // Called at once, so Pyodide starts its own requests (the standard library) now. It sets
    // up its engine as soon as the snapshot's length is known, and restores the snapshot
    // once that is done and every page has arrived.
    const py = await load({
      _loadSnapshot: early.snapshot.sized,
      createPyodideModule: async (settings) => {
        const engine = await create(withCompiledWasm(settings));
        await early.snapshot.filled;
        return engine;
      },
    });
    mark("Python restored from the snapshot");
    // A snapshot repeats its random state and forgets the environment: renew both.
    py.runPython("import os, random\nrandom.seed()\nos.environ['HOME'] = '/home/student'");
    return py;
  } catch (e) {
    console.warn("classbook: no memory snapshot, or it was refused; starting Python from scratch:", e);
  }
  return load({});
}

// Pyodide fetches its wasm as it starts, to compile it when it instantiates it (after the
// snapshot has arrived); ours is compiled from the first line (early.wasm). While `load` runs,
// Pyodide's request for the wasm is answered with an empty response instead of a second copy.
async function withEngineFetched(load) {
  const fetchFromNetwork = self.fetch;
  self.fetch = (resource, init) =>
    String(resource) === ENGINE_WASM ? Promise.resolve(new Response(null)) : fetchFromNetwork(resource, init);
  try {
    return await load();
  } finally {
    self.fetch = fetchFromNetwork;
  }
}

// Pyodide's own instantiateWasm stays in charge (it adds imports of its own), but its one call of
// WebAssembly.instantiateStreaming is answered with the module compiled early; if that compile
// failed, the wasm is fetched and compiled there as Pyodide would have.
function withCompiledWasm(settings) {
  const theirs = settings.instantiateWasm;
  if (!theirs) return settings;
  settings.instantiateWasm = (imports, receive) => {
    const streaming = WebAssembly.instantiateStreaming;
    WebAssembly.instantiateStreaming = async (_empty, withImports) => {
      WebAssembly.instantiateStreaming = streaming;
      const module = await early.wasm.catch((e) => console.warn("classbook: compiling the engine early failed:", e));
      if (!module) return streaming(fetch(ENGINE_WASM), withImports);
      mark("engine compiled");
      return { module, instance: await WebAssembly.instantiate(module, withImports) };
    };
    return theirs(imports, receive);
  };
  return settings;
}

// Loading starts as soon as the worker exists; the page's init message (the shared control
// buffer) is awaited only when Python must be wired to it.
let gotInit;
const initialised = new Promise((resolve) => (gotInit = resolve));
let runner = null;
let checker = null; // runner.py's check_run: the student's code, then the exercise's checks
async function start() {
  try {
    runner = await boot();
  } catch (e) {
    post({ kind: "LoadFailed", message: String(e && e.message ? e.message : e) });
    return;
  }
  for (const req of queue.splice(0)) enqueue(req);
}
start();

const MAY_AWAIT = /\basync\b|\bawait\b|asyncio/;

// Runs are served one at a time, in order.
let chain = Promise.resolve();
function enqueue(req) {
  chain = chain.then(() => execute(req));
}

async function execute(req) {
  if (req.type === "Run" || req.type === "Visualise") {
    current = { id: req.run_id, out: { stream: "stdout", text: "" }, last: performance.now() };
    pendingInput = new Uint8Array(0);
    const started = performance.now();
    // A Stop left over from an earlier run is cleared; one pressed for this run before it
    // started (the page shows a run as running once it is sent) stands. The page writes the
    // run's id before the signal, so whichever comes first, a Stop for this run is kept.
    if (ctrl) {
      Atomics.store(ctrl, 5, req.run_id);
      Atomics.store(ctrl, 0, 0);
      if (Atomics.load(ctrl, 4) >>> 0 === req.run_id) Atomics.store(ctrl, 0, 2);
    } else {
      interruptFlag[0] = 0;
    }
    // Every run is announced as it starts: a page that began it before it heard Ready (the
    // engine loading, or Ready still on its way) shows it as loading till then.
    post({ kind: "Run", type: "Started", run_id: req.run_id, pid: 0 });
    let code = 1;
    let records = null; // a checked run's records (JSON lines), posted as their own message
    try {
      // A cell that may await (asyncio.run) is entered "promising", so the wasm stack can
      // suspend (JSPI); others are called directly, which is faster. input() and sleep
      // block synchronously either way.
      // A cell stepped through runs under the tracer, which leaves its trace in last_trace.
      let fn, args;
      if (req.type === "Visualise") {
        [fn, args] = [runner.visualise, [req.code, req.filename, req.namespace, req.limit]];
      } else if (req.check != null) {
        [fn, args] = [checker, [req.code, req.filename, req.namespace, req.check]];
      } else {
        [fn, args] = [runner.run, [req.code, req.filename, req.namespace]];
      }
      const result = MAY_AWAIT.test(req.code + (req.check || "")) ? await fn.callPromising(...args) : fn(...args);
      if (req.check != null) {
        records = result;
        code = 0;
      } else {
        code = result;
      }
    } catch (e) {
      emit("stderr", `classbook: the engine failed: ${e}\n`);
    }
    // The end of a run is one message: its last output, its check records, whether it needs
    // the server, its exit.
    const last = [takeOutput()];
    if (req.type === "Visualise") {
      // Posted as text made here: the trace is JSON already, parsing it in the worker would only cost.
      const trace = pyodide.globals.get("last_trace") || "null";
      pyodide.globals.set("last_trace", "");
      self.postMessage(`{"kind":"Visual","run_id":${req.run_id},"trace":${trace}}`);
    }
    if (records !== null) last.push({ kind: "Checked", run_id: req.run_id, records });
    if (code === 3) {
      last.push({ kind: "NeedsServer", run_id: req.run_id, reason: pyodide.globals.get("last_reason") });
    }
    const interrupted = code === -2;
    last.push({
      kind: "Run", type: "Exit", run_id: req.run_id,
      code: interrupted ? null : code, signal: interrupted ? 2 : null,
      cpu_ms: 0, wall_ms: Math.round(performance.now() - started), truncated: false, reason: null,
    });
    post(last.filter(Boolean));
    current = null;
  }
}

self.onmessage = (event) => {
  const msg = event.data;
  if (typeof msg === "object" && msg.type === "init") {
    if (msg.control) {
      ctrl = new Int32Array(msg.control, 0, 8);
      stdinBytes = new Uint8Array(msg.control, 32);
      interruptFlag = ctrl.subarray(0, 1);
    } else {
      relay = msg.relay;
      interruptFlag = new Int32Array(1);
    }
    gotInit();
    return;
  }
  const req = JSON.parse(msg);
  if (runner) enqueue(req);
  else queue.push(req);
};
