#!/bin/sh
# SPDX-License-Identifier: MIT
# dise-coredump's time and peak memory on cores of 10 MiB, 100 MiB and 1 GiB,
# made by the kernel (core-big: anonymous memory, mostly untouched, crashed
# with kernel.core_pattern "core"), fed on stdin as the kernel feeds them,
# recording into a scratch ring and chaining to a file pattern (the copy
# the kernel would have written). systemd-coredump side by side when it is
# installed and its socket is there (it needs systemd as PID 1).
# Usage: bench/bench-coredump.sh [BUILD_DIR]
set -eu
build=$(cd "${1:-build}" && pwd)
pattern=$(cat /proc/sys/kernel/core_pattern)
if [ "$pattern" != core ]; then
	echo "bench-coredump: kernel.core_pattern is '$pattern', not 'core': no cores to make here"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DISE_HOME="$tmp/home" DISE_RING="$tmp/ring" DISE_CORE_STATE="$tmp/state"
mkdir -m 700 "$DISE_HOME"
"$build/bin/dise-collectord" --once >/dev/null 2>&1
printf 'previous %s/copy.%%p\nprevious_pipe_limit 0\ninstalled |x\n' "$tmp" >"$DISE_CORE_STATE"
printf '%-8s %-22s %10s %14s\n' core handler seconds "peak RSS KiB"
for mib in 10 100 1024; do
	d="$tmp/c$mib"
	mkdir "$d"
	(cd "$d" && ulimit -c unlimited && "$build/tests/progs/core-big" "$mib" 2>/dev/null) || true
	core=$(ls "$d"/core* 2>/dev/null | head -1)
	[ -n "$core" ] || { echo "no core made for $mib MiB"; continue; }
	exe=$(echo "$build/tests/progs/core-big" | tr / !)
	for i in 1 2 3; do
		/usr/bin/time -f "%e %M" -o "$tmp/t" "$build/bin/dise-coredump" 4242 4242 4242 11 "$(date +%s)" 0 0 \
			18446744073709551615 1 4242 host 0 core-big "$exe" "$exe" <"$core" 2>/dev/null
		rm -f "$tmp/copy.4242"
		read -r s kib <"$tmp/t"
		printf '%-8s %-22s %10s %14s\n' "${mib}M" "dise-coredump (+copy)" "$s" "$kib"
	done
	if [ -x /usr/lib/systemd/systemd-coredump ] && [ -S /run/systemd/coredump ]; then
		/usr/bin/time -f "%e %M" -o "$tmp/t" /usr/lib/systemd/systemd-coredump 4242 0 0 11 "$(date +%s)" \
			18446744073709551615 host <"$core" 2>/dev/null || true
		read -r s kib <"$tmp/t"
		printf '%-8s %-22s %10s %14s\n' "${mib}M" systemd-coredump "$s" "$kib"
	else
		printf '%-8s %-22s %s\n' "${mib}M" systemd-coredump "not run: not installed, or no systemd as PID 1 (its socket)"
	fi
	rm -f "$core"
done
