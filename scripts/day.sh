#!/bin/bash
# SPDX-License-Identifier: MIT
# A new user's realistic day under dise (issue 16, "Done when"): everything
# below runs under the shim with the collector running, in a private
# DISE_HOME and ring (nothing of the user's is touched):
#   coreutils upgraded at a path, a supervisor restarting services (SIGTERM,
#   SIGINT, SIGHUP), pipelines into `head`, a 2% flaky job, missing input
#   files (always, and one that went away after an upgrade), scripts through
#   `env`, `sh script`, `python3 script.py`, Go programs (`go version`,
#   `go build`, a Go binary exiting 0 and 3, upgraded), a multiprocessing
#   pool, `timeout`, a full `./configure && make` of Debian's GNU sed
#   (source fetched with a private apt configuration: the system's sources
#   are not changed), and one real bad build (a C program rebuilt with a
#   crash on its common path) that must be healed.
# At the end: the counts of runs, failures, strikes, detections, prunes and
# routes, every prune with its evidence (`dise journal`, `dise health`), and
# the bad build's third strike -> route latency.
#
# usage: scripts/day.sh [BUILD_DIR]   (default build; DAY_CACHE keeps the
# sed source between runs, default /tmp/dise-day-cache; DAY_SKIP_CONFIGURE=1
# leaves the sed build out)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DISE=$BUILD/bin/dise
SHIM=$BUILD/lib/libdise_shim.so
CACHE=${DAY_CACHE:-/tmp/dise-day-cache}
# shellcheck source=scripts/lib/sed-source.sh
. "$ROOT/scripts/lib/sed-source.sh"
[ -x "$DISE" ] && [ -f "$SHIM" ] || { echo "day: no build in $BUILD (scripts/build.sh $BUILD)" >&2; exit 1; }

