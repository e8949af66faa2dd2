# SPDX-License-Identifier: MIT
# Shared by the shell-driven tests of tests/dist: a scratch directory removed
# on exit (the cleanup hooks run first), checks that say what failed, and
# waiting on a condition (never for a fixed time).
set -eu

T=$(mktemp -d /tmp/dise-dist-XXXXXX)
chmod 755 "$T"
CLEANUPS=""
cleanup() {
	for c in $CLEANUPS; do $c || true; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
at_exit() { CLEANUPS="$1 $CLEANUPS"; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }
skip() {
	echo "SKIP: $*"
	exit 77
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# wait_until SECONDS CMD...: CMD polled every 50 ms until it succeeds, or fail
wait_until() {
	_limit=$(($1 * 20))
	shift
	_i=0
	until "$@" >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ "$_i" -lt "$_limit" ] || fail "not within ${_limit} polls: $*"
		sleep 0.05
	done
}
