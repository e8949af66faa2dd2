#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds into build/ (or $1) with any extra CMake arguments after it.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISE_WERROR=$werror "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
