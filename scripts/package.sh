#!/usr/bin/env bash
# Makes the classroom package target/deb/classbook_<version>_<arch>.deb: the release binary (the
# page, the course and the sandbox's Python packages are inside it), a systemd unit and a settings
# file, for `apt install ./classbook_*.deb` on a Debian 12 machine without a Rust toolchain.
# Run it where scripts/setup.sh has built the page (dist/) and the venv (.classbook/venv).
# Usage: scripts/package.sh        (the .deb's path is the last line it prints)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
umask 022

say() { printf '\033[1m[package]\033[0m %s\n' "$*" >&2; }
fail() { printf 'scripts/package.sh: %s\n' "$*" >&2; exit 1; }

test -f dist/index.html || fail "the page is not built (no dist/index.html): run scripts/setup.sh first"
site=$(ls -d .classbook/venv/lib/python3.*/site-packages 2>/dev/null | tail -n 1 || true)
{ [ -n "$site" ] && [ -d "$site/gevent" ] && [ -d "$site/greenlet" ]; } ||
  fail "no greenlet/gevent in .classbook/venv (the binary packs them for sandboxes): run scripts/setup.sh first"

say "building the release binary (cargo)"
cargo build --release -q -p classbook
bin=${CARGO_TARGET_DIR:-target}/release/classbook
out=${CARGO_TARGET_DIR:-target}/deb

# A version that grows with every package made, so `apt install` of a newer one upgrades.
version="$("$bin" --version | awk '{print $2}')+$(date -u +%Y%m%d%H%M%S)"
if sha=$(git rev-parse --short HEAD 2>/dev/null); then
  version+=".g$sha"
  git diff --quiet HEAD 2>/dev/null || version+=".modified"
fi
arch=$(dpkg --print-architecture)

# The packed site-packages hold CPython extensions built for one minor version (cp311): the
# sandbox's python3 must be that one.
pyver=$(basename "$(dirname "$site")"); pyver=${pyver#python}
python_dep="python3 (>= $pyver)"
if find "$site" -name "*.cpython-${pyver/./}-*.so" | grep -q .; then
  python_dep+=", python3 (<< ${pyver%.*}.$(( ${pyver#*.} + 1 )))"
fi
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
# bubblewrap 0.8 has --disable-userns, which every sandbox uses.
depends="libc6 (>= $glibc), bubblewrap (>= 0.8), $python_dep"

name="classbook_${version}_${arch}"
stage="$out/$name"
say "staging $name"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/classbook" "$stage/usr/share/doc/classbook"
install -m 0755 -s "$bin" "$stage/usr/bin/classbook"
install -m 0644 scripts/deb/classbook.service "$stage/lib/systemd/system/classbook.service"
# It may hold the teacher's token and the access code: readable by root only.
install -m 0600 scripts/deb/classbook.toml "$stage/etc/classbook/classbook.toml"
install -m 0644 README.md "$stage/usr/share/doc/classbook/README.md"
install -m 0755 scripts/deb/postinst scripts/deb/prerm scripts/deb/postrm "$stage/DEBIAN/"
echo /etc/classbook/classbook.toml > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/control" <<EOF
Package: classbook
Version: $version
Architecture: $arch
Maintainer: classbook maintainers <root@localhost>
Installed-Size: $(du -sk "$stage" --exclude=DEBIAN | cut -f1)
Depends: $depends
Section: education
Priority: optional
Description: interactive Python course server for a classroom
 classbook serves lesson notebooks to a class on the LAN from one binary. Pure
 Python cells run in the students' browsers; cells that need a real system
 (sockets, threads, processes, gevent) run on this machine, each student in a
 bubblewrap sandbox of their own. Settings: /etc/classbook/classbook.toml;
 start it with: systemctl enable --now classbook
EOF

# Only the newest package stays, so `apt install ./target/deb/classbook_*.deb` names one file.
rm -f "$out"/classbook_*.deb
# zstd (dpkg >= 1.21.18, so Debian 12; the python3 3.11 dependency rules out older releases
# anyway): measured here on the 86 MB binary, level 9 took 2.4 s for 36.8 MB where xz -6 took
# 49 s for 34.1 MB, and it unpacks faster.
dpkg-deb --root-owner-group -Zzstd -z9 --build "$stage" "$out/$name.deb" >/dev/null
rm -rf "$stage"
say "$(du -h "$out/$name.deb" | cut -f1) $out/$name.deb (depends: $depends)"
echo "$out/$name.deb"
