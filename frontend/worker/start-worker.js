// Starts the Python worker before the app itself loads: Python is the slowest part of the page
// and needs nothing from the app (runtime/browser.rs takes it from window.classbookWorker).
// The teacher's page runs no Python: it starts none (the app starts one if a lesson is opened).
// worker.js is beside this script: under /v/<version>/ when the server versioned the page's
// files (backend/src/assets.rs), so every file the worker loads is cached as immutable; the app
// starts its later workers from the same address (window.classbookWorkerURL).
// Each step of the start is a performance mark named "classbook: …" (bench-browser reads them).
window.classbookWorkerURL = new URL("./worker.js", import.meta.url).href;
if (!location.hash.startsWith("#/teacher")) {
  performance.mark("classbook: worker created");
  window.classbookWorker = new Worker(window.classbookWorkerURL, { type: "module" });
}
