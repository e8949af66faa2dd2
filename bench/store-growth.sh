#!/bin/bash
# SPDX-License-Identifier: MIT
# What the content store grows by over N real configures (issue 11, goal 3):
# Debian's GNU sed `./configure --disable-nls`, N times from a fresh copy of
# the source each, under the shim with the collector running, in a private
# DISE_HOME and ring. Then: runs and versions stored, versions of build
# probes (conftest), files and bytes in $DISE_HOME/cas, and the database's
# size. Counts and sizes, not times: they do not depend on the machine's load.
# Then the collector's CPU over the N configures (utime + stime of each of
# its threads from /proc/PID/task, read once it has caught up: every run
# stored and given its version), per configure and per run: the ingest
# thread (dise-collectord), the resolver (dise-resolver) and the rest. That
# one depends on the load: alternate builds (BUILD_A BUILD_B 1, again) to
# compare them.
#
#   bench/store-growth.sh BUILD_DIR [N]            N default 10
#   bench/store-growth.sh BUILD_A BUILD_B [N]      both, one after the other
#
# The source is fetched once into WORKLOAD_CACHE (default
# /tmp/dise-day-cache), as scripts/day.sh and bench/workload.sh do.
set -u
{ # read whole before it runs: an edit of this file during a run does not change the run
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/sed-source.sh
. "$ROOT/scripts/lib/sed-source.sh"

usage() { echo "usage: bench/store-growth.sh BUILD_DIR [BUILD_DIR_B] [N]" >&2; exit 2; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ $# -ge 1 ] || usage
BUILDS=("$(abs "$1")")
N=10
if [ $# -ge 2 ]; then
  if [ -d "$2" ]; then BUILDS+=("$(abs "$2")"); N=${3:-10}; else N=$2; fi
fi
case $N in '' | *[!0-9]* | 0) usage ;; esac
for b in "${BUILDS[@]}"; do
  if [ ! -f "$b/lib/libdise_shim.so" ] || [ ! -x "$b/bin/dise-collectord" ] || [ ! -x "$b/bin/dise" ]; then
    echo "store-growth: no build in $b (scripts/build.sh DIR)" >&2; exit 1
  fi
done
command -v sqlite3 >/dev/null || { echo "store-growth: sqlite3 is missing (apt-get install sqlite3)" >&2; exit 1; }
TCK=$(getconf CLK_TCK)

# thread_ticks PID: "NAME TICKS" per thread of PID (utime + stime, fields 14 and 15 of its stat)
thread_ticks() {
  local t s c
  for t in /proc/"$1"/task/*; do
    s=$(cat "$t/stat" 2>/dev/null) || continue
    c=$(cat "$t/comm" 2>/dev/null)
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo "$c $(( ${12} + ${13} ))"
  done
}
# collector_cpu PID DB N: once the collector is idle (its CPU grew by at most a
# tick over 0.3 s, twice; 30 s at most), its CPU by thread name, per configure and per run
collector_cpu() {
  local pid=$1 db=$2 n=$3 a b quiet=0 i runs
  a=$(thread_ticks "$pid" | awk '{ s += $2 } END { print s + 0 }')
  for i in $(seq 100); do
    sleep 0.3
    b=$(thread_ticks "$pid" | awk '{ s += $2 } END { print s + 0 }')
    if [ $((b - a)) -le 1 ]; then quiet=$((quiet + 1)); [ $quiet -ge 2 ] && break; else quiet=0; fi
    a=$b
  done
  runs=$(sqlite3 "$db" 'SELECT count(*) FROM runs' 2>/dev/null)
  [ "${runs:-0}" -gt 0 ] || runs=1
  thread_ticks "$pid" | awk -v hz="$TCK" -v runs="$runs" -v n="$n" '
    { t[$1] += $2; s += $2 }
    END {
      printf "  collector CPU: %.2f s per configure, %.0f us per run (", s / hz / n, s / hz / runs * 1e6
      sep = ""
      for (k in t) { printf "%s%s %.2f s", sep, k, t[k] / hz / n; sep = ", " }
      printf " per configure)\n"
    }'
}

W=$(mktemp -d /tmp/dise-store-growth.XXXXXX) || exit 1
COLL_BUILD=""
stop_collector() { [ -z "$COLL_BUILD" ] || "$COLL_BUILD/bin/dise" collector stop >/dev/null 2>&1; COLL_BUILD=""; }
cleanup() { stop_collector; [ -n "${WORKLOAD_KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
unset LD_PRELOAD DISE_DISABLE DISE_DEBUG

SRC=$(dise_sed_source "${WORKLOAD_CACHE:-/tmp/dise-day-cache}" "$W/apt.log") || exit 1

printf '%-40s %6s %8s %9s %10s %10s %10s\n' build runs versions "probe v." "cas files" "cas bytes" "db bytes"
for b in "${BUILDS[@]}"; do
  rm -rf "${W:?}/home" "${W:?}/ring" && mkdir -p "$W/home"
  export DISE_HOME=$W/home DISE_RING=$W/ring
  "$b/bin/dise-collectord" --daemon >"$W/collector.log" 2>&1 || {
    echo "store-growth: the collector did not start:" >&2; cat "$W/collector.log" >&2; exit 1; }
  COLL_BUILD=$b
  for i in $(seq "$N"); do
    rm -rf "$W/sed" && cp -a "$SRC" "$W/sed"
    if ! (cd "$W/sed" && LD_PRELOAD=$b/lib/libdise_shim.so ./configure --quiet --disable-nls >"$W/configure.log" 2>&1); then
      echo "store-growth: configure $i failed ($b):" >&2; tail -5 "$W/configure.log" >&2; exit 1
    fi
  done
  db=$W/home/dise.db
  cpu=$(collector_cpu "$(cat "$W/home/collector.lock" 2>/dev/null)" "$db" "$N")
  stop_collector # drains the ring and resolves what is left before it ends
  runs=$(sqlite3 "$db" 'SELECT count(*) FROM runs')
  versions=$(sqlite3 "$db" 'SELECT count(*) FROM versions')
  probes=$(sqlite3 "$db" "SELECT count(*) FROM versions WHERE tool GLOB '*conftest*'")
  files=$(find "$W/home/cas" -type f 2>/dev/null | wc -l)
  bytes=$(du -sb "$W/home/cas" 2>/dev/null | cut -f1)
  dbb=$(du -cb "$db"* 2>/dev/null | tail -1 | cut -f1)
  printf '%-40s %6s %8s %9s %10s %10s %10s\n' "$b" "$runs" "$versions" "$probes" "$files" "${bytes:-0}" "$dbb"
  echo "$cpu (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "($N configures of $(basename "$SRC") each, a fresh copy of the source every time)"
exit 0
}
