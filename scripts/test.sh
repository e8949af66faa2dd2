#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and runs every test: once on the normal
# build and once on the AddressSanitizer + UndefinedBehaviorSanitizer build.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
scripts/build.sh build-asan -DDISE_SANITIZE=ON -DDISE_BUILD_BENCH=OFF
# no core files from the tests' crashes by default; soft only: the core-dump
# tests raise it (a hard limit of 0 could not be raised again without
# CAP_SYS_RESOURCE, which root lacks in some containers)
ulimit -S -c 0 2>/dev/null || true
echo "== tests (RelWithDebInfo)"
(cd build && ctest --output-on-failure)
echo "== tests (ASan + UBSan)"
(cd build-asan && ctest --output-on-failure)
