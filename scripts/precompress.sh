#!/usr/bin/env bash
# Writes NAME.br and NAME.gz next to every compressible file of a built page, so the
# server can send them as they are. Skips files whose compressed copies are current.
set -euo pipefail
dir=${1:-dist}
find "$dir" -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.mjs' -o -name '*.css' -o -name '*.html' \
  -o -name '*.json' -o -name '*.py' -o -name '*.svg' -o -name '*.bin' \) -print0 |
while IFS= read -r -d '' f; do
  if [ ! "$f.br" -nt "$f" ]; then
    size=$(stat -c %s "$f")
    # Quality 11 is slow on the big engine files; 9 is within a few percent of it.
    q=11; [ "$size" -gt 2000000 ] && q=9
    brotli -q "$q" -f -o "$f.br" "$f"
  fi
  [ "$f.gz" -nt "$f" ] || gzip -9 -k -f -n "$f"
done
