#!/bin/bash
# SPDX-License-Identifier: MIT
# The ring's wake-ups counted, not timed (issue 11): futex system calls and
# context switches (`perf stat -e syscalls:sys_enter_futex,context-switches`)
# of the producers and of the collector (`-p`, from its start to its stop),
# per spawn, for
#   run      a loop of N `dise run /bin/true` (dise run's own records, and the shim's in /bin/true)
#   attach   `dise attach` to a bash that runs N /bin/true (the tracer's records)
#   false    a watched bash (the shim) running N /bin/false: each child's failing
#            EXIT, then the shell's REAP of it
# for each BUILD given, alternated workload by workload. Each run has a private
# DISE_HOME and ring and its build's dise-collectord; nothing of the user's
# dise state is touched and no collector outlives the script.
#
#   [WAKE_ONLY="run false"] bench/wake-count.sh BUILD [BUILD_B] [N]      (N default 500)
set -u
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
[ $# -ge 1 ] || { echo "usage: bench/wake-count.sh BUILD [BUILD_B] [N]" >&2; exit 2; }
BUILDS=("$(abs "$1")")
N=500
if [ $# -ge 2 ]; then
  if [ -d "$2" ]; then BUILDS+=("$(abs "$2")"); N=${3:-500}; else N=$2; fi
fi
case $N in '' | *[!0-9]* | 0) echo "wake-count: N must be a number" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "wake-count: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
perf stat -e syscalls:sys_enter_futex true >/dev/null 2>&1 ||
  { echo "wake-count: perf cannot count syscalls:sys_enter_futex here (tracefs, root)" >&2; exit 1; }
for b in "${BUILDS[@]}"; do
  if [ ! -x "$b/bin/dise-collectord" ] || [ ! -f "$b/lib/libdise_shim.so" ]; then
    echo "wake-count: no build in $b" >&2; exit 1
  fi
done

W=$(mktemp -d /tmp/dise-wake-count.XXXXXX) || exit 1
COLL="" PERF=""
cleanup() {
  [ -n "$PERF" ] && kill "$PERF" 2>/dev/null
  [ -n "$COLL" ] && kill -TERM "$COLL" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# "futex cs" from a perf stat output file
counts() { awk '/sys_enter_futex/ { f = $1 } /context-switches/ { c = $1 } END { gsub(",", "", f); gsub(",", "", c); print f, c }' "$1"; }

one() { # BUILD WORKLOAD
  local b=$1 w=$2 t
  rm -rf "${W:?}/home" "$W"/ring* "$W/fifo"
  mkdir -p "$W/home"
  export DISE_HOME=$W/home DISE_RING=$W/ring
  "$b/bin/dise-collectord" --daemon 2>"$W/coll.log" || { cat "$W/coll.log" >&2; exit 1; }
  COLL=$(cat "$DISE_HOME/collector.lock")
  perf stat -e syscalls:sys_enter_futex,context-switches -p "$COLL" -o "$W/coll.perf" &
  PERF=$!
  sleep 0.3 # perf attached (a count, not a time: the collector is idle meanwhile)
  # shellcheck disable=SC2016 # the loops' $(seq) and $1 are the inner bash's
  case $w in
  run)
    perf stat -e syscalls:sys_enter_futex,context-switches -o "$W/prod.perf" \
      bash -c 'for i in $(seq '"$N"'); do "$1"/bin/dise run /bin/true; done' sh "$b" ;;
  attach)
    mkfifo "$W/fifo"
    bash -c 'read -r _ < "$1"; for i in $(seq '"$N"'); do /bin/true; done' sh "$W/fifo" &
    t=$!
    perf stat -e syscalls:sys_enter_futex,context-switches -o "$W/prod.perf" "$b/bin/dise" attach "$t" 2>/dev/null &
    local a=$!
    while ! grep -q 'TracerPid:.[1-9]'  "/proc/$t/status" 2>/dev/null; do sleep 0.05; done
    echo go > "$W/fifo"
    wait "$a" ;;
  false)
    perf stat -e syscalls:sys_enter_futex,context-switches -o "$W/prod.perf" \
      env LD_PRELOAD="$b/lib/libdise_shim.so" bash -c 'for i in $(seq '"$N"'); do /bin/false; done' ;;
  esac
  "$b/bin/dise" collector stop >/dev/null # its last batch stored; perf ends with it
  wait "$PERF"
  PERF="" COLL=""
  read -r pf pc < <(counts "$W/prod.perf")
  read -r cf cc < <(counts "$W/coll.perf")
  awk -v b="$b" -v w="$w" -v n="$N" -v pf="$pf" -v pc="$pc" -v cf="$cf" -v cc="$cc" 'BEGIN {
    printf "  %-7s %-28s producers: futex %6.3f  cs %6.3f   collector: futex %6.3f  cs %6.3f\n", w, b, pf / n, pc / n, cf / n, cc / n }'
}

echo "wake-count: per spawn, N=$N, load $(cut -d' ' -f1-3 /proc/loadavg)"
for w in ${WAKE_ONLY:-run attach false}; do
  for b in "${BUILDS[@]}"; do one "$b" "$w"; done
done
