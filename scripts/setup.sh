#!/usr/bin/env bash
# Installs what classbook needs and is missing on this machine (Debian 12), then builds the
# page (trunk) and the server binary (cargo). Each tool is installed only when the pinned
# version is absent, because building trunk alone takes ~20 minutes on 2 cores.
# Usage: scripts/setup.sh [--for-tests]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TRUNK_VERSION=0.21.14
# The wasm-bindgen the app is linked against; wasm-bindgen-cli must match it exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_missing() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  printf '%s\n' "${missing[@]}"
}

# Chromium is needed at build time too: it makes the Python memory snapshot.
packages=(bubblewrap python3 python3-venv brotli gzip ca-certificates chromium)
if [ "${1:-}" = "--for-tests" ]; then
  packages+=(chromium-driver firefox-esr tftp-hpa tftpd-hpa atftp curl)
fi
missing=$(apt_missing "${packages[@]}")
if [ -n "$missing" ]; then
  say "installing Debian packages: $(echo $missing)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  say "building trunk $TRUNK_VERSION from crates.io (about 20 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "building wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: its lockfile names a crate release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ ! -d frontend/node_modules/pyodide ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  say "installing npm packages (Pyodide, CodeMirror, esbuild, binaryen)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p frontend/vendor/pyodide
for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json; do
  cmp -s "frontend/node_modules/pyodide/$f" "frontend/vendor/pyodide/$f" || cp "frontend/node_modules/pyodide/$f" frontend/vendor/pyodide/
done

# The code editor (CodeMirror 6), bundled into one ES module; rebuilt only when its entry file
# or the npm lockfile changed (the stamp holds their checksum).
editor_inputs=$(cat frontend/editor/codemirror.js frontend/package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -f frontend/vendor/codemirror.js ] || [ "$(cat frontend/vendor/codemirror.stamp 2>/dev/null)" != "$editor_inputs" ]; then
  say "bundling the code editor (esbuild)"
  frontend/node_modules/.bin/esbuild frontend/editor/codemirror.js --bundle --format=esm --minify \
    --target=es2020 --log-level=warning --outfile=frontend/vendor/codemirror.js
  echo "$editor_inputs" > frontend/vendor/codemirror.stamp
fi

# Python packages the course teaches that Debian's python3 lacks. backend/build.rs packs this venv's
# site-packages into the binary (sandboxes see them read-only), so it must exist before cargo builds.
if ! .classbook/venv/bin/python -c "import greenlet, gevent" 2>/dev/null; then
  say "installing greenlet and gevent for sandboxed programs"
  rm -rf .classbook/venv
  /usr/bin/python3 -m venv .classbook/venv
  .classbook/venv/bin/pip install -q --disable-pip-version-check greenlet==3.5.6 gevent==26.9.0
fi

# puppeteer-core, which drives Debian's firefox-esr through WebDriver BiDi in tests/firefox.rs
# (it downloads no browser).
if [ "${1:-}" = "--for-tests" ] && { [ ! -d tests/firefox/node_modules/puppeteer-core ] || [ tests/firefox/package-lock.json -nt tests/firefox/node_modules/.package-lock.json ]; }; then
  say "installing npm packages for the Firefox tests (puppeteer-core)"
  (cd tests/firefox && npm ci --no-audit --no-fund --loglevel=error)
fi

# nbformat, for the test that validates exported notebooks; a venv of its own, so the sandbox's
# venv stays what the course needs.
if [ "${1:-}" = "--for-tests" ] && ! .classbook/test-venv/bin/python -c "import nbformat" 2>/dev/null; then
  say "installing nbformat for the notebook export test"
  rm -rf .classbook/test-venv
  /usr/bin/python3 -m venv .classbook/test-venv
  .classbook/test-venv/bin/pip install -q --disable-pip-version-check nbformat==5.11.1
fi

say "building the page (trunk)"
cargo fetch --target wasm32-unknown-unknown -q
PATH="$ROOT/frontend/node_modules/.bin:$PATH" trunk build --quiet
say "making the Python memory snapshot (headless Chromium)"
/usr/bin/python3 scripts/make_snapshot.py dist
scripts/precompress.sh dist

say "building the server (cargo)"
cargo build --release -q -p classbook
say "ready: target/release/classbook"
