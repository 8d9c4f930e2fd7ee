// The student's and teacher's main flows in Debian's firefox-esr, driven through WebDriver BiDi
// (puppeteer-core; no browser download). Run by tests/firefox.rs against a server it started:
//   node tests/firefox/flows.mjs BASE_URL localhost|lan TEACHER_TOKEN
// "lan" opens the page as http://classroom.test:PORT, which Firefox resolves to 127.0.0.1
// (network.dns.localDomains) but does not count as a secure context: no SharedArrayBuffer.
// Prints one line per step and "firefox: N passed, 0 failed" at the end; exits 1 on a failure.
import puppeteer from "puppeteer-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, mode, teacherToken] = process.argv.slice(2);
if (!base || !["localhost", "lan"].includes(mode) || !teacherToken) {
  console.error("usage: flows.mjs BASE_URL localhost|lan TEACHER_TOKEN");
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "classbook-firefox-"));
let browser = null;
let passed = 0;

// Ends everything this script started, whatever happened, within the overall limit.
async function finish(code) {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}
setTimeout(() => {
  console.error("firefox: the flows took longer than 240 s");
  finish(1);
}, 240_000).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `expr` until it is truthy; a DOM node counts as true (it cannot cross to node).
async function waitFor(page, expr, secs, what) {
  const deadline = Date.now() + secs * 1000;
  const probe = `(() => { const v = (${expr}); return v instanceof Node ? true : v; })()`;
  for (;;) {
    const v = await page.evaluate(probe).catch(() => null);
    if (v !== null && v !== undefined && v !== false && v !== "") return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${secs} s waiting for ${what} (${expr})`);
    await sleep(50);
  }
}

const cell = (id) => `document.querySelector('[data-cell-id="${id}"]')`;
const output = (id) =>
  `Array.from(document.querySelectorAll('[data-cell-id="${id}"] [data-role=output]')).map(e => e.textContent).join('\\n')`;
const state = (id) => `(${cell(id)} || {}).dataset?.state`;

async function setCode(page, id, code) {
  await waitFor(page, `window.classbookEditor && ${cell(id)}?.querySelector('[data-role=editor]')`, 30, "the editor");
  await page.evaluate(
    (id, code) => window.classbookEditor.setText(document.querySelector(`[data-cell-id="${id}"] [data-role=editor]`), code),
    id,
    code,
  );
}

async function click(page, css) {
  await waitFor(page, `document.querySelector('${css}') !== null`, 30, css);
  await page.evaluate((css) => document.querySelector(css).click(), css);
}

async function step(name, body) {
  const t = Date.now();
  await body();
  passed += 1;
  console.log(`firefox (${mode}): ok ${name} (${Date.now() - t} ms)`);
}

try {
  browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: {
      "network.dns.localDomains": "classroom.test",
      "browser.download.dir": profile,
      "browser.download.folderList": 2,
      // The course's first language: a page follows its browser's, and the flows read Chinese.
      "intl.accept_languages": "zh-CN",
    },
  });
  const page = await browser.newPage();

  await step("the page opens in the expected mode", async () => {
    await page.goto(`${base}/#/scratch?runtime=browser`);
    const seen = await page.evaluate(() => [window.isSecureContext, window.crossOriginIsolated, typeof SharedArrayBuffer]);
    const want = mode === "lan" ? [false, false, "undefined"] : [true, true, "function"];
    if (JSON.stringify(seen) !== JSON.stringify(want)) throw new Error(`page context ${JSON.stringify(seen)}, expected ${JSON.stringify(want)}`);
  });

  await step("a browser cell runs", async () => {
    await setCode(page, "scratch", "import sys\nprint(sum(range(10)), sys.version_info[:2] >= (3, 12))");
    await click(page, '[data-cell-id="scratch"] [data-action=run]');
    await waitFor(page, `${state("scratch")} === 'done'`, 90, "the first run");
    const out = await page.evaluate(output("scratch"));
    if (out !== "45 True\n") throw new Error(`output ${JSON.stringify(out)}`);
  });

  await step("input() waits for the typed line", async () => {
    await setCode(page, "scratch", "name = input('name? ')\nprint('hello', name)");
    await click(page, '[data-cell-id="scratch"] [data-action=run]');
    await waitFor(page, "document.querySelector('[data-role=stdin]')", 30, "the input box");
    await page.focus("[data-role=stdin]");
    await page.keyboard.type("Ada");
    await page.keyboard.press("Enter");
    await waitFor(page, `${state("scratch")} === 'done'`, 30, "the run after input");
    const out = await page.evaluate(output("scratch"));
    if (out !== "name? Ada\nhello Ada\n") throw new Error(`output ${JSON.stringify(out)}`);
  });

  await step("Stop ends a busy loop", async () => {
    await setCode(page, "scratch", "kept = 7\nwhile True:\n    pass");
    await click(page, '[data-cell-id="scratch"] [data-action=run]');
    await waitFor(page, `${state("scratch")} === 'running'`, 30, "running");
    await sleep(300);
    const t = Date.now();
    await click(page, '[data-cell-id="scratch"] [data-action=stop]');
    await waitFor(page, `${state("scratch")} === 'failed'`, 10, "stopped");
    const exit = await page.evaluate(`${cell("scratch")}.querySelector('[data-role=exit]')?.textContent || ''`);
    const out = await page.evaluate(output("scratch"));
    if (mode === "lan" && !exit.includes("重置")) throw new Error(`the reset is not explained: ${exit}`);
    if (mode === "localhost" && !out.includes("KeyboardInterrupt")) throw new Error(`no KeyboardInterrupt: ${out}`);
    console.log(`firefox (${mode}): Stop → busy loop ended in ${Date.now() - t} ms`);
  });

  await step("Stop interrupts a sleep and keeps the variables", async () => {
    await waitFor(page, "document.querySelector('[data-engine=ready]')", 60, "the engine ready");
    await setCode(page, "scratch", "import time\nkept = 8\nprint('sleeping')\ntime.sleep(30)");
    await click(page, '[data-cell-id="scratch"] [data-action=run]');
    await waitFor(page, `${output("scratch")}.includes('sleeping')`, 30, "the sleep");
    await click(page, '[data-cell-id="scratch"] [data-action=stop]');
    await waitFor(page, `${state("scratch")} === 'failed'`, 10, "the sleep stopped");
    if (!(await page.evaluate(output("scratch"))).includes("KeyboardInterrupt")) throw new Error("no KeyboardInterrupt");
    await setCode(page, "scratch", "print(kept)");
    await click(page, '[data-cell-id="scratch"] [data-action=run]');
    await waitFor(page, `${state("scratch")} === 'done'`, 30, "print(kept)");
    const out = await page.evaluate(output("scratch"));
    if (out !== "8\n") throw new Error(`output ${JSON.stringify(out)}`);
  });

  await step("the student joins and a server group runs in the sandbox", async () => {
    await page.goto(`${base}/#/lesson/tcp-echo`);
    await waitFor(page, "document.querySelector('[data-role=join-name]')", 30, "the join dialog");
    await page.focus("[data-role=join-name]");
    await page.keyboard.type("Firefox");
    await click(page, "[data-action=join]");
    await waitFor(page, "document.querySelector('[data-role=student-name]')?.textContent === 'Firefox'", 15, "joined");
    await click(page, '[data-cell-id="echo"] [data-action=run]');
    await waitFor(page, `${state("echo")} === 'done'`, 60, "the echo group");
    const out = await page.evaluate(output("echo"));
    if (!out.includes("客户端收到： HELLO")) throw new Error(`output ${JSON.stringify(out)}`);
  });

  await step("the teacher page lists the student", async () => {
    const teacher = await browser.newPage();
    await teacher.goto(`${base}/#/teacher?token=${teacherToken}`);
    await waitFor(
      teacher,
      "Array.from(document.querySelectorAll('[data-student-id]')).some(r => r.textContent.includes('Firefox'))",
      20,
      "the student on the teacher page",
    );
  });

  console.log(`firefox: ${passed} passed, 0 failed`);
  await finish(0);
} catch (e) {
  console.error(`firefox (${mode}): FAILED after ${passed} step(s): ${e && e.stack ? e.stack : e}`);
  await finish(1);
}
