#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds, and prints the benchmark figures.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
./build/bin/bench-ring
./build/bin/bench-spawn build "${SPAWN_RUNS:-3000}"
bench/bench-syscalls.sh build "${SYSCALL_SPAWNS:-200}"
./build/bin/bench-ingest "${INGEST_RUNS:-300000}"
./build/bin/bench-latency "${LATENCY_RECORDS:-2000}"
./build/bin/bench-heal build "${HEAL_ROUNDS:-30}"
./build/bin/bench-stop build "${STOP_ROUNDS:-20}"
# the ring's wake-ups counted (perf stat: futex calls, context switches), when perf can count them here
if command -v perf >/dev/null; then bench/wake-count.sh build "${WAKE_SPAWNS:-300}"; fi
./build/bin/bench-collector-cpu build --seconds "${COLLECTOR_SECONDS:-10}"
./build/bin/bench-collector-cpu build --seconds "${COLLECTOR_SECONDS:-10}" --probe-every 50
./build/bin/bench-attach build "${ATTACH_ROUNDS:-7}"
./build/bin/bench-masscrash build "${MASSCRASH_THREADS:-1000}" "${MASSCRASH_ROUNDS:-5}"
# real workloads (bash loop, sed's configure and make, this project's build, python), plain vs shim vs
# shim + collector: one round by default (WORKLOAD_ROUNDS; WORKLOAD_ONLY=bash,python picks workloads)
bench/workload.sh build "${WORKLOAD_ROUNDS:-1}"
bench/bench-coredump.sh build
