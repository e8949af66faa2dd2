#!/bin/bash
# SPDX-License-Identifier: MIT
# What dise costs real workloads (issue 11, goal 4): each workload plain, under
# the shim only, and under the shim with the collector running, alternated
# (plain, shim, shim + collector, plain, ...), with the medians of the per-round
# ratios to plain printed for wall time and CPU time.
#
#   bench/workload.sh BUILD_DIR [ROUNDS]           one build (ROUNDS default 2)
#   bench/workload.sh BUILD_A BUILD_B [ROUNDS]     two builds alternated in one run:
#                                                  plain, A shim, A + collector, B shim, B + collector
#
# Workloads (WORKLOAD_ONLY=bash,python,sed,cmake picks some, default all):
#   bash    a bash loop: 2000 x /bin/true, then 500 x $(expr 1 + 1)
#   sed     Debian's GNU sed: ./configure --disable-nls, then make -j2, timed
#           apart (a fresh copy of the source each time; fetched once into
#           WORKLOAD_CACHE, default /tmp/dise-day-cache, as scripts/day.sh does)
#   cmake   this project's product (tests and benchmarks off) built from clean
#           with cmake --build -j2 (configured once, untimed; clean untimed)
#   python  200 x /usr/bin/python3 -c 'import json'
#
# CPU is the workload's own and its children's (user + system, from
# /usr/bin/time); with the collector, plus the collector's CPU from
# /proc/PID/stat between the workload's start and the moment the collector is
# idle again (it has caught up with the ring), read before it is stopped.
# Each round starts one mode later than the one before (plain, A, A + collector
# first, ...). Each mode of each round has its own private DISE_HOME and ring (the collector
# sees the workloads one after the other, as in a user's day; the shim-only runs
# write to a ring the collector made and nobody reads any more, as with the
# collector stopped); nothing of the user's dise state is read or written, and
# no collector outlives the script.
set -u
{ # read whole before it runs: an edit of this file during a run does not change the run
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/sed-source.sh
. "$ROOT/scripts/lib/sed-source.sh"

usage() { echo "usage: bench/workload.sh BUILD_DIR [BUILD_DIR_B] [ROUNDS]" >&2; exit 2; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ $# -ge 1 ] || usage
BUILDS=("$(abs "$1")")
ROUNDS=2
if [ $# -ge 2 ]; then
  if [ -d "$2" ]; then BUILDS+=("$(abs "$2")"); ROUNDS=${3:-2}; else ROUNDS=$2; fi
fi
case $ROUNDS in '' | *[!0-9]* | 0) usage ;; esac
for b in "${BUILDS[@]}"; do
  if [ ! -f "$b/lib/libdise_shim.so" ] || [ ! -x "$b/bin/dise-collectord" ]; then
    echo "workload: no build in $b (scripts/build.sh DIR)" >&2; exit 1
  fi
done
for t in /usr/bin/time /usr/bin/python3 cmake make gcc expr; do
  command -v "$t" >/dev/null || { echo "workload: $t is missing (scripts/deps.sh; apt-get install time)" >&2; exit 1; }
done
ONLY=,${WORKLOAD_ONLY:-bash,sed,cmake,python},
want() { case $ONLY in *,"$1",*) return 0 ;; esac; return 1; }
TCK=$(getconf CLK_TCK)

W=$(mktemp -d /tmp/dise-workload.XXXXXX) || exit 1
RES=$W/results.tsv # workload mode round wall_s cpu_s collector_s
: > "$RES"
unset LD_PRELOAD DISE_DISABLE DISE_DEBUG
COLL_PID="" COLL_BUILD=""

stop_collector() {
  [ -n "$COLL_PID" ] || return 0
  DISE_HOME=$W/home "$COLL_BUILD/bin/dise" collector stop >/dev/null 2>&1 ||
    kill -TERM "$COLL_PID" 2>/dev/null
  COLL_PID=""
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { stop_collector; [ -n "${WORKLOAD_KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE # PIPE: a reader gone (| head) ends the script, not the collector

# a private state directory and ring for the next run (the last one's removed)
fresh_state() {
  stop_collector
  rm -rf "${W:?}/home" "${W:?}/ring"*
  mkdir -p "$W/home"
  export DISE_HOME=$W/home DISE_RING=$W/ring
}
start_collector() { # BUILD
  COLL_BUILD=$1
  "$1/bin/dise-collectord" --daemon >"$W/collector.log" 2>&1 || {
    echo "workload: the collector did not start:" >&2; cat "$W/collector.log" >&2; exit 1; }
  COLL_PID=$(cat "$DISE_HOME/collector.lock" 2>/dev/null)
  if [ -z "$COLL_PID" ] || [ ! -d "/proc/$COLL_PID" ]; then
    echo "workload: no collector pid in $DISE_HOME/collector.lock" >&2; exit 1
  fi
}
# the collector's user + system CPU in clock ticks (fields 14 and 15 of /proc/PID/stat)
collector_ticks() {
  local s
  s=$(cat "/proc/$COLL_PID/stat" 2>/dev/null) || { echo "workload: the collector (pid $COLL_PID) ended" >&2; return 1; }
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo $(( ${12} + ${13} ))
}
# until the collector has caught up: its CPU grew by at most a tick over 0.3 s, twice (30 s at most)
collector_settle() {
  local a b quiet=0 i
  a=$(collector_ticks) || return 1
  for i in $(seq 100); do
    sleep 0.3
    b=$(collector_ticks) || return 1
    if [ $((b - a)) -le 1 ]; then quiet=$((quiet + 1)); [ $quiet -ge 2 ] && break; else quiet=0; fi
    a=$b
  done
  [ "$i" -lt 100 ] || echo "workload: the collector was still busy after 30 s" >&2
  echo "$b"
}

# run NAME MODE ROUND CMD...: times CMD (in the current directory) under MODE
# (plain | shim:BUILD | coll:BUILD, the collector already started) and records it
run() {
  local name=$1 mode=$2 round=$3 t0=0 t1=0 c wall cpu coll
  shift 3
  local pre=()
  case $mode in shim:* | coll:*) pre=(env "LD_PRELOAD=${mode#*:}/lib/libdise_shim.so") ;; esac
  if [ "${mode%%:*}" = coll ]; then t0=$(collector_ticks) || exit 1; fi
  if ! /usr/bin/time -f '%e %U %S' -o "$W/time" "${pre[@]}" "$@" >"$W/out.log" 2>&1; then
    echo "workload: $name failed ($mode):" >&2; tail -15 "$W/out.log" >&2; exit 1
  fi
  if [ "${mode%%:*}" = coll ]; then t1=$(collector_settle) || exit 1; fi
  c=$(awk -v t=$((t1 - t0)) -v hz="$TCK" 'END { printf "%s\t%.2f\t%.2f", $1, $2 + $3, t / hz }' "$W/time")
  printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$round" "$c" >> "$RES"
  IFS=$'\t' read -r wall cpu coll <<< "$c"
  printf '  %-14s %-5s round %s: wall %s s, cpu %s s, collector %s s\n' "$name" "${mode%%:*}" "$round" "$wall" "$cpu" "$coll" >&2
}

# shellcheck disable=SC2016 # expanded by the bash that runs them
BASH_LOOP='for i in $(seq 2000); do /bin/true; done; for i in $(seq 500); do x=$(expr 1 + 1); done'
# shellcheck disable=SC2016
PY_LOOP='for i in $(seq 200); do /usr/bin/python3 -c "import json"; done'
if want sed; then
  SED_SRC=$(dise_sed_source "${WORKLOAD_CACHE:-/tmp/dise-day-cache}" "$W/apt.log") || exit 1
fi
if want cmake; then
  # shellcheck disable=SC2086
  cmake -S "$ROOT" -B "$W/proj" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISE_BUILD_TESTS=OFF -DDISE_BUILD_BENCH=OFF \
    ${WORKLOAD_CMAKE_ARGS:-} >"$W/cmake.log" 2>&1 || { echo "workload: cmake failed:" >&2; tail "$W/cmake.log" >&2; exit 1; }
fi

# every workload once under MODE in ROUND
one_mode() {
  local mode=$1 round=$2
  fresh_state
  case $mode in
  coll:*) start_collector "${mode#*:}" ;;
  shim:*) start_collector "${mode#*:}"; stop_collector ;; # the ring it made stays, read by no one
  esac
  if want bash; then run bash "$mode" "$round" bash -c "$BASH_LOOP"; fi
  if want sed; then
    rm -rf "$W/sed" && cp -a "$SED_SRC" "$W/sed"
    cd "$W/sed" || exit 1
    run sed-configure "$mode" "$round" ./configure --quiet --disable-nls
    run sed-make "$mode" "$round" make -j2
    cd "$W" || exit 1
  fi
  if want cmake; then
    cmake --build "$W/proj" --target clean >/dev/null 2>&1
    run cmake-build "$mode" "$round" cmake --build "$W/proj" -j2
  fi
  if want python; then run python "$mode" "$round" bash -c "$PY_LOOP"; fi
  stop_collector
}

MODES=(plain)
for b in "${BUILDS[@]}"; do MODES+=("shim:$b" "coll:$b"); done
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
# each round starts one mode later than the last (plain first, then A's shim
# first, ...), so that no mode always runs right after the same one: what a
# mode leaves behind (page cache, a collector's last checkpoint, a hot CPU)
# falls on each of the others in turn
NM=${#MODES[@]}
for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((NM - 1))); do
    mode=${MODES[$(( (i + round - 1) % NM ))]}
    echo "== round $round: ${mode%%:*} ${mode#*:}" >&2
    one_mode "$mode" "$round"
  done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "workload cost, $ROUNDS round(s), $(date -u '+%F %H:%M') UTC, $(($(date +%s) - START)) s; load average before $LOAD0, after $LOAD1"
echo "ratios to plain: medians over the rounds of each round's ratio (CPU with collector = workload + collector)"
for b in "${BUILDS[@]}"; do
  echo
  echo "build $b"
  printf '| %-14s | %12s | %9s | %8s | %9s | %8s | %13s |\n' workload "plain wall/CPU" "shim wall" "shim CPU" "+coll wall" "+coll CPU" "collector CPU"
  echo '| --- | --- | --- | --- | --- | --- | --- |'
  awk -F'\t' -v b="$b" '
    function median(list,   n, v, i, j, t) {
      n = split(list, v, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function ratio(a, p) { return p > 0 ? a / p : 0 }
    { k = $1 SUBSEP $3; wall[$2, k] = $4; cpu[$2, k] = $5; coll[$2, k] = $6
      if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 }
      if ($2 == "plain") rounds[$1] = rounds[$1] " " $3 }
    END {
      for (w = 1; w <= nw; w++) {
        name = order[w]; pw = pc = sw = sc = cw = cc = cs = ""
        n = split(rounds[name], r, " ")
        for (i = 1; i <= n; i++) {
          k = name SUBSEP r[i]
          if (!(("coll:" b, k) in wall)) continue
          pw = pw " " wall["plain", k]; pc = pc " " cpu["plain", k]
          sw = sw " " ratio(wall["shim:" b, k], wall["plain", k]); sc = sc " " ratio(cpu["shim:" b, k], cpu["plain", k])
          cw = cw " " ratio(wall["coll:" b, k], wall["plain", k])
          cc = cc " " ratio(cpu["coll:" b, k] + coll["coll:" b, k], cpu["plain", k]); cs = cs " " coll["coll:" b, k]
        }
        if (pw == "") continue
        printf "| %-14s | %5.2f / %5.2f s | %9.3f | %8.3f | %9.3f | %8.3f | %11.2f s |\n", name, median(pw), median(pc),
          median(sw), median(sc), median(cw), median(cc), median(cs)
      }
    }' "$RES"
done
[ -z "${WORKLOAD_KEEP:-}" ] || echo "raw figures: $RES"
exit
}
