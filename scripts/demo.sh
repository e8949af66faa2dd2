#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: installs what is missing, builds, then
#  1. runs real programs under the shim and shows what the ring captured,
#  2. deploys a tool, replaces it by a broken build that crashes three times:
#     detection, three strikes, healing (the broken version pruned, a rule
#     learned, the route set to the last healthy version), and the next run
#     of the same path runs the healthy version instead (3),
#  4. attaches to a running process,
#  5. a tool deployed with a canary policy, then a bad build: 5% of runs reach
#     it, its first crash aborts the rollout, and the count of runs that
#     reached the bad build is said,
#  6. heals a script forward: a regenerated version that keeps v2's features
#     without its crash, routed (auto) or proposed and approved (ask).
# Everything lives in a temporary ring and DISE_HOME: nothing else is touched.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build >/dev/null

work=$(mktemp -d /tmp/dise-demo.XXXXXX)
export DISE_RING="$work/ring" DISE_HOME="$work/home"
trap './build/bin/dise collector stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
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

echo "== 1. capture: any program, unchanged"
run /bin/sh -c 'echo hello | tr a-z A-Z; exit 3'
run /usr/bin/python3 -c 'import sys; print("python", sys.version.split()[0])'
run build/tests/progs/crasher thread 2>/dev/null
echo
echo "\$ dise ring dump"
./build/bin/dise ring dump
echo

drun() { # dise run: preloads the shim, starts the collector, passes the exit status through
  echo "\$ dise run $*"
  set +e
  ./build/bin/dise run "$@"
  st=$?
  set -e
  echo "  -> exit status $st"
}

echo "== 2. detection: a tool is deployed, then replaced by a build that crashes"
mkdir -p "$work/bin"
cp build/tests/progs/exitcode "$work/bin/mytool"
drun "$work/bin/mytool" 0
sleep 0.3   # the collector hashes the deployed content before the next deploy replaces it
cp build/tests/progs/crasher "$work/bin/mytool.new" && mv "$work/bin/mytool.new" "$work/bin/mytool"
for i in 1 2 3; do drun "$work/bin/mytool" segv 2>/dev/null; done
sleep 1.5   # versions are resolved and detectors run within a second
echo
echo "\$ dise runs --tool mytool"
./build/bin/dise runs --tool mytool
echo
echo "\$ dise crashes"
./build/bin/dise crashes
echo
echo "\$ dise lineage mytool        # the third strike healed it: pruned, and routed to its parent"
./build/bin/dise lineage mytool
echo
echo "\$ dise lineage mytool --dot  # the same DAG for Graphviz: ... | dot -Tsvg > lineage.svg"
./build/bin/dise lineage mytool --dot
echo
echo "\$ dise rules"
./build/bin/dise rules
echo
echo "\$ dise health"
./build/bin/dise health
echo
echo "== 3. the next run of the same path runs the healthy version instead (same argv)"
drun "$work/bin/mytool" segv
echo
echo "== 4. a process started without dise, already running: attach, and watch it crash on a thread"
fifo="$work/cmd"
mkfifo "$fifo"
build/tests/progs/waiter < "$fifo" > /dev/null &
target=$!
exec 3> "$fifo"     # the waiter blocks reading its command from here
sleep 0.2
echo "\$ dise attach $target &"
./build/bin/dise attach "$target" &
attacher=$!
sleep 0.5
echo thread-segv >&3
exec 3>&-
set +e
wait "$target" 2>/dev/null
echo "  -> the waiter ended with status $? (139: SIGSEGV, as without dise)"
wait "$attacher"
set -e
sleep 1.5
echo
echo "\$ dise crashes              # the attached run, unwound like a preloaded one"
./build/bin/dise crashes | grep -A6 waiter || true
echo
echo "== 5. canary on deploy: a bad deploy caught at 5% (dise.json: \"canary\": {\"on_deploy\": true})"
./build/bin/dise collector stop >/dev/null
printf '{"tools": {"%s": {"canary": {"on_deploy": true}}}}\n' "$work/bin/cantool" > "$DISE_HOME/dise.json"
./build/bin/dise collector start >/dev/null
cp build/tests/progs/canaryprog-stable "$work/bin/cantool"
LD_PRELOAD="$SHIM" "$work/bin/cantool" >/dev/null
sleep 0.5   # the collector hashes the deployed content before the next deploy replaces it
cp build/tests/progs/canaryprog-crashy "$work/bin/cantool.new" && mv "$work/bin/cantool.new" "$work/bin/cantool"
LD_PRELOAD="$SHIM" "$work/bin/cantool" >/dev/null   # its first run reveals the deploy: the rollout starts at 5%
sleep 0.5
bad=0
for i in $(seq 200); do
  out=$(LD_PRELOAD="$SHIM" "$work/bin/cantool" boom 2>/dev/null) || true
  [ "$out" = stable ] || bad=$((bad + 1))
