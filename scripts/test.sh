#!/usr/bin/env bash
# Runs every test once the set-up has built the page (dist/): the Rust workspace (unit,
# WebSocket integration against real sandboxes, TFTP interop, end-to-end in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
test -f dist/index.html || { echo "dist/ is not built: run ./run test" >&2; exit 1; }
echo "== lessons valid and in step in every language (check-course)"
cargo build -q --release -p classbook
target/release/classbook check-course course --lang en
echo "== lesson browser cells in Pyodide (node)"
node tests/course/browser_cells.mjs target/release/classbook
echo "== the step-through tracer's unit tests (host python3, then Pyodide under node)"
python3 -m unittest tests/visualise/tracer_test.py
node tests/visualise/tracer.mjs
echo "== cargo test (workspace: units, WebSocket + sandbox, server lesson cells, TFTP, Chromium end-to-end)"
cargo test --workspace --exclude classbook-frontend --no-fail-fast -- --test-threads=2
echo "== cargo test -p classbook-frontend (the page's pure logic, natively)"
cargo test -p classbook-frontend
