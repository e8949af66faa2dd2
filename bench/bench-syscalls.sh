#!/bin/sh
# SPDX-License-Identifier: MIT
# What the shim costs in counts, not time (issue 11): system calls
# (`strace -f -c`) and page faults (`perf stat -e page-faults`, else
# /proc-free `getrusage` through GNU time) for
#   - one `/bin/true` process, and
#   - a bash loop of N spawns of `/bin/true`, per spawn ((loop of N) - (loop
#     of 0)) / N: the watched parent's fork, exec and reap, and the child,
# plain / empty preload / dise shim, side by side, then the system calls the
# shim adds over the empty preload, by name. The shim writes to a private
# ring (no collector): the counts are the shim's own.
#
# Counts do not depend on the machine's load, wall time does: on a busy
# machine quote these, and bench-spawn's medians only alternated.
#
# bench/bench-syscalls.sh [BUILD_DIR] [N]
set -eu
build=${1:-build}
n=${2:-200}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
shim=$build/lib/libdise_shim.so
empty=$build/lib/libdise_bench_empty.so
floor=$build/lib/libdise_bench_floor.so # bench/floor.c: what the shim's design cannot do without
[ -r "$floor" ] || floor= # an older build: no floor rows
for f in "$shim" "$empty"; do
	[ -r "$f" ] || { echo "bench-syscalls: build first ($f missing)" >&2; exit 1; }
done
command -v strace >/dev/null || { echo "bench-syscalls: strace is not installed (apt-get install strace)" >&2; exit 1; }
if command -v perf >/dev/null && perf stat -x, -e page-faults true >/dev/null 2>&1; then
	faults=perf
elif [ -x /usr/bin/time ]; then
	faults=time
else
	faults=none
fi

tmp=$(mktemp -d /tmp/bench-syscalls.XXXXXX)
ring=/dev/shm/dise-bench-syscalls-$$
trap 'rm -rf "$tmp"; rm -f "$ring"' EXIT INT TERM

# The environment of a variant, as strace -E / env arguments.
vars() {
	case $1 in
	plain) echo "DISE_RING=$ring" ;; # harmless without the shim; keeps the environments the same size
	empty) echo "LD_PRELOAD=$empty DISE_RING=$ring" ;;
	shim) echo "LD_PRELOAD=$shim DISE_RING=$ring" ;;
	floor) echo "LD_PRELOAD=$floor DISE_RING=$ring" ;;
	esac
}

# strace -f -c of a command under a variant: "name calls" lines into $tmp/$2.
count() {
	v=$1 out=$2
	shift 2
	e=
	for kv in $(vars "$v"); do e="$e -E $kv"; done
	# shellcheck disable=SC2086
	strace -f -c -U calls,name -o "$tmp/raw" -E LD_PRELOAD $e "$@" >/dev/null 2>&1
	awk '$1 ~ /^[0-9]+$/ && $2 != "total" { print $2, $1 }' "$tmp/raw" | sort >"$tmp/$out"
}

total() { awk '{ s += $2 } END { print s + 0 }' "$tmp/$1"; }

# Page faults of a command under a variant (children included); perf: the mean of $2 runs.
pagefaults() {
	v=$1 reps=$2
	shift 2
	# shellcheck disable=SC2046
	case $faults in
	perf) env $(vars "$v") perf stat -r "$reps" -x, -e page-faults "$@" 2>&1 >/dev/null | awk -F, '/page-faults/ { print $1 }' ;;
	time) env $(vars "$v") /usr/bin/time -f %R "$@" 2>&1 >/dev/null | tail -1 ;;
	*) echo "-" ;;
	esac
}

loop="i=0; while [ \$i -lt \"\$1\" ]; do /bin/true; i=\$((i + 1)); done"
# The shim creates the ring on first use: create it before counting.
env $(vars shim) /bin/true

