#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job, as far as it is built: installs what is missing, builds,
# runs real programs under the shim (one of them crashes, one is killed, one
# crashes on a second thread) and shows what the ring captured: START, EXEC,
# EXIT and CRASH records with symbolized stack frames.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build >/dev/null

work=$(mktemp -d /tmp/dise-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DISE_RING="$work/ring"   # a private ring: the demo touches nothing else
SHIM="$PWD/build/lib/libdise_shim.so"
ulimit -c 0 2>/dev/null || true

run() { # run under the shim, show the exit status the program really had
  echo "\$ LD_PRELOAD=libdise_shim.so $*"
  set +e
  LD_PRELOAD="$SHIM" "$@"
  st=$?
  set -e
  echo "  -> exit status $st"
}

run /bin/ls /usr/share/doc/coreutils
run /bin/sh -c 'echo hello | tr a-z A-Z; exit 3'
run /usr/bin/python3 -c 'import sys; print("python", sys.version.split()[0])'
run build/tests/progs/crasher segv 2>/dev/null
run build/tests/progs/crasher thread 2>/dev/null
run build/tests/progs/crasher kill 2>/dev/null

echo
echo "\$ dise ring stat"
./build/bin/dise ring stat
echo
echo "\$ dise ring dump"
./build/bin/dise ring dump
echo
echo "\$ dise ring dump --json | (first crash record, abridged)"
./build/bin/dise ring dump --json | grep '"type":"crash"' | head -n 1 | cut -c 1-600
echo "..."
echo
echo "Not built yet: the collector (SQLite, lineage, three strikes) and the healer"
echo "(prune, rules, rollback). 'dise run', 'dise crashes' and the rest say so when asked."
