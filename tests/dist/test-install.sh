#!/bin/sh
# SPDX-License-Identifier: MIT
# test-install BUILD_DIR SANITIZED: the .deb as an admin gets it (issue 13, item 1).
# cpack -G DEB from the build; Depends computed (each library the binaries
# link is there, by its package); the files in their FHS places; lintian (plain
# build); then `dpkg-deb -x` into a scratch root and, from there only: the man
# pages render and name every command of `dise --help`, the units pass
# `systemd-analyze verify`, the bash completion completes, and the installed
# dise-run (its own shim, its own collector, nothing from the build tree)
# takes a tool through a crash-and-heal end to end.
. "$(dirname "$0")/lib.sh"
BUILD=$1
SANITIZED=${2:-0}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PROGS=$BUILD/tests/progs

# ---- the package ----
cpack --config "$BUILD/CPackConfig.cmake" -B "$T/pkg" >"$T/cpack.log" 2>&1 || { cat "$T/cpack.log"; fail "cpack -G DEB"; }
DEB=$(ls "$T"/pkg/dise_*.deb)
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
for bin in dise dise-collectord; do
	ldd "$BUILD/bin/$bin" >"$T/ldd"
	for needed in $(readelf -d "$BUILD/bin/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		lib=$(awk -v n="$needed" '$1 == n && $3 ~ /^\// {print $3} $1 ~ ("/" n "$") {print $1}' "$T/ldd")
		[ -n "$lib" ] || fail "$bin: $needed not found by ldd"
		pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || pkg=""
		[ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
		[ -n "$pkg" ] || fail "$lib: no package owns it"
		echo "$DEPENDS" | tr ',' '\n' | grep -q "^ *$pkg\( \|$\)" || fail "$bin links $lib ($pkg), not in Depends: $DEPENDS"
	done
done
ok "Depends computed: every library dise and dise-collectord need (NEEDED), by its package"

MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
SHIM=usr/lib/$MULTIARCH/dise/libdise_shim.so
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./||' >"$T/contents"
for f in usr/bin/dise usr/bin/dise-run usr/bin/dise-collectord usr/bin/dise-coredump "$SHIM" \
	usr/lib/systemd/user/dise-collectord.service usr/lib/systemd/system/dise-collectord@.service \
	usr/share/man/man1/dise.1.gz usr/share/man/man1/dise-run.1.gz usr/share/man/man8/dise-collectord.8.gz usr/share/man/man8/dise-coredump.8.gz \
	usr/share/man/man5/dise.json.5.gz usr/share/bash-completion/completions/dise usr/share/doc/dise/copyright; do
	grep -qx "$f" "$T/contents" || fail "the package has no $f"
done
ok "the files in their places"

if [ "$SANITIZED" = 0 ] && command -v lintian >/dev/null; then
	lintian --no-tag-display-limit "$DEB" >"$T/lintian" 2>&1 || true
	grep -E '^[EW]: ' "$T/lintian" && fail "lintian (above)"
	ok "lintian: no error, no warning"
fi

# ---- installed into a scratch root ----
R=$T/root
dpkg-deb -x "$DEB" "$R"
for bin in dise dise-collectord; do
	readelf -d "$R/usr/bin/$bin" | grep -qi 'rpath\|runpath' && fail "$bin has an RPATH/RUNPATH"
	strings "$R/usr/bin/$bin" | grep -qF "$BUILD" && fail "$bin names the build tree $BUILD"
done
ok "no path to the build tree in the installed binaries"

# man pages: render without a warning, and dise(1) has every command of dise --help
for page in $(grep '^usr/share/man/.*\.gz$' "$T/contents"); do
	MANWIDTH=80 man -l "$R/$page" >/dev/null 2>"$T/man.err" || fail "man -l $page"
	[ -s "$T/man.err" ] && { cat "$T/man.err"; fail "man -l $page warned"; }
done
for cmd in $("$R/usr/bin/dise" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'); do
	zcat "$R/usr/share/man/man1/dise.1.gz" | grep -q -e "^\\\\fB$cmd\\\\fR" -e "^\\\\fB$cmd " || fail "dise(1) does not describe '$cmd'"
done
for opt in $("$R/usr/bin/dise-collectord" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	zcat "$R/usr/share/man/man8/dise-collectord.8.gz" | grep -qF -- "fB$opt" || fail "dise-collectord(8) does not describe $opt"
done
for opt in $("$R/usr/bin/dise" preload --help | grep -o -- '--[a-z][a-z-]*' | sort -u) $("$R/usr/bin/dise" service --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	[ "$opt" = --help ] || zcat "$R/usr/share/man/man1/dise.1.gz" | grep -qF -- "fB$opt" || fail "dise(1) does not describe $opt"
done
ok "man pages render; dise(1) describes every command of dise --help, dise-collectord(8) every option"

# units: systemd-analyze verify (no systemd needs to run), on the installed paths
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units" "$T/xdg" && chmod 700 "$T/xdg"
	for u in user/dise-collectord.service system/dise-collectord@.service; do
		sed "s|/usr/bin/|$R/usr/bin/|" "$R/usr/lib/systemd/$u" >"$T/units/$(basename "$u" | sed 's/@/@1000/')"
	done
	XDG_RUNTIME_DIR=$T/xdg systemd-analyze --user verify --man=no "$T/units/dise-collectord.service" >"$T/verify" 2>&1 ||
		{ cat "$T/verify"; fail "systemd-analyze --user verify"; }
	systemd-analyze verify --man=no "$T/units/dise-collectord@1000.service" >>"$T/verify" 2>&1 ||
		{ cat "$T/verify"; fail "systemd-analyze verify"; }
	[ -s "$T/verify" ] && { cat "$T/verify"; fail "systemd-analyze verify warned"; }
	ok "units: systemd-analyze verify says nothing"
	[ -d /run/systemd/system ] || echo "note: not run: systemctl --user enable --now dise-collectord (PID 1 is not systemd here); dise-run starts the same collector below"
else
	echo "note: systemd-analyze not installed (scripts/deps.sh installs systemd): units not verified"
fi

# bash completion, from the installed file against the installed dise
cat >"$T/complete.bash" <<EOS
PATH=$R/usr/bin:\$PATH
. $R/usr/share/bash-completion/completions/dise
COMP_WORDS=(dise pre); COMP_CWORD=1; _dise; echo "\${COMPREPLY[*]}"
COMP_WORDS=(dise preload e); COMP_CWORD=2; _dise; echo "\${COMPREPLY[*]}"
COMP_WORDS=(dise runs --li); COMP_CWORD=2; _dise; echo "\${COMPREPLY[*]}"
EOS
bash "$T/complete.bash" >"$T/completed" 2>&1
expect_eq "completion" "$(tr '\n' '|' <"$T/completed")" "preload|enable|--limit|"
ok "bash completion: commands, verbs, options"

# ---- crash-and-heal with the installed dise-run ----
export DISE_HOME="$T/home" DISE_RING="$T/ring"
mkdir -p "$DISE_HOME"
stop_collector() { "$R/usr/bin/dise" collector stop >/dev/null; }
at_exit stop_collector
mkdir "$T/app"
cp "$PROGS/blamer-v1" "$T/app/tool"
cd "$T/app"
# the installed shim is the one preloaded: the tool's environment says which
out=$("$R/usr/bin/dise-run" /usr/bin/env) || fail "dise-run env"
echo "$out" | grep -qx "LD_PRELOAD=$R/$SHIM" || fail "dise-run preloaded: $(echo "$out" | grep LD_PRELOAD)"
pid=$(sed -n 1p "$DISE_HOME/collector.lock")
expect_eq "the collector started" "$(readlink "/proc/$pid/exe")" "$R/usr/bin/dise-collectord"
ok "dise-run preloads $SHIM and starts $R/usr/bin/dise-collectord"

"$R/usr/bin/dise-run" ./tool newcrash || fail "v1 exits 0"
wait_until 60 sh -c '"$0" runs --tool tool --json | grep -q "\"outcome\": *\"ok\""' "$R/usr/bin/dise"
cp "$PROGS/blamer-v2" "$T/app/tool"
for i in 1 2 3; do
	rc=0
	"$R/usr/bin/dise-run" ./tool newcrash 2>/dev/null || rc=$?
	expect_eq "v2 run $i (SIGSEGV: 128 + 11)" "$rc" 139
done
wait_until 60 sh -c '"$0" pruned --json | grep -q tool' "$R/usr/bin/dise"
# the route reaches the shim through the ring's route file: the next run is v1
wait_until 60 "$R/usr/bin/dise-run" ./tool newcrash
"$R/usr/bin/dise" lineage tool
"$R/usr/bin/dise" pruned | grep -q "v2" || fail "dise pruned does not show v2"
ok "installed dise-run: three crashes of v2, pruned, the next run runs v1"