done
echo "200 runs after the bad deploy (each crashes if it runs the new build): $bad reached it, $((200 - bad)) ran the stable version"
sleep 1
echo
echo "\$ dise canary --all"
./build/bin/dise canary --all
echo
echo "\$ dise journal --tool $work/bin/cantool"
./build/bin/dise journal --tool "$work/bin/cantool"
echo
./build/bin/dise collector stop
echo
echo "== 6. heal forward: v2 of a script adds two features and a crash; after the rollback, a"
echo "      regenerated v3 keeps the features (revert-hunks, validated in a bubblewrap sandbox)"
cat > "$DISE_HOME/dise.json" <<'EOF'
{ "tools": {
    "greeter":  { "test_command": "$DISE_CANDIDATE version > /dev/null", "regenerate": { "mode": "auto" } },
    "greeter2": { "test_command": "$DISE_CANDIDATE version > /dev/null", "regenerate": { "mode": "ask" } } } }
EOF
greeter_v1='#!/bin/sh
case "$1" in
greet)
	echo "hello $2"
	;;
version)
	echo 1
	;;
esac
'
greeter_v2='#!/bin/sh
case "$1" in
shout)
	echo "HELLO $2"
	;;
greet)
	echo "hello $2"
	kill -SEGV $$
	;;
version)
	echo 2
	;;
count)
	shift; echo "$#"
	;;
esac
'
for t in greeter greeter2; do
  printf '%s' "$greeter_v1" > "$work/bin/$t.new" && chmod 755 "$work/bin/$t.new" && mv "$work/bin/$t.new" "$work/bin/$t"
  ./build/bin/dise tool add $t --version v1 "$work/bin/$t"
  printf '%s' "$greeter_v2" > "$work/bin/$t.new" && chmod 755 "$work/bin/$t.new" && mv "$work/bin/$t.new" "$work/bin/$t"
  ./build/bin/dise tool add $t --version v2 --parent v1 "$work/bin/$t"
  drun "$work/bin/$t" greet bob 2>/dev/null
done
sleep 1.5   # the crash stored, with its invocation: the rule replays it against every candidate
echo "\$ dise heal greeter          # prune v2, route back to v1, then regenerate (mode auto)"
./build/bin/dise heal greeter
echo "\$ dise lineage greeter"
./build/bin/dise lineage greeter
echo "\$ dise proposals --all greeter"
./build/bin/dise proposals --all greeter
sleep 1.5   # the collector publishes the route to v3
drun "$work/bin/greeter" greet bob
drun "$work/bin/greeter" shout world
drun "$work/bin/greeter" count a b c
echo
echo "\$ dise heal greeter2         # mode ask: proposed, not routed, until approved"
./build/bin/dise heal greeter2
echo "\$ dise proposals"
./build/bin/dise proposals
id=$(./build/bin/dise proposals --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo "\$ dise approve $id"
./build/bin/dise approve "$id"
sleep 1.5   # published
drun "$work/bin/greeter2" greet bob
./build/bin/dise collector stop