# what the day needs, installed like scripts/deps.sh does
need_pkgs() {
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  echo "day: installing:$missing" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
need_pkgs golang-go dpkg-dev xz-utils sqlite3 python3 gcc make coreutils procps || exit 1

W=$(mktemp -d /tmp/dise-day.XXXXXX)
export DISE_HOME=$W/home DISE_RING=$W/ring
export HOME=$W/user GOCACHE=$W/user/go-cache GOPATH=$W/user/go GOFLAGS=-mod=mod GOTOOLCHAIN=local
export PATH=$W/pkg/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$HOME" "$W/pkg/bin" "$W/data" "$W/srv/bin" "$W/jobs" "$W/app/bin" "$W/go"
DB=$DISE_HOME/dise.db
LOG=$W/day.log
ulimit -c 0 2>/dev/null || true
cleanup() { "$DISE" collector stop >/dev/null 2>&1; [ -n "${DAY_KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT

q() { sqlite3 -cmd ".timeout 5000" "$DB" "$@" 2>/dev/null; }
# waits (up to 30 s) until an SQL count is at least $2; the collector resolves versions asynchronously
wait_sql() {
  local i
  for i in $(seq 600); do
    [ "$(q "$1")" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.05
  done
  echo "day: timed out waiting for: $1 >= $2" >&2
  return 1
}
# the collector has hashed what ran at path, so that the next deploy there is a new version of it
wait_version() { wait_sql "SELECT count(*) FROM versions WHERE path = '$1'" "${2:-1}"; }
W_() { LD_PRELOAD=$SHIM "$@"; } # run under the shim
quiet() { W_ "$@" >/dev/null 2>&1; return 0; }
deploy() { cp "$1" "$2.new" && mv "$2.new" "$2"; } # as a package upgrade does: a new file renamed over the old
phase() { echo "== $(date -u +%T) $*" | tee -a "$LOG"; }

"$DISE" collector start >/dev/null || { echo "day: the collector did not start" >&2; exit 1; }

# ---------------------------------------------------------------- coreutils
phase "coreutils at $W/pkg/bin: v1, a day of work, the upgrade, the same work"
TOOLS="cat ls sort grep diff wc head seq tr cut sleep timeout env"
for t in $TOOLS; do cp "/usr/bin/$t" "$W/pkg/bin/$t"; done
seq 1 5000 > "$W/data/in.txt"
printf 'a\nb\n' > "$W/data/a"; printf 'a\nc\n' > "$W/data/b"
printf 'INFO start\nERROR disk\n' > "$W/data/app.log"
cp "$W/data/in.txt" "$W/data/feed.csv"
coreutils_work() {
  local i
  for i in 1 2 3; do
    (cd "$W/data" && quiet cat in.txt && quiet sort -r in.txt && quiet grep 42 in.txt && quiet grep nomatch in.txt &&
      quiet diff a b && quiet diff a a && quiet ls -l && quiet ls "$W/nope" && quiet wc -l in.txt &&
      quiet cut -c1-2 in.txt && quiet cat missing.txt && quiet sort missing.txt && quiet wc -l missing.txt &&
      quiet grep -c ERROR app.log && quiet cat feed.csv && quiet tr a-z A-Z < app.log && quiet head -3 in.txt &&
      quiet seq 3 && quiet sleep 0.01 && quiet timeout 5 true && quiet env true)
  done
}
coreutils_work
for t in $TOOLS; do wait_version "$W/pkg/bin/$t" || true; done
for t in $TOOLS; do cp "/usr/bin/$t" "$W/t.new" && printf 'upgrade-2' >> "$W/t.new" && mv "$W/t.new" "$W/pkg/bin/$t"; done
# the day goes on: the log rotated (no ERROR any more), the feed not delivered yet
printf 'INFO start\n' > "$W/data/app.log"
rm -f "$W/data/feed.csv"
coreutils_work
for t in $TOOLS; do wait_version "$W/pkg/bin/$t" 2 || true; done

# ---------------------------------------------------------------- supervisor
phase "a supervisor restarting services (SIGTERM, SIGINT, SIGHUP), one upgraded between restarts"
cp /usr/bin/sleep "$W/srv/bin/worker"
cat > "$W/srv/bin/svc.sh" <<'EOF'
#!/bin/sh
echo up
while :; do sleep 0.2; done
EOF
chmod +x "$W/srv/bin/svc.sh"
cat > "$W/srv/bin/pysvc" <<'EOF'
#!/usr/bin/env python3
import sys, time
print("up", flush=True)
while True:
    time.sleep(0.2)
EOF
chmod +x "$W/srv/bin/pysvc"
supervise() { # start $@, wait until it runs under the shim, send $SIG, reap it
  local pid i
  : > "$W/svc.out"
  LD_PRELOAD=$SHIM "$@" > "$W/svc.out" 2>/dev/null &
  pid=$!
  for i in $(seq 250); do # loaded the shim (exec'd), and said "up" when it says anything
    grep -q libdise_shim "/proc/$pid/maps" 2>/dev/null && { [ "$1" = "$W/srv/bin/worker" ] || grep -q up "$W/svc.out"; } && break
    sleep 0.02
  done
  sleep 0.1 # a service that runs a while before the supervisor restarts it
  kill -"$SIG" "$pid" 2>/dev/null
  for i in $(seq 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null && echo "day: $1 did not end on SIG$SIG" >&2
  wait "$pid" 2>/dev/null
}
set -m # job control: a background service does not ignore SIGINT, as under a real supervisor
for round in 1 2 3 4; do
  for SIG in TERM INT HUP; do
    supervise "$W/srv/bin/worker" 1000
    supervise "$W/srv/bin/svc.sh"
    supervise "$W/srv/bin/pysvc"
  done
  if [ "$round" = 2 ]; then
    wait_version "$W/srv/bin/worker"
    cp /usr/bin/sleep "$W/w.new" && printf 'v2' >> "$W/w.new" && mv "$W/w.new" "$W/srv/bin/worker"
    printf '# v2\n' >> "$W/srv/bin/svc.sh"
  fi
done

set +m

# ---------------------------------------------------------------- pipelines
phase "pipelines into head"
for i in 1 2 3 4 5; do
  W_ seq 1 10000000 | head -1 >/dev/null
  W_ /usr/bin/seq 1 10000000 | W_ head -1 >/dev/null
  W_ /usr/bin/yes | head -1 >/dev/null
  W_ cat "$W/data/in.txt" "$W/data/in.txt" "$W/data/in.txt" | head -1 >/dev/null
  W_ /usr/bin/python3 -c 'import sys
for i in range(10**6): print(i)' 2>/dev/null | head -1 >/dev/null
  W_ sort -n "$W/data/in.txt" | head -3 >/dev/null
done

# ---------------------------------------------------------------- flaky job
phase "a 2% flaky job, 150 runs, upgraded after 75"
cat > "$W/jobs/flaky.sh" <<'EOF'
#!/bin/sh
# fails about 2% of the time, like a job talking to a flaky service
n=$(od -An -N2 -tu2 /dev/urandom)
[ $((n % 50)) -eq 0 ] && { echo "upstream timeout" >&2; exit 1; }
echo ok
EOF
chmod +x "$W/jobs/flaky.sh"
for i in $(seq 150); do
  quiet "$W/jobs/flaky.sh"
  if [ "$i" = 75 ]; then wait_version "$W/jobs/flaky.sh"; printf '# v2: retries are the caller'"'"'s\n' >> "$W/jobs/flaky.sh"; fi
done

# ---------------------------------------------------------------- missing inputs, scripts
phase "missing input files, scripts through env, sh script, python3 script.py"
cat > "$W/jobs/report.py" <<'EOF'
#!/usr/bin/env python3
import sys
with open(sys.argv[1]) as f:
    print(sum(1 for _ in f))
EOF
cat > "$W/jobs/nightly.sh" <<'EOF'
#!/bin/sh
set -u
( false ) || echo "the optional step failed, going on"
( exit 3 ); echo "status $?"
[ -f "$1" ] || { echo "no input $1" >&2; exit 2; }
wc -l < "$1"
EOF
cat > "$W/jobs/lib.sh" <<'EOF'
greet() { echo "hello $1"; }
EOF
cat > "$W/jobs/uses-lib.sh" <<'EOF'
. "$(dirname "$0")/lib.sh"
greet "$@"
EOF
chmod +x "$W/jobs/report.py" "$W/jobs/nightly.sh"
for i in 1 2 3 4; do
  quiet "$W/jobs/report.py" "$W/data/in.txt"
  quiet "$W/jobs/report.py" "$W/data/missing.csv"
  quiet /usr/bin/python3 "$W/jobs/report.py" "$W/data/in.txt"
  quiet /usr/bin/python3 "$W/jobs/report.py" "$W/data/missing.csv"
  quiet "$W/jobs/nightly.sh" "$W/data/in.txt"
  quiet "$W/jobs/nightly.sh" "$W/data/missing.csv"
  quiet sh "$W/jobs/nightly.sh" "$W/data/in.txt"
  quiet sh "$W/jobs/uses-lib.sh" world
  quiet /usr/bin/python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() == "")' "$W/data/missing.csv"
  quiet cat "$W/data/missing.csv"
  if [ "$i" = 2 ]; then
    wait_version "$W/jobs/report.py"; wait_version "$W/jobs/nightly.sh"
    printf '# v2\n' >> "$W/jobs/report.py"; printf '# v2\n' >> "$W/jobs/nightly.sh"
  fi
done

# ---------------------------------------------------------------- multiprocessing, timeout
phase "a multiprocessing pool, timeout"
cat > "$W/jobs/pool.py" <<'EOF'
#!/usr/bin/env python3
from multiprocessing import Pool
def sq(x):
    return x * x
if __name__ == "__main__":
    with Pool(2) as p:
        print(sum(p.map(sq, range(1000))))
EOF
chmod +x "$W/jobs/pool.py"
for i in 1 2 3; do
  quiet "$W/jobs/pool.py"
  quiet /usr/bin/python3 "$W/jobs/pool.py"
  quiet timeout 0.3 sleep 5
  quiet timeout 5 true
  quiet /usr/bin/timeout 0.3 /usr/bin/sleep 5
done

# ---------------------------------------------------------------- Go
phase "Go programs: go version, go build, a Go binary exiting 0 and 3, upgraded"
cat > "$W/go/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		fmt.Fprintln(os.Stderr, "no such job")
		os.Exit(3)
	}
	fmt.Println("v1")
}
EOF
printf 'module example.com/hello\n\ngo 1.19\n' > "$W/go/go.mod"
for i in 1 2 3; do quiet go version; quiet go env GOROOT; done
# linked dynamically (a plain `go build` of a cgo-free program is static: no shim can watch it)
GOLINK=-ldflags=-linkmode=external
(cd "$W/go" && W_ go build $GOLINK -o "$W/app/bin/hello" . >/dev/null 2>&1)
for i in 1 2 3 4; do quiet "$W/app/bin/hello"; quiet "$W/app/bin/hello" fail; done
wait_version "$W/app/bin/hello"
sed -i 's/"v1"/"v2"/' "$W/go/main.go"
(cd "$W/go" && W_ go build $GOLINK -o "$W/app/bin/hello.new" . >/dev/null 2>&1 && mv "$W/app/bin/hello.new" "$W/app/bin/hello")
for i in 1 2 3 4; do quiet "$W/app/bin/hello"; quiet "$W/app/bin/hello" fail; done

# ---------------------------------------------------------------- configure && make
if [ -z "${DAY_SKIP_CONFIGURE:-}" ]; then
  phase "./configure && make of Debian's GNU sed under the shim"
  SRC=$(dise_sed_source "$CACHE" "$W/apt.log") || echo "day: the configure phase is skipped" >&2
  if [ -n "$SRC" ]; then
    rm -rf "$W/sed" && cp -a "$SRC" "$W/sed"
    (cd "$W/sed" && W_ ./configure --quiet --disable-nls >"$W/configure.log" 2>&1 &&
      W_ make -j2 >"$W/make.log" 2>&1) || { echo "day: sed's build failed:" >&2; tail -20 "$W/configure.log" "$W/make.log" >&2; }
    for i in 1 2 3 4 5; do
      quiet "$W/sed/sed/sed" -n '$=' "$W/data/in.txt"
      quiet "$W/sed/sed/sed" s/1/x/g "$W/data/in.txt"
    done
    phase "a one-line change to sed, make again, the new sed run the same way"
    wait_version "$W/sed/sed/sed"
    sed -i 's/^\(#include "sed.h"\)$/\1\n\/* day: a rebuild *\//' "$W/sed/sed/execute.c"
    (cd "$W/sed" && W_ make -j2 >>"$W/make.log" 2>&1) || echo "day: the rebuild failed" >&2
    for i in 1 2 3 4 5; do
      quiet "$W/sed/sed/sed" -n '$=' "$W/data/in.txt"
      quiet "$W/sed/sed/sed" s/1/x/g "$W/data/in.txt"
      quiet "$W/sed/sed/sed" -n p "$W/data/missing.csv"
    done
  fi
fi

# ---------------------------------------------------------------- the bad build
phase "a real bad build: app v1 (ok), then v2 crashing on its common path"
cat > "$W/app.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int parse(const char *s)
{
#ifdef BAD
	const char *p = strchr(s, '=');   /* v2: assumes every argument has a '=' */
	return atoi(p + 1);
#else
	const char *p = strchr(s, '=');
	return p ? atoi(p + 1) : atoi(s);
#endif
}
int main(int argc, char **argv)
{
	int sum = 0;
	for (int i = 1; i < argc; i++)
		sum += parse(argv[i]);
	printf("%s %d\n", VERSION, sum);
	return 0;
}
EOF
gcc -O1 -g -DVERSION='"v1"' -o "$W/app/bin/app" "$W/app.c"
for i in $(seq 10); do quiet "$W/app/bin/app" 1 2 3; done
wait_version "$W/app/bin/app"
gcc -O1 -g -DBAD -DVERSION='"v2"' -o "$W/app/bin/app.new" "$W/app.c" && mv "$W/app/bin/app.new" "$W/app/bin/app"
crashes=0 healed=0
for i in $(seq 40); do
  out=$(W_ "$W/app/bin/app" 1 2 3 2>/dev/null)
  st=$?
  if [ "$st" -eq 0 ] && [ "$out" = "v1 6" ]; then healed=$i; break; fi
  crashes=$((crashes + 1))
done

# ---------------------------------------------------------------- the result
phase "the day is over: draining the ring"
sleep 1.5 # the collector's last batch and detection pass (a report, not a test: see tests/e2e/test-day.c)
"$DISE" collector stop >/dev/null
"$BUILD/bin/dise-collectord" --once >/dev/null 2>&1

echo
echo "==== the day's result ($(date -u +%F), build $BUILD)"
failed_sql="(outcome = 'crash' OR (outcome = 'fail' AND exit_status >= 0 AND exit_status NOT IN (124,129,130,137,141,143)))"
echo "runs:        $(q 'SELECT count(*) FROM runs')  (tools $(q 'SELECT count(DISTINCT tool) FROM versions'), versions $(q 'SELECT count(*) FROM versions'))"
echo "endings:     $(q "SELECT group_concat(outcome || ' ' || n, ', ') FROM (SELECT COALESCE(outcome, 'open') AS outcome, count(*) AS n FROM runs GROUP BY 1 ORDER BY 2 DESC)")"
echo "failures:    $(q "SELECT count(*) FROM runs WHERE $failed_sql")  (crashes or non-zero exits not from outside; the blame compares them with the ancestors)"
# strikes: store-detect.c's STRIKE over every run of the day (no normal_exit_codes configured here); a
# version never judged (a build probe, a content that came back at its path: detect.c) may show some
strikes=$(q "WITH RECURSIVE anc(v, id) AS (SELECT version_id, parent_id FROM version_parents
  UNION SELECT anc.v, p.parent_id FROM version_parents p JOIN anc ON p.version_id = anc.id),
  base(v, id) AS (SELECT anc.v, anc.id FROM anc JOIN versions b ON b.id = anc.id WHERE b.health NOT IN ('pruned', 'failed'))
  SELECT r.version_id, count(*) FROM runs r WHERE $failed_sql AND (
   (r.outcome = 'crash' AND NOT EXISTS (SELECT 1 FROM crashes c WHERE c.run_id = r.id AND c.si_code IN (0, -1) AND (c.fault_addr & 4294967295) != r.pid)
    AND NOT EXISTS (SELECT 1 FROM crashes ac JOIN runs a ON a.id = ac.run_id WHERE ac.signature =
     (SELECT c.signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id LIMIT 1) AND a.version_id IN (SELECT id FROM base WHERE v = r.version_id)))
   OR (r.outcome = 'fail' AND EXISTS (SELECT 1 FROM runs a WHERE a.version_id IN (SELECT id FROM base WHERE v = r.version_id)
     AND a.argv = r.argv AND a.cwd IS r.cwd AND a.outcome = 'ok')
     AND NOT EXISTS (SELECT 1 FROM runs s WHERE s.version_id = r.version_id AND s.argv = r.argv AND s.cwd IS r.cwd AND s.outcome = 'ok')
     AND NOT EXISTS (SELECT 1 FROM runs b WHERE b.version_id IN (SELECT id FROM base WHERE v = r.version_id) AND b.outcome = 'fail' AND b.exit_status = r.exit_status)))
  GROUP BY r.version_id")
echo "strikes:     $(echo "$strikes" | awk -F'|' '{s += $2} END {print s + 0}')"
echo "$strikes" | while IFS='|' read -r v n; do
  [ -n "$v" ] && echo "   $n on $(q "SELECT tool || ' ' || COALESCE(label, 'v?') || ' (' || health || ')' FROM versions WHERE id = $v")"
done
echo "detections:  $(q "SELECT COALESCE(group_concat(detector || ' ' || n, ', '), 'none') FROM (SELECT detector, count(*) AS n FROM failures GROUP BY 1)")"
echo "failing:     $(q "SELECT count(*) FROM versions WHERE health = 'failing'")"
prunes=$(q "SELECT count(*) FROM versions WHERE health IN ('pruned', 'failed')")
echo "prunes:      $prunes"
echo "routes:      $(q 'SELECT count(*) FROM routes')  ($(q "SELECT COALESCE(group_concat(r.tool || ' -> ' || COALESCE(v.label, v.id), ', '), 'none') FROM routes r JOIN versions v ON v.id = r.version_id"))"
app="$W/app/bin/app"
echo "bad build:   $crashes crashing runs of $app v2 before the route, healed on run $healed: $([ "$healed" -gt 0 ] && echo HEALED || echo NOT HEALED)"
lat=$(q "SELECT printf('%.1f', (j.wall_ns - (x.start_wall_ns + x.end_ns - x.start_ns)) / 1e6) FROM heal_requests h
  JOIN failures f ON f.id = h.failure_id JOIN runs x ON x.id = f.run_id JOIN versions v ON v.id = h.version_id
  JOIN journal j ON j.request_id = h.id AND j.step = 'route' AND j.result = 'ok' WHERE v.path = '$app'")
echo "             third strike (its run's end) -> route: ${lat:-?} ms"
echo
echo "---- every prune, with its evidence"
q "SELECT v.id, v.tool, COALESCE(v.label, ''), v.health FROM versions v WHERE v.health IN ('pruned', 'failed')" |
  while IFS='|' read -r id tool label health; do
    echo "* $tool $label ($health)"
    q "SELECT '    ' || detector || ': ' || description FROM failures WHERE version_id = $id"
    q "SELECT '    failed run: ' || r.argv || ' in ' || COALESCE(r.cwd, '?') || ' -> ' || r.outcome || ' status ' || COALESCE(r.exit_status, '') || ' signal ' || COALESCE(r.signal, '')
       FROM failures f JOIN runs r ON r.id = f.run_id WHERE f.version_id = $id"
    "$DISE" journal --tool "$tool" 2>&1 | sed 's/^/    /' | tail -8
  done
echo
echo "---- dise health"
"$DISE" health
[ "$prunes" -eq 1 ] && [ "$healed" -gt 0 ] && [ "$(q "SELECT count(*) FROM versions WHERE path = '$app' AND health = 'pruned'")" = 1 ]
ok=$?
echo
[ $ok -eq 0 ] && echo "day: OK: the one bad build healed, nothing else pruned" || echo "day: NOT OK: see above"
exit $ok
