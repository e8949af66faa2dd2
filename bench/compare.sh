#!/bin/sh
# SPDX-License-Identifier: MIT
# Two builds side by side, alternated (A, B, A, B) on the same machine in one
# run: bench/compare.sh BUILD_A BUILD_B [ROUNDS]. Quote the columns against
# each other, not against figures taken at another time.
set -eu
a=$1 b=$2 rounds=${3:-2}
for round in $(seq 1 "$rounds"); do
  for d in "$a" "$b"; do
    echo "=== $d round $round"
    "$d/bin/bench-ring" 2>&1 | grep -E "dise ring, 1 producer|dise ring, 4 producers|no consumer"
    "$d/bin/bench-spawn" "$d" 2000 2>&1 | tail -4
    "$d/bin/bench-ingest" 300000 2>&1 | tail -1
    "$d/bin/bench-latency" 2000 2>&1 | tail -2
    "$d/bin/bench-heal" "$d" 20 2>&1 | tail -1
  done
done