for v in plain empty shim; do
	count "$v" "$v.true" /bin/true
	count "$v" "$v.loop0" bash -c "$loop" loop 0
	count "$v" "$v.loopn" bash -c "$loop" loop "$n"
	# per spawn, by name: (loop N - loop 0) / N
	join -a1 -a2 -e0 -o 0,1.2,2.2 "$tmp/$v.loopn" "$tmp/$v.loop0" |
		awk -v n="$n" '{ printf "%s %.2f\n", $1, ($2 - $3) / n }' >"$tmp/$v.spawn"
	eval "pf_true_$v=\$(pagefaults $v 100 /bin/true)"
	eval "pf_l0_$v=\$(pagefaults $v 5 bash -c \"\$loop\" loop 0)"
	eval "pf_ln_$v=\$(pagefaults $v 1 bash -c \"\$loop\" loop $n)"
done
if [ -n "$floor" ]; then
	count floor floor.true /bin/true
	pf_true_floor=$(pagefaults floor 100 /bin/true)
fi

per_spawn() { awk '{ s += $2 } END { printf "%.1f", s }' "$tmp/$1"; }
pf_spawn() {
	case $1$2 in *-* | '' | *[!0-9]*) echo "-" ;; *) awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }' ;; esac
}

echo "bench-syscalls: $build, bash loop of $n spawns of /bin/true (strace -f -c; page faults by $faults)"
printf "  %-34s %10s %14s %10s %16s\n" "" plain "empty preload" "dise shim" "shim - empty"
t_p=$(total plain.true) t_e=$(total empty.true) t_s=$(total shim.true)
printf "  %-34s %10s %14s %10s %16s\n" "syscalls, one /bin/true" "$t_p" "$t_e" "$t_s" "$((t_s - t_e))"
s_p=$(per_spawn plain.spawn) s_e=$(per_spawn empty.spawn) s_s=$(per_spawn shim.spawn)
printf "  %-34s %10s %14s %10s %16s\n" "syscalls per spawn, bash loop" "$s_p" "$s_e" "$s_s" \
	"$(awk -v a="$s_s" -v b="$s_e" 'BEGIN { printf "%.1f", a - b }')"
printf "  %-34s %10s %14s %10s %16s\n" "  of which the watched parent's" "" "" "" \
	"$(awk -v a="$s_s" -v b="$s_e" -v c="$t_s" -v d="$t_e" 'BEGIN { printf "%.1f", (a - b) - (c - d) }')"
printf "  %-34s %10s %14s %10s %16s\n" "page faults, one /bin/true" "$pf_true_plain" "$pf_true_empty" "$pf_true_shim" \
	"$(awk -v a="$pf_true_shim" -v b="$pf_true_empty" 'BEGIN { print a - b }')"
if [ -n "$floor" ]; then
	t_f=$(total floor.true)
	printf "  %-34s %10s %14s %10s %16s\n" "  the floor library (bench/floor.c)" "" "$t_f" "" "shim - floor $((t_s - t_f))"
	printf "  %-34s %10s %14s %10s %16s\n" "    its page faults, one /bin/true" "" "$pf_true_floor" "" \
		"$(awk -v a="$pf_true_shim" -v b="$pf_true_floor" 'BEGIN { print a - b }')"
fi
f_p=$(pf_spawn "$pf_l0_plain" "$pf_ln_plain") f_e=$(pf_spawn "$pf_l0_empty" "$pf_ln_empty")
f_s=$(pf_spawn "$pf_l0_shim" "$pf_ln_shim")
printf "  %-34s %10s %14s %10s %16s\n" "page faults per spawn, bash loop" "$f_p" "$f_e" "$f_s" \
	"$(awk -v a="$f_s" -v b="$f_e" 'BEGIN { printf "%.1f", a - b }')"

echo "  system calls the shim adds over the empty preload (one /bin/true | per spawn):"
join -a1 -a2 -e0 -o 0,1.2,2.2 "$tmp/shim.true" "$tmp/empty.true" >"$tmp/d.true"
join -a1 -a2 -e0 -o 0,1.2,2.2 "$tmp/shim.spawn" "$tmp/empty.spawn" >"$tmp/d.spawn"
join -a1 -a2 -e0 -o 0,1.2,1.3,2.2,2.3 "$tmp/d.true" "$tmp/d.spawn" |
	awk '{ t = $2 - $3; s = $4 - $5; if (t != 0 || s > 0.05 || s < -0.05) printf "    %-18s %+4d | %+6.2f\n", $1, t, s }'
