// Runs every browser cell of the course in Pyodide, the way the page's worker does, and
// compares each output with the lesson's ```output block. Exercises: the solution must pass
// all its checks, every wrong solution in tests/exercises/<lesson>/<cell>.wrong*.py must fail.
//
// usage: node tests/course/browser_cells.mjs [COURSE_DIR | LESSONS.json | CLASSBOOK_BINARY]
//   default: runs target/release/classbook check-course course --json from the repo root.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PYODIDE = join(ROOT, "frontend/node_modules/pyodide/pyodide.mjs");
const RUNNER = join(ROOT, "frontend/worker/runner.py");
const BINARY = join(ROOT, "target/release/classbook");

// ---- the lessons ---------------------------------------------------------------------------
function loadLessons(arg) {
  let courseDir = join(ROOT, "course");
  let json;
  if (arg && arg.endsWith(".json")) {
    json = readFileSync(arg, "utf8");
  } else {
    let binary = BINARY;
    if (arg && existsSync(arg) && statSync(arg).isDirectory()) courseDir = resolve(arg);
    else if (arg) binary = resolve(arg);
    json = execFileSync(binary, ["check-course", courseDir, "--json"], { encoding: "utf8", maxBuffer: 1 << 28 });
  }
  return { lessons: JSON.parse(json), courseDir };
}

// "lesson id|language" -> file name (front matter `id:` or the file name without .md; a
// translation `name.en.md` is in English, `name.md` in the course's first language, zh).
function lessonFiles(courseDir) {
  const map = new Map();
  if (!existsSync(courseDir)) return map;
  for (const name of readdirSync(courseDir)) {
    const m = /^([^.]+)(?:\.([a-z]+))?\.md$/.exec(name);
    if (!m || name === "README.md") continue;
    const text = readFileSync(join(courseDir, name), "utf8");
    const fm = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
    const idLine = fm && /^id:\s*([^\s#]+)/m.exec(fm[1]);
    map.set(`${idLine ? idLine[1] : m[1]}|${m[2] ?? "zh"}`, name);
  }
  return map;
}
const fileOf = (lesson) => files.get(`${lesson.id}|${lesson.lang || "zh"}`) ?? lesson.id + ".md";

// ---- output comparison (same rule as shared::course::output_matches) ------------------------
function norm(s) {
  return s.split(/\r?\n/).map((l) => l.trimEnd()).join("\n").trimEnd();
}
function outputMatches(expected, actual) {
  const want = norm(expected.text);
  const got = norm(actual);
  if (!expected.loose) return want === got;
  const parts = want.split("...");
  let rest = got;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === 0) {
      if (!rest.startsWith(part)) return false;
      rest = rest.slice(part.length);
    } else if (i === parts.length - 1) {
      return rest.endsWith(part);
    } else {
      const at = rest.indexOf(part);
      if (at < 0) return false;
      rest = rest.slice(at + part.length);
    }
  }
  return rest.length === 0;
}

function firstDifference(expected, actual) {
  const want = norm(expected.text).split("\n");
  const got = norm(actual).split("\n");
  if (expected.loose) {
    return `output does not match the loose pattern\n  expected:\n${indent(want)}\n  got:\n${indent(got)}`;
  }
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) {
      return `output line ${i + 1} differs: expected ${JSON.stringify(want[i] ?? "<end>")}, got ${JSON.stringify(got[i] ?? "<end>")}` +
        `\n  full output:\n${indent(got)}`;
    }
  }
  return "output differs";
}
const indent = (lines) => lines.map((l) => "    | " + l).join("\n");

// ---- the engine ----------------------------------------------------------------------------
const { loadPyodide } = await import(PYODIDE);
const pyodide = await loadPyodide({ indexURL: dirname(PYODIDE) + "/", env: { HOME: "/home/student" } });

let captured = "";
function writer() {
  const decoder = new TextDecoder();
  return { isatty: false, write(bytes) { captured += decoder.decode(bytes, { stream: true }); return bytes.length; } };
}
let stdinLines = [];
pyodide.setStdout(writer());
pyodide.setStderr(writer());
pyodide.setStdin({
  stdin: () => (stdinLines.length ? stdinLines.shift() : null),
  autoEOF: false,
  isatty: false,
});
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
pyodide.registerJsModule("_classbook", {
  sleep(seconds) {
    flushPython();
    const ms = Math.max(0, seconds) * 1000;
    if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
  },
});
let flushPython = () => {};
// The check harness the page uses (shared/src/check.py), loaded before the runner as worker.js does.
pyodide.runPython(readFileSync(join(ROOT, "shared/src/check.py"), "utf8"), { filename: "/classbook/check.py" });
pyodide.runPython(readFileSync(RUNNER, "utf8"), { filename: "/classbook/runner.py" });
const checkRun = pyodide.globals.get("check_run");
const run = pyodide.globals.get("run");
// Namespaces are never reused (each lesson and exercise run gets a new name); forget() frees one.
const namespaces = pyodide.globals.get("_namespaces");
const forget = (ns) => { if (namespaces && namespaces.pop) namespaces.pop(ns, null); };
let nsCounter = 0;
flushPython = pyodide.globals.get("flush_std");


