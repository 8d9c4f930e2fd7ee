// Starts the Python worker before the app itself loads: Python is the slowest part of the page
// and needs nothing from the app (runtime/browser.rs takes it from window.classbookWorker).
// The teacher's page runs no Python: it starts none (the app starts one if a lesson is opened).
// Each step of the start is a performance mark named "classbook: …" (bench-browser reads them).
if (!location.hash.startsWith("#/teacher")) {
  performance.mark("classbook: worker created");
  window.classbookWorker = new Worker("./worker.js", { type: "module" });
}
