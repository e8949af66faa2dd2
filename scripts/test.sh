#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and runs every test: once on the normal
# build and once on the AddressSanitizer + UndefinedBehaviorSanitizer build.
#
# The two trees build side by side, and one ctest runs the tests of both at
# once (-j$DISE_TEST_JOBS, 4 by default: most tests wait on processes, not
# on the CPU), the longest first (COST), so that a RESOURCE_LOCK holds across
# both copies of a test (tests/CMakeLists.txt: the parallel-safety rules).
# The ASan tree's tests are named NAME.asan.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=${DISE_TEST_JOBS:-4}
start=$(date +%s)
mkdir -p build-all
# each tree gets every core: while one links or waits on cmake, the other compiles
scripts/build.sh build >build-all/build.log 2>&1 &
plain=$!
scripts/build.sh build-asan -DDISE_SANITIZE=ON -DDISE_BUILD_BENCH=OFF >build-all/build-asan.log 2>&1 &
asan=$!
failed=0
wait $plain || { echo "== plain build failed:"; cat build-all/build.log; failed=1; }
wait $asan || { echo "== ASan build failed:"; cat build-all/build-asan.log; failed=1; }
[ $failed -eq 0 ] || exit 1
echo "== built in $(($(date +%s) - start)) s"
# no core files from the tests' crashes by default; soft only: the core-dump
# tests raise it (a hard limit of 0 could not be raised again without
# CAP_SYS_RESOURCE, which root lacks in some containers)
ulimit -S -c 0 2>/dev/null || true
# one CTest tree over both builds
printf 'subdirs("%s" "%s")\n' "$PWD/build" "$PWD/build-asan" >build-all/CTestTestfile.cmake
echo "== tests (RelWithDebInfo: NAME, ASan + UBSan: NAME.asan), ctest -j$jobs"
(cd build-all && ctest -j"$jobs" --output-on-failure)
echo "== suite in $(($(date +%s) - start)) s"