function runCode(code, filename, namespace, stdin) {
  captured = "";
  stdinLines = stdin ? stdin.replace(/\n$/, "").split("\n") : [];
  const status = run(code, filename, namespace);
  flushPython();
  return { status, out: captured };
}

// ---- main ----------------------------------------------------------------------------------
const { lessons, courseDir } = loadLessons(process.argv[2]);
const files = lessonFiles(courseDir);
const EXERCISES = join(ROOT, "tests/exercises");
let passed = 0;
let failed = 0;
const started = Date.now();
// CLASSBOOK_DUMP=FILE: also write every cell's actual output as JSON (a help for authors).
const dumped = [];

function fail(lesson, cell, what) {
  failed++;
  console.log(`course/${fileOf(lesson)}:${cell.line}: ${cell.id}: ${what}`);
}

// An exercise run as the page's Check does it (runner.py's check_run: the code in a fresh
// namespace, then the checks by the harness); returns { ok, bad, error, out } from the
// harness's records (shared/src/check.rs reads them the same way), not from the output.
function runExercise(lessonId, cell, code, tag) {
  const ns = `exercise:${lessonId}:${cell.id}:${tag}:${++nsCounter}`;
  captured = "";
  stdinLines = cell.stdin ? cell.stdin.replace(/\n$/, "").split("\n") : [];
  const records = checkRun(code, `<${cell.id}>`, ns, cell.exercise.check).split("\n").map((l) => JSON.parse(l));
  flushPython();
  const plan = (records.find((r) => r.plan) || { plan: [] }).plan;
  const ran = records.filter((r) => "passed" in r);
  const ok = ran.filter((r) => r.passed).length;
  const notRun = plan.filter(([line]) => !ran.some((r) => r.line === line)).length;
  const bad = ran.length - ok + notRun;
  const failure = records.find((r) => r.error);
  const error = Boolean(failure) || !records.some((r) => r.done);
  return { ok, bad, error, out: captured + (failure ? failure.error : "") };
}

for (const lesson of lessons) {
  const ns = `lesson:${lesson.id}:${lesson.lang}:${++nsCounter}`;
  const cells = lesson.blocks.flatMap((b) => (b.kind === "cell" ? [b] : b.kind === "group" ? b.files : []));
  for (const cell of cells) {
    if (cell.runtime !== "browser") continue;
    if (cell.exercise) {
      const ex = cell.exercise;
      if (!ex.solution) { fail(lesson, cell, "exercise has no solution"); continue; }
      if (!ex.hint) { fail(lesson, cell, "exercise has no hint"); continue; }
      const r = runExercise(lesson.id, cell, ex.solution, "solution");
      if (r.error || r.bad > 0 || r.ok === 0) {
        fail(lesson, cell, `solution does not pass its checks (${r.ok} passed, ${r.bad} failed${r.error ? ", raised an exception" : ""})\n${indent(norm(r.out).split("\n"))}`);
      } else passed++;
      const dir = join(EXERCISES, lesson.id);
      const wrongs = existsSync(dir)
        ? readdirSync(dir).filter((n) => n.startsWith(cell.id + ".wrong") && n.endsWith(".py")).sort()
        : [];
      if (wrongs.length === 0) fail(lesson, cell, `no wrong solution in tests/exercises/${lesson.id}/${cell.id}.wrong*.py`);
      for (const w of wrongs) {
        const wr = runExercise(lesson.id, cell, readFileSync(join(dir, w), "utf8"), w);
        if (!(wr.error || wr.bad > 0)) {
          fail(lesson, cell, `wrong solution ${w} passes all checks\n${indent(norm(wr.out).split("\n"))}`);
        } else passed++;
      }
      continue;
    }
    const r = runCode(cell.code, `<${cell.id}>`, ns, cell.stdin);
    dumped.push({ file: fileOf(lesson), line: cell.line, id: cell.id, out: r.out });
    if (!cell.expected) { fail(lesson, cell, "cell has no output block"); continue; }
    if (outputMatches(cell.expected, r.out)) passed++;
    else fail(lesson, cell, firstDifference(cell.expected, r.out));
  }
  forget(ns);
}

// Wrong-solution files must belong to an existing exercise (when checking the repo's course).
if (existsSync(EXERCISES) && resolve(courseDir) === join(ROOT, "course")) {
  const exercises = new Set();
  for (const lesson of lessons)
    for (const b of lesson.blocks)
      for (const c of b.kind === "cell" ? [b] : b.kind === "group" ? b.files : [])
        if (c.exercise) exercises.add(`${lesson.id}/${c.id}`);
  for (const dir of readdirSync(EXERCISES)) {
    if (!statSync(join(EXERCISES, dir)).isDirectory()) continue;
    for (const n of readdirSync(join(EXERCISES, dir))) {
      const m = /^(.*)\.wrong\d*\.py$/.exec(n);
      if (m && !exercises.has(`${dir}/${m[1]}`)) {
        failed++;
        console.log(`tests/exercises/${dir}/${n}: no exercise '${m[1]}' in lesson '${dir}'`);
      }
    }
  }
}

if (process.env.CLASSBOOK_DUMP) writeFileSync(process.env.CLASSBOOK_DUMP, JSON.stringify(dumped, null, 1));
console.error(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
