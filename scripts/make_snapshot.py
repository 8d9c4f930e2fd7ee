#!/usr/bin/env python3
# Build-time helper: makes dist/pyodide/snapshot.bin, a memory snapshot of Pyodide with common
# modules imported, in headless Chromium (a snapshot must be made where it is loaded).
# It serves dist/ with the cross-origin isolation headers, plus the maker page from
# frontend/snapshot/, and writes what the page uploads. Usage: make_snapshot.py DIST
import http.server
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist"))
EXTRA = {
    "/_snapshot/make.html": os.path.join(ROOT, "frontend/snapshot/make.html"),
    "/_snapshot/make-worker.js": os.path.join(ROOT, "frontend/snapshot/make-worker.js"),
    "/_snapshot/preload.py": os.path.join(ROOT, "frontend/worker/preload.py"),
}
TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".json": "application/json", ".zip": "application/zip", ".py": "text/plain"}
result = {}
done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def headers_out(self, status, ctype, length):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?")[0]
        file = EXTRA.get(path) or os.path.normpath(os.path.join(DIST, path.lstrip("/")))
        if not file.startswith((DIST, os.path.join(ROOT, "frontend"))) or not os.path.isfile(file):
            self.headers_out(404, "text/plain", 0)
            return
        with open(file, "rb") as f:
            data = f.read()
        self.headers_out(200, TYPES.get(os.path.splitext(file)[1], "application/octet-stream"), len(data))
        self.wfile.write(data)

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        result["error" if "error=1" in self.path else "snapshot"] = data
        self.headers_out(200, "text/plain", 0)
        done.set()


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/_snapshot/make.html"
    profile = tempfile.mkdtemp(prefix="classbook-snapshot-")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not done.wait(180):
            sys.exit("make_snapshot: Chromium did not deliver a snapshot within 180 s")
    finally:
        browser.kill()
        browser.wait()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    if "error" in result:
        sys.exit("make_snapshot: " + result["error"].decode(errors="replace"))
    out = os.path.join(DIST, "pyodide", "snapshot.bin")
    packed = sparse(result["snapshot"])
    with open(out + ".tmp", "wb") as f:
        f.write(packed)
    os.replace(out + ".tmp", out)
    print(f"make_snapshot: wrote {out} ({len(result['snapshot']) / 1e6:.1f} MB of memory, {len(packed) / 1e6:.1f} MB stored)")


PAGE = 65536


def sparse(memory):
    """The snapshot as worker.js reads it: half of Pyodide's memory is zero pages, which cost the
    browser time to decompress. Little-endian: b"CBS1", the memory's length, the page size, the
    page count; one byte a page (1: stored, 0: all zero); then the stored pages in order (the
    last one may be short). The length comes first so the worker can start before the rest."""
    pages = [memory[i:i + PAGE] for i in range(0, len(memory), PAGE)]
    stored = [any(p) for p in pages]
    head = b"CBS1" + struct.pack("<III", len(memory), PAGE, len(pages)) + bytes(stored)
    return head + b"".join(p for p, keep in zip(pages, stored) if keep)


if __name__ == "__main__":
    main()
