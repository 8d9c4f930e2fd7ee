// Starts the Python worker before the app itself loads: Python is the slowest part of the page
// and needs nothing from the app (runtime/browser.rs takes it from window.classbookWorker).
window.classbookWorker = new Worker("./worker.js", { type: "module" });
