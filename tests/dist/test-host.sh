#!/bin/sh
# SPDX-License-Identifier: MIT
# test-host BUILD_DIR: the whole-host smoke test under /etc/ld.so.preload
# (issue 13, item 2), run for real but in a way that cannot break this
# machine: a bubblewrap sandbox sees the host's whole filesystem, except /etc,
# which is a scratch copy, and /dev/shm, which is its own. Inside it, plain
# `dise preload enable` edits /etc/ld.so.preload (the real path, the copy's
# file), and everyday programs run before and after: a login shell, apt,
# dpkg, systemctl, sudo, a cron-like detached job, run-parts, python, perl.
# Each must give the same exit status and output with the shim as without,
# and the collector, in the sandbox too, must have stored their runs. Then
# `dise preload disable` gives back the copy's file as it was. The host's
# /etc/ld.so.preload is checked untouched.
. "$(dirname "$0")/lib.sh"
BUILD=$1
command -v bwrap >/dev/null || skip "bwrap is not installed (scripts/deps.sh installs bubblewrap)"
bwrap --dev-bind / / --tmpfs /dev/shm true 2>"$T/bwrap.err" ||
	skip "bubblewrap cannot make a sandbox here: $(cat "$T/bwrap.err")"

host_before=$(stat -c '%i %s %Y' /etc/ld.so.preload 2>/dev/null || echo absent)
# a copy of /etc while the host goes on: a lock file that vanishes under cp (useradd's) is no failure
if ! cp -a /etc "$T/etc" 2>"$T/cp.err" && grep -qv 'No such file or directory' "$T/cp.err"; then
	fail "copying /etc: $(cat "$T/cp.err")"
fi
[ -f "$T/etc/passwd" ] || fail "copying /etc: no passwd"
mkdir -p "$T/lib" "$T/home"
cp "$BUILD/lib/libdise_shim.so" "$T/lib/" # the shim's self-test wants a path only root can change: /tmp is sticky, $T 0755
[ -e "$T/etc/ld.so.preload" ] && cp "$T/etc/ld.so.preload" "$T/preload.before"

cat >"$T/workload.sh" <<'EOS'
# Everyday programs; each line: NAME, then its exit status and its output.
w() {
	name=$1
	shift
	out=$("$@" 2>&1 </dev/null) && rc=0 || rc=$?
	printf '%s rc=%s\n%s\n' "$name" "$rc" "$out"
}
w login-shell bash -l -c 'echo "$0 $-" | tr -d i; exit 3'
w apt-cache apt-cache policy coreutils
w apt-get-sim apt-get -s -o Debug::NoLocking=1 install --no-download coreutils
w dpkg-query dpkg-query -W -f '${Package} ${Status}\n' coreutils dpkg
w dpkg-l sh -c 'dpkg -l coreutils | tail -n 1'
w systemctl-version sh -c 'systemctl --version | head -n 1'
w systemctl-state systemctl is-system-running
if command -v sudo >/dev/null; then
	w sudo sudo -n -u root sh -c 'id -u; exit 4'
else
	echo "sudo: not installed"
fi
w run-parts run-parts --test /etc/cron.daily
w cron-like setsid -w sh -c 'cd / && umask 022 && date +%Y >/dev/null && exit 5'
w python3 /usr/bin/python3 -c 'import json, sqlite3, subprocess, sys; print(json.dumps([1, 2])); print(subprocess.run(["true"]).returncode); sys.exit(6)'
w perl perl -MPOSIX -e 'print POSIX::floor(2.5), "\n"; system("true"); exit 7'
w pipeline sh -c 'seq 1 1000 | sort -rn | head -n 3'
w crash sh -c 'kill -SEGV $$'
EOS

cat >"$T/inside.sh" <<EOS
set -eu
export DISE_HOME=$T/home
unset DISE_RING LD_PRELOAD
# dise's own binaries of an ASan build: ASan refuses to start after any preloaded library (README, Install)
export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0
sh $T/workload.sh >$T/without.txt
$BUILD/bin/dise preload enable --shim $T/lib/libdise_shim.so >$T/enable.txt
$BUILD/bin/dise preload status --shim $T/lib/libdise_shim.so >>$T/enable.txt
$BUILD/bin/dise collector start >>$T/enable.txt
sh $T/workload.sh >$T/with.txt
bash -l -c 'cat /proc/self/maps' | grep -c libdise_shim >$T/mapped.txt || true
$BUILD/bin/dise collector stop >/dev/null
$BUILD/bin/dise-collectord --once >/dev/null
$BUILD/bin/dise runs --limit 1000 --json >$T/runs.json
$BUILD/bin/dise preload disable --shim $T/lib/libdise_shim.so >>$T/enable.txt
EOS
bwrap --dev-bind / / --bind "$T/etc" /etc --tmpfs /dev/shm --die-with-parent sh "$T/inside.sh" ||
	{ cat "$T/enable.txt" 2>/dev/null; fail "the sandboxed run"; }
cat "$T/enable.txt"

expect_eq "the host's /etc/ld.so.preload" "$(stat -c '%i %s %Y' /etc/ld.so.preload 2>/dev/null || echo absent)" "$host_before"
if [ -e "$T/preload.before" ]; then
	cmp "$T/etc/ld.so.preload" "$T/preload.before" || fail "disable did not give back /etc/ld.so.preload"
else
	[ ! -e "$T/etc/ld.so.preload" ] || fail "disable left /etc/ld.so.preload: $(cat "$T/etc/ld.so.preload")"
fi
ok "dise preload enable/disable on the sandbox's /etc; the host's untouched"

[ "$(cat "$T/mapped.txt")" -ge 1 ] || fail "a login shell started after enable has no shim mapped"
diff -u "$T/without.txt" "$T/with.txt" || fail "a program behaved differently under /etc/ld.so.preload"
cat "$T/with.txt"
ok "every program: the same exit status and output under the shim"

for prog in bash apt-cache apt-get dpkg-query dpkg systemctl run-parts setsid python3 perl sort seq; do
	grep -q "\"/usr/bin/$prog\"\|/$prog\"" "$T/runs.json" || fail "no run of $prog stored"
done
if command -v sudo >/dev/null; then
	grep -q '/sudo"' "$T/runs.json" || fail "no run of sudo stored"
fi
echo "runs stored: $(grep -o '"outcome"' "$T/runs.json" | wc -l)"
ok "the collector stored their runs"
